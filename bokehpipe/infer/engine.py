"""Full-resolution rendering of one photo (or a batch of same-size photos) with a learned model or a
classical renderer, and the loop that reads, renders and writes a list of jobs (issue 6, `bokehpipe infer`).

Learned models follow the paper's geometry (Ignatov et al. 2020; `make_network_input` is the one place it
lives): RGB x0.5 bicubic plus the disparity channel, reflect-padded at network-input resolution to the
model's multiple (32 for PyNET), run at the finest trained level, cropped back. Level 1 comes out at the
photo's full resolution; a run trained only to a coarser level is upsampled to it (the caller is told).

A photo above `max_pixels`, or one that runs out of GPU memory, goes through overlapping tiles
(`bokehpipe.infer.tiling`; instance norm then sees per-tile statistics, see there). On a GPU, photos
whose padded size agrees are batched.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from bokehpipe.data.disparity import DisparitySource, fit_to_photo
from bokehpipe.data.io import read_image, resize, write_image, write_jpeg, write_png
from bokehpipe.errors import BokehpipeError

from .files import Job
from .tiling import crop_in_place, round_to, tiled_apply

DEFAULT_OVERLAP = 128  # full-resolution pixels; 64 at PyNET's input, i.e. 16 px clean margin per side
# Peak working memory of one render call per full-resolution pixel (RSS after minus before, issue 13):
# scatter keeps a dozen float32 planes (linear RGB, the level split, the RGBA accumulator, one blurred level):
# measured 134-141, budgeted 160. gaussian is a few planes and needs global statistics: it never tiles (0).
CLASSICAL_BYTES_PER_PIXEL = {"scatter": 160.0, "gaussian": 0.0}
# PyNET on CPU at level 1 is not linear in its width (full-resolution layers have fixed channel counts):
# measured 176 at width 0.25, 207 at 0.5 and 428 at width 1 (1024x768), so base + per_width * width with a
# margin of 30% or more: a learned model also keeps its input and its padded output at full size while it
# tiles. A 1536x1024 photo still renders whole at width 1 (865 MB of work).
LEARNED_BYTES_BASE, LEARNED_BYTES_PER_WIDTH = 150.0, 400.0
# While it tiles, a learned model also holds its weights (190 MB at width 1), its network input and a padded
# output (4 + 12 bytes a pixel at full size) beside the photo and its map: its tiles get half the tile budget.
# Measured at 54 MP with the whole budget: PyNET width 1 peaked at 2.84 GB (goal 3 GB).
LEARNED_TILE_SHARE = 0.5


DEFAULT_MEMORY_MB = 1024  # a photo whose working memory exceeds this is tiled
# Each tile of a tiled photo gets less: the photo's own full-size planes (the decoded photo, its map and the
# output, 12 + 4 + 12 bytes a pixel: 1.5 GB at 54 MP) and the interpreter (~0.6 GB with torch) already hold
# most of a 3 GB budget (issue 13's goal: 2 GB at 1536x1024, 3 GB at 54 MP, for every renderer).
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


class Renderer(Protocol):
    name: str
    needs_depth: bool
    maps_at_photo_size: bool  # True: renders from the map at the photo's size (`fit_to_photo`), False: at its
    # stored size (a network resizes it once itself, `make_network_input`)
    bytes_per_pixel: float  # peak working memory per full-resolution pixel, untiled (TilePolicy.memory_mb)
    on_tile: Callable[[int, int], None] | None  # progress within one photo: (tiles or blocks done, in all)

    def batch_key(self, rgb: np.ndarray) -> tuple[int, ...]:
        """Photos with equal keys can share a batch."""
        ...

    def render_batch(self, rgbs: list[np.ndarray], disps: list[np.ndarray | None]) -> list[np.ndarray]: ...


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

    # --- geometry --------------------------------------------------------------------------------------
    def prepare(self, rgb: np.ndarray, disp: np.ndarray | None) -> np.ndarray:
        """Photo (+ disparity) -> padded network input (C, hp, wp). Odd sides get one edge row/column first so
        that the level-1 output (twice the network input) covers the whole photo."""
        from bokehpipe.data.datasets import make_network_input

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
                 focus_point: tuple[int, int] | None = None) -> None:
        from bokehpipe.render import METHODS
        from bokehpipe.render.calibration import DEFAULT_APERTURE

        if method not in METHODS:
            raise BokehpipeError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
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

    def batch_key(self, rgb: np.ndarray) -> tuple[int, ...]:
        return (id(rgb),)  # classical renderers run one photo at a time

    def render_one(self, rgb: np.ndarray, disp: np.ndarray, *, focus: float | None = None,
                   aperture: float | None = None) -> np.ndarray:
        """One photo and its map at any size (brought to the photo's size here, `fit_to_photo`, the one way);
        `focus`/`aperture` override the renderer's own for this photo (eval on synthetic sets passes each
        image's true values)."""
        from bokehpipe.physics import EDGE, coc_scale
        from bokehpipe.render import choose_focus, render

        disp = fit_to_photo(disp, rgb.shape)  # first: a focus point is in photo pixels
        focus = self.focus if focus is None else focus
        if focus is None and self.focus_point is not None:
            from bokehpipe.render import focus_at

            focus = focus_at(disp, *self.focus_point).disparity
        aperture = self.aperture if aperture is None else aperture
        h, w = disp.shape
        tile = self.tiles.tile_side(h, w, self.bytes_per_pixel) if self.method == "scatter" else None
        if tile is None or tile >= max(h, w):
            return render(rgb, disp, self.method, focus=focus, aperture=aperture, **self.options)
        focus = choose_focus(rgb, disp).disparity if focus is None else focus
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

    def render_batch(self, rgbs: list[np.ndarray], disps: list[np.ndarray | None]) -> list[np.ndarray]:
        outs = []
        for rgb, disp in zip(rgbs, disps, strict=True):
            if disp is None:
                raise BokehpipeError(f"--method {self.method} needs a depth map")
            out = np.ascontiguousarray(self.render_one(rgb, disp), dtype=np.float32)
            outs.append(np.clip(out, 0.0, 1.0, out=out))
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


class BokehNetRenderer(ClassicalRenderer):
    """The learned default: `scatter` (tiled exactly as `ClassicalRenderer` tiles it) corrected by BokehNet
    at working scale (`bokehpipe.render.learned`), with the same focus and aperture controls."""

    def __init__(self, model: torch.nn.Module, *, focus: float | None = None, aperture: float | None = None,
                 tiles: TilePolicy = TilePolicy(), focus_point: tuple[int, int] | None = None,
                 name: str = "bokehnet") -> None:
        super().__init__("scatter", focus=focus, aperture=aperture, tiles=tiles, focus_point=focus_point)
        self.model, self.name = model.eval(), name

    def render_one(self, rgb: np.ndarray, disp: np.ndarray, *, focus: float | None = None,
                   aperture: float | None = None) -> np.ndarray:
        from bokehpipe.render import choose_focus, focus_at
        from bokehpipe.render.learned import correct

        disp = fit_to_photo(disp, rgb.shape)  # maps arrive at their stored size (a PyNET map is half size)
        focus = self.focus if focus is None else focus
        if focus is None:  # decided once here, so scatter and the network agree
            focus = (focus_at(disp, *self.focus_point) if self.focus_point is not None
                     else choose_focus(rgb, disp)).disparity
        aperture = self.aperture if aperture is None else aperture
        s = super().render_one(rgb, disp, focus=focus, aperture=aperture)
        return correct(self.model, rgb, disp, s, focus=float(focus), aperture=float(aperture))


# --- the loop ---------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What happened to one job: rendered (with the files written) or failed (with a one-line reason)."""

    job: Job
    ok: bool
    message: str = ""
    seconds: float = 0.0
    size: tuple[int, int] = (0, 0)  # (width, height)
    wrote: list[Any] = field(default_factory=list)


@dataclass
class _Loaded:
    job: Job
    rgb: np.ndarray | None = None
    disp: np.ndarray | None = None
    error: str = ""
    seconds: float = 0.0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.rgb, self.disp) if a is not None)


# Decoded photos (with their maps) read ahead while one renders. A photo larger than this is read only when
# it is needed: a read-ahead 54 MP photo would hold another 0.9 GB beside the one rendering (issue 13).
PREFETCH_BYTES = 256 * 2**20


def naming(job: Job, exc: BaseException) -> str:
    """Every line about a failed photo names it (a renderer's own message may not know the file)."""
    message = str(exc)
    return message if str(job.input) in message else f"{job.input}: {message}"


def _load(job: Job, depth: DisparitySource | None) -> _Loaded:
    t0 = time.perf_counter()
    try:
        rgb = read_image(job.input)
        disp = depth.disparity(job.photo, rgb) if depth is not None else None
    except BokehpipeError as exc:
        return _Loaded(job, error=naming(job, exc))
    return _Loaded(job, rgb, disp, seconds=time.perf_counter() - t0)


def _prefetch(jobs: list[Job], depth: DisparitySource | None, ahead: int, threads: int) -> Iterator[_Loaded]:
    """Decode (and compute depth for) the next few photos while the current batch renders: up to `ahead`
    of them, and no more than PREFETCH_BYTES judged by the last photo read (none beside a larger one)."""
    if threads <= 0:
        for job in jobs:
            yield _load(job, depth)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="infer-read") as pool:
        pending: deque[Future[_Loaded]] = deque()
        left = iter(jobs)
        last: int | None = None  # bytes of the last photo read

        def top_up(least: int) -> None:
            room = 0 if last is None or last > PREFETCH_BYTES else min(ahead, PREFETCH_BYTES // max(1, last))
            while len(pending) < max(least, room):
                job = next(left, None)
                if job is None:
                    return
                pending.append(pool.submit(_load, job, depth))

        while True:
            top_up(1)
            if not pending:
                return
            loaded = pending.popleft().result()
            last = loaded.nbytes
            top_up(0)  # read ahead while the caller renders this one, as far as the budget allows
            yield loaded
            del loaded  # rendered by now: not held while the next photo decodes


def run_jobs(jobs: list[Job], renderer: Renderer, depth: DisparitySource | None, *, batch_size: int = 1,
             on_done: Callable[[Outcome], None] | None = None, read_threads: int = 1,
             jpeg_quality: int = 95) -> list[Outcome]:
    """Render every job; a photo that cannot be read (or has no depth) fails alone, the rest go on.

    Consecutive photos with the same batch key form batches of up to `batch_size`. MiDaS on the fly runs in
    the reading thread only when it is not sharing the GPU with the renderer (`read_threads=0` otherwise).
    """
    outcomes: list[Outcome] = []
    batch: list[_Loaded] = []

    def finish(item: Outcome) -> None:
        outcomes.append(item)
        if on_done is not None:
            on_done(item)

    def flush() -> None:
        if not batch:
            return
        t0 = time.perf_counter()
        try:
            if renderer.maps_at_photo_size:  # fitted once per photo: for the render and for the saved map alike
                for b in batch:
                    b.disp = None if b.disp is None else fit_to_photo(b.disp, b.rgb.shape)  # type: ignore[union-attr]
            outs = renderer.render_batch([b.rgb for b in batch], [b.disp for b in batch])  # type: ignore[misc]
        except BokehpipeError as exc:
            for b in batch:
                finish(Outcome(b.job, False, naming(b.job, exc)))
            batch.clear()
            return
        per = (time.perf_counter() - t0) / len(batch)
        for b, out in zip(batch, outs, strict=True):
            wrote = []
            if b.disp is not None:
                wrote.append(write_png(b.job.depth_output, fit_to_photo(b.disp, out.shape)))
            if b.job.preview_output is not None:
                wrote.append(write_jpeg(b.job.preview_output, b.rgb, quality=90))  # type: ignore[arg-type]
            # the render last: its presence under its final name marks the job finished (files.is_finished)
            wrote.append(write_image(b.job.output, out, quality=jpeg_quality))
            finish(Outcome(b.job, True, seconds=per, size=(out.shape[1], out.shape[0]), wrote=wrote))
        batch.clear()

    for loaded in _prefetch(jobs, depth, ahead=max(2, 2 * batch_size), threads=read_threads):
        if loaded.error:
            finish(Outcome(loaded.job, False, loaded.error))
            continue
        if batch and renderer.batch_key(batch[0].rgb) != renderer.batch_key(loaded.rgb):
            flush()
        batch.append(loaded)
        if len(batch) >= batch_size:
            flush()  # now, before the next photo is asked for: a full batch never waits beside the next photo
        del loaded
    flush()
    return outcomes
