"""The far world behind the subject: sky, hills, treeline, city skyline with lit windows, or a hedge wall.

These are the layers that a wide aperture melts into the smooth background of EBB! targets (Ignatov et al.,
CVPR-W 2020, section 3); their sun glints and lit windows are the HDR highlights that turn into bokeh balls.
Each stands at one distance (a flat layer), placed by the pinhole `Camera` on the ground at its row.
"""

from __future__ import annotations

import numpy as np

from bokehpipe.data.scenes import paint as kit
from bokehpipe.data.scenes.model import Camera, Layer
from bokehpipe.physics import srgb_to_linear


def _sky(rng: np.random.Generator, cam: Camera, kind: str, shape: tuple[int, int]) -> Layer:
    h, w = shape
    style = "dusk" if kind == "dusk" else str(rng.choice(["clear", "clear", "overcast", "golden"]))
    top, low = (srgb_to_linear(np.asarray(c, np.float32)) for c in kit.SKIES[style])
    t = np.clip(np.arange(h, dtype=np.float32) / max(cam.horizon, 1.0), 0, 1)[:, None, None] ** kit._u(rng, 0.6, 1.5)
    lin = np.broadcast_to(top * (1 - t) + low * t, (h, w, 3)).astype(np.float32)
    if style != "overcast" and rng.random() < 0.7:
        cover = np.clip((kit.noise(rng, h, w, w / 5, 5, 0.55) - kit._u(rng, 0.0, 1.0)) / 1.2, 0, 1)[..., None] ** 1.5
        cloud = low.max() * (0.85 + 0.1 * kit.noise(rng, h, w, w / 20, 3)[..., None]) * (0.3 if style == "dusk" else 1)
        lin = lin * (1 - 0.9 * cover) + 0.9 * cover * cloud
    return Layer("sky", lin.astype(np.float32), np.ones((h, w), np.float32), 0.0)


def _hills(rng: np.random.Generator, cam: Camera, shape: tuple[int, int], haze) -> Layer:
    h, w = shape
    z = kit._u(rng, 300, 1500)
    edge = cam.horizon - cam.size(kit._u(rng, 8, 40), z) * (1 + 0.5 * kit.noise(rng, 1, w, w / 4, 3)[0])
    rows = np.arange(h, dtype=np.float32)[:, None]
    alpha = np.clip(rows - edge[None] + 0.5, 0, 1) * np.clip(cam.horizon + 4 - rows, 0, 1)
    base = srgb_to_linear(np.asarray(rng.choice(kit.DARK_GREENS), np.float32)) * 1.5
    lin = base * (1 + 0.25 * kit.noise(rng, h, w, w / 30, 4)[..., None])
    lin = 0.45 * lin + 0.55 * haze
    return Layer("hills", (lin * alpha[..., None]).astype(np.float32), alpha.astype(np.float32), 1.0 / z)


def _treeline(rng: np.random.Generator, cam: Camera, shape: tuple[int, int], z: float, haze) -> list[Layer]:
    """Distant trees as noise foliage (leaves too small to draw one by one), with sun glints."""
    h, w = shape
    xs = np.arange(w, dtype=np.float32)
    base = cam.horizon + cam.roll * (xs - cam.cx) + cam.cam_h * cam.f_px / z + 2
    edge = base - cam.size(kit._u(rng, 6, 20), z) * (1 + 0.45 * kit.noise(rng, 1, w, w / 6, 4)[0])
    leaf = max(2.0, cam.size(0.3, z))
    rows = np.arange(h, dtype=np.float32)[:, None]
    rag = kit.noise(rng, h, w, leaf * 2.5, 3) * leaf * 1.5
    alpha = np.clip(rows - edge[None] + rag + 0.5, 0, 1) * np.clip(base[None] - rows + 0.5, 0, 1)
    hue = np.clip(0.5 + 0.3 * kit.noise(rng, h, w, w / 10, 3), 0, 1)[..., None]
    c0, c1 = (srgb_to_linear(np.asarray(c, np.float32)) for c in rng.choice(kit.GREENS + kit.DARK_GREENS, 2))
    leafy = np.exp(0.5 * kit.noise(rng, h, w, leaf, 3, 0.6))[..., None]
    lin = (c0 * (1 - hue) + c1 * hue) * leafy * np.clip(1.2 - 0.6 * (rows - edge[None]) / (base - edge + 1)[None],
                                                         0.4, 1.3)[..., None]
    haze_t = min(0.35, z / 800)
    lin = (1 - haze_t) * lin + haze_t * haze
    layers = [Layer("treeline", (lin * alpha[..., None]).astype(np.float32), alpha.astype(np.float32), 1.0 / z)]
    ys, xs_ = np.nonzero((alpha > 0.99) & (rows < edge[None] + leaf * 6))
    if len(ys):
        pick = rng.integers(0, len(ys), int(rng.integers(4, 30)))
        glints = kit.lights_layer(rng, "glints", np.stack([xs_[pick], ys[pick]], 1), 1.0 / z, shape,
                              max(1.0, leaf / 2), kit.WARM[:3], (2.0, 9.0))
        layers += [glints] if glints is not None else []
    return layers


def _skyline(rng: np.random.Generator, cam: Camera, shape: tuple[int, int], z: float, lit: float) -> list[Layer]:
    h, w = shape
    img = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    windows: list[tuple[int, int, int, int]] = []
    x = -kit._u(rng, 0, cam.size(10, z))
    while x < w:
        bw, bh = cam.size(kit._u(rng, 8, 30), z), cam.size(kit._u(rng, 6, 45), z)
        base = cam.row_at(z, x + bw / 2) + 2
        box = kit._crop(shape, base - bh, base, x, x + bw)
        x += bw + cam.size(kit._u(rng, 0, 4), z)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        facade = np.asarray(kit._col(rng.choice(kit.FACADES), 0.15, rng), np.float32)
        img[y0:y1, x0:x1] = facade
        alpha[y0:y1, x0:x1] = 255
        px, py = cam.size(kit._u(rng, 2.0, 4.0), z), cam.size(kit._u(rng, 2.8, 3.6), z)
        fw, fh = kit._u(rng, 0.35, 0.7), kit._u(rng, 0.4, 0.7)
        glass = np.asarray(kit._col((0.25, 0.30, 0.38), 0.3, rng), np.float32)
        for wy in np.arange(y0 + py * 0.6, y1 - py * 0.8, py):
            for wx in np.arange(x0 + px * 0.4, x1 - px * 0.8, px):
                r = (int(wy), int(wy + py * fh), int(wx), int(wx + px * fw))
                if r[1] > r[0] and r[3] > r[2]:
                    img[r[0]:r[1], r[2]:r[3]] = glass * kit._u(rng, 0.7, 1.3)
                    if rng.random() < lit:
                        windows.append(r)
    layer = kit.to_layer("buildings", img, alpha, 1.0 / z, rng=rng, grain=((3, 0.08),))
    if layer is None:
        return []
    for y0, y1, x0, x1 in windows:
        colour = srgb_to_linear(np.asarray(rng.choice(kit.WARM), np.float32))
        layer.premult[y0 - layer.y0:y1 - layer.y0, x0 - layer.x0:x1 - layer.x0] = colour * kit._u(rng, 1.5, 6.0)
    return [layer]


def _backdrop(rng: np.random.Generator, cam: Camera, z: float, shape: tuple[int, int]) -> list[Layer]:
    """A hedge or leafy wall filling the view down to its ground row: dark interior, lit leaves, sun glints."""
    h, w = shape
    rows = np.arange(h, dtype=np.float32)[:, None]
    base = cam.row_at(z) + cam.roll * (np.arange(w, dtype=np.float32)[None] - cam.cx)
    mask = np.broadcast_to(np.clip(base - rows + 0.5, 0, 1), (h, w)).astype(np.float32)
    dark = np.asarray(rng.choice(kit.DARK_GREENS), np.float32) * (
        0.6 + 0.25 * kit.noise(rng, h, w, w / 12, 4)[..., None])
    img, alpha = kit._canvas(shape)
    kit._paint(img, alpha, np.clip(dark, 0, 1), mask)
    palette = kit.GREENS + (kit.DARK_GREENS if rng.random() < 0.5 else [(0.60, 0.50, 0.20)])
    kit.foliage(rng, img, alpha, mask, palette, cam.size(kit._u(rng, 0.04, 0.09), z), density=1.2, max_leaves=4000)
    layers = [kit.to_layer("backdrop", img, alpha, 1.0 / z, rng=rng, grain=((2, 0.1),))]
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys):
        pick = rng.integers(0, len(ys), int(rng.integers(8, 45)))
        glints = kit.lights_layer(rng, "glints", np.stack([xs[pick], ys[pick]], 1), 1.0 / z, shape,
                              max(1.0, cam.size(0.006, z)), kit.WARM[:3], (2.0, 12.0))
        layers += [glints] if glints is not None else []
    return layers
