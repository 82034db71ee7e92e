"""torchrun detection and the process group (PyTorch DDP; the environment contract of `torch.distributed.run`).

The same `bokehpipe train` command runs alone or under torchrun: RANK / WORLD_SIZE / LOCAL_RANK in the
environment switch DDP on. CPU processes use gloo, CUDA processes NCCL with one device per local rank.
Rank 0 alone writes to the run folder (nanoGPT's master-process gate).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from bokehpipe.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment, (0, 1, 0) when run alone."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)))


def setup(device: str) -> DistInfo:
    """Pick this process's device and join the process group when torchrun started several processes."""
    rank, world, local_rank = env_world()
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is visible; use --device cpu")
        dev = torch.device("cuda", local_rank if world > 1 else (torch.device(device).index or 0))
        torch.cuda.set_device(dev)
    elif device == "cpu":
        dev = torch.device("cpu")
    else:
        raise ConfigError(f"--device {device!r}: use cpu or cuda")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, dev)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_sum(info: DistInfo, values: list[float]) -> list[float]:
    """Sum floats over ranks (float64 on the process's device); identity when alone."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_flag(info: DistInfo, flag: bool) -> bool:
    """Rank 0's decision (e.g. "save a new best") for every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], device=info.device)
    dist.broadcast(t, 0)
    return bool(t.item())


def max_param_divergence(info: DistInfo, params: list[torch.Tensor]) -> float:
    """Largest |p - p_rank0| over every rank and parameter: 0.0 when DDP kept the replicas identical."""
    if not info.enabled:
        return 0.0
    mine = torch.cat([p.detach().reshape(-1).float() for p in params])
    ref = mine.clone()
    dist.broadcast(ref, 0)
    worst = torch.tensor([float((mine - ref).abs().max()) if mine.numel() else 0.0], dtype=torch.float64,
                         device=info.device)
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst.item())
