"""The one device resolver (bokehpipe.device): every command's --device goes through it."""

from __future__ import annotations

import pytest
import torch

from bokehpipe.device import resolve_device
from bokehpipe.errors import ConfigError


def _gpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


def test_without_cuda(monkeypatch):
    _gpus(monkeypatch, 0)
    assert resolve_device("auto") == resolve_device(None) == resolve_device("CPU") == "cpu"
    assert resolve_device("auto", local_rank=1) == "cpu"
    for wanted in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match="no CUDA device is visible.*--device cpu"):
            resolve_device(wanted)


def test_with_two_gpus(monkeypatch):
    _gpus(monkeypatch, 2)
    assert resolve_device("auto") == resolve_device("cuda") == "cuda"
    assert resolve_device("auto", local_rank=1) == resolve_device("cuda", local_rank=1) == "cuda:1"
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match=r"only 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "mps:0", ""])
def test_unknown_names_are_refused(monkeypatch, bad):
    _gpus(monkeypatch, 1)
    with pytest.raises(ConfigError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device(bad)
