"""CPU threads that keep their speed on a shared machine.

What goes wrong (measured with `python -m bokehpipe.bench.shared_speed`, numbers in the README): torch's
OpenMP pool (libgomp) spins at the end of every parallel region waiting for its other threads. The model's
layers at demo crop sizes are thousands of tiny parallel regions per step, so when another busy process
holds one of the cores, the thread that arrived first spins through its whole time slice waiting for the
one that was descheduled, and every small op costs a scheduler slice instead of microseconds.

What `configure` does, once per process, before torch's pool starts:
- OMP_WAIT_POLICY=PASSIVE (unless the user set it): waiting threads sleep instead of spinning, so they give
  the core back to the thread the region is waiting for. Needs to be in the environment before libgomp
  initialises, i.e. before `import torch`, which is why the CLI calls `configure_environment` first thing.
- intra-op threads = the user's OMP_NUM_THREADS when set, else the cores this process may run on
  (os.sched_getaffinity, not os.cpu_count: a container or `taskset` gives fewer).
- DataLoader workers run one torch thread and OpenCV single-threaded (`worker_init` in data/datasets.py).
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
    torch.set_flush_denormal(True)  # denormal floats: a conv on them ran 54x slower here (module docstring)
    return n
