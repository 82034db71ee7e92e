"""Which renderer `bokehpipe infer folder/` uses when no model flag is given, with the line that says why.

Order, as timm and torch.hub have taught users to expect (a model works out of the box, yours wins once
you have one): an explicit --run / --checkpoint / --method; else the packaged default model
(`bokehpipe/pretrained/bokehnet.pt`, when the package ships one); else the store's newest finished run;
else the classical `scatter` renderer, which needs no training. `infer.session.plan_session` asks once per run,
the one place that decides what renders. No torch import here.
"""

from __future__ import annotations

from pathlib import Path

from bokehpipe.choices import Choice
from bokehpipe.errors import BokehpipeError
from bokehpipe.pretrained import BOKEHNET_WEIGHTS
from bokehpipe.store import RUN_DONE, ArtifactStore

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


def run_finished_at(store: ArtifactStore, name: str) -> float | None:
    """When a finished run (the one rule: `ArtifactStore.run_finished`) finished, else None."""
    if not store.run_finished(name):
        return None
    return (store.run(name) / RUN_DONE).stat().st_mtime


def newest_finished_run(store: ArtifactStore) -> str | None:
    finished = [(t, name) for name in store.list_runs() if (t := run_finished_at(store, name)) is not None]
    return max(finished)[1] if finished else None
