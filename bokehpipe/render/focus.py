"""Where to focus: on the subject a photographer would pick, or on a point or disparity the user names.

`resolve_focus(image, disparity, focus=..., point=...)` is the one rule every renderer and command follows: a
disparity given wins, else the point given (`focus_at`), else auto-focus. `choose_focus(image, disparity)`
(auto-focus), in order:

1. A face: the largest plausible face from OpenCV's shipped Haar cascades (frontal, and profile both ways),
   framed towards the middle (cascades also fire on bark and foliage near the edges: `FACE_MIN_CENTRE`);
   the focus is the median disparity in the middle of the face box (the box's rim catches background).
   OpenCV 5 dropped `CascadeClassifier` and the cascade files; there this step is skipped and says so.
2. Else the salient central subject: each pixel is scored by a cheap image saliency (spectral residual,
   Hou & Zhang CVPR 2007, written here in numpy), a centre prior (photographers frame the subject near the
   middle) and a mild preference for near things; the focus is the disparity layer that collects the most
   score (the peak of a score-weighted disparity histogram). Not simply the nearest thing: a near branch or
   rock at the frame edge (portraits/21.jpg, 13.jpg) collects little score, the person in the middle a lot.

Disparity is bokehpipe's normalised disparity everywhere ([0, 1], near = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from bokehpipe.errors import BokehpipeError, ConfigError
from bokehpipe.physics import clip_unit

FACE_CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")
FACE_MIN_SIDE = 0.04
"""A plausible face is at least this fraction of the photo's shorter side (smaller hits are texture)."""
DETECT_SIDE = 640
"""Faces are searched on a copy whose longer side is this many pixels (speed; faces stay >= ~20 px)."""
SCORE_SIDE = 128
"""The salient-subject score is computed at this longer side: a subject is large, the rule is cheap."""
CENTRE_SIGMA = 0.25
"""Centre prior: a Gaussian with this sigma as a fraction of each side, centred a little above the middle."""
CENTRE_Y = 0.45
FACE_MIN_CENTRE = 0.5
"""A face is the subject only where the centre prior, across the width, keeps at least this share of its peak:
the middle 59% of the width, at any height (a standing person's head sits near the top of a tall frame). Haar
cascades also fire on bark, foliage and lettering, mostly towards the frame's sides, and a photographer rarely
puts the face they focus on at the very side."""
HIST_BINS = 64
LAYERS = 10
"""Disparity bands a figure is cut from (a subject spans about one band; a slanted ground plane several)."""
MIN_REGION = 0.005
"""Regions under this share of the photo are texture, not a subject."""
STRIP_ROWS = 256  # rows of the photo converted to 8-bit gray at a time (face detection)


@dataclass
class Focus:
    """A focus decision: the disparity in focus, the pixel it was read at, and why (one line for the user)."""

    disparity: float
    x: int
    y: int
    reason: str


def focus_at(disparity: np.ndarray, x: int, y: int, radius: int = 8) -> Focus:
    """Focus on pixel (x, y): the median disparity in a (2 radius + 1)^2 window, robust to an edge pixel."""
    d = np.asarray(disparity)
    h, w = d.shape
    if not (0 <= x < w and 0 <= y < h):
        raise BokehpipeError(f"focus point ({x}, {y}) lies outside the {w}x{h} image; give 0 <= X < {w}, 0 <= Y < {h}")
    value = float(np.median(d[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]))
    return Focus(value, int(x), int(y), f"the point ({x}, {y})")


def check_focus_request(focus: float | None, point: tuple[int, int] | None) -> None:
    """Refuse a focus given twice (a disparity and a point), before any photo is read."""
    if focus is not None and point is not None:
        raise ConfigError("give either --focus or --focus-at, not both")


def resolve_focus(image: np.ndarray | None, disparity: np.ndarray, *, focus: float | None = None,
                  point: tuple[int, int] | None = None) -> Focus:
    """The focus for one photo: `focus` (a disparity) when given, else the disparity at `point` (x, y) in the
    photo's pixels, else auto-focus (`choose_focus`, the one that needs the image). `disparity` is at the photo's
    size."""
    check_focus_request(focus, point)
    if focus is not None:
        if not math.isfinite(focus):
            raise BokehpipeError(f"focus must be a finite disparity (0 = far, 1 = near), got {focus}")
        return Focus(float(focus), -1, -1, "as given by --focus")
    if point is not None:
        return focus_at(disparity, *point)
    if image is None:
        raise BokehpipeError("auto-focus needs the photo")
    return choose_focus(image, disparity)


FOCUS_BAND = 0.01
"""`transfer_focus`: reference pixels within this disparity of the focus are the in-focus subject."""
CORE_SHARE = 0.7
"""`transfer_focus` reads the pixels at least this share of the deepest one's distance from the region's rim."""


def transfer_focus(reference: np.ndarray, estimate: np.ndarray, focus: float) -> float:
    """The focus `estimate` gives to what `reference` has in focus: the median of the estimated map over the core
    of the in-focus region (the reference's pixels within `FOCUS_BAND` of `focus`, or the closest 0.5% when none
    is that close; of those, the ones farthest from the region's rim).

    Why: a synthetic set's true focus is a value of its exact map. Scored with an estimated map (MiDaS, or an
    exact map degraded like one), that value no longer points at the subject: the estimate's curve, shift and
    scale move it. A photographer taps the middle of the subject instead, and this is that tap, read off the
    estimate; the core, because an estimate's soft edges smear a thin subject's rim into its surroundings.
    Both maps are normalised disparity; `estimate` is fitted to the reference's size first.
    """
    from bokehpipe.data.disparity import fit_to_photo

    ref = np.asarray(reference, dtype=np.float32)
    est = fit_to_photo(estimate, ref.shape, "estimated depth map")
    gap = np.abs(ref - np.float32(focus))
    near = gap <= FOCUS_BAND
    if not near.any():
        near = gap <= np.quantile(gap, 0.005)
    inside = cv2.distanceTransform(near.astype(np.uint8), cv2.DIST_L2, 5)
    return float(np.median(est[inside >= CORE_SHARE * inside.max()]))


def choose_focus(image: np.ndarray, disparity: np.ndarray) -> Focus:
    """Auto-focus: the largest plausible face, else the salient central subject (see the module docstring)."""
    image = np.asarray(image, dtype=np.float32)
    d = np.asarray(disparity, dtype=np.float32)
    if image.ndim != 3 or image.shape[:2] != d.shape:
        raise BokehpipeError(f"choose_focus needs an (H, W, 3) image and an (H, W) disparity map, got {image.shape} "
                             f"and {d.shape}")
    face = largest_face(image)
    if face is not None:
        x, y, fw, fh = face
        inner = d[y + fh // 4:y + fh - fh // 4, x + fw // 4:x + fw - fw // 4]
        return Focus(float(np.median(inner)), x + fw // 2, y + fh // 2, f"the largest face ({fw}x{fh} px at {x},{y})")
    found = salient_subject(image, d)
    why = found.reason + ("" if has_face_detector() else " (no face detector in this OpenCV)")
    return Focus(found.disparity, found.x, found.y, f"{why} at ({found.x}, {found.y})")


def has_face_detector() -> bool:
    """OpenCV 4 ships Haar cascades and `CascadeClassifier`; OpenCV 5 moved both out of the main package."""
    return bool(_cascades())


@lru_cache(maxsize=1)
def _cascades() -> tuple[object, ...]:
    if not hasattr(cv2, "CascadeClassifier"):
        return ()
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    out = []
    for name in FACE_CASCADES:
        clf = cv2.CascadeClassifier(folder + name)
        if not clf.empty():
            out.append(clf)
    return tuple(out)


def largest_face(image: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) in full-resolution pixels of the largest plausible face, or None (none, or no detector).

    Plausible: at least FACE_MIN_SIDE of the shorter side, and framed towards the middle (FACE_MIN_CENTRE).
    """
    cascades = _cascades()
    if not cascades:
        return None
    h, w = image.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    gray = np.empty((h, w), np.uint8)
    for y in range(0, h, STRIP_ROWS):  # in strips: a 54 MP photo never has a full-size float copy here
        strip = (np.clip(image[y:y + STRIP_ROWS], 0, 1) * 255).astype(np.uint8)
        gray[y:y + STRIP_ROWS] = cv2.cvtColor(strip, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    side = max(20, int(FACE_MIN_SIDE * min(gray.shape)))
    boxes: list[tuple[int, int, int, int]] = []
    for i, clf in enumerate(cascades):
        for flipped in (False, True) if i > 0 else (False,):  # the profile cascade sees one side; mirror for the other
            g = gray[:, ::-1].copy() if flipped else gray
            for bx, by, bw, bh in clf.detectMultiScale(g, scaleFactor=1.1, minNeighbors=6, minSize=(side, side)):
                bx = g.shape[1] - bx - bw if flipped else bx
                boxes.append((int(bx), int(by), int(bw), int(bh)))
    if not boxes:
        return None
    framed = [b for b in boxes if centre_prior((b[0] + b[2] / 2) / gray.shape[1], CENTRE_Y) >= FACE_MIN_CENTRE]
    if not framed:
        return None
    bx, by, bw, bh = max(framed, key=lambda b: b[2] * b[3])
    return (round(bx / scale), round(by / scale), round(bw / scale), round(bh / scale))


def spectral_residual(gray: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency (Hou & Zhang 2007) of a small gray image, scaled to [0, 1]."""
    f = np.fft.fft2(gray.astype(np.float64))
    log_amp = np.log(np.abs(f) + 1e-8)
    residual = log_amp - cv2.blur(log_amp, (3, 3), borderType=cv2.BORDER_REPLICATE)
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
    sal = cv2.GaussianBlur(sal, (0, 0), max(1.0, 0.04 * max(gray.shape)))
    return ((sal - sal.min()) / max(float(np.ptp(sal)), 1e-12)).astype(np.float32)


def centre_prior(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
    """Where photographers frame a subject: 1 a little above the middle, falling off as a Gaussian (CENTRE_SIGMA);
    x and y are fractions of the photo's width and height."""
    return np.exp(-0.5 * ((np.asarray(y) - CENTRE_Y) ** 2 + (np.asarray(x) - 0.5) ** 2) / CENTRE_SIGMA ** 2)


def subject_score(image: np.ndarray, disparity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel subject score and the disparity, both small (SCORE_SIDE): saliency x centre prior x nearness."""
    h, w = disparity.shape
    scale = min(1.0, SCORE_SIDE / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = cv2.resize(clip_unit(image), size, interpolation=cv2.INTER_AREA)
    d = cv2.resize(disparity, size, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    sal = spectral_residual(gray)
    centre = centre_prior((np.arange(size[0])[None, :] + 0.5) / size[0], (np.arange(size[1])[:, None] + 0.5) / size[1])
    lo, hi = float(d.min()), float(d.max())
    near = 0.5 + 0.5 * (d - lo) / max(hi - lo, 1e-6)
    return ((0.25 + sal) * centre * near).astype(np.float32), d


def salient_subject(image: np.ndarray, disparity: np.ndarray) -> Focus:
    """The figure that collects the most subject score; the score-weighted disparity mode if there is none.

    Figures are connected regions of one disparity band (LAYERS equal bands) that stand in front of most of
    their surroundings; a region cut by the left, right or top frame edge is discounted (a photographer's
    subject is rarely cut there, a near branch or wall usually is; the bottom edge cuts people all the time).
    """
    score, d = subject_score(image, disparity)
    lo, hi = float(d.min()), float(d.max())
    h, w = disparity.shape
    sh, sw = d.shape
    if hi - lo < 1e-6:
        return Focus(lo, w // 2, h // 2, "a flat disparity map")
    step = (hi - lo) / LAYERS
    band = np.minimum(((d - lo) / step).astype(np.int32), LAYERS - 1)
    near = (d - lo) / (hi - lo)
    kernel = np.ones((3, 3), np.uint8)
    best: tuple[float, np.ndarray] | None = None
    for level in range(LAYERS):
        count, labels = cv2.connectedComponents((band == level).astype(np.uint8), connectivity=8)
        for label in range(1, count):
            region = labels == label
            area = int(region.sum())
            if area < MIN_REGION * sh * sw:
                continue
            ring = cv2.dilate(region.astype(np.uint8), kernel).astype(bool) & ~region
            mean = float(np.median(d[region]))
            in_front = float((d[ring] < mean - step).mean()) if ring.any() else 0.0
            cut = int(region[0].sum() + region[:, 0].sum() + region[:, -1].sum())
            cut_share = cut / max(1, cut + int(ring.sum()))
            nearness = 0.5 + 0.5 * float(near[region].mean())
            value = float(score[region].sum()) * in_front * (1.0 - cut_share) ** 2 * nearness
            if value > 0 and (best is None or value > best[0]):
                best = (value, region)
    if best is None:
        return _score_mode(score, d, (h, w))
    region = best[1]
    yx = np.unravel_index(int(np.argmax(np.where(region, score, -1.0))), d.shape)
    x, y = min(w - 1, int((yx[1] + 0.5) * w / sw)), min(h - 1, int((yx[0] + 0.5) * h / sh))
    return Focus(float(np.median(d[region])), x, y, "the salient central subject")


def _score_mode(score: np.ndarray, d: np.ndarray, full: tuple[int, int]) -> Focus:
    """No figure stands out: the disparity that collects the most score (weighted histogram peak)."""
    lo, hi = float(d.min()), float(d.max())
    hist, edges = np.histogram(d, bins=HIST_BINS, range=(lo, hi), weights=score)
    hist = cv2.GaussianBlur(hist.astype(np.float64).reshape(1, -1), (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE)[0]
    peak = int(np.argmax(hist))
    centre = 0.5 * (edges[peak] + edges[peak + 1])
    near_peak = np.abs(d - centre) <= 2.5 * (edges[1] - edges[0])
    yx = np.unravel_index(int(np.argmax(np.where(near_peak, score, -1.0))), d.shape)
    h, w = full
    x, y = min(w - 1, int((yx[1] + 0.5) * w / d.shape[1])), min(h - 1, int((yx[0] + 0.5) * h / d.shape[0]))
    return Focus(float(np.median(d[near_peak])), x, y, "the most salient depth layer")
