"""What `bokehpipe train` decides by itself when the user leaves it out, each decision said in one line.

- Run name: `<dataset>-<model>-<YYYYmmdd-HHMMSS>` (readable, sortable, never clashes with an older run).
- Validation split: the dataset's own (`val` in a synthetic set's splits.json, `val294` in EBB!).
- Crop: larger than the photos allow is an error naming the largest crop that fits when the user typed it;
  a default (or pipeline) crop is lowered to that largest fit, with a line.
- On a CPU with no `--pipeline`: the demo pipeline's training settings (a light model, four levels, minutes)
  instead of the paper's schedule, which would run for days on a CPU. `--pipeline ebb` is the paper.
- `--with-depth` and no `--depth-source`: the dataset's only depth cache for the training split; the
  validation split's cache is made from the same source when it is missing (phase one's own code path).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bokehpipe.data.ebb import Pair, load_index
from bokehpipe.errors import BokehpipeError

CPU_PIPELINE = "demo"
MULTIPLE = 32


def generated_run_name(dataset: str, model: str, now: float | None = None) -> str:
    return f"{dataset}-{model}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}"


def own_val_split(data_root: str) -> str | None:
    """The dataset's validation split: `val` (splits.json of a synthetic set), else `val294` (EBB!), else None."""
    index = load_index(data_root)
    names = index.split_names()
    for name in ("val", "val294"):
        if name in names and index.split(name):
            return name
    return None


def largest_crop(pairs: Sequence[Pair]) -> tuple[int, tuple[int, int]]:
    """(largest half-resolution crop side that fits every photo, smallest photo (w, h)); reads the first few
    photos of each size class only through their headers-by-decoding, so it stays quick."""
    from bokehpipe.data.io import image_size

    sizes = {image_size(p.input) for p in pairs[:8]}
    w, h = min(sizes, key=lambda s: min(s))
    return (min(w, h) // 2) // MULTIPLE * MULTIPLE, (w, h)


def fit_crop(crop: int, pairs: Sequence[Pair], *, explicit: bool) -> tuple[int, str | None]:
    """`crop` if the photos hold it; else the largest that fits (with a line), or an error if it was typed."""
    fits, (w, h) = largest_crop(pairs)
    if crop <= fits:
        return crop, None
    if fits < 64:
        raise BokehpipeError(f"{pairs[0].input}: photos of {w}x{h} are too small to train on (a 64px half-resolution "
                             "crop needs photos of at least 128x128)")
    if explicit:
        raise BokehpipeError(f"--crop {crop}: the photos are {w}x{h}, so the largest crop that fits is {fits} "
                             f"(half resolution: a {2 * fits}x{2 * fits} target); pass --crop {fits} or less")
    return fits, (f"crop {fits}: the largest that fits {w}x{h} photos (the default {crop} does not; --crop N to "
                  "choose)")


def cpu_defaults() -> tuple[str, dict[str, Any]]:
    """(pipeline path, its tables) for training on a CPU without --pipeline."""
    from bokehpipe.config import load_pipeline

    path, table = load_pipeline(CPU_PIPELINE)
    return str(path), table


def describe_plan(levels: Sequence[int], schedule: dict[int, Any], crop_of: Any, device: str) -> str:
    """`plan: levels 4..1, steps 100+300+200+200 = 800, batch 8/8/8/8, crop 64, on cpu`."""
    steps = [schedule[lv].steps for lv in levels]
    crops = sorted({crop_of(lv) for lv in levels})
    span = f"{levels[0]}..{levels[-1]}" if len(levels) > 1 else str(levels[0])
    return (f"plan: levels {span}, steps {'+'.join(map(str, steps))} = {sum(steps)}, batch "
            f"{'/'.join(str(schedule[lv].batch) for lv in levels)}, crop {'/'.join(map(str, crops))}, on {device}")


def make_missing_val_cache(store: Any, data_root: str, dataset: str, source: str, split: str) -> str | None:
    """Build `split`'s cache from the training split's source when it is missing; returns the line to print.

    gt/png maps come with the dataset and MiDaS variants are phase one's own code, so this is exactly what
    `bokehpipe depth --dataset D --split S --source ...` would write.
    """
    if store.depth_cache(dataset, source, split).is_file():
        return None
    from bokehpipe.choices import MAP_SOURCES
    from bokehpipe.depth.run import run_depth
    from bokehpipe.depth.variants import variant_names

    if source in MAP_SOURCES:
        kw: dict[str, Any] = {"source": source}
    elif source in variant_names():
        kw = {"source": "midas", "model": source}
    else:
        return None  # e.g. gt-paper: leave it to the plan's own error, which names the command
    result = run_depth(store, split=split, data=data_root, **kw)
    flag = f"--source {source}" if source in MAP_SOURCES else f"--model {source}"
    return (f"depth cache for validation split {split!r} was missing: made it ({result.computed} maps, "
            f"{result.seconds:.0f} s), as `bokehpipe depth --dataset {dataset} --split {split} {flag}` would")
