"""Click options generated from dataclass fields (cli/options.py): one place for a default and its help."""

from __future__ import annotations

from dataclasses import dataclass

import click
from click.testing import CliRunner

from bokehpipe.cli.options import dataclass_values, options_from_dataclass
from bokehpipe.config import cli_field


@dataclass(frozen=True)
class Toy:
    name: str = cli_field(decls=("--name", "-n"), param="toy_name", cli_default=None, help="The name.")
    size: int = cli_field(3, min=1, help="How many.")
    rate: float = cli_field(0.5, help="A rate.")
    mode: str = cli_field("a", choices=("a", "b"), help="A or b.")
    gate: bool = cli_field(True, flag="--no-gate", help="Gate on or off.")
    loud: bool = cli_field(False, help="A plain flag.")
    hidden: str = "not an option"
    split: str | None = cli_field("val", cli_default=None, help="Chosen at run time when not given.")


def _command(seen: dict):
    @click.command()
    @options_from_dataclass(Toy, extra={"size": (click.option("--extra", default=7, show_default=True),)})
    def cmd(**params):
        seen.update(params)

    return cmd


def test_options_follow_the_fields_with_extras_in_place():
    cmd = _command({})
    assert [p.name for p in cmd.params] == ["toy_name", "size", "extra", "rate", "mode", "gate", "loud", "split"]
    text = CliRunner().invoke(cmd, ["--help"]).output
    assert "--size INTEGER RANGE  How many.  [default: 3; x>=1]" in " ".join(text.split("\n"))
    assert "--gate / --no-gate" in text and "[default: gate]" in text and "--mode [a|b]" in text
    assert "hidden" not in text


def test_values_come_back_by_field_name_and_build_the_dataclass():
    seen: dict = {}
    result = CliRunner().invoke(_command(seen), ["-n", "x", "--no-gate", "--loud", "--rate", "2"])
    assert result.exit_code == 0, result.output
    values = dataclass_values(Toy, seen)
    assert values == {"name": "x", "size": 3, "rate": 2.0, "mode": "a", "gate": False, "loud": True, "split": None}
    assert Toy(**values).hidden == "not an option" and seen["extra"] == 7


def test_types_and_ranges_are_enforced():
    cmd = _command({})
    assert CliRunner().invoke(cmd, ["--size", "0"]).exit_code == 2
    assert CliRunner().invoke(cmd, ["--mode", "c"]).exit_code == 2
    assert CliRunner().invoke(cmd, ["--rate", "fast"]).exit_code == 2


@dataclass(frozen=True)
class Shape:
    label: str = cli_field(metavar="NAME", help="No default: required.")
    crop: tuple[int, int] = cli_field((32, 16), size={"minimum": 8, "multiple": 8}, help="A WxH crop.")


def test_a_field_without_default_is_required_and_a_size_field_is_wxh():
    seen: dict = {}
    cmd = click.command()(options_from_dataclass(Shape)(lambda **p: seen.update(p)))
    text = " ".join(CliRunner().invoke(cmd, ["--help"]).output.split())
    assert "--label NAME No default: required. [required]" in text and "[default: 32x16]" in text
    assert CliRunner().invoke(cmd, []).exit_code == 2
    assert CliRunner().invoke(cmd, ["--label", "a", "--crop", "20x16"]).exit_code == 2  # not a multiple of 8
    assert CliRunner().invoke(cmd, ["--label", "a"]).exit_code == 0
    assert Shape(**dataclass_values(Shape, seen)) == Shape("a", (32, 16))


def test_bokehnet_train_is_train_with_the_model_preset():
    """`bokehnet train` has exactly `train`'s options (one command, one set of options): only --model's default
    differs, so a pipeline or a user can move between the two spellings."""
    from bokehpipe.cli.bokehnet import bokehnet
    from bokehpipe.cli.train import train

    alias = bokehnet.commands["train"]
    assert [p.name for p in alias.params] == [p.name for p in train.params]
    defaults = {p.name: p.default for p in alias.params}
    assert defaults["model"] == "bokehnet"
    assert {p.name: p.default for p in train.params if p.name != "model"} == \
        {k: v for k, v in defaults.items() if k != "model"}
    assert alias.callback is train.callback


def test_train_config_takes_bokehnet_with_its_own_geometry():
    """BokehNet is one level with 8-px crops at its working size: --levels 7..1 or --no-depth are refused with
    the reason, and its crops need not be PyNET's multiples of 32."""
    import pytest

    from bokehpipe.errors import ConfigError
    from bokehpipe.train.config import LevelSchedule, TrainConfig

    one = {1: LevelSchedule(8, 10)}
    cfg = TrainConfig(run="r", data_root="d", dataset="x", model="bokehnet", levels="1", schedule=one, crop=48,
                      depth_source="gt")
    assert cfg.kind == "correction" and cfg.in_chans == 9 and not cfg.uses_perceptual(1)
    with pytest.raises(ConfigError, match="one level"):
        TrainConfig(run="r", data_root="d", dataset="x", model="bokehnet", depth_source="gt")
    with pytest.raises(ConfigError, match="--no-depth"):
        TrainConfig(run="r", data_root="d", dataset="x", model="bokehnet", levels="1", schedule=one, crop=48,
                    with_depth=False)
    with pytest.raises(ConfigError, match="multiple of 32"):
        TrainConfig(run="r", data_root="d", dataset="x", model="pynet", crop=48, depth_source="gt")


def test_gpu_defaults_resolve_from_the_device():
    """--precision auto and --workers (unset) resolve once, from the device: fp32 and 2 workers on a CPU; on a
    CUDA device bf16 (where supported) and the cores per GPU (torchrun's LOCAL_WORLD_SIZE), at most 8."""
    import os
    from unittest import mock

    from bokehpipe.train.config import TrainConfig, _auto_workers

    cfg = TrainConfig(run="r", data_root="d", dataset="x", depth_source="gt")
    assert (cfg.precision, cfg.workers) == ("fp32", 2)
    assert TrainConfig(run="r", data_root="d", dataset="x", depth_source="gt", workers=0).workers == 0
    with mock.patch.object(os, "sched_getaffinity", return_value=set(range(32))), \
            mock.patch.dict(os.environ, {"LOCAL_WORLD_SIZE": "8"}):
        assert _auto_workers("cuda:3") == 3
    with mock.patch.object(os, "sched_getaffinity", return_value=set(range(64))), \
            mock.patch.dict(os.environ, {"LOCAL_WORLD_SIZE": "1"}):
        assert _auto_workers("cuda") == 8


def test_a_device_field_takes_the_shared_device_type():
    """`cli_field(device=True)`: the one --device type (cli/common.DeviceType), refused while parsing when misspelt."""
    from bokehpipe.cli.common import DeviceType

    @dataclass(frozen=True)
    class Run:
        device: str = cli_field("cpu", cli_default="auto", device=True, help="Where it runs.")

    seen: dict = {}
    cmd = click.command()(options_from_dataclass(Run)(lambda **p: seen.update(p)))
    assert isinstance(cmd.params[0].type, DeviceType)
    assert CliRunner().invoke(cmd, ["--device", "CUDA:1"]).exit_code == 0 and seen["device"] == "cuda:1"
    bad = CliRunner().invoke(cmd, ["--device", "gpu"])
    assert bad.exit_code == 2 and "use auto, cpu, cuda, cuda:N or mps" in bad.output
