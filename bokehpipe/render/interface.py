"""What the job runner (`bokehpipe.infer.engine.run_jobs`) and eval ask of a full-size renderer, classical
(`render.classical`) or learned (`render.learned`): one interface, so `infer`, `render` and `eval` drive any
of them the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from bokehpipe.render.focus import Focus


class Renderer(Protocol):
    name: str
    needs_depth: bool
    maps_at_photo_size: bool  # True: renders from the map at the photo's size (`fit_to_photo`), False: at its
    # stored size (a network resizes it once itself, `make_network_input`)
    bytes_per_pixel: float  # peak working memory per full-resolution pixel, untiled (TilePolicy.memory_mb)
    on_tile: Callable[[int, int], None] | None  # progress within one photo: (tiles or blocks done, in all)
    chosen_focus: list[Focus | None]  # the focus of each photo of the last `render_batch` (None: learned own)
    tiled_count: int  # photos that went through tiles so far

    def batch_key(self, rgb: np.ndarray) -> tuple[int, ...]:
        """Photos with equal keys can share a batch."""
        ...

    def render_batch(self, rgbs: list[np.ndarray], disps: list[np.ndarray | None]) -> list[np.ndarray]:
        """Float32 (H, W, 3) renders in [0, 1], one per photo, each at its photo's size."""
        ...
