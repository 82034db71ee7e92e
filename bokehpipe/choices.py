"""Defaults taken from the store, each with the one line that says what was chosen and how to choose otherwise.

Where the store (or `--pipeline`) makes a choice unambiguous, the commands take it instead of asking: the
only dataset, a dataset's own true depth, the only complete depth cache. Where it is ambiguous they stop and
list the candidates; where nothing fits they name the command that makes one. No torch import here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from bokehpipe.errors import BokehpipeError
from bokehpipe.store import ArtifactStore

MAP_SOURCES = ("gt", "png")  # depth that comes with a dataset (synthetic truth, PyNET-style PNG maps)


@dataclass(frozen=True)
class Choice:
    """What a command chose by itself: `kind` (where it came from), `value`, and the line that says so."""

    kind: str
    value: Any
    reason: str


def choose_dataset(store: ArtifactStore, *, data: str | os.PathLike[str] | None, dataset: str | None,
                   pipeline: dict[str, Any] | None = None, command: str = "") -> tuple[Any, str | None, str | None]:
    """(data, dataset, line): as given; else the pipeline's `dataset`/`data`; else the store's only dataset.

    Several datasets and no choice stop with their list; an empty store names `bokehpipe synth`.
    """
    if data is not None or dataset is not None:
        return data, dataset, None
    for table_name in (command, "train", "depth", "eval"):
        table = (pipeline or {}).get(table_name) or {}
        if table.get("data") or table.get("dataset"):
            return table.get("data"), table.get("dataset"), (
                f"dataset {table.get('dataset') or table.get('data')} from the pipeline's [{table_name}] table "
                "(--dataset NAME or --data PATH to choose another)")
    names = store.list_datasets()
    if len(names) == 1:
        return None, names[0], (f"dataset {names[0]!r}: the only one in the store {store.root} "
                                "(--dataset NAME or --data PATH to choose another)")
    if not names:
        raise BokehpipeError(f"{store.datasets_dir}: the store holds no dataset; make one with `bokehpipe synth "
                             "NAME` (or `bokehpipe demo`), or pass --data PATH")
    raise BokehpipeError(f"{store.datasets_dir}: the store holds {len(names)} datasets ({', '.join(names)}); "
                         "pick one with --dataset NAME")


def dataset_depth_source(root: str | os.PathLike[str], split: str) -> str | None:
    """`gt` (a synthetic set's true disparity) or `png` (PyNET-style maps) when every photo of `split` carries
    its own map, else None."""
    from bokehpipe.data.ebb import LAYOUT_RELEASED, load_index

    index = load_index(root)
    pairs = index.split(split)
    if not pairs or any(p.depth is None for p in pairs):
        return None
    return "gt" if index.layout == LAYOUT_RELEASED else "png"


def choose_depth_source(root: str | os.PathLike[str], split: str, *, gpu: bool) -> Choice:
    """For `bokehpipe depth` with no --source: the dataset's own depth, else the device's default MiDaS."""
    from bokehpipe.depth.variants import DEFAULT_CPU, DEFAULT_GPU

    own = dataset_depth_source(root, split)
    if own is not None:
        return Choice(own, None, f"source {own}: the dataset's own depth maps (--source midas to run MiDaS "
                                 "instead)")
    model = DEFAULT_GPU if gpu else DEFAULT_CPU
    return Choice("midas", model, f"source MiDaS {model}, the default on a {'GPU' if gpu else 'CPU'} (the dataset "
                                  "has no depth maps of its own; --model VARIANT to choose another)")


def complete_caches(store: ArtifactStore, dataset: str, splits: list[str]) -> list[str]:
    """Depth sources (gt, png, MiDaS variants) with a merged cache for every split in `splits`."""
    folder = store.depth_dir / dataset
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and all((p / f"{s}.h5").is_file() for s in splits))


def choose_depth_cache(store: ArtifactStore, dataset: str, split: str) -> Choice:
    """With no --depth-source (`train --with-depth`, `bokehnet train` on real pairs): the dataset's only cache
    for the training split."""
    found = complete_caches(store, dataset, [split])
    if len(found) == 1:
        return Choice("cache", found[0], f"depth source {found[0]}: the only depth cache of {dataset!r} for split "
                                         f"{split!r} (--depth-source SRC to choose another)")
    if found:
        raise BokehpipeError(f"{store.depth_dir / dataset}: {len(found)} depth caches for split {split!r} "
                             f"({', '.join(found)}); pick one with --depth-source SRC")
    raise BokehpipeError(f"{store.depth_dir / dataset}: no depth cache for split {split!r}; make one with "
                         f"`bokehpipe depth --dataset {dataset} --split {split}`")
