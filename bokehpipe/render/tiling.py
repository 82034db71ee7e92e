"""Full-size photos in bounded memory: when to tile (`TilePolicy`) and how (overlapping tiles blended with a
raised-cosine window, `tiled_apply`). Every renderer in `bokehpipe.render` (classical and learned) tiles here.

A photo whose working memory exceeds the policy's budget (or `--max-pixels`, or device memory) is cut into
tiles of side `tile` that overlap by `overlap` input pixels. Each tile goes through the renderer alone; the
outputs are blended with a window that is exactly zero on the outer quarter of every interior overlap, rises
as a raised cosine (0.5 - 0.5 cos) over the middle half and is one elsewhere, then normalised by the summed
weights. Two consequences:

- No seams: the weights are smooth and sum to one everywhere.
- Exactness where it can hold: a pixel only takes values from tiles in which it lies at least
  `overlap / 4` input pixels from an interior tile edge. A network whose receptive field radius is below
  that (and that has no global statistics) gives the same output tiled and untiled, to float rounding.
  Tile origins are multiples of `align` (the network's padding multiple), so pooling grids line up too.

Instance normalisation is a global statistic: per tile it sees only that tile's mean and variance, so
PyNET-Bokeh tiled is close to, not equal to, PyNET-Bokeh whole. bokehpipe keeps the per-tile statistics
(the smooth blend hides the steps between tiles) and tiles only when memory asks for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_OVERLAP = 128  # full-resolution pixels; 64 at PyNET's input, i.e. 16 px clean margin per side
DEFAULT_MEMORY_MB = 1024  # a photo whose working memory exceeds this is tiled
# Each tile of a tiled photo gets less: the photo's own full-size planes (the decoded photo, its map and the
# output, 12 + 4 + 12 bytes a pixel: 1.5 GB at 54 MP) and the interpreter (~0.6 GB with torch) already hold
# most of a 3 GB budget (2 GB at 1536x1024, 3 GB at 54 MP, for every renderer).
DEFAULT_TILE_MEMORY_MB = 512


@dataclass(frozen=True)
class TilePolicy:
    """When to tile and how (all sizes in full-resolution pixels).

    By default a photo is tiled when the renderer's working memory for it (its `bytes_per_pixel` times the
    pixels) would exceed `memory_mb`: every renderer declares what it needs per pixel, so a 54 MP photo goes
    through tiles on an 8 GB laptop without any option, and small photos never tile."""

    max_pixels: int | None = None  # tile photos with more pixels than this
    tile: int | None = None  # always tile with this side
    overlap: int = DEFAULT_OVERLAP
    memory_mb: float | None = DEFAULT_MEMORY_MB  # None: no memory-driven tiling
    tile_memory_mb: float = DEFAULT_TILE_MEMORY_MB  # working memory of one tile, once a photo is tiled

    def tile_side(self, height: int, width: int, bytes_per_pixel: float | None = None,
                  tile_share: float = 1.0) -> int | None:
        """Side of the tiles for a photo (None: whole). `tile_share` of `tile_memory_mb` is what a renderer
        that keeps more full-size planes while it tiles gives each tile."""
        if self.tile is not None:
            return int(self.tile)
        if self.max_pixels is not None and height * width > self.max_pixels:
            return max(1, int(math.isqrt(int(self.max_pixels))))
        if self.max_pixels is None and self.memory_mb and bytes_per_pixel:
            if height * width * bytes_per_pixel > self.memory_mb * 2**20:
                budget = min(self.memory_mb, self.tile_memory_mb * tile_share)
                return max(1, math.isqrt(int(budget * 2**20 / bytes_per_pixel)))
        return None


def axis_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Tile origins along one axis: every `tile - overlap`, the last tile flush with the end.

    `length`, `tile` and `overlap` are expected to be multiples of `align`, so every origin is too.
    """
    if tile >= length:
        return [0]
    step = tile - overlap
    if step < align:
        raise ValueError(f"tile {tile} must exceed overlap {overlap} by at least {align}")
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return sorted(set(starts))


def edge_ramp(n: int, overlap: int) -> np.ndarray:
    """Weights for the first `n` pixels after an interior tile edge (`overlap` output pixels wide)."""
    zero, ramp = overlap // 4, max(1, overlap // 2)
    i = np.arange(n, dtype=np.float64)
    t = np.clip((i - zero + 0.5) / ramp, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * t)) * (i >= zero)


def axis_window(size: int, overlap: int, *, low_interior: bool, high_interior: bool) -> np.ndarray:
    """A tile's 1-D weight: ramps only at edges shared with a neighbouring tile (image borders stay one)."""
    w = np.ones(size, dtype=np.float64)
    ramp = edge_ramp(size, overlap)
    if low_interior:
        w *= ramp
    if high_interior:
        w *= ramp[::-1]
    return w


def round_to(value: float, multiple: int, *, up: bool = False) -> int:
    fn = math.ceil if up else math.floor
    return max(multiple, int(fn(value / multiple)) * multiple)


def crop_in_place(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    """The top-left `height` x `width` of a C-contiguous (H, W, C) array as a C-contiguous array over the same
    memory: rows are moved forward one by one (each lands at or before where it was), nothing is allocated."""
    h, w, c = arr.shape
    if (height, width) == (h, w):
        return arr
    flat = arr.reshape(-1)
    row = width * c
    for y in range(1, height):
        flat[y * row:(y + 1) * row] = flat[y * w * c:y * w * c + row]
    return flat[:height * row].reshape(height, width, c)


NORMALISE_ROWS = 256  # output rows divided by the summed weights at a time (small temporaries at any size)


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int, overlap: int,
                align: int = 1, out_device: torch.device | str = "cpu",
                progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Apply `fn` (N, C, h, w) -> (N, C', h*s, w*s) tile by tile and blend; the result lives on `out_device`.

    `tile` and `overlap` are in input pixels and rounded to multiples of `align` (tile down, overlap up);
    `x`'s height and width must already be multiples of `align`. The output scale `s` (2 for PyNET level 1)
    is read from the first tile. `x` may be any object with `.shape` whose `[:, :, ys, xs]` gives a tensor
    (a photo read tile by tile); `progress(done, total)` is called after each tile.

    Memory: the full-size output is the only full-size allocation. It is stored channels-last (the result is
    an (N, C', H, W) view of it, so `y[i].permute(1, 2, 0)` is a contiguous HWC image without a copy), and the
    summed blending weights are kept as two 1-D profiles: every tile's window is an outer product and the
    tiles form a grid, so the sum over tiles is the outer product of the per-axis sums.
    """
    n, _, h, w = x.shape
    if h % align or w % align:
        raise ValueError(f"input {h}x{w} is not a multiple of {align}; pad it first")
    tile = round_to(tile, align)
    overlap = min(round_to(overlap, align, up=True) if overlap > 0 else 0, max(0, tile - align))
    ys, xs = axis_starts(h, tile, overlap, align), axis_starts(w, tile, overlap, align)
    out = None
    sum_y = sum_x = np.zeros(0)
    scale = 1.0
    done, total = 0, len(ys) * len(xs)
    for y0 in ys:
        for x0 in xs:
            th, tw = min(tile, h), min(tile, w)
            with torch.inference_mode():
                part = fn(x[:, :, y0:y0 + th, x0:x0 + tw])
            if out is None:
                scale = part.shape[-1] / tw
                oh, ow = round(h * scale), round(w * scale)
                out = torch.zeros((n, oh, ow, part.shape[1]), dtype=torch.float32, device=out_device)
                sum_y, sum_x = np.zeros(oh), np.zeros(ow)
            oy, ox, ph, pw = round(y0 * scale), round(x0 * scale), part.shape[-2], part.shape[-1]
            o_ov = round(overlap * scale)
            wy = axis_window(ph, o_ov, low_interior=y0 > 0, high_interior=y0 + th < h)
            wx = axis_window(pw, o_ov, low_interior=x0 > 0, high_interior=x0 + tw < w)
            if x0 == xs[0]:
                sum_y[oy:oy + ph] += wy
            if y0 == ys[0]:
                sum_x[ox:ox + pw] += wx
            win = torch.from_numpy(np.outer(wy, wx).astype(np.float32)).to(out_device)
            out[:, oy:oy + ph, ox:ox + pw] += part.to(out_device, torch.float32).permute(0, 2, 3, 1) * win[..., None]
            del part
            done += 1
            if progress is not None:
                progress(done, total)
    assert out is not None
    inv_x = torch.from_numpy(np.maximum(sum_x, 1e-12).astype(np.float32)).to(out_device)
    for r0 in range(0, out.shape[1], NORMALISE_ROWS):  # in place, in strips: the output exists once
        rows = torch.from_numpy(np.maximum(sum_y[r0:r0 + NORMALISE_ROWS], 1e-12).astype(np.float32)).to(out_device)
        out[:, r0:r0 + NORMALISE_ROWS].div_((rows[:, None] * inv_x[None, :])[..., None])
    return out.permute(0, 3, 1, 2)
