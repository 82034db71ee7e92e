"""`bokehpipe render` as a library call: photos given one by one (or in folders) with their maps, rendered by a
classical method through the same job runner, writer and collision checks as `infer --method`.

What differs from `infer` is only what is written and refused: each photo gives `<stem>.png` in the output
folder and nothing else (no saved map, no gallery), an existing render is refused unless `overwrite` (never an
input, a depth map included), and a map of another size than its photo is fitted to it with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.disparity import DisparitySource, Photo
from bokehpipe.errors import BokehpipeError, ImageReadError
from bokehpipe.paths import check_writable_dir, resolve_input
from bokehpipe.render.classical import ClassicalRenderer

from .depth_inputs import DirDepth, MapFile, ModelDepth
from .engine import Outcome, run_jobs
from .files import Job, jobs_for


@dataclass
class RenderOptions:
    inputs: list[Path]  # photo files or folders of photos (not recursive), as given
    depth: Path | None  # one map file (one photo) or a folder of maps named like the photos; None: the network
    out_dir: Path
    method: str = "scatter"
    focus: float | None = None
    focus_point: tuple[int, int] | None = None  # (x, y) in each photo's pixels
    aperture: float | None = None  # internal scale; None = the calibrated f/1.8
    f_number: float | None = None  # --aperture typed as f/N: the virtual lens's, for metric maps
    focal_length: float = 50.0  # mm: the virtual lens for metric maps
    options: dict[str, Any] = field(default_factory=dict)  # scatter's own (highlight, gamma)
    overwrite: bool = False
    store: Any = None  # where the default depth network's weights are (depth None)
    device: str = "cpu"


@dataclass
class RenderRun:
    jobs: list[Job]
    renderer: ClassicalRenderer
    depth: DisparitySource
    problems: list[str]  # entries that could not even be opened (symlink loops), one line each

    def run(self, on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """Render and write every job; a photo that fails (unreadable, no map) fails alone. Photos are read one
        at a time, so a warning about a photo's map comes right before that photo's outcome."""
        return run_jobs(self.jobs, self.renderer, self.depth, on_done=on_done, read_threads=0)


def plan_render(opts: RenderOptions, *, warn: Callable[[str], None] | None = None) -> RenderRun:
    """Everything decided and checked before the first pixel: the renderer, the photos, where each map is and
    every output path. `warn(line)` hears of maps fitted to a photo of another size."""
    if opts.options and opts.method != "scatter":
        raise BokehpipeError(f"--{next(iter(opts.options))} applies to --method scatter only")
    from bokehpipe.render.lens import virtual_lens

    lens = virtual_lens(opts.aperture, opts.f_number, opts.focal_length)
    renderer = ClassicalRenderer(opts.method, focus=opts.focus, focus_point=opts.focus_point, aperture=opts.aperture,
                                 options=opts.options, lens=lens)
    out_dir = Path(opts.out_dir).expanduser()
    check_writable_dir(out_dir)
    problems: list[str] = []
    photos = given_photos(opts.inputs, problems)
    depth = _maps(opts.depth, photos) if opts.depth is not None else _network(opts)
    jobs = jobs_for(photos, [Path(p.name) for p in photos], out_dir, fmt="png",
                    protected=depth.protected(),
                    companions=False)
    for job in jobs:
        if job.output.exists() and not opts.overwrite:
            raise BokehpipeError(f"{job.output}: already exists; pass --overwrite to replace it")
    return RenderRun(jobs, renderer, _WarnFitted(depth, warn) if warn is not None else depth, problems)


def given_photos(paths: list[Path], problems: list[str]) -> list[Path]:
    """Image files given or found in given folders (sorted); entries that cannot be resolved (symlink loops,
    dangling links) go to `problems` instead of stopping the run. A missing or unreadable file given by name
    fails later, alone, with a clear line when it is decoded."""
    from bokehpipe.data.io import is_image_file

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for q in sorted(p.iterdir()):
                if not is_image_file(q):
                    continue
                try:
                    if resolve_input(q).is_file():
                        out.append(q)
                except ImageReadError as exc:
                    problems.append(str(exc))
        else:
            try:
                resolve_input(p)
            except ImageReadError as exc:
                problems.append(str(exc))
                continue
            out.append(p)
    if not out and not problems:
        raise BokehpipeError(f"no images found in {', '.join(map(str, paths))}")
    return out


def _network(opts: RenderOptions) -> ModelDepth:
    """No --depth: the default depth network for photos (the one `infer` runs), weights checked up front."""
    from bokehpipe.depth.variants import PHOTO_DEFAULT

    return ModelDepth(PHOTO_DEFAULT, store=opts.store, device=opts.device)


def _maps(depth: Path, photos: list[Path]) -> DirDepth | MapFile:
    """`--depth`: a folder of maps named like the photos (found exactly as `infer --depth DIR` finds them), or
    one map file for the one photo given."""
    if Path(depth).is_dir():
        return DirDepth(depth, fix="add one named like the photo")
    if len(photos) > 1:
        raise BokehpipeError(f"--depth {depth} is one file but {photos[0].parent} gives several inputs; "
                             "pass a folder of maps named like the images")
    return MapFile(depth)


class _WarnFitted:
    """A map source that says when a photo's map is of another size (it is fitted to the photo, not refused)."""

    def __init__(self, inner: DirDepth | MapFile, warn: Callable[[str], None]) -> None:
        self.inner, self.warn = inner, warn
        self.description = inner.description

    def has(self, photo: Photo) -> bool:
        return self.inner.has(photo)

    def protected(self) -> list[Path]:
        return self.inner.protected()

    def disparity(self, photo: Photo, rgb: np.ndarray) -> np.ndarray:
        disp = self.inner.disparity(photo, rgb)
        (dh, dw), (h, w) = disp.shape, rgb.shape[:2]
        if (dh, dw) != (h, w):
            self.warn(f"warning: {self.inner.find(photo)}: depth map is {dw}x{dh}, resized to the image's {w}x{h}")
        return disp
