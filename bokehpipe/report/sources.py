"""Where each result of report.tex comes from in the store, and the command that makes it.

The report never invents a number: every table and figure is drawn from one of these files. A file that
is missing is named together with the experiment that writes it (`bokehpipe experiment <name>`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokehpipe.store import ArtifactStore

# run name -> (label in the report, experiment that trains it)
RUNS: dict[str, tuple[str, str]] = {
    "exp-depth": ("PyNET-res-xs + GT depth (level-wise)", "exp_depth"),
    "exp-lowdepth": ("PyNET-res-xs + degraded depth", "exp_depth"),
    "exp-nodepth": ("PyNET-res-xs, RGB only", "exp_depth"),
    "exp-finest": ("PyNET-res-xs + GT depth, level 1 only", "exp_levels"),
}
# eval tag -> experiment that writes it
EVALS: dict[str, str] = {
    "exp-val-gt": "exp_depth",  # baselines + runs scored with ground-truth disparity
    "exp-val-lowq": "exp_depth",  # runs/baselines scored with the degraded disparity
    "exp-levels-val-gt": "exp_levels",
    "ebb-val294": "exp_real",  # real EBB! pairs (identity only: no depth offline)
}
# render folder -> (what it shows, experiment)
RENDERS: dict[str, str] = {
    "real-portraits-scatter": "exp_real",
    "real-portraits-model": "exp_real",
    "real-pynet-scatter": "exp_real",
    "real-pynet-model": "exp_real",
    "real-ebb-model": "exp_real",
}
BENCH = "reports/bench.json"


@dataclass
class Missing:
    what: str
    path: Path
    command: str

    def line(self) -> str:
        return f"{self.what}: {self.path} is missing; run `{self.command}` first"


class Results:
    """Lazy, checked access to the store's results; every miss is recorded with its command."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.missing: list[Missing] = []

    def _miss(self, what: str, path: Path, command: str) -> None:
        if all(m.path != path for m in self.missing):
            self.missing.append(Missing(what, path, command))

    def eval_summary(self, tag: str) -> dict[str, Any] | None:
        path = self.store.reports_dir / "eval" / tag / "summary.json"
        if not path.is_file():
            self._miss(f"eval {tag}", path, f"bokehpipe experiment {EVALS.get(tag, 'exp_depth')}")
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def eval_dir(self, tag: str) -> Path:
        return self.store.reports_dir / "eval" / tag

    def metrics(self, run: str) -> list[dict[str, str]] | None:
        path = self.store.run(run) / "metrics.csv"
        if not path.is_file():
            self._miss(f"run {run}", path, f"bokehpipe experiment {RUNS.get(run, ('', 'exp_depth'))[1]}")
            return None
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def run_config(self, run: str) -> dict[str, Any] | None:
        path = self.store.run(run) / "config.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def bench(self) -> dict[str, Any] | None:
        path = self.store.root / BENCH
        if not path.is_file():
            self._miss("benchmark", path, "bokehpipe bench")
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def renders(self, name: str) -> Path | None:
        path = self.store.renders(name)
        if not path.is_dir():
            self._miss(f"renders {name}", path, f"bokehpipe experiment {RENDERS.get(name, 'exp_real')}")
            return None
        return path

    def experiment_log(self, name: str) -> dict[str, Any] | None:
        path = self.store.reports_dir / "experiments" / f"{name}.json"
        if not path.is_file():
            self._miss(f"experiment {name} timings", path, f"bokehpipe experiment {name}")
            return None
        return json.loads(path.read_text(encoding="utf-8"))
