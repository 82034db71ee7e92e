"""The demo's before/after figure: held-out photo, its disparity, the learned render, and the f/1.8 target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bokehpipe.data.ebb import target_beside
from bokehpipe.data.io import read_image, read_map
from bokehpipe.errors import BokehpipeError


def before_after(render_dir: Path, out: Path, *, count: int = 3) -> Path:
    """A grid from `bokehpipe infer`'s gallery.json; synthetic inputs have their target beside them."""
    from bokehpipe.report.figures import image_grid

    data_path = render_dir / "gallery.json"
    if not data_path.is_file():
        raise BokehpipeError(f"{data_path}: no renders to show; run `bokehpipe infer` into {render_dir} first")
    entries = sorted(json.loads(data_path.read_text(encoding="utf-8"))["entries"], key=lambda e: e["name"])[:count]
    rows, columns = [], ["Input (f/16)", "Disparity", "Rendered"]
    for e in entries:
        before = (render_dir / e["before"]).resolve()
        imgs = [read_image(before)]
        imgs.append(np.repeat(read_map(render_dir / e["depth"])[..., None], 3, axis=2) if e.get("depth")
                    else np.zeros_like(imgs[0]))
        imgs.append(read_image(render_dir / e["render"]))
        target = target_beside(before)
        if target is not None:
            imgs.append(read_image(target))
            if len(columns) == 3:
                columns.append("Target (f/1.8)")
        rows.append((e["name"], imgs))
    return image_grid(rows, columns, out, crop=(0.5, 0.5, 0.3), cell_width=320)
