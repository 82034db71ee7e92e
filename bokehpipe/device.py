"""The one device resolver for every command (`--device auto|cpu|cuda|cuda:N|mps`, default auto).

`auto` takes the CUDA GPU when one is visible, else the CPU (an Apple GPU is used only when asked for with
`mps`: memory-driven tiling and the out-of-memory retry are measured on CPU and CUDA); under torchrun each
process takes the GPU of its local rank (`env_world`, torchrun's environment), the DDP convention. A request
for a device that is not there, or an index past the last GPU, is one clear error rather than a traceback
deep inside the first tensor move. `parse_device` checks the spelling alone and imports nothing, so the CLI
refuses a misspelt --device while it parses; torch is imported on call.
"""

from __future__ import annotations

import os

from bokehpipe.errors import ConfigError

CHOICES = "auto, cpu, cuda, cuda:N or mps"
DEFAULT = "auto"
HELP = "Where models run: auto (a CUDA GPU when one is visible, else the CPU), cpu, cuda, cuda:N or mps."


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, (0, 1, 0) when run alone."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def parse_device(requested: str | None = DEFAULT) -> str:
    """A --device value in its normal form ('auto', 'cpu', 'mps', 'cuda' or 'cuda:N'), or one ConfigError naming
    the choices. The spelling only: whether that device is there is `resolve_device`'s question."""
    text = DEFAULT if requested is None else str(requested).strip().lower()
    kind, _, index = text.partition(":")
    if text in ("auto", "cpu", "mps") or (kind == "cuda" and (not index or index.isdigit())):
        return text
    raise ConfigError(f"--device {requested!r}: use {CHOICES}")


def resolve_device(requested: str | None = DEFAULT) -> str:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' -> a concrete torch device string ('cpu', 'cuda', 'cuda:N',
    'mps').

    Under torchrun (several processes), 'auto' and every CUDA request become 'cuda:<local rank>': one GPU per
    process, the device `bokehpipe.distributed.setup` binds. Each command calls this once per run.
    """
    import torch

    _, world, rank = env_world()
    local_rank = rank if world > 1 else None

    text = parse_device(requested)
    if text == "cpu":
        return "cpu"
    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("--device mps: no Apple GPU (MPS) is available to this torch; use --device cpu")
        return "mps"
    available = torch.cuda.is_available()
    if text == "auto":
        if not available:
            return "cpu"
        return "cuda" if local_rank is None else f"cuda:{local_rank}"
    _, _, index = text.partition(":")
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
