"""The refocus gallery: click a photo to focus there, drag an aperture slider, hold to see the original.

`write_refocus_gallery(out_dir, photos, render)` writes a static folder (`index.html` plus JPEGs; inline CSS
and JavaScript, no server, no external URL: it works from `file://` and can be zipped and mailed). Each
photo gets a *pre-rendered stack*: a few focus planes x the slider's f-numbers, rendered by the caller's
`render` (the product's default renderer) on a copy whose longer side is `preview_side` pixels. Why
pre-rendered and not rendered in the browser from the depth map: the page then shows what `bokehpipe infer`
itself makes (the learned renderer, its calibration and its focus rule; the full-size render of a setting,
shrunk to the preview, matches its preview to ~40 dB PSNR), not a second JavaScript renderer that would differ
from it; and a browser cannot read the pixels of a `file://` image into a canvas, so in-browser rendering would
need every image inlined as base64. The cost is disk and render time, stated on the page for each photo: with
the defaults (up to 6 planes x 6 f-numbers, 640 px, JPEG quality 75, planes that look alike at an f-number
sharing one render: 17-32 files), about 1 MB for a 3:2 photo (1.8 MB for a detailed portrait, 0.4-0.8 MB for
the demo's generated scenes), and 17-22 s of CPU per photo with the shipped BokehNet.

Focus planes (`focus_planes`): what a click can focus on is `render.focus.focus_at` (the rule `--focus-at`
uses) read on a grid of points over the photo; the planes are the auto-focus (`choose_focus`, so the page
opens on exactly what `infer` renders by default) and then, greedily, the clickable disparity farthest from
every plane so far (minimax: a small near subject gets its own plane, which area-weighted quantiles would
merge away), among disparities that cover at least `MIN_SHARE` of the grid; planes closer than half a pixel
of blur at the widest aperture are not added. A click shows the plane nearest to `focus_at` at its grid cell;
the page prints the exact full-size command (`--focus-at X,Y --aperture f/N`, the photo's own pixels).

Apertures are f-numbers through the product's calibration (`render.calibration.aperture_for_f_number`);
f/16, the input photo's own f-number, adds no blur, so its image is the photo itself (the original).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bokehpipe.errors import BokehpipeError
from bokehpipe.infer.refocus_page import MARKER, ORIGINAL, Stack, page_html

RenderFn = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]
"""render(image, disparity, focus, aperture) -> image: sRGB float (H, W, 3), disparity (H, W) near = 1 at the
image's size, the internal aperture scale (`render.calibration`): a full-size renderer's `render_fitted`
(`render.classical.ClassicalRenderer`, `render.learned.BokehNetRenderer`), the product's default in practice."""

PREVIEW_SIDE = 640
"""The preview's longer side in pixels (a portrait is as tall as a landscape photo is wide)."""
F_NUMBERS = (1.4, 1.8, 2.8, 4.0, 5.6, 8.0, 16.0)
"""Full stops from f/1.4 to f/16, with f/1.8 (the product's default, EBB!'s look) in place of f/2."""
FOCUS_PLANES = 6
JPEG_QUALITY = 75
GRID_COLUMNS = 96
"""Columns of the click-to-plane lookup grid (rows follow the aspect): a cell is ~1% of the width."""
MIN_SHARE = 0.005
"""A disparity is clickable when at least this share of the grid's points focus within one histogram bin of it."""
HIST_BINS = 64
BLUR_TOLERANCE_PX = 0.5
"""Two focus planes whose blur radii at an aperture differ by at most this many preview pixels anywhere look
the same there: no plane is added closer than that at the widest aperture, and at a narrower one such planes
share one render (`shared_renders`)."""
DEFAULT_COMMAND = "bokehpipe infer FOLDER"


@dataclass(frozen=True)
class RefocusPhoto:
    """One photo for the gallery: its name, the decoded sRGB float image (H, W, 3) and disparity (H, W, near = 1)."""

    name: str
    image: np.ndarray
    disparity: np.ndarray


def check_f_numbers(f_numbers: Sequence[float]) -> list[float]:
    """The slider's stops, ascending and unique; each a finite f-number > 0 (f/16 and above: the original)."""
    stops = sorted({float(f) for f in f_numbers})
    if not stops or not all(math.isfinite(f) and f > 0 for f in stops):
        raise BokehpipeError(f"refocus gallery: f-numbers must be finite and > 0, e.g. 1.4,2.8,16; "
                             f"got {list(f_numbers)}")
    return stops


def preview_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(w, h) of the preview: the longer side `side` pixels, aspect kept; never larger than the photo."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def focus_grid(disparity: np.ndarray, columns: int = GRID_COLUMNS) -> np.ndarray:
    """The focus a click there gets (`resolve_focus` with that point) at the centre of each cell of a grid over
    the photo, (rows, columns).

    Cell (r, c) covers the fractions [c / columns, (c + 1) / columns) of the width (rows likewise); the page
    maps a click to its cell the same way, and the photo pixel of a fraction u is floor(u * width).
    """
    from bokehpipe.render.focus import resolve_focus

    h, w = disparity.shape
    columns = max(1, min(columns, w))
    rows = max(1, min(h, round(columns * h / w)))
    xs = [min(w - 1, int((c + 0.5) / columns * w)) for c in range(columns)]
    ys = [min(h - 1, int((r + 0.5) / rows * h)) for r in range(rows)]
    return np.array([[resolve_focus(None, disparity, point=(x, y)).disparity for x in xs] for y in ys], np.float32)


def focus_planes(grid: np.ndarray, auto: float, count: int, tolerance: float) -> list[float]:
    """The auto-focus, then greedily the clickable disparity farthest from every plane so far (module docstring).

    Clickable: a histogram bin of the grid's values holding at least `MIN_SHARE` of them, represented by its
    median. Stops at `count` planes, or when the farthest candidate is within `tolerance` of a plane.
    """
    values = grid.ravel()
    lo, hi = float(values.min()), float(values.max())
    candidates = []
    if hi > lo:
        bins = np.minimum(((values - lo) / (hi - lo) * HIST_BINS).astype(np.int64), HIST_BINS - 1)
        for b in np.unique(bins):
            inside = values[bins == b]
            if inside.size >= MIN_SHARE * values.size:
                candidates.append(float(np.median(inside)))
    else:
        candidates.append(lo)
    planes = [float(auto)]
    while len(planes) < count and candidates:
        gaps = [min(abs(c - p) for p in planes) for c in candidates]
        best = int(np.argmax(gaps))
        if gaps[best] < tolerance:
            break
        planes.append(candidates.pop(best))
    return sorted(planes)


def plane_codes(grid: np.ndarray, planes: Sequence[float]) -> str:
    """The index of the nearest plane for each grid cell, row-major, one base-36 digit each (planes <= 36)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    nearest = np.argmin(np.abs(grid.reshape(-1, 1) - np.asarray(planes, np.float32).reshape(1, -1)), axis=1)
    return "".join(digits[i] for i in nearest)


def folder_name(index: int, name: str) -> str:
    """A photo's subfolder: its position and a filesystem- and URL-safe form of its name."""
    stem = os.path.splitext(name)[0]
    return f"{index:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem).strip('._')[:40] or 'photo'}"


def stack_file(plane: int, f_number: float) -> str:
    """The preview rendered at plane `plane` and `f_number` (the page builds the same name in JavaScript)."""
    return f"p{plane}-f{f_number:g}.jpg"


def plane_tolerance(preview_width: int, f_number: float) -> float:
    """The disparity step that changes the blur radius by `BLUR_TOLERANCE_PX` preview pixels at `f_number`
    (the CoC radius is linear in disparity, `physics.coc_scale`); inf at f/16 and above (no blur)."""
    from bokehpipe.physics import F_NUMBER_INPUT, coc_scale
    from bokehpipe.render.calibration import aperture_for_f_number

    if f_number >= F_NUMBER_INPUT:
        return math.inf
    return BLUR_TOLERANCE_PX / coc_scale(preview_width, aperture_for_f_number(f_number))


def shared_renders(planes: Sequence[float], first: int, tolerance: float) -> list[int]:
    """For each plane, the plane whose render it shows at an aperture with this `tolerance`: itself, or an
    earlier-rendered plane within `tolerance` of it. Plane `first` (the auto-focus) is rendered first, so the
    page opens on an exact render."""
    order = [first, *(i for i in range(len(planes)) if i != first)]
    rendered: list[int] = []
    shows = list(range(len(planes)))
    for i in order:
        near = [j for j in rendered if abs(planes[j] - planes[i]) <= tolerance]
        if near:
            shows[i] = min(near, key=lambda j: abs(planes[j] - planes[i]))
        else:
            rendered.append(i)
    return shows


def _checked(photo: RefocusPhoto) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(photo.image, np.float32)
    disparity = np.asarray(photo.disparity, np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or disparity.shape != image.shape[:2]:
        raise BokehpipeError(f"{photo.name}: the refocus gallery needs an (H, W, 3) image and an (H, W) disparity map "
                             f"of the same size, got {image.shape} and {disparity.shape}; resize the map to the photo")
    if not np.isfinite(disparity).all():
        raise BokehpipeError(f"{photo.name}: the disparity map has NaN or infinite values; fill or re-estimate it")
    return image, disparity


def plan_stack(index: int, photo: RefocusPhoto, *, preview_side: int, f_numbers: Sequence[float], planes: int,
               command: str) -> Stack:
    """Decide one photo's planes and click grid (no rendering): the auto-focus, the grid, the planes."""
    from bokehpipe.render.focus import resolve_focus

    image, disparity = _checked(photo)
    h, w = disparity.shape
    pw, ph = preview_size(w, h, preview_side)
    auto = resolve_focus(image, disparity)
    grid = focus_grid(disparity)
    tolerance = min(plane_tolerance(pw, min(f_numbers)), 1.0)
    chosen = focus_planes(grid, auto.disparity, max(1, min(planes, 36)), tolerance)
    return Stack(name=photo.name, folder=folder_name(index, photo.name), width=w, height=h, preview=(pw, ph),
                 planes=chosen, auto_plane=chosen.index(float(auto.disparity)),
                 auto={"x": auto.x, "y": auto.y, "reason": auto.reason, "disparity": auto.disparity},
                 grid=plane_codes(grid, chosen), grid_shape=grid.shape, f_numbers=list(f_numbers),
                 command=command.replace("{name}", photo.name))


def render_stack(out: Path, stack: Stack, photo: RefocusPhoto, render: RenderFn) -> Stack:
    """Write the original preview and the renders each f-number needs (`shared_renders`); returns the stack
    with its files and their measured size."""
    from bokehpipe.data.io import resize, write_jpeg
    from bokehpipe.render.calibration import aperture_for_f_number

    image, disparity = _checked(photo)
    image = resize(image, stack.preview)
    disparity = resize(disparity, stack.preview)
    folder = out / stack.folder
    written = [write_jpeg(folder / ORIGINAL, image, quality=JPEG_QUALITY)]
    files = []
    for f in stack.f_numbers:
        tolerance = plane_tolerance(stack.preview[0], f)
        if math.isinf(tolerance):
            files.append([ORIGINAL] * len(stack.planes))
            continue
        shows = shared_renders(stack.planes, stack.auto_plane, tolerance)
        for i in sorted(set(shows), key=lambda i: i != stack.auto_plane):
            rendered = render(image, disparity, stack.planes[i], aperture_for_f_number(f))
            written.append(write_jpeg(folder / stack_file(i, f), rendered, quality=JPEG_QUALITY))
        files.append([stack_file(j, f) for j in shows])
    return replace(stack, files=files, bytes=sum(p.stat().st_size for p in written))


def write_refocus_gallery(out_dir: str | os.PathLike[str], photos: Sequence[RefocusPhoto], render: RenderFn, *,
                          preview_side: int = PREVIEW_SIDE, f_numbers: Sequence[float] = F_NUMBERS,
                          planes: int = FOCUS_PLANES, command: str = DEFAULT_COMMAND,
                          title: str = "bokehpipe refocus",
                          on_photo: Callable[[Stack], None] | None = None) -> Path:
    """Write OUT/index.html and one subfolder of JPEGs per photo; returns the page's path.

    render: the product's renderer, `render(image, disparity, focus, aperture)`. command: how to render one of
    these photos at full size, without focus and aperture (the page appends `--focus-at X,Y --aperture f/N`);
    `{name}` in it becomes the photo's name. on_photo is called with each photo's stack once it is written
    (its size measured), so a command can report progress. OUT must not hold another page's index.html
    (e.g. infer's before/after gallery): write this one to its own folder, such as OUT/refocus.
    """
    from bokehpipe.store import atomic_write_text

    out = Path(out_dir)
    page = out / "index.html"
    if page.is_file() and MARKER not in page.read_text(encoding="utf-8", errors="replace")[:2000]:
        raise BokehpipeError(f"{page}: another page is there (not a refocus gallery); write the refocus gallery to "
                             "its own folder, e.g. OUT/refocus")
    if preview_side < 16:
        raise BokehpipeError(f"refocus gallery: the preview side must be at least 16 px, got {preview_side}")
    stops = check_f_numbers(f_numbers)
    stacks = []
    for i, photo in enumerate(photos):
        stack = render_stack(out, plan_stack(i, photo, preview_side=preview_side, f_numbers=stops, planes=planes,
                                             command=command), photo, render)
        stacks.append(stack)
        if on_photo is not None:
            on_photo(stack)
    atomic_write_text(page, page_html(stacks, title=title, quality=JPEG_QUALITY))
    return page
