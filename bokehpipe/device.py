"""The one device resolver for every command (`--device auto|cpu|cuda|cuda:N`).

`auto` takes the GPU when one is visible; under torchrun each process takes the GPU of its local rank
(`env_world`, torchrun's environment), the DDP convention. A CUDA request without CUDA, or an index past the
last GPU, is one clear error rather than a traceback deep inside the first tensor move. torch is imported on
call, so `--help` and the CLI's option parsing stay light.
"""

from __future__ import annotations

import os

from bokehpipe.errors import ConfigError

CHOICES = "auto, cpu, cuda or cuda:N"


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, (0, 1, 0) when run alone."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def resolve_device(requested: str | None = "auto") -> str:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> a concrete torch device string ('cpu', 'cuda', 'cuda:N').

    Under torchrun (several processes), 'auto' and every CUDA request become 'cuda:<local rank>': one GPU per
    process, the device `bokehpipe.distributed.setup` binds. Each command calls this once per run.
    """
    import torch

    _, world, rank = env_world()
    local_rank = rank if world > 1 else None

    text = "auto" if requested is None else str(requested).strip().lower()
    if text == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if text == "auto":
        if not available:
            return "cpu"
        return "cuda" if local_rank is None else f"cuda:{local_rank}"
    kind, _, index = text.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ConfigError(f"--device {requested!r}: use {CHOICES}")
    if not available:
        raise ConfigError(f"--device {requested}: no CUDA device is visible (torch.cuda.is_available() is False); "
                          "use --device cpu")
    if index:
        count = torch.cuda.device_count()
        if int(index) >= count:
            raise ConfigError(f"--device {requested}: only {count} CUDA device(s) are visible "
                              f"(cuda:0..cuda:{count - 1})")
    if local_rank is not None:
        return f"cuda:{local_rank}"
    return f"cuda:{int(index)}" if index else "cuda"
