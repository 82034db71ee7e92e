"""Experiments as data: a pipeline file's `[[steps]]` are bokehpipe commands run in order over one store.

```toml
[[steps]]
name = "synth"                     # unique within the file
run = ["synth", "demo", "--count", "96"]
creates = ["datasets/demo"]        # store paths; when all exist the step is reused, not rerun
```

Each step runs with `--pipeline` set to the same file, so the file's `[train]`, `[eval]`, ... tables give
the steps their defaults and the steps list only what differs. In `run` and `creates`, `{store}` is the
store root and `{realdata}` the folder of real photos (BOKEHPIPE_REALDATA, else ../shared/realdata
next to the checkout); a step that needs `{realdata}` where it is absent stops with a clear message.
Wall times and outcomes go to `store/reports/experiments/<name>.json`, which the report reads: every time in
the report was measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokehpipe.errors import ConfigError
from bokehpipe.store import ArtifactStore, atomic_write_json, read_json


@dataclass(frozen=True)
class Step:
    name: str
    argv: tuple[str, ...]
    creates: tuple[str, ...]

    def done(self, store: ArtifactStore) -> bool:
        return bool(self.creates) and all((store.root / expand(rel, store)).exists() for rel in self.creates)

    def expanded(self, store: ArtifactStore) -> list[str]:
        return [expand(a, store) for a in self.argv]


def realdata_dir() -> Path:
    env = os.environ.get("BOKEHPIPE_REALDATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "realdata"


def expand(text: str, store: ArtifactStore) -> str:
    if "{realdata}" in text and not realdata_dir().is_dir():
        raise ConfigError(f"{realdata_dir()}: real photos not found; set BOKEHPIPE_REALDATA to the realdata folder")
    return text.replace("{store}", str(store.root)).replace("{realdata}", str(realdata_dir()))


def load_steps(pipeline: dict[str, Any], source: Path) -> list[Step]:
    raw = pipeline.get("steps")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{source}: no [[steps]] to run; an experiment pipeline lists its commands as [[steps]]")
    steps, seen = [], set()
    for i, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("run"), list) or not entry["run"]:
            raise ConfigError(f"{source}: step {i} needs run = [\"command\", \"arg\", ...]")
        name = str(entry.get("name") or f"step{i}")
        if name in seen:
            raise ConfigError(f"{source}: two steps are named {name!r}; names must be unique")
        seen.add(name)
        creates = entry.get("creates", [])
        creates = [creates] if isinstance(creates, str) else list(creates)
        steps.append(Step(name, tuple(str(a) for a in entry["run"]), tuple(str(c) for c in creates)))
    return steps


def select(steps: Sequence[Step], only: Sequence[str] = (), start: str | None = None) -> list[Step]:
    names = [s.name for s in steps]
    for n in [*only, *([start] if start else [])]:
        if n not in names:
            raise ConfigError(f"no step named {n!r}; steps: {', '.join(names)}")
    chosen = list(steps[names.index(start):]) if start else list(steps)
    return [s for s in chosen if not only or s.name in only]


def log_path(store: ArtifactStore, experiment: str) -> Path:
    return store.reports_dir / "experiments" / f"{experiment}.json"


def run_steps(experiment: str, steps: Sequence[Step], store: ArtifactStore,
              invoke: Callable[[Step], None], *, force: bool = False,
              on_step: Callable[[Step, str], None] | None = None) -> dict[str, Any]:
    """Run (or reuse) each step; the log keeps the last measured wall time of every step."""
    path = log_path(store, experiment)
    log: dict[str, Any] = read_json(path) if path.exists() else {"experiment": experiment, "steps": {}}
    for step in steps:
        if step.done(store) and not force:
            if on_step:
                on_step(step, "reused")
            log["steps"].setdefault(step.name, {})["reused_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            continue
        if on_step:
            on_step(step, "running")
        start = time.perf_counter()
        invoke(step)
        log["steps"][step.name] = {"argv": list(step.argv), "wall_s": round(time.perf_counter() - start, 2),
                                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_json(path, log)
    atomic_write_json(path, log)
    return log
