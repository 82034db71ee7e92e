"""Overlapping tiles blended with a raised-cosine window: full-resolution inference in bounded memory.

A photo that exceeds `--max-pixels` (or device memory) is cut into tiles of side `tile` that overlap by
`overlap` input pixels. Each tile goes through the network alone; the outputs are blended with a window
that is exactly zero on the outer quarter of every interior overlap, rises as a raised cosine
(0.5 - 0.5 cos) over the middle half and is one elsewhere, then normalised by the summed weights. Two
consequences:

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

import numpy as np
import torch


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


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int, overlap: int,
                align: int = 1, out_device: torch.device | str = "cpu",
                progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Apply `fn` (N, C, h, w) -> (N, C', h*s, w*s) tile by tile and blend; the result lives on `out_device`.

    `tile` and `overlap` are in input pixels and rounded to multiples of `align` (tile down, overlap up);
    `x`'s height and width must already be multiples of `align`. The output scale `s` (2 for PyNET level 1)
    is read from the first tile. `x` may be any object with `.shape` whose `[:, :, ys, xs]` gives a tensor
    (a photo read tile by tile); `progress(done, total)` is called after each tile.
    """
    n, _, h, w = x.shape
    if h % align or w % align:
        raise ValueError(f"input {h}x{w} is not a multiple of {align}; pad it first")
    tile = round_to(tile, align)
    overlap = min(round_to(overlap, align, up=True) if overlap > 0 else 0, max(0, tile - align))
    ys, xs = axis_starts(h, tile, overlap, align), axis_starts(w, tile, overlap, align)
    out = weight = None
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
                out = torch.zeros((n, part.shape[1], oh, ow), dtype=torch.float32, device=out_device)
                weight = torch.zeros((oh, ow), dtype=torch.float32, device=out_device)
            oy, ox, ph, pw = round(y0 * scale), round(x0 * scale), part.shape[-2], part.shape[-1]
            o_ov = round(overlap * scale)
            wy = axis_window(ph, o_ov, low_interior=y0 > 0, high_interior=y0 + th < h)
            wx = axis_window(pw, o_ov, low_interior=x0 > 0, high_interior=x0 + tw < w)
            win = torch.from_numpy(np.outer(wy, wx).astype(np.float32)).to(out_device)
            out[:, :, oy:oy + ph, ox:ox + pw] += part.to(out_device, torch.float32) * win
            weight[oy:oy + ph, ox:ox + pw] += win
            del part
            done += 1
            if progress is not None:
                progress(done, total)
    assert out is not None and weight is not None
    return out.div_(weight.clamp_min_(1e-12))  # in place: the full-size output exists once
