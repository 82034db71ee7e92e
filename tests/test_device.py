"""The one device resolver (bokehpipe.device): every command's --device goes through it."""

from __future__ import annotations

import pytest
import torch

from bokehpipe.device import resolve_device
from bokehpipe.errors import ConfigError


def _gpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


def _torchrun(monkeypatch, local_rank: int, world: int = 2) -> None:
    """This process as torchrun's rank `local_rank` of `world` (the environment resolve_device reads)."""
    for key, value in (("RANK", local_rank), ("WORLD_SIZE", world), ("LOCAL_RANK", local_rank)):
        monkeypatch.setenv(key, str(value))


def test_without_cuda(monkeypatch):
    _gpus(monkeypatch, 0)
    assert resolve_device("auto") == resolve_device(None) == resolve_device("CPU") == "cpu"
    _torchrun(monkeypatch, 1)
    assert resolve_device("auto") == "cpu"
    for wanted in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match="no CUDA device is visible.*--device cpu"):
            resolve_device(wanted)


def test_with_two_gpus(monkeypatch):
    _gpus(monkeypatch, 2)
    assert resolve_device("auto") == resolve_device("cuda") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match=r"only 2 CUDA device\(s\)"):
        resolve_device("cuda:2")
    _torchrun(monkeypatch, 1)
    assert resolve_device("auto") == resolve_device("cuda") == "cuda:1"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps:0", ""])
def test_unknown_names_are_refused(monkeypatch, bad):
    _gpus(monkeypatch, 1)
    with pytest.raises(ConfigError, match="use auto, cpu, cuda, cuda:N or mps"):
        resolve_device(bad)


def test_mps_is_taken_when_asked_for_and_there(monkeypatch):
    _gpus(monkeypatch, 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("MPS") == "mps" and resolve_device("auto") == "cpu"  # auto: CUDA or the CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no Apple GPU.*--device cpu"):
        resolve_device("mps")


def test_every_device_option_is_the_one_shared_option():
    """`--device` is declared once (cli/common.device_option): the same type, default and help on every command
    that has one, and a misspelt value is refused while parsing, before any work."""
    from click.testing import CliRunner

    from bokehpipe.cli import COMMANDS, cli
    from bokehpipe.cli.common import DeviceType

    ctx = cli.make_context("bokehpipe", ["info"])
    found = {}
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        for sub in [command, *getattr(command, "commands", {}).values()]:
            for param in sub.params:
                if param.name == "device":
                    found[sub.name] = (type(param.type), param.default, param.help)
    assert {"infer", "eval", "bench", "depth"} <= set(found)
    assert set(found.values()) == {(DeviceType, "auto", found["infer"][2])}, found
    result = CliRunner().invoke(cli, ["infer", ".", "--device", "cuda:x"])
    assert result.exit_code == 2 and "use auto, cpu, cuda, cuda:N or mps" in result.output


def test_under_torchrun_every_cuda_request_is_the_local_rank_gpu(monkeypatch):
    _gpus(monkeypatch, 2)
    _torchrun(monkeypatch, 1)
    assert resolve_device("cuda:0") == "cuda:1"
    with pytest.raises(ConfigError, match=r"only 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


@pytest.fixture
def resolutions(monkeypatch) -> list[str]:
    """Every call of the one resolver, however a module imported it."""
    import sys

    import bokehpipe.device as device

    calls: list[str] = []
    real = device.resolve_device

    def counting(requested="auto"):
        calls.append(str(requested))
        return real(requested)

    for mod in list(sys.modules.values()):
        if getattr(mod, "resolve_device", None) is real:
            monkeypatch.setattr(mod, "resolve_device", counting)
    return calls


def test_a_train_run_resolves_its_device_once(run_cli, tmp_path, resolutions):
    from toy_data import write_toy_dataset

    import bokehpipe.train.loop  # noqa: F401  (imported before the fixture patches: its setup must not resolve)

    toy = write_toy_dataset(tmp_path / "toy", n_train=2, n_val=1, size=(128, 128))
    res = run_cli("train", "--data", toy, "--run", "r", "--no-depth", "--model", "pynet-xs", "--levels", "7",
                  "--crop", "64", "--batch", "1", "--steps", "1", "--val-every", "0", "--workers", "0",
                  "--threads", "1", "--device", "auto")
    assert res.exit_code == 0, res.output
    assert resolutions == ["auto"]


def test_distributed_setup_binds_the_device_it_is_given(monkeypatch):
    import bokehpipe.device as device
    import bokehpipe.distributed as distributed

    for module in (device, distributed):  # wherever setup could reach the resolver from
        monkeypatch.setattr(module, "resolve_device", lambda *a, **k: pytest.fail("resolved twice"), raising=False)
    info = distributed.setup("cpu")
    assert info.device.type == "cpu" and not info.enabled and not info.started
