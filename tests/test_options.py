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


def test_bokehnet_train_options_are_generated_from_its_config_fields():
    """`bokehnet train`'s options are its TrainConfig's and ExampleRecipe's cli_fields (the recipe's right after
    --lr), plus --run, the shared --data/--dataset and --threads; a default or help lives in the field only."""
    from dataclasses import MISSING, fields

    from bokehpipe.cli.bokehnet import train_cmd
    from bokehpipe.config import CLI
    from bokehpipe.train.bokehnet import TrainConfig
    from bokehpipe.train.bokehnet_data import ExampleRecipe

    assert [p.name for p in train_cmd.params] == [
        "run_name", "data", "dataset", "steps", "batch", "crop", "lr", "variants", "clean_fraction", "val_every",
        "log_every", "val_max", "limit", "max_minutes", "threads", "seed", "init", "val_split", "depth_source",
        "f_number"]
    params = {p.name: p for p in train_cmd.params}
    for cls in (TrainConfig, ExampleRecipe):
        for f in fields(cls):
            if CLI not in f.metadata:
                continue
            param = params[f.name]
            assert param.help == f.metadata[CLI]["help"]
            if f.default is MISSING:
                assert param.required
            elif f.default is None:  # chosen at run time (the set's own val split, its only depth cache)
                assert param.default is None and not param.required
            else:
                assert param.type.convert(param.default, param, None) == f.default, f.name
    seen: dict = {}
    monkey = click.command(params=train_cmd.params)(lambda **p: seen.update(p))
    assert CliRunner().invoke(monkey, []).exit_code == 2  # --run is required
    assert CliRunner().invoke(monkey, ["--dataset", "d", "--run", "r"]).exit_code == 0
    assert TrainConfig(**dataclass_values(TrainConfig, seen)) == TrainConfig()


def test_train_config_refuses_bokehnet_and_names_its_trainer():
    """BokehNet is in the model registry (eval, bench, infer know it) but not a level-wise PyNET: a config
    asking `bokehpipe train` for it is refused with the command that trains it, not a TypeError later."""
    import pytest

    from bokehpipe.errors import ConfigError
    from bokehpipe.train.config import TrainConfig

    with pytest.raises(ConfigError, match="bokehpipe bokehnet train"):
        TrainConfig(run="r", data_root="d", dataset="x", model="bokehnet")


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
