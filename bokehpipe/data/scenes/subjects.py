"""The in-focus subject and its smaller companions: flower, sprig, vase or fruit.

EBB! photos (Ignatov et al., CVPR-W 2020, section 3) are mostly a sharp near subject against a blurred
background; the subject carries the fine in-focus detail the model must keep sharp, and companions scattered
around the focus plane give it slightly defocused detail to judge.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from bokehpipe.data.scenes import paint as kit
from bokehpipe.data.scenes.model import Camera, Layer


def _flower(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, c: tuple[float, float], r: float,
            stem_end: tuple[float, float] | None) -> None:
    if stem_end is not None:
        t = np.linspace(0, 1, 12)[:, None]
        bend = np.array([[r * kit._u(rng, -1, 1), 0]])
        pts = (np.array([c]) * (1 - t) + np.array([stem_end]) * t + bend * np.sin(np.pi * t)) * 16
        green = kit._col((0.26, 0.45, 0.16), 0.2, rng)
        cv2.polylines(img, [pts.astype(np.int32)], False, green, max(1, int(r * 0.09)), kit.AA, shift=4)
        cv2.polylines(alpha, [pts.astype(np.int32)], False, 255, max(1, int(r * 0.09)), kit.AA, shift=4)
        for k in range(int(rng.integers(0, 3))):
            p = pts[int(rng.integers(4, 11))] / 16
            kit._leaf(img, alpha, tuple(p), r * kit._u(rng, 0.8, 1.5), r * 0.35, np.pi * (1.15 + 0.7 * (k % 2)), green)
    n = int(rng.integers(5, 14))
    petal = np.asarray(rng.choice(kit.PETALS), np.float32)
    offset = kit._u(rng, 0, 2 * np.pi)
    for ring, (scale, shade) in enumerate(((1.0, 0.85), (0.75, 1.0), (0.45, 0.7))):
        for k in range(n):
            a = offset + 2 * np.pi * (k + 0.5 * ring) / n + rng.normal(0, 0.08)
            ln = r * scale * kit._u(rng, 0.85, 1.1)
            kit._leaf(img, alpha, c, ln, min(ln * 0.8, 2 * np.pi * ln / n * kit._u(rng, 0.5, 0.9)), a,
                  kit._col(petal * shade, 0.1, rng))
    rc = r * kit._u(rng, 0.12, 0.28)
    cv2.circle(img, (int(c[0] * 16), int(c[1] * 16)), int(rc * 16), kit._col((0.85, 0.65, 0.15), 0.3, rng), -1,
               kit.AA, 4)
    for _ in range(int(rc * rc / 3)):
        p = np.asarray(c) + rng.normal(0, rc / 2.5, 2)
        cv2.circle(img, (int(p[0] * 16), int(p[1] * 16)), max(8, int(rc * 1.6)), kit._col((0.45, 0.3, 0.1), 0.3, rng),
                   -1, kit.AA, 4)


def _sprig(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, start, end, leaf: float) -> None:
    t = np.linspace(0, 1, 24)[:, None]
    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    normal = np.array([[-(end - start)[1], (end - start)[0]]]) / (np.linalg.norm(end - start) + 1e-6)
    pts = start * (1 - t) + end * t + normal * np.sin(np.pi * t) * leaf * kit._u(rng, -0.8, 0.8)
    brown = kit._col((0.35, 0.28, 0.18), 0.2, rng)
    cv2.polylines(img, [(pts * 16).astype(np.int32)], False, brown, max(1, int(leaf * 0.05)), kit.AA, shift=4)
    cv2.polylines(alpha, [(pts * 16).astype(np.int32)], False, 255, max(1, int(leaf * 0.05)), kit.AA, shift=4)
    base = np.asarray(rng.choice(kit.GREENS), np.float32) * kit._u(rng, 1.0, 1.5)
    for k, i in enumerate(range(4, 24, int(rng.integers(2, 5)))):
        d = pts[min(i + 1, 23)] - pts[i - 1]
        ang = math.atan2(d[1], d[0]) + (0.9 if k % 2 else -0.9) + rng.normal(0, 0.2)
        ln = leaf * (0.6 + 0.4 * i / 24) * kit._u(rng, 0.8, 1.2)
        kit._leaf(img, alpha, tuple(pts[i]), ln, ln * kit._u(rng, 0.4, 0.6), ang, kit._col(base, 0.15, rng))


def _solid(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, typ: str, cx: float, base: float,
           size: float) -> None:
    """A shaded vase (lathe profile) or fruit (sphere), lit from the upper left, with a specular glint."""
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32)
    light = np.array([-0.5, -0.6, 0.62], np.float32)
    if typ == "vase":
        t = np.clip((base - yy) / size, 0, 1)
        prof = np.interp(t, [0, 0.08, 0.35, 0.75, 0.88, 1.0],
                         [0.5, 0.75, 1.0, kit._u(rng, 0.35, 0.6), kit._u(rng, 0.25, 0.35), kit._u(rng, 0.3, 0.45)])
        rad = prof * size * kit._u(rng, 0.25, 0.4)
        cov = np.clip(rad - np.abs(xx - cx) + 0.5, 0, 1) * np.clip(yy - (base - size) + 0.5, 0, 1) * (yy <= base)
        nx = np.clip((xx - cx) / np.maximum(rad, 1), -1, 1)
        normal = np.stack([nx, np.zeros_like(nx), np.sqrt(1 - nx ** 2)], -1)
        colour = np.asarray(rng.choice([(0.72, 0.38, 0.24), (0.20, 0.35, 0.62), (0.30, 0.55, 0.40),
                                        (0.90, 0.90, 0.86), (0.85, 0.70, 0.25)]), np.float32)
        band = 1 - 0.35 * ((np.abs(t - 0.55) < 0.05) & ((xx // max(2, size / 30)) % 2 == 0))
        colour = colour * band[..., None]
    else:
        r = size / 2
        cy = base - r
        d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / r ** 2
        cov = np.clip((1 - np.sqrt(d2)) * r + 0.5, 0, 1)
        nz = np.sqrt(np.clip(1 - d2, 0, 1))
        normal = np.stack([(xx - cx) / r, (yy - cy) / r, nz], -1)
        colour = np.asarray(rng.choice([(0.95, 0.50, 0.08), (0.75, 0.08, 0.10), (0.55, 0.75, 0.20),
                                        (0.95, 0.85, 0.20)]), np.float32)
    lam = np.clip(normal @ light, 0, 1)[..., None]
    spec = np.clip(normal @ (light + np.array([0, 0, 1], np.float32)) / 1.6, 0, 1)[..., None] ** 40
    rgb = colour * (0.25 + 0.75 * lam) * (1 + 0.08 * kit.noise(rng, *cov.shape, 2, 2)[..., None]) + 0.6 * spec
    kit._paint(img, alpha, np.clip(rgb, 0, 1), cov.astype(np.float32))


def _subject(rng: np.random.Generator, cam: Camera, typ: str, z: float, cx: float, base: float, size: float,
             shape: tuple[int, int], name: str = "subject") -> list[Layer]:
    """The in-focus subject (or a smaller companion): flower, sprig, vase or fruit, drawn in its own crop."""
    box = kit._crop(shape, min(base - size * 1.6, cam.margin - size), shape[0], cx - size * 1.3, cx + size * 1.3)
    if box is None:
        return []
    y0, y1, x0, x1 = box
    img, alpha = kit._canvas((y1 - y0, x1 - x0))
    if typ == "flower":
        _flower(rng, img, alpha, (cx - x0, base - size * 0.9 - y0), size * kit._u(rng, 0.25, 0.45),
                (cx - x0 + kit._u(rng, -0.3, 0.3) * size, y1 - y0 + 2))
    elif typ == "sprig":
        hang = rng.random() < 0.5
        start = (cx - x0 + kit._u(rng, -1, 1) * size, 0.0 if hang else y1 - y0)
        _sprig(rng, img, alpha, start, (cx - x0, base - size * 0.8 - y0), size * kit._u(rng, 0.35, 0.55))
    else:
        _solid(rng, img, alpha, typ, cx - x0, base - y0, size * (1.0 if typ == "vase" else 0.5))
    layer = kit.to_layer(name, img, alpha, 1.0 / z, y0, x0, rng, ((1.5, 0.12), (size / 6, 0.1)))
    return [layer] if layer is not None else []
