"""Where each result of report.tex comes from in the store, and the command that makes it.

The report never invents a number: every table and figure is drawn from one of these files. A file that
is missing is named together with the experiment that writes it (`bokehpipe experiment <name>`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokehpipe.store import ArtifactStore

# run name -> (label in the report, experiment that trains it): three seeds per condition
RUNS: dict[str, tuple[str, str]] = {
    f"exp-{kind}-s{seed}": (label, exp)
    for kind, label, exp in (("depth", "PyNET-res-xs + true depth (level-wise)", "exp_depth"),
                             ("mono", "PyNET-res-xs + monocular-style depth", "exp_depth"),
                             ("nodepth", "PyNET-res-xs, RGB only", "exp_depth"),
                             ("finest", "PyNET-res-xs + true depth, level 1 only", "exp_levels"))
    for seed in (0, 1, 2)
}
# eval tag -> experiment that writes it
EVALS: dict[str, str] = {
    "exp-test-gt": "exp_depth",  # baselines + runs on the held-out exp-test set, true disparity
    "exp-test-mono": "exp_depth",  # the same with the monocular-style disparity
    "exp-levels-test-gt": "exp_levels",
    "ebb-all-identity": "exp_real",  # the six real EBB! pairs: misalignment and exposure alone
    "ebb-train": "exp_real",  # the three pairs with depth, every method
    "ebb-val294": "exp_real",  # the three Val294 pairs (no depth here)
    "ebb-train-bokehnet": "exp_real",  # the default renderer on the three pairs with depth
}
# BokehNet trained three times, seeds 0-2 (600 steps each), each scored on the test pairs of eval bn-test
BOKEHNET_SEED_TAGS = tuple(f"bn-test-s{seed}" for seed in (0, 1, 2))
EVALS.update({tag: "bokehnet_seeds" for tag in BOKEHNET_SEED_TAGS})
# eval tag made by `bokehpipe experiment bokehnet` (its test-set steps): a synthetic set drawn with another seed,
# never used for BokehNet's training or checkpoint selection
BOKEHNET_TEST_TAG = "bn-test"
# the same pairs seen through monocular-style degraded depth (the errors a depth estimate makes)
BOKEHNET_TEST_MONO_TAG = "bn-test-mono"
EVAL_COMMANDS: dict[str, str] = {
    BOKEHNET_TEST_TAG: "bokehpipe experiment bokehnet  (steps test-set, test-depth, test-eval)",
    BOKEHNET_TEST_MONO_TAG: "bokehpipe experiment bokehnet  (steps test-depth-mono, test-eval-mono)",
}
# what a perfect renderer of the synthetic optics scores on BokehNet's test pairs (studies/synthetic_ceiling.py)
SYNTHETIC_CEILING = "reports/synthetic_ceiling.json"
SYNTHETIC_CEILING_COMMAND = "bokehpipe experiment bokehnet --only ceiling"
# every renderer on the real f/1.8 pairs at 768 px (studies/real_eval.py)
REAL_EVAL = "reports/real_eval_768.json"
REAL_EVAL_COMMAND = "bokehpipe experiment exp_real --only real-eval-768"
REALDATA_COMMAND = "export BOKEHPIPE_REALDATA=<folder of the real photos>"
BENCH_COMMAND = ("bokehpipe bench --models pynet-xs,pynet --renderers scatter,bokehnet --depth-models '' "
                 "--train-levels '' --threads 2 --repeats 3")
BENCH = "reports/bench.json"


@dataclass
class Missing:
    what: str
    path: Path
    command: str

    def line(self) -> str:
        return f"{self.what}: {self.path} is missing; run `{self.command}` first"


class Results:
    """Lazy, checked access to the store's results; every miss is recorded with its command.

    The one reader of results files for the report: each file is read at most once per build (the parts of the
    report ask for the same summaries, per-image CSVs and run files many times), and every caller gets the same
    parsed value, so no two tables can disagree about what a file said.
    """

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.missing: list[Missing] = []
        self._read: dict[Path, Any] = {}  # path -> parsed content (None: absent)

    def _cached(self, path: Path, parse: Callable[[Path], Any]) -> Any:
        """`parse(path)` the first time `path` is asked for; the same value afterwards (None if absent)."""
        if path not in self._read:
            self._read[path] = parse(path) if path.is_file() else None
        return self._read[path]

    def _miss(self, what: str, path: Path, command: str) -> None:
        if all(m.path != path for m in self.missing):
            self.missing.append(Missing(what, path, command))

    def _json(self, path: Path, what: str, command: str) -> dict[str, Any] | None:
        """The JSON file at `path`, or None after noting it missing with the command that makes it."""
        data = self._cached(path, _read_json)
        if data is None:
            self._miss(what, path, command)
        return data

    def eval_summary(self, tag: str) -> dict[str, Any] | None:
        return self._json(self.store.reports_dir / "eval" / tag / "summary.json", f"eval {tag}",
                          EVAL_COMMANDS.get(tag) or f"bokehpipe experiment {EVALS.get(tag, 'exp_depth')}")

    def eval_dir(self, tag: str) -> Path:
        return self.store.reports_dir / "eval" / tag

    def per_image(self, tag: str) -> list[dict[str, str]]:
        """Rows of an eval's per_image.csv (id, method, aligned, psnr, ...); [] where the eval wrote none."""
        return self._cached(self.eval_dir(tag) / "per_image.csv", _read_csv) or []

    def metrics(self, run: str) -> list[dict[str, str]] | None:
        path = self.store.run(run) / "metrics.csv"
        rows = self._cached(path, _read_csv)
        if rows is None:
            self._miss(f"run {run}", path, f"bokehpipe experiment {RUNS.get(run, ('', 'exp_depth'))[1]}")
        return rows

    def run_config(self, run: str) -> dict[str, Any] | None:
        return self._cached(self.store.run(run) / "config.json", _read_json)

    def dataset_json(self, name: str, filename: str) -> dict[str, Any] | None:
        """A synthetic set's own description (`splits.json`, `metadata.json`), or None where it has none."""
        return self._cached(self.store.root / "datasets" / name / filename, _read_json)

    def bench(self) -> dict[str, Any] | None:
        return self._json(self.store.root / BENCH, "benchmark", BENCH_COMMAND)

    def real_eval_768(self) -> dict[str, Any] | None:
        """Every renderer on the six real f/1.8 pairs at 768 px (`studies/real_eval.py --json`)."""
        return self._json(self.store.root / REAL_EVAL, "real pairs at 768 px", REAL_EVAL_COMMAND)

    def synthetic_ceiling(self) -> dict[str, Any] | None:
        """A perfect renderer of the synthetic optics on BokehNet's test pairs (`studies/synthetic_ceiling.py`)."""
        return self._json(self.store.root / SYNTHETIC_CEILING, "synthetic ceiling", SYNTHETIC_CEILING_COMMAND)

    def realdata(self, what: str, *needed: str) -> Path | None:
        """The folder of real photos (BOKEHPIPE_REALDATA) holding every `needed` path, or None after noting the
        first thing missing (the variable itself, or a file under it)."""
        from bokehpipe.experiments import REALDATA_ENV, realdata_dir

        root = realdata_dir()
        if root is None:
            self._miss(what, Path(f"${REALDATA_ENV}"), REALDATA_COMMAND)
            return None
        absent = [root / rel for rel in needed if not (root / rel).exists()]
        if absent:
            self._miss(what, absent[0], REALDATA_COMMAND)
            return None
        return root

    def renders(self, name: str) -> Path | None:
        path = self.store.renders(name)
        if not path.is_dir():
            self._miss(f"renders {name}", path, "bokehpipe experiment exp_real")
            return None
        return path


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
