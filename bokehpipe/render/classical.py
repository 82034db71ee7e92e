"""A classical method (`gaussian` or `scatter`, `bokehpipe.render.render`) on a full-size photo: the map fitted
to the photo once (`fit_to_photo`), the focus decided once (`resolve_focus`), scatter tiled exactly when the
photo's working memory asks for it. `infer --method`, `render` and eval's baselines all render through it, and
the learned default (`render.learned.BokehNetRenderer`) builds on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from bokehpipe.data.disparity import MetricMap, fit_to_photo
from bokehpipe.errors import BokehpipeError
from bokehpipe.physics import EDGE, Lens, coc_scale, lens_aperture
from bokehpipe.render import METHODS, render
from bokehpipe.render.calibration import DEFAULT_APERTURE
from bokehpipe.render.focus import Focus, check_focus_request, resolve_focus
from bokehpipe.render.tiling import TilePolicy, tiled_apply

# Peak working memory of one render call per full-resolution pixel (RSS after minus before): scatter keeps a
# dozen float32 planes (linear RGB, the level split, the RGBA accumulator, one blurred level): measured 134-141,
# budgeted 160. gaussian is a few planes and needs global statistics: it never tiles (0).
CLASSICAL_BYTES_PER_PIXEL = {"scatter": 160.0, "gaussian": 0.0}


class ClassicalRenderer:
    """A depth-aware classical renderer from `bokehpipe.render` (`scatter` or `gaussian`), one photo at a time.

    `scatter` tiles exactly: the focus is found once on the whole disparity map, each tile gets the aperture
    rescaled by (photo width / tile width) so its CoC in pixels is the photo's, and the overlap is raised to
    four times the largest CoC radius (plus the disc rim), so every kept pixel saw all the light that reaches
    it. `gaussian` is one separable blur whose strength depends on global statistics; it never tiles (its
    memory is a few copies of the photo).
    """

    needs_depth = True
    maps_at_photo_size = True

    def __init__(self, method: str, *, focus: float | None = None, aperture: float | None = None,
                 tiles: TilePolicy = TilePolicy(), options: dict[str, Any] | None = None,
                 focus_point: tuple[int, int] | None = None, lens: Lens | None = None) -> None:
        if method not in METHODS:
            raise BokehpipeError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
        check_focus_request(focus, focus_point)
        self.method, self.focus, self.tiles = method, focus, tiles
        # None: the calibrated f/1.8. The one place a command's missing --aperture becomes a number: infer
        # (default and --method), render and eval all pass None through to here.
        self.aperture = DEFAULT_APERTURE if aperture is None else aperture
        self.focus_point = focus_point  # (x, y): focus on what is there in each photo (`--focus-at`)
        self.options = dict(options or {})
        self.name = method
        self.tiled_count = 0
        self.bytes_per_pixel = CLASSICAL_BYTES_PER_PIXEL.get(method, 0.0)
        self.on_tile: Callable[[int, int], None] | None = None
        self.chosen_focus: list[Focus | None] = []
        self.lens = lens  # a virtual lens: metric maps are rendered lens-true with it (relative maps ignore it)

    def batch_key(self, rgb: np.ndarray) -> tuple[int, ...]:
        return (id(rgb),)  # classical renderers run one photo at a time

    def focus_for(self, rgb: np.ndarray, disp: np.ndarray, focus: float | None = None) -> Focus:
        """This photo's focus: `focus` when given (eval passes a synthetic image's true one), else the renderer's
        own request (a disparity, a point, or auto-focus), by the one rule. `disp` is at the photo's size."""
        if focus is not None:
            return resolve_focus(rgb, disp, focus=focus)
        return resolve_focus(rgb, disp, focus=self.focus, point=self.focus_point)

    def render_one(self, rgb: np.ndarray, disp: np.ndarray, *, focus: float | None = None,
                   aperture: float | None = None, metric: MetricMap | None = None) -> np.ndarray:
        """One photo and its map at any size (brought to the photo's size here, `fit_to_photo`, the one way);
        `focus`/`aperture` override the renderer's own for this photo. The focus used is `chosen_focus[0]`.
        A map that is metric (`metric`: its 1/z range and the photo's field of view) under a `lens` is rendered
        lens-true: the aperture follows from the lens and the focus distance (`physics.lens_aperture`)."""
        disp = fit_to_photo(disp, rgb.shape)  # first: a focus point is in photo pixels
        chosen = self.focus_for(rgb, disp, focus)
        self.chosen_focus = [chosen]
        if aperture is None and metric is not None and self.lens is not None:
            from bokehpipe.render.lens import sensor_width

            lens = replace(self.lens, sensor_mm=sensor_width(self.lens.focal_mm, metric.focal_35mm))
            aperture = lens_aperture(lens, chosen.disparity, metric.inverse_range, disp.shape[1])
        return self.render_fitted(rgb, disp, chosen.disparity, self.aperture if aperture is None else aperture)

    def render_fitted(self, rgb: np.ndarray, disp: np.ndarray, focus: float, aperture: float) -> np.ndarray:
        """The method at a decided focus and aperture, the map at the photo's size: whole, or scatter in tiles."""
        h, w = disp.shape
        tile = self.tiles.tile_side(h, w, self.bytes_per_pixel) if self.method == "scatter" else None
        if tile is None or tile >= max(h, w):
            return render(rgb, disp, self.method, focus=focus, aperture=aperture, **self.options)
        r_max = coc_scale(w, aperture) * float(np.abs(disp - focus).max())
        overlap = max(self.tiles.overlap, 4 * math.ceil(r_max + self.options.get("edge", EDGE) + 1))
        tile = max(tile, overlap + 16)
        self.tiled_count += 1

        def one_tile(t: torch.Tensor) -> torch.Tensor:
            arr = t[0].permute(1, 2, 0).numpy()
            out = render(np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3]), self.method,
                         focus=focus, aperture=aperture * w / arr.shape[1], **self.options)
            return torch.from_numpy(out).permute(2, 0, 1)[None]

        out = tiled_apply(one_tile, _PhotoTiles(rgb, disp), tile=tile, overlap=overlap, progress=self.on_tile)
        return out[0].permute(1, 2, 0).numpy()

    def render_batch(self, rgbs: list[np.ndarray], disps: list[np.ndarray | None],
                     metric: list[MetricMap | None] | None = None) -> list[np.ndarray]:
        outs: list[np.ndarray] = []
        chosen: list[Focus | None] = []
        for i, (rgb, disp) in enumerate(zip(rgbs, disps, strict=True)):
            if disp is None:
                raise BokehpipeError(f"--method {self.method} needs a depth map")
            out = np.ascontiguousarray(self.render_one(rgb, disp, metric=metric[i] if metric else None),
                                       dtype=np.float32)
            chosen += self.chosen_focus
            outs.append(np.clip(out, 0.0, 1.0, out=out))
        self.chosen_focus = chosen
        return outs


class _PhotoTiles:
    """A photo and its disparity as the (1, 4, H, W) tensor `tiled_apply` slices, without stacking them:
    only each tile is copied (stacking a 54 MP photo would cost 860 MB at once)."""

    def __init__(self, rgb: np.ndarray, disp: np.ndarray) -> None:
        self.rgb, self.disp = rgb, disp
        self.shape = (1, 4, *disp.shape)

    def __getitem__(self, index: tuple[slice, slice, slice, slice]) -> torch.Tensor:
        ys, xs = index[2], index[3]
        tile = np.concatenate([self.rgb[ys, xs], self.disp[ys, xs, None]], 2)
        return torch.from_numpy(tile).permute(2, 0, 1)[None]
