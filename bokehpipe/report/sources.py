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

EXPERIMENT = "paper_cpu"  # pipelines/paper_cpu.toml: every result of the report
MAIN_RUN = "paper-main"  # the paper's generator, levels 7..1
SEEDS = (0, 1, 2)
# the ablation at equal compute: condition -> its runs, one per seed
ABLATION: dict[str, tuple[str, ...]] = {kind: tuple(f"paper-abl-{kind}-s{s}" for s in SEEDS)
                                        for kind in ("depth", "rgb")}
# eval tag -> the step of the experiment that writes it
EVALS: dict[str, str] = {
    "paper-test": "eval-test",  # main run + renderers on the fixed test set, each scene's true focus
    "paper-test-auto": "eval-test-auto",  # the renderers with the product's auto-focus and f/1.8
    "paper-test-level4": "eval-ablation",  # the ablation runs at level 4's output size
    "paper-train-100": "eval-train-100",  # the main run on 100 of its training pairs (overfitting check)
    "paper-val": "eval-val",  # ... and on the validation pairs that picked its checkpoints
    "paper-ebb-train": "ebb-train",  # the three real pairs with a depth map
    "paper-ebb-val294": "ebb-val294-identity",  # the three Val294 pairs, input only
    "paper-ebb-val294-level4": "ebb-val294",  # ... and the RGB-only runs at level 4's size
}
# renders of the twelve photos published with the paper's depth maps: folder -> step
SAMPLE_RENDERS: dict[str, str] = {
    f"paper-pynet-samples{extra}-{method}": f"samples{extra}-{method}"
    for extra in ("", "-extra") for method in ("paper-main", "scatter", "bokehnet")
}
REALDATA_COMMAND = "export BOKEHPIPE_REALDATA=<folder of the real photos>"
# where a main run that took over an earlier run's checkpoint finds that run scored on the same test set: what
# the steps it added bought (not an experiment step: the earlier run is history, not something to remake)
EARLIER_TAG = "paper-test-earlier"


def earlier_eval_command(run: str) -> str:
    return (f"bokehpipe eval --dataset paper-test --split all --depth-source gt --focus metadata --baselines '' "
            f"--run {run} --align --tag {EARLIER_TAG}")


def method_metric(summary: dict[str, Any] | None, method: str, key: str, group: str = "metrics") -> float | None:
    """A method's mean `key` in an eval summary's `group`: `metrics`, or `metrics_aligned` (after fitting the
    colour gain); None where the summary or the method is absent."""
    entry = (summary or {}).get("methods", {}).get(method)
    return None if entry is None else entry.get(group, {}).get(key)


def colour_fit_gain(summary: dict[str, Any] | None, method: str) -> float | None:
    """What fitting each output's colour gain to its target adds to `method`'s PSNR (None where either is absent)."""
    plain, fitted = method_metric(summary, method, "psnr"), method_metric(summary, method, "psnr", "metrics_aligned")
    return None if plain is None or fitted is None else fitted - plain


def step_command(step: str) -> str:
    return f"bokehpipe experiment {EXPERIMENT} --only {step}"


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
                          step_command(EVALS[tag]))

    def earlier_summary(self, run: str) -> dict[str, Any] | None:
        """The test-set scores of `run`, an earlier run the main run took over from."""
        return self._json(self.store.reports_dir / "eval" / EARLIER_TAG / "summary.json", f"eval {EARLIER_TAG}",
                          earlier_eval_command(run))

    def eval_dir(self, tag: str) -> Path:
        return self.store.reports_dir / "eval" / tag

    def per_image(self, tag: str) -> list[dict[str, str]]:
        """Rows of an eval's per_image.csv (id, method, aligned, psnr, ...); [] where the eval wrote none."""
        return self._cached(self.eval_dir(tag) / "per_image.csv", _read_csv) or []

    def metrics(self, run: str) -> list[dict[str, str]] | None:
        path = self.store.run(run) / "metrics.csv"
        rows = self._cached(path, _read_csv)
        if rows is None:
            self._miss(f"run {run}", path, f"bokehpipe experiment {EXPERIMENT}")
        return rows

    def run_config(self, run: str) -> dict[str, Any] | None:
        return self._cached(self.store.run(run) / "config.json", _read_json)

    def dataset_json(self, name: str, filename: str) -> dict[str, Any] | None:
        """A synthetic set's own description (`splits.json`, `metadata.json`), or None where it has none."""
        return self._cached(self.store.root / "datasets" / name / filename, _read_json)

    def experiment_log(self) -> dict[str, Any] | None:
        """Wall and CPU seconds of every step, as `bokehpipe experiment` recorded them."""
        return self._cached(self.store.reports_dir / "experiments" / f"{EXPERIMENT}.json", _read_json)

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
        if not (path / "gallery.json").is_file():
            self._miss(f"renders {name}", path, step_command(SAMPLE_RENDERS[name]))
            return None
        return path


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
