"""The loop that reads, renders and writes a list of jobs (`bokehpipe infer` and `bokehpipe render` alike).

Photos (and their maps) are decoded ahead of the one rendering; consecutive photos with the same batch key
form batches; a photo that cannot be read, has no map or fails to render fails alone, with one line naming it,
and the rest go on. The renderer is any `bokehpipe.render.interface.Renderer` (classical or learned); a map is
fitted to its photo once here when the renderer draws at the photo's size, and that fit is also the saved map.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bokehpipe.data.disparity import DisparitySource, MetricMap, fit_to_photo
from bokehpipe.data.io import read_image, write_image, write_jpeg, write_png
from bokehpipe.errors import BokehpipeError
from bokehpipe.render.focus import Focus
from bokehpipe.render.interface import Renderer

from .files import Job


@dataclass
class Outcome:
    """What happened to one job: rendered (with the files written) or failed (with a one-line reason)."""

    job: Job
    ok: bool
    message: str = ""
    seconds: float = 0.0
    size: tuple[int, int] = (0, 0)  # (width, height)
    wrote: list[Any] = field(default_factory=list)
    focus: Focus | None = None  # the focus the renderer chose (None: a generator that learned its own)


@dataclass
class _Loaded:
    job: Job
    rgb: np.ndarray | None = None
    disp: np.ndarray | None = None
    error: str = ""
    seconds: float = 0.0
    metric: MetricMap | None = None  # a metric map's scale, for a renderer with a lens

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.rgb, self.disp) if a is not None)


# Decoded photos (with their maps) read ahead while one renders. A photo larger than this is read only when
# it is needed: a read-ahead 54 MP photo would hold another 0.9 GB beside the one rendering.
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
        inverse_range = getattr(depth, "metric_range", lambda _: None)(job.photo) if depth is not None else None
    except BokehpipeError as exc:
        return _Loaded(job, error=naming(job, exc))
    metric = None
    if inverse_range is not None:
        from bokehpipe.data.exif import focal_length_35mm

        metric = MetricMap(inverse_range, focal_length_35mm(job.input))
    return _Loaded(job, rgb, disp, seconds=time.perf_counter() - t0, metric=metric)


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
            metric = [b.metric for b in batch]
            if getattr(renderer, "lens", None) is not None and any(metric):  # a metric map, lens-true
                outs = renderer.render_batch([b.rgb for b in batch], [b.disp for b in batch], metric=metric)
            else:
                outs = renderer.render_batch([b.rgb for b in batch], [b.disp for b in batch])  # type: ignore[misc]
        except BokehpipeError as exc:
            for b in batch:
                finish(Outcome(b.job, False, naming(b.job, exc)))
            batch.clear()
            return
        per = (time.perf_counter() - t0) / len(batch)
        chosen = list(getattr(renderer, "chosen_focus", []))
        focuses = chosen if len(chosen) == len(batch) else [None] * len(batch)
        for b, out, focus in zip(batch, outs, focuses, strict=True):
            wrote = []
            if b.disp is not None and b.job.depth_output is not None:  # the map used, at the photo's size
                fitted = b.disp if renderer.maps_at_photo_size else fit_to_photo(b.disp, out.shape)
                wrote.append(write_png(b.job.depth_output, fitted))
            if b.job.preview_output is not None:
                wrote.append(write_jpeg(b.job.preview_output, b.rgb, quality=90))  # type: ignore[arg-type]
            # the render last: its presence under its final name marks the job finished (files.is_finished)
            wrote.append(write_image(b.job.output, out, quality=jpeg_quality))
            finish(Outcome(b.job, True, seconds=per, size=(out.shape[1], out.shape[0]), wrote=wrote, focus=focus))
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
