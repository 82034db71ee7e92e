"""Learned rendering: any trained generator on a full-size photo (tiling, working size, focus, aperture).

Two generators, one place:

- `LearnedRenderer`: a generator `model(x, level)` trained end to end (PyNET), in the paper's geometry (Ignatov
  et al. 2020; `bokehpipe.data.datasets.make_network_input` is the one place it lives): RGB x0.5 bicubic plus
  the disparity channel, reflect-padded at network-input resolution to the model's multiple (32 for PyNET), run
  at the finest trained level, cropped back. Level 1 comes out at the photo's full resolution; a run trained
  only to a coarser level is upsampled to it (the caller is told). A photo above its memory budget, or one that
  runs out of GPU memory, goes through overlapping tiles (`render.tiling`; instance norm then sees per-tile
  statistics, see there). On a GPU, photos whose padded size agrees are batched.
- `BokehNetRenderer`, the default: the classical `scatter` render S at full resolution (tiled like
  `render.classical.ClassicalRenderer`), corrected by BokehNet (`model.correction(x)` -> blend mask m and residual r) at
  the network's working width (`bokehpipe.models.bokehnet.NET_WIDTH`, a fixed, small size whatever the photo's:
  memory and time of the network part are bounded), upsampled to the photo: `S + m (I - S) + r`. Everything at
  full resolution is elementwise, and done in strips of rows into S's own memory (`compose`): at 54 MP no
  full-size temporary exists beside the photo, its map and S. Focus and aperture follow the classical
  renderer's (`resolve_focus`, the calibrated f/1.8 by default). The shipped weights live in
  `bokehpipe/pretrained/bokehnet.pt` (fp16, loaded with `weights_only=True`).

The network's view of the photo, map and S (`to_working_size`: area down, bilinear up) is not the map's fit to
the photo (`fit_to_photo`: area down, bicubic up): BokehNet was trained on examples made by `to_working_size`
(`train.correction_examples`), so its inputs keep that resize.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from bokehpipe.data.datasets import make_network_input
from bokehpipe.data.io import resize
from bokehpipe.errors import BokehpipeError
from bokehpipe.models.checkpoint import CheckpointRecord
from bokehpipe.physics import Lens, clip_unit
from bokehpipe.pretrained import BOKEHNET_WEIGHTS
from bokehpipe.render.calibration import DEFAULT_APERTURE
from bokehpipe.render.classical import ClassicalRenderer
from bokehpipe.render.focus import Focus, resolve_focus
from bokehpipe.render.tiling import TilePolicy, crop_in_place, round_to, tiled_apply

SHIPPED_WEIGHTS = BOKEHNET_WEIGHTS  # load_bokehnet's default
COMPOSE_ROWS = 256  # full-resolution rows composed at a time

# PyNET on CPU at level 1 is not linear in its width (full-resolution layers have fixed channel counts):
# measured 176 at width 0.25, 207 at 0.5 and 428 at width 1 (1024x768), so base + per_width * width with a
# margin of 30% or more: a learned model also keeps its input and its padded output at full size while it
# tiles. A 1536x1024 photo still renders whole at width 1 (865 MB of work).
LEARNED_BYTES_BASE, LEARNED_BYTES_PER_WIDTH = 150.0, 400.0
# While it tiles, a learned model also holds its weights (190 MB at width 1), its network input and a padded
# output (4 + 12 bytes a pixel at full size) beside the photo and its map: its tiles get half the tile budget.
# Measured at 54 MP with the whole budget: PyNET width 1 peaked at 2.84 GB (goal 3 GB).
LEARNED_TILE_SHARE = 0.5


def _pad_to(x: np.ndarray, multiple: int) -> np.ndarray:
    """Reflect-pad (C, h, w) on the bottom and right to multiples of `multiple`, at least two of them per side
    (PyNET's coarsest level is 1/multiple and instance norm needs more than one pixel there). numpy reflects
    repeatedly when the pad exceeds the image, so tiny photos work too."""
    _, h, w = x.shape
    ph, pw = (max(2 * multiple, -(-n // multiple) * multiple) - n for n in (h, w))
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > 1 else "edge")


def forward_with_progress(model: torch.nn.Module, x: torch.Tensor, level: int,
                          report: Callable[[int, int], None], blocks: int | None = None) -> tuple[torch.Tensor, int]:
    """(`model(x, level)`, blocks) calling `report(done, total)` after each of the model's top-level blocks: a
    whole photo through PyNET on a CPU takes minutes. `blocks`, the number a level runs, is what an earlier
    call returned; None counts it first by a forward pass at the smallest input the model takes (two multiples
    a side), so a run pays that probe once, not per photo."""
    count = {"done": 0, "total": blocks or 0}

    def step(*_: Any) -> None:
        count["done"] += 1
        if count["total"]:
            report(min(count["done"], count["total"]), count["total"])

    hooks = [child.register_forward_hook(step) for child in model.children()]
    try:
        if not count["total"]:
            side = 2 * int(getattr(model, "multiple", 32))
            model(x.new_zeros((1, x.shape[1], side, side)), level)
            count["total"], count["done"] = max(1, count["done"]), 0
        out = model(x, level)
    finally:
        for hook in hooks:
            hook.remove()
    if count["done"] < count["total"]:  # a level that skips a block: still end the bar
        report(count["total"], count["total"])
    return out, count["total"]


class LearnedRenderer:
    """A trained generator `model(x, level)` with `model.multiple`, at full resolution on any photo size."""

    needs_depth: bool
    maps_at_photo_size = False

    def __init__(self, model: torch.nn.Module, *, level: int = 1, with_depth: bool = True, device: str = "cpu",
                 tiles: TilePolicy = TilePolicy(), name: str = "model") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.level, self.needs_depth, self.tiles, self.name = level, with_depth, tiles, name
        self.multiple = int(getattr(model, "multiple", 32))
        self.oom_tile: int | None = None  # full-resolution tile side that fitted after an out-of-memory error
        self.tiled_count = 0
        # PyNET's activations per full-resolution pixel grow with its width (measured, see the constants);
        # CPU memory is what tiling bounds here, a GPU has its own out-of-memory retry below.
        width = float(getattr(model, "width", 1.0) or 1.0)
        per_pixel = LEARNED_BYTES_BASE + LEARNED_BYTES_PER_WIDTH * width
        self.bytes_per_pixel = per_pixel if self.device.type == "cpu" else 0.0
        self.on_tile: Callable[[int, int], None] | None = None
        self.blocks: int | None = None  # top-level blocks of `level` (forward_with_progress), counted once
        self.chosen_focus: list[Focus | None] = []  # a generator trained end to end learned its own focus

    # --- geometry --------------------------------------------------------------------------------------
    def prepare(self, rgb: np.ndarray, disp: np.ndarray | None) -> np.ndarray:
        """Photo (+ disparity) -> padded network input (C, hp, wp). Odd sides get one edge row/column first so
        that the level-1 output (twice the network input) covers the whole photo."""
        h, w = rgb.shape[:2]
        if min(h, w) < 2:
            raise BokehpipeError(f"photo of {w}x{h} pixels is too small to render")
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        x = make_network_input(rgb, disp if self.needs_depth else None, with_depth=self.needs_depth)
        return _pad_to(x, self.multiple)

    def batch_key(self, rgb: np.ndarray) -> tuple[int, ...]:
        h, w = rgb.shape[:2]
        m2 = 2 * self.multiple
        return tuple(max(2 * m2, -(-n // m2) * m2) for n in (h, w))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(x.to(self.device, non_blocking=True), self.level)

    def _run(self, x: torch.Tensor, tile_full: int | None) -> torch.Tensor:
        m = self.multiple
        tile = None if tile_full is None else max(2 * m, round_to(tile_full / 2, m))
        if tile is None or tile >= max(x.shape[-2:]):
            if self.on_tile is not None and self.device.type == "cpu":  # one long forward: show its blocks
                with torch.inference_mode():
                    out, self.blocks = forward_with_progress(self.model, x, self.level, self.on_tile, self.blocks)
                return out.float()
            return self._forward(x).float().cpu()
        overlap = round_to(self.tiles.overlap / 2, m, up=True) if self.tiles.overlap > 0 else 0
        out = tiled_apply(self._forward, x, tile=tile, overlap=overlap, align=m, progress=self.on_tile)
        self.tiled_count += x.shape[0]
        return out

    def _run_fitting(self, x: torch.Tensor, full_hw: tuple[int, int]) -> torch.Tensor:
        """Untiled if allowed, else tiled; on CUDA out-of-memory, retry with ever smaller tiles (and keep the
        size that fitted for the next photos)."""
        tile = self.tiles.tile_side(*full_hw, self.bytes_per_pixel, LEARNED_TILE_SHARE) or self.oom_tile
        while True:
            try:
                return self._run(x, tile)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                side = tile or max(full_hw)
                tile = round_to(side / math.sqrt(2), 2 * self.multiple)
                if side <= 4 * self.multiple:
                    raise BokehpipeError(f"out of GPU memory even with {side}px tiles; use --device cpu or a "
                                         "smaller model") from None
                self.oom_tile = tile

    def render_batch(self, rgbs: list[np.ndarray], disps: list[np.ndarray | None]) -> list[np.ndarray]:
        self.chosen_focus = [None] * len(rgbs)
        xs = [self.prepare(rgb, disp) for rgb, disp in zip(rgbs, disps, strict=True)]
        if len({x.shape for x in xs}) != 1:
            return [self.render_batch([r], [d])[0] for r, d in zip(rgbs, disps, strict=True)]
        padded_shape = xs[0].shape
        x = torch.from_numpy(xs[0][None] if len(xs) == 1 else np.stack(xs))  # one photo: no copy
        del xs  # a batch's inputs live on in `x` only
        h_max = max(r.shape[0] for r in rgbs)
        w_max = max(r.shape[1] for r in rgbs)
        try:
            y = self._run_fitting(x, (h_max, w_max))
        except BokehpipeError:
            if len(rgbs) == 1:
                raise
            return [self.render_batch([r], [d])[0] for r, d in zip(rgbs, disps, strict=True)]
        del x
        return [self._finish(y[i], rgb, padded_shape) for i, rgb in enumerate(rgbs)]

    def _finish(self, y: torch.Tensor, rgb: np.ndarray, padded_shape: tuple[int, ...]) -> np.ndarray:
        """Crop the padding off, bring a coarse level up to full size, clip to [0, 1], HWC.

        A tiled output is stored channels-last already: it is cropped in place (no second 650 MB at 54 MP)."""
        h, w = rgb.shape[:2]
        scale = y.shape[-1] / padded_shape[-1]
        hh, ww = math.ceil(h / 2), math.ceil(w / 2)  # network input without padding
        ch, cw = (h, w) if scale == 2 else (max(1, round(hh * scale)), max(1, round(ww * scale)))
        hwc = y.permute(1, 2, 0).numpy()
        if hwc.flags.c_contiguous and hwc.dtype == np.float32:
            out = crop_in_place(hwc, ch, cw)
        else:
            out = np.ascontiguousarray(hwc[:ch, :cw], dtype=np.float32)
        if (ch, cw) != (h, w):
            out = resize(out, (w, h), "cubic")
        return np.clip(out, 0.0, 1.0, out=out)


def load_generator(path: str | os.PathLike[str] | None = None, device: str = "cpu") -> tuple[Any, CheckpointRecord]:
    """Any trained generator in eval mode, with its record: a run folder, a run checkpoint or an exported weights
    file (`bokehpipe export`); None is the package's shipped default (BokehNet). `models.checkpoint` reads it."""
    from bokehpipe.models.checkpoint import load_for_inference

    return load_for_inference(Path(path) if path is not None else SHIPPED_WEIGHTS, device=device)


def load_bokehnet(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """A BokehNet (the shipped weights by default) and its provenance; a generator of another kind is refused."""
    model, record = load_generator(path)
    if record.kind != "correction":
        raise BokehpipeError(f"{record.path}: holds {record.model}, not a BokehNet; pass BokehNet weights (a "
                             "`bokehpipe export` of a `train --model bokehnet` run)")
    return model, {"path": str(record.path), **record.provenance}


def generator_renderer(model: Any, record: CheckpointRecord, *, device: str = "cpu", tiles: TilePolicy = TilePolicy(),
                       focus: float | None = None, aperture: float | None = None,
                       focus_point: tuple[int, int] | None = None, name: str | None = None,
                       lens: Lens | None = None) -> Any:
    """The renderer a generator's kind calls for: a correction of scatter takes focus and aperture; an end-to-end
    generator (PyNET) renders what it learned, at its finest trained level."""
    if record.kind == "correction":
        return BokehNetRenderer(model, focus=focus, aperture=aperture, tiles=tiles, focus_point=focus_point,
                                name=name or "bokehnet", lens=lens)
    return LearnedRenderer(model, level=record.level, with_depth=record.with_depth, device=device, tiles=tiles,
                           name=name or record.model)


def working_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of the network's view of a `width` x `height` photo: NET_WIDTH wide, aspect kept."""
    from bokehpipe.models.bokehnet import NET_WIDTH

    return NET_WIDTH, max(8, round(height * NET_WIDTH / width))


def to_working_size(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A photo-sized array (H, W[, C]) at the network's working `size` (w, h), float32: area when shrinking,
    bilinear otherwise. Inference and real-pair training examples (`train.correction_examples`) both go through it, so
    the shipped weights see what they were trained on (not `fit_to_photo`'s bicubic, module docstring)."""
    return resize(np.ascontiguousarray(a, dtype=np.float32), size, "area" if size[0] < a.shape[1] else "linear",
                  clip=False)


def render_bokehnet(image: np.ndarray, disparity: np.ndarray, model: Any, *, focus: float | None = None,
                    aperture: float = DEFAULT_APERTURE) -> np.ndarray:
    """sRGB (H, W, 3) + disparity (H, W), near = 1 -> BokehNet's render (H, W, 3) float32 in [0, 1].

    focus None = auto-focus (`resolve_focus`); aperture: internal scale, by default the calibrated f/1.8 like
    `render`'s (commands go through `BokehNetRenderer`, which takes None for it).
    """
    image = clip_unit(image)
    disparity = np.asarray(disparity, np.float32)
    focus, s = scatter_at(image, disparity, focus, aperture)
    return correct(model, image, disparity, s, focus=focus, aperture=float(aperture))


def scatter_at(image: np.ndarray, disparity: np.ndarray, focus: float | None, aperture: float
               ) -> tuple[float, np.ndarray]:
    """The classical half of the default renderer: the focus (the auto-focus when None) and scatter's render at
    it, full size. `render_bokehnet` and the real-pair training examples (`train.bokehnet_data`) share it."""
    from bokehpipe.render import render

    focus = resolve_focus(image, disparity, focus=focus).disparity
    return focus, render(image, disparity, "scatter", focus=focus, aperture=float(aperture))


def correct(model: Any, image: np.ndarray, disparity: np.ndarray, scatter: np.ndarray, *, focus: float,
            aperture: float) -> np.ndarray:
    """Apply BokehNet to a scatter render made with `focus` and `aperture`: `S + m (I - S) + r`, full size.

    The network runs at working scale (`working_size`), so its time and memory do not grow with the photo;
    at full size only elementwise work remains (`compose`, which writes the result into `scatter`'s memory:
    the caller hands its scatter render over).
    """
    import torch

    from bokehpipe.models.bokehnet import MULTIPLE, network_input

    h, w = disparity.shape
    wn, hn = working_size(w, h)

    def small(a: np.ndarray) -> Any:
        return torch.from_numpy(to_working_size(a, (wn, hn)).reshape(hn, wn, -1)).permute(2, 0, 1)[None]

    with torch.inference_mode():
        x = network_input(small(image), small(scatter), small(disparity), torch.tensor([float(focus)]),
                          torch.tensor([float(aperture)]))
        ph, pw = -hn % MULTIPLE, -wn % MULTIPLE
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        mask, residual = model.correction(x)
        out = torch.cat([mask, residual], 1)[0, :, :hn, :wn].permute(1, 2, 0).numpy()
    return compose(image, scatter, np.ascontiguousarray(out, dtype=np.float32))


def linear_rows(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `dst` output rows: the two source rows and the weight of the second, as OpenCV's bilinear
    resize (INTER_LINEAR, pixel centres aligned) takes them, so a resize can be done a strip at a time."""
    f = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    lo = np.floor(f).astype(np.int64)
    f = (f - lo).astype(np.float32)
    f[lo < 0] = 0.0
    lo = np.clip(lo, 0, src - 1)
    f[lo >= src - 1] = 0.0
    return lo, np.minimum(lo + 1, src - 1), f


def compose(image: np.ndarray, scatter: np.ndarray, small: np.ndarray) -> np.ndarray:
    """`S + m (I - S) + r` clipped to [0, 1], with m and r (`small`, (hn, wn, 4)) upsampled bilinearly to the
    photo's size, a strip of rows at a time and written into `scatter` (a float32 C-contiguous S is reused,
    anything else copied once). Equal to one whole-photo `cv2.resize` to within 1e-5."""
    h, w = scatter.shape[:2]
    out = scatter if scatter.dtype == np.float32 and scatter.flags.c_contiguous and scatter.flags.writeable else \
        np.array(scatter, dtype=np.float32)
    cols = cv2.resize(small, (w, small.shape[0]), interpolation=cv2.INTER_LINEAR)  # (hn, W, 4): width only
    lo, hi, frac = linear_rows(small.shape[0], h)
    for y0 in range(0, h, COMPOSE_ROWS):
        rows = slice(y0, y0 + COMPOSE_ROWS)
        f = frac[rows, None, None]
        big = cols[lo[rows]] * (np.float32(1.0) - f) + cols[hi[rows]] * f
        s = out[rows]
        res = image[rows] - s
        res *= big[..., :1]
        res += s
        res += big[..., 1:]
        np.clip(res, 0.0, 1.0, out=s)
    return out


class BokehNetRenderer(ClassicalRenderer):
    """The learned default: `scatter` (tiled exactly as `ClassicalRenderer` tiles it) corrected by BokehNet
    at working scale (`correct`), with the same focus and aperture controls: the focus is decided once per
    photo, so scatter and the network agree."""

    def __init__(self, model: torch.nn.Module, *, focus: float | None = None, aperture: float | None = None,
                 tiles: TilePolicy = TilePolicy(), focus_point: tuple[int, int] | None = None,
                 name: str = "bokehnet", lens: Lens | None = None) -> None:
        super().__init__("scatter", focus=focus, aperture=aperture, tiles=tiles, focus_point=focus_point, lens=lens)
        self.model, self.name = model.eval(), name

    def render_fitted(self, rgb: np.ndarray, disp: np.ndarray, focus: float, aperture: float) -> np.ndarray:
        s = super().render_fitted(rgb, disp, focus, aperture)
        return correct(self.model, rgb, disp, s, focus=float(focus), aperture=float(aperture))
