"""CPU threads that keep their speed on a shared machine.

Why: torch's OpenMP pool (libgomp) waits at the end of every parallel region by spinning. A small model at
small crops runs thousands of tiny parallel regions per step, so when another busy process holds a core, the
thread that arrived first spins through its time slice waiting for the one that was descheduled, and
training slows far more than the share of the CPU it lost.

What `configure` does, once per training process:
- OMP_WAIT_POLICY=PASSIVE unless the user set it (`configure_environment`, which the CLI calls before any
  subcommand imports torch: libgomp reads it once, when it loads): waiting threads sleep instead of spin.
- intra-op threads = the user's OMP_NUM_THREADS when set, else the cores this process may run on
  (os.sched_getaffinity, not os.cpu_count: a container or `taskset` gives fewer), never more than a caller
  already lowered it to.
- flush denormal floats to zero: arithmetic on denormals is many times slower on common CPUs, so a level
  whose activations or gradients drift into them would slow by as much.
- DataLoader workers run one torch thread and a sequential OpenCV (`worker_init` in data/datasets.py).
"""

from __future__ import annotations

import os

WAIT_ENV = "OMP_WAIT_POLICY"


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def wanted_threads(requested: int = 0) -> int:
    """`requested` if > 0, else the user's OMP_NUM_THREADS if set, else the cores this process may use."""
    if requested > 0:
        return requested
    user = os.environ.get("OMP_NUM_THREADS", "").strip()
    if user.isdigit() and int(user) > 0:
        return int(user)
    return available_cores()


def configure_environment() -> None:
    """Environment read once by the OpenMP runtime: call before torch is imported (the CLI does)."""
    os.environ.setdefault(WAIT_ENV, "PASSIVE")


def configure(requested: int = 0) -> int:
    """Set torch's intra-op threads (see the module docstring); returns the count. Safe to call twice."""
    import torch

    n = wanted_threads(requested)
    if requested <= 0 and not os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        n = min(n, torch.get_num_threads())  # never raise a count the caller (a notebook, a test) lowered
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    torch.set_flush_denormal(True)  # see the module docstring
    return n
