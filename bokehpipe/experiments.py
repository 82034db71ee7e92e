"""Experiments as data: a pipeline file's `[[steps]]` are bokehpipe commands run in order over one store.

```toml
[[steps]]
name = "synth"                     # unique within the file
run = ["synth", "demo", "--count", "96"]
creates = ["datasets/demo"]        # store paths; when all exist the step is reused, not rerun

[[steps]]
name = "ceiling"
script = "../studies/synthetic_ceiling.py"   # a Python script instead of a bokehpipe command
run = ["--data", "{store}/datasets/demo", "--json", "{store}/reports/ceiling.json"]
creates = ["reports/ceiling.json"]
```

Each command step runs with `--pipeline` set to the same file, so the file's `[train]`, `[eval]`, ... tables
give the steps their defaults and the steps list only what differs. A `script` step runs that file (a path
relative to the pipeline file) in its own process, with the interpreter running bokehpipe, `run` as its
arguments and BOKEHPIPE_STORE set to the store: studies that live outside the package (the repository's
`studies/`) take part in an experiment that way. In `run` and `creates`, `{store}` is the store root and
`{realdata}` the folder of real photos, which only the BOKEHPIPE_REALDATA environment variable names; a step
that needs `{realdata}` without it stops with one line.
Wall times and outcomes go to `store/reports/experiments/<name>.json`, which the report reads: every time in
the report was measured.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokehpipe.errors import ConfigError
from bokehpipe.store import ArtifactStore, atomic_write_json, read_json

REALDATA_ENV = "BOKEHPIPE_REALDATA"
"""Names the folder of real photos (EBB! pairs, VABD, portraits) that `{realdata}` steps and the report read."""


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]
    creates: tuple[str, ...]
    script: Path | None = None
    """A Python file run with `argv` as its arguments, instead of the bokehpipe command `argv`."""

    def done(self, store: ArtifactStore) -> bool:
        return bool(self.creates) and all((store.root / expand(rel, store)).exists() for rel in self.creates)

    def expanded(self, store: ArtifactStore) -> list[str]:
        return [expand(a, store) for a in self.argv]

    def describe(self, store: ArtifactStore) -> str:
        """The step as a command line a person could type."""
        head = f"python {self.script}" if self.script else "bokehpipe"
        return " ".join([head, *self.expanded(store)])


def realdata_dir() -> Path | None:
    """The folder of real photos named by BOKEHPIPE_REALDATA, or None where the variable is not set."""
    env = os.environ.get(REALDATA_ENV, "").strip()
    return Path(env).expanduser() if env else None


def require_realdata() -> Path:
    """`realdata_dir()`, or ConfigError saying how to name the folder where it is unset or absent."""
    root = realdata_dir()
    if root is None:
        raise ConfigError(f"the real photos are not configured: set {REALDATA_ENV} to their folder "
                          "(ebb/, vabd/, portraits/, pynet_samples/)")
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder; set {REALDATA_ENV} to the folder of real photos")
    return root


def expand(text: str, store: ArtifactStore) -> str:
    if "{realdata}" in text:
        text = text.replace("{realdata}", str(require_realdata()))
    return text.replace("{store}", str(store.root))


def load_steps(pipeline: dict[str, Any], source: Path) -> list[Step]:
    raw = pipeline.get("steps")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: no [[steps]] to run; an experiment pipeline lists its commands as [[steps]]")
    steps, seen = [], set()
    for i, entry in enumerate(raw, 1):
        step = _step(entry, i, source)
        if step.name in seen:
            raise ConfigError(f"{source}: two steps are named {step.name!r}; names must be unique")
        seen.add(step.name)
        steps.append(step)
    return steps


def _step(entry: Any, i: int, source: Path) -> Step:
    """One [[steps]] table: a bokehpipe command (`run`, not empty) or a `script` with its arguments (`run`)."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: step {i} must be a [[steps]] table")
    name = str(entry.get("name") or f"step{i}")
    script = _script(entry.get("script"), source, name)
    argv = entry.get("run", [] if script else None)
    if not isinstance(argv, list) or not (argv or script):
        raise ConfigError(f"{source}: step {i} needs run = [\"command\", \"arg\", ...]")
    creates = entry.get("creates", [])
    creates = [creates] if isinstance(creates, str) else list(creates)
    return Step(name, tuple(str(a) for a in argv), tuple(str(c) for c in creates), script)


def _script(value: Any, source: Path, step: str) -> Path | None:
    """A step's `script`, resolved against the pipeline file's folder (checked when the step runs, so a copy
    of the file without the script still runs its other steps)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: step {step!r}: script must be a path to a Python file, got {value!r}")
    return (source.parent / Path(value).expanduser()).resolve()


def script_argv(step: Step, store: ArtifactStore) -> list[str]:
    """The command line of a `script` step: this interpreter, the script, the expanded `run`."""
    if step.script is None:
        raise ValueError(f"step {step.name!r} runs a bokehpipe command, not a script")
    if not step.script.is_file():
        raise ConfigError(f"step {step.name!r}: script {step.script} not found; give a path relative to the "
                          "pipeline file")
    return [sys.executable, str(step.script), *step.expanded(store)]


def select(steps: Sequence[Step], only: Sequence[str] = (), start: str | None = None) -> list[Step]:
    names = [s.name for s in steps]
    for n in [*only, *([start] if start else [])]:
        if n not in names:
            raise ConfigError(f"no step named {n!r}; steps: {', '.join(names)}")
    chosen = list(steps[names.index(start):]) if start else list(steps)
    return [s for s in chosen if not only or s.name in only]


def log_path(store: ArtifactStore, experiment: str) -> Path:
    return store.reports_dir / "experiments" / f"{experiment}.json"


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (the steps' subprocesses)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _update_log(path: Path, experiment: str, update: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read the log, apply `update`, write it back, under an exclusive `flock`: two `experiment` processes running
    different steps of one pipeline (a long run beside its ablation) each keep the other's entries."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.flock").open("a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        log: dict[str, Any] = read_json(path) if path.exists() else {"experiment": experiment, "steps": {}}
        update(log)
        atomic_write_json(path, log)
    return log


def run_steps(experiment: str, steps: Sequence[Step], store: ArtifactStore,
              invoke: Callable[[Step], None], *, force: bool = False,
              on_step: Callable[[Step, str], None] | None = None) -> dict[str, Any]:
    """Run (or reuse) each step; the log keeps the last measured wall and CPU time of every step."""
    path = log_path(store, experiment)
    log: dict[str, Any] = read_json(path) if path.exists() else {"experiment": experiment, "steps": {}}
    for step in steps:
        if step.done(store) and not force:
            if on_step:
                on_step(step, "reused")
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            log = _update_log(path, experiment,
                              lambda lg, s=step, at=stamp: lg["steps"].setdefault(s.name, {}).update(reused_at=at))
            continue
        if on_step:
            on_step(step, "running")
        start, cpu = time.perf_counter(), _cpu_seconds()
        invoke(step)
        entry = {"script": str(step.script)} if step.script else {}
        entry.update(argv=list(step.argv), wall_s=round(time.perf_counter() - start, 2),
                     cpu_s=round(_cpu_seconds() - cpu, 2), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        log = _update_log(path, experiment, lambda lg, s=step, e=entry: lg["steps"].__setitem__(s.name, e))
    return log
