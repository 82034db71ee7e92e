"""Which renderer `bokehpipe infer folder/` uses when no model flag is given, with the line that says why.

Order, as timm and torch.hub have taught users to expect (a model works out of the box, yours wins once
you have one): an explicit --run / --checkpoint / --method; else the packaged default model
(`bokehpipe/pretrained/bokehnet.pt`, when the package ships one); else the store's newest finished run;
else the classical `scatter` renderer, which needs no training. `infer.session.plan_session` asks once per run,
the one place that decides what renders. No torch import here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bokehpipe.choices import Choice
from bokehpipe.errors import BokehpipeError
from bokehpipe.pretrained import BOKEHNET_WEIGHTS
from bokehpipe.store import ArtifactStore

PACKAGED_DEFAULT = BOKEHNET_WEIGHTS  # the shipped BokehNet (loaded by bokehpipe.render.learned)
FALLBACK_METHOD = "scatter"
OTHERWISE = "--run NAME, --checkpoint PATH or --method scatter|gaussian to choose another"


def choose_renderer(store: ArtifactStore, run: str | None, checkpoint: str | Path | None, method: str | None,
                    *, packaged: Path = PACKAGED_DEFAULT) -> Choice:
    """Choice(kind, value, reason) with kind run / checkpoint / method (explicit or the fallback) / default."""
    given = [(k, v) for k, v in (("run", run), ("checkpoint", checkpoint), ("method", method)) if v]
    if len(given) > 1:
        raise BokehpipeError("give at most one of --run NAME, --checkpoint PATH or --method scatter|gaussian "
                             f"(got {', '.join('--' + k for k, _ in given)})")
    if given:
        kind, value = given[0]
        return Choice(kind, value, f"model: --{kind} {value}")
    if packaged.is_file():
        return Choice("default", packaged, f"model: the packaged default bokehnet ({packaged}); {OTHERWISE}")
    newest = newest_finished_run(store)
    if newest is not None:
        return Choice("run", newest, f"model: run {newest!r}, the newest finished run in the store {store.root}; "
                                     f"{OTHERWISE}")
    return Choice("method", FALLBACK_METHOD,
                  f"model: none trained yet (no packaged default, no finished run in {store.runs_dir}), so the "
                  f"classical {FALLBACK_METHOD} renderer; train one with `bokehpipe train --with-depth` or pass "
                  "--run/--checkpoint")


def run_finished_at(run_dir: Path) -> float | None:
    """The finish time (mtime of the finest level's last.pt) of a run whose finest level ran all its steps."""
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["config"]
        level = int(config["levels"][-1])
        steps = int(config["schedule"][str(level)]["steps"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    last = run_dir / "checkpoints" / f"level{level}" / "last.pt"
    if not last.is_file() or not (run_dir / "metrics.csv").is_file():
        return None
    with (run_dir / "metrics.csv").open(newline="", encoding="utf-8") as fh:
        done = any(row.get("kind") == "train" and row.get("level") == str(level) and
                   int(float(row.get("step") or 0)) >= steps for row in csv.DictReader(fh))
    return last.stat().st_mtime if done else None


def newest_finished_run(store: ArtifactStore) -> str | None:
    finished = [(t, name) for name in store.list_runs() if (t := run_finished_at(store.run(name))) is not None]
    return max(finished)[1] if finished else None
