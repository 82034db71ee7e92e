"""torchrun detection and the process group (the environment contract of `torch.distributed.run`), for every
command that runs sharded: `bokehpipe train` (DDP) and `bokehpipe depth` (one shard of maps per rank).

The same command runs alone or under torchrun: RANK / WORLD_SIZE / LOCAL_RANK in the environment switch the
process group on. Training on CUDA uses NCCL with one device per local rank; everything else gloo. Rank 0
alone writes (nanoGPT's master-process gate). Alone, every collective here is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from bokehpipe.device import env_world


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    started: bool = False  # this process joined the group in `setup` (and leaves it in `cleanup`)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device: str, *, backend: str | None = None, timeout: timedelta | None = None) -> DistInfo:
    """Bind this process to `device` and join the process group when torchrun started several processes.

    `device` is what the caller's one `bokehpipe.device.resolve_device(requested)` call returned
    (under torchrun 'cuda:<local_rank>'); it is not resolved again here. `backend` None: NCCL on CUDA, else
    gloo (the depth pass passes gloo: its ranks only coordinate, maps never travel)."""
    rank, world, local_rank = env_world()
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", dev.index or 0)
        if world > 1 and dev.index != local_rank:
            from bokehpipe.errors import ConfigError

            raise ConfigError(f"rank {rank} was given {dev} but its local rank is {local_rank}; resolve the device "
                              "with bokehpipe.device.resolve_device(requested)")
        torch.cuda.set_device(dev)
    started = world > 1 and not dist.is_initialized()
    if started:
        kw = {"timeout": timeout} if timeout is not None else {}
        dist.init_process_group(backend or ("nccl" if dev.type == "cuda" else "gloo"), **kw)
    return DistInfo(rank, world, local_rank, dev, started)


def cleanup(info: DistInfo | None = None) -> None:
    """Leave the process group: the one `setup` started for `info`, or any (None)."""
    if info is not None and not info.started:
        return
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_object(info: DistInfo, obj: Any) -> Any:
    """Rank 0's picklable object (a plan, an error message) for every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def total(info: DistInfo, n: int) -> int:
    """Sum of an integer over ranks (also a barrier)."""
    if not info.enabled:
        return n
    counts: list[Any] = [None] * info.world
    dist.all_gather_object(counts, n)
    return sum(int(c) for c in counts)


def concat(info: DistInfo, items: list[Any]) -> list[Any]:
    """Every rank's list, joined in rank order (also a barrier)."""
    if not info.enabled:
        return list(items)
    lists: list[Any] = [None] * info.world
    dist.all_gather_object(lists, list(items))
    return [item for part in lists for item in part]


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
