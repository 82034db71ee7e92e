"""Interop: write a depth cache as PyNET-Bokeh `original_depth` PNGs (aiff22/PyNET-Bokeh `load_dataset.py`).

PyNET-Bokeh reads `<root>/{train,test}/original_depth/<id>.png`: 8-bit grey, half the photo's resolution,
near = bright, divided by 255 at load time. `export_png` writes exactly that from any cache (MiDaS maps are
resized from full resolution with the one resize policy), so the official TF code can train on our maps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bokehpipe.data.io import write_png
from bokehpipe.depth.cache import DepthCache
from bokehpipe.errors import BokehpipeError

RESOLUTIONS = ("half", "image", "stored")


def export_png(cache_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, resolution: str = "half",
               bits: int = 8, ids: list[str] | None = None, tick: Callable[[int], None] | None = None) -> int:
    """Write `<out_dir>/original_depth/<id>.png` for every id; returns the number of files written.

    `resolution`: `half` = half the photo size (PyNET), `image` = the photo size, `stored` = as cached.
    """
    if resolution not in RESOLUTIONS:
        raise BokehpipeError(f"unknown resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)}")
    folder = Path(out_dir) / "original_depth"
    n = 0
    with DepthCache(cache_path) as cache:
        for id_ in ids if ids is not None else cache.ids():
            size = None
            if resolution != "stored":
                w, h = (int(v) for v in cache.entry_attrs(id_)["image_size"])
                size = (max(1, w // 2), max(1, h // 2)) if resolution == "half" else (w, h)
            write_png(folder / f"{id_}.png", cache.read(id_, size), bits=bits)
            n += 1
            if tick is not None:
                tick(1)
    return n
