"""The drawing kit every scene element shares: palettes, value noise, leaves, foliage, HDR point lights.

Elements are drawn anti-aliased with OpenCV onto premultiplied uint8 sRGB canvases, then `to_layer` turns a
canvas into a premultiplied linear float `Layer` (the renderer's input) cropped to its coverage;
`lights_layer` makes the small HDR discs (linear values well above 1) that become bokeh balls at f/1.8, the
highlights that make EBB!'s targets (Ignatov et al., CVPR-W 2020) look like a real lens. Everything draws
from the `numpy.random.Generator` it is given, so a seed fixes the picture.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from bokehpipe.data.scenes.model import Layer
from bokehpipe.physics import srgb_to_linear

AA = cv2.LINE_AA


# --- palettes (sRGB, 0..1) ----------------------------------------------------------------------------------
GREENS = [(0.22, 0.36, 0.12), (0.30, 0.46, 0.16), (0.14, 0.27, 0.10), (0.38, 0.52, 0.22), (0.42, 0.46, 0.18)]
DARK_GREENS = [(0.10, 0.20, 0.08), (0.16, 0.26, 0.12), (0.20, 0.30, 0.10), (0.12, 0.18, 0.10)]
PETALS = [(0.92, 0.32, 0.58), (0.86, 0.10, 0.16), (0.96, 0.80, 0.20), (0.96, 0.95, 0.90), (0.58, 0.32, 0.78),
          (0.96, 0.52, 0.16)]
WARM = [(1.0, 0.86, 0.62), (1.0, 0.72, 0.42), (1.0, 0.98, 0.92), (0.82, 0.90, 1.0), (1.0, 0.62, 0.32)]
FACADES = [(0.78, 0.72, 0.62), (0.62, 0.60, 0.58), (0.66, 0.38, 0.30), (0.85, 0.83, 0.78), (0.50, 0.52, 0.56)]
SKIES = {"clear": ((0.30, 0.50, 0.85), (0.78, 0.87, 0.97)), "overcast": ((0.70, 0.73, 0.78), (0.93, 0.93, 0.94)),
         "golden": ((0.40, 0.52, 0.78), (1.0, 0.78, 0.50)), "dusk": ((0.05, 0.07, 0.20), (0.85, 0.45, 0.32))}


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _crop(shape: tuple[int, int], y0: float, y1: float, x0: float, x1: float) -> tuple[int, int, int, int] | None:
    """Integer crop box clipped to the canvas, or None if it misses the canvas."""
    h, w = shape
    b = max(0, int(y0)), min(h, int(math.ceil(y1))), max(0, int(x0)), min(w, int(math.ceil(x1)))
    return b if b[1] > b[0] and b[3] > b[2] else None


def _canvas(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((*shape, 3), np.uint8), np.zeros(shape, np.uint8)


def _paint(img: np.ndarray, alpha: np.ndarray, rgb: np.ndarray, cov: np.ndarray) -> None:
    """Composite straight sRGB float `rgb` with coverage `cov` over premultiplied uint8 canvases."""
    a = cov[..., None]
    img[:] = np.clip(img * (1 - a) + rgb[..., ::-1] * 255 * a, 0, 255).astype(np.uint8)
    alpha[:] = np.clip(alpha * (1 - cov) + 255 * cov, 0, 255).astype(np.uint8)


def _col(rgb, jitter: float, rng: np.random.Generator) -> tuple[float, float, float]:
    """A colour in 0..255 (BGR order for OpenCV), jittered in brightness and hue."""
    c = np.clip(np.asarray(rgb, np.float32) * rng.uniform(1 - jitter, 1 + jitter)
                * rng.uniform(1 - jitter / 2, 1 + jitter / 2, 3), 0, 1)
    return tuple(float(v) * 255 for v in c[::-1])


def _leaf(img: np.ndarray, alpha: np.ndarray, center, length: float, width: float, angle: float, colour) -> None:
    """A pointed leaf (two arcs) with a lighter midrib, drawn anti-aliased onto premultiplied uint8 canvases."""
    t = np.linspace(0, 1, 9)
    half = width / 2 * np.sin(np.pi * t) ** 0.8
    xs = np.concatenate([t, t[::-1]]) * length
    ys = np.concatenate([half, -half[::-1]])
    ca, sa = math.cos(angle), math.sin(angle)
    pts = np.stack([center[0] + xs * ca - ys * sa, center[1] + xs * sa + ys * ca], 1)
    pts = np.round(pts * 16).astype(np.int32)[None]
    cv2.fillPoly(img, pts, colour, AA, shift=4)
    cv2.fillPoly(alpha, pts, 255, AA, shift=4)
    if length > 12:
        rib = tuple(min(255.0, v * 1.35) for v in colour)
        p0 = (int(center[0] * 16), int(center[1] * 16))
        p1 = (int((center[0] + 0.9 * length * ca) * 16), int((center[1] + 0.9 * length * sa) * 16))
        cv2.line(img, p0, p1, rib, max(1, int(length / 40)), AA, shift=4)


def _blob(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, rng: np.random.Generator,
          rough: float = 0.25) -> np.ndarray:
    """An irregular ellipse-like mask with a one-pixel soft edge."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    d = np.sqrt(((yy - cy) / max(ry, 1)) ** 2 + ((xx - cx) / max(rx, 1)) ** 2)
    d = d + rough * noise(rng, shape[0], shape[1], max(4.0, min(rx, ry) / 2), 3)
    return np.clip((1 - d) * min(rx, ry) + 0.5, 0, 1)


def foliage(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, mask: np.ndarray, palette: list,
            leaf_px: float, density: float = 1.6, light: float = 0.35, max_leaves: int = 2500) -> None:
    """Draw leaves where `mask` > 0.5 (about `density` deep) onto premultiplied uint8 canvases, lit from above.

    Leaves grow when there would be more than `max_leaves`: beyond that a drawn leaf is below the blur anyway.
    """
    h = img.shape[0]
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys) == 0:
        return
    leaf_px = max(leaf_px, math.sqrt(density * len(ys) * 2 / max_leaves), 2.0)
    n = int(density * len(ys) / (leaf_px * leaf_px * 0.5)) + 1
    pick = rng.integers(0, len(ys), n)
    order = np.argsort(ys[pick] + rng.normal(0, leaf_px, n))[::-1]  # lower leaves first: upper ones overlap
    for k in pick[order]:
        y, x = ys[k], xs[k]
        shade = 1.0 + light * (0.5 - y / max(h, 1)) + rng.normal(0, 0.12)
        colour = _col(np.asarray(palette[int(rng.integers(0, len(palette)))]) * shade, 0.18, rng)
        length = leaf_px * rng.uniform(0.6, 1.4)
        _leaf(img, alpha, (x - length / 2, y), length, length * rng.uniform(0.35, 0.6), rng.uniform(0, 2 * np.pi),
              colour)


def noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4, persistence: float = 0.5
          ) -> np.ndarray:
    """Fractal value noise, zero mean and unit std: `octaves` bicubic-upsampled random grids."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for o in range(octaves):
        c = max(cell / 2 ** o, 1.0)
        gh, gw = int(h / c) + 4, int(w / c) + 4
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        up = cv2.resize(grid, (int(math.ceil(gw * c)), int(math.ceil(gh * c))), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(rng.integers(0, max(1, up.shape[0] - h))), int(rng.integers(0, max(1, up.shape[1] - w)))
        out += amp * up[oy:oy + h, ox:ox + w]
        amp *= persistence
    out -= out.mean()
    return out / (out.std() + 1e-6)


def to_layer(name: str, bgr: np.ndarray, alpha: np.ndarray, disparity, y0: int = 0, x0: int = 0,
             rng: np.random.Generator | None = None, grain: tuple[tuple[float, float], ...] = ()) -> Layer | None:
    """Premultiplied uint8 sRGB drawing -> premultiplied linear float layer, cropped to where alpha > 0.

    `grain` lists (cell px, amplitude) noise textures that multiply the colour (drawn shapes are too clean).
    """
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    if len(rows) == 0:
        return None
    sl = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    bgr, alpha = bgr[sl], alpha[sl]
    a = alpha.astype(np.float32) / 255.0
    straight = bgr[..., ::-1].astype(np.float32) / 255.0 / np.maximum(a, 1 / 255.0)[..., None]
    lin = srgb_to_linear(np.clip(straight, 0, 1))
    for cell, amp in grain:
        lin = lin * np.clip(1 + amp * noise(rng, *a.shape, cell, 2 if cell < 4 else 3), 0.5, 1.5)[..., None]
    return Layer(name, (lin * a[..., None]).astype(np.float32), a, disparity, y0 + int(rows[0]), x0 + int(cols[0]))


def lights_layer(rng: np.random.Generator, name: str, points: np.ndarray, disparity: float, shape: tuple[int, int],
                 radius: float, palette: list, intensity: tuple[float, float]) -> Layer | None:
    """Small HDR discs (linear values well above 1) at `points` (x, y): the highlights that turn into bokeh balls."""
    if len(points) == 0:
        return None
    h, w = shape
    alpha = np.zeros((h, w), np.uint8)
    premult = np.zeros((h, w, 3), np.float32)
    for x, y in points:
        r = max(0.6, radius * rng.uniform(0.6, 1.3))
        x0, x1 = max(0, int(x - r - 2)), min(w, int(x + r + 3))
        y0, y1 = max(0, int(y - r - 2)), min(h, int(y + r + 3))
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        cov = np.clip(r + 0.5 - np.hypot(xx - x, yy - y), 0, 1).astype(np.float32)
        colour = srgb_to_linear(np.asarray(palette[int(rng.integers(0, len(palette)))], np.float32))
        premult[y0:y1, x0:x1] += cov[..., None] * colour * rng.uniform(*intensity)
        alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], (cov * 255).astype(np.uint8))
    return Layer(name, premult, alpha.astype(np.float32) / 255.0, disparity)
