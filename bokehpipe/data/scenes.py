"""Procedural layered RGBA scenes in the spirit of EBB! photos (Ignatov et al., CVPR-W 2020, section 3).

A scene is a list of layers, back to front, each with full RGBA (premultiplied linear light, HDR where a
light shines) and its own disparity: a number for a flat object, a per-pixel map for the ground plane. Since
each layer is complete, what a foreground hides is known, which is what lets `bokehpipe.data.synthetic`
render a physically right wide-aperture target (and what no single-image renderer can see).

Geometry is a pinhole camera over a flat ground: a ground pixel `rows` below the horizon lies at
disparity `rows / (camera_height * f_px)` (inverse metres), so the ground's disparity varies continuously;
objects stand on the ground at the row of their distance, their size falling as 1/distance. The lens is
EBB!'s (50 mm on APS-C), so the f/1.8 CoC follows from the distances. Scene kinds (garden, street, hedge
close-up, path seen from above, dusk) vary sky, far background (hills, treeline, buildings with lit windows),
ground texture (grass, soil, pavement; band-limited to the pixel footprint), mid-ground objects (trees,
bushes, rocks, poles, lamps, string lights), the in-focus subject (flower, sprig, vase, fruit) with smaller
companions around the focus plane, an optional near foreground (grass blades, leaves), and small HDR point
lights that become bokeh balls. Everything comes from the `numpy.random.Generator` passed in, so a seed
fixes the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from bokehpipe.render.physics import srgb_to_linear

AA = cv2.LINE_AA
KINDS = ("garden", "street", "hedge", "path", "dusk")


@dataclass
class Layer:
    """One RGBA layer: premultiplied linear colour (h, w, 3), alpha (h, w), disparity, offset in the canvas."""

    name: str
    premult: np.ndarray
    alpha: np.ndarray
    disparity: float | np.ndarray
    y0: int = 0
    x0: int = 0


@dataclass
class Scene:
    """Layers back to front on a canvas `margin` pixels larger than the photo on every side (blur needs the
    world beyond the frame); disparities are inverse metres until `synthetic` normalises them."""

    kind: str
    width: int
    height: int
    margin: int
    focus: float
    layers: list[Layer] = field(default_factory=list)
    coc_per_disparity: float = 0.0  # CoC radius in px per inverse metre at the target aperture
    exposure: float = 0.15  # target mean linear luminance of the photo
    subject: str = ""

    @property
    def canvas(self) -> tuple[int, int]:
        return self.height + 2 * self.margin, self.width + 2 * self.margin


@dataclass
class Camera:
    width: int
    height: int
    margin: int
    f_px: float
    cam_h: float
    horizon: float  # canvas row of the horizon at the centre column
    roll: float  # horizon slope (rows per column)

    @property
    def cx(self) -> float:
        return self.margin + self.width / 2

    def row_at(self, z: float, x: float | None = None) -> float:
        """Canvas row where the ground at distance `z` metres meets column `x`."""
        x = self.cx if x is None else x
        return self.horizon + self.roll * (x - self.cx) + self.cam_h * self.f_px / z

    def size(self, metres: float, z: float) -> float:
        return metres * self.f_px / z


# --- textures --------------------------------------------------------------------------------------------
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


def _sky(rng: np.random.Generator, cam: Camera, kind: str, shape: tuple[int, int]) -> Layer:
    h, w = shape
    style = "dusk" if kind == "dusk" else str(rng.choice(["clear", "clear", "overcast", "golden"]))
    top, low = (srgb_to_linear(np.asarray(c, np.float32)) for c in SKIES[style])
    t = np.clip(np.arange(h, dtype=np.float32) / max(cam.horizon, 1.0), 0, 1)[:, None, None] ** _u(rng, 0.6, 1.5)
    lin = np.broadcast_to(top * (1 - t) + low * t, (h, w, 3)).astype(np.float32)
    if style != "overcast" and rng.random() < 0.7:
        cover = np.clip((noise(rng, h, w, w / 5, 5, 0.55) - _u(rng, 0.0, 1.0)) / 1.2, 0, 1)[..., None] ** 1.5
        cloud = low.max() * (0.85 + 0.1 * noise(rng, h, w, w / 20, 3)[..., None]) * (0.3 if style == "dusk" else 1)
        lin = lin * (1 - 0.9 * cover) + 0.9 * cover * cloud
    return Layer("sky", lin.astype(np.float32), np.ones((h, w), np.float32), 0.0)


def _hills(rng: np.random.Generator, cam: Camera, shape: tuple[int, int], haze) -> Layer:
    h, w = shape
    z = _u(rng, 300, 1500)
    edge = cam.horizon - cam.size(_u(rng, 8, 40), z) * (1 + 0.5 * noise(rng, 1, w, w / 4, 3)[0])
    rows = np.arange(h, dtype=np.float32)[:, None]
    alpha = np.clip(rows - edge[None] + 0.5, 0, 1) * np.clip(cam.horizon + 4 - rows, 0, 1)
    base = srgb_to_linear(np.asarray(rng.choice(DARK_GREENS), np.float32)) * 1.5
    lin = base * (1 + 0.25 * noise(rng, h, w, w / 30, 4)[..., None])
    lin = 0.45 * lin + 0.55 * haze
    return Layer("hills", (lin * alpha[..., None]).astype(np.float32), alpha.astype(np.float32), 1.0 / z)


def _treeline(rng: np.random.Generator, cam: Camera, shape: tuple[int, int], z: float, haze) -> list[Layer]:
    """Distant trees as noise foliage (leaves too small to draw one by one), with sun glints."""
    h, w = shape
    xs = np.arange(w, dtype=np.float32)
    base = cam.horizon + cam.roll * (xs - cam.cx) + cam.cam_h * cam.f_px / z + 2
    edge = base - cam.size(_u(rng, 6, 20), z) * (1 + 0.45 * noise(rng, 1, w, w / 6, 4)[0])
    leaf = max(2.0, cam.size(0.3, z))
    rows = np.arange(h, dtype=np.float32)[:, None]
    rag = noise(rng, h, w, leaf * 2.5, 3) * leaf * 1.5
    alpha = np.clip(rows - edge[None] + rag + 0.5, 0, 1) * np.clip(base[None] - rows + 0.5, 0, 1)
    hue = np.clip(0.5 + 0.3 * noise(rng, h, w, w / 10, 3), 0, 1)[..., None]
    c0, c1 = (srgb_to_linear(np.asarray(c, np.float32)) for c in rng.choice(GREENS + DARK_GREENS, 2))
    leafy = np.exp(0.5 * noise(rng, h, w, leaf, 3, 0.6))[..., None]
    lin = (c0 * (1 - hue) + c1 * hue) * leafy * np.clip(1.2 - 0.6 * (rows - edge[None]) / (base - edge + 1)[None],
                                                         0.4, 1.3)[..., None]
    haze_t = min(0.35, z / 800)
    lin = (1 - haze_t) * lin + haze_t * haze
    layers = [Layer("treeline", (lin * alpha[..., None]).astype(np.float32), alpha.astype(np.float32), 1.0 / z)]
    ys, xs_ = np.nonzero((alpha > 0.99) & (rows < edge[None] + leaf * 6))
    if len(ys):
        pick = rng.integers(0, len(ys), int(rng.integers(4, 30)))
        glints = lights_layer(rng, "glints", np.stack([xs_[pick], ys[pick]], 1), 1.0 / z, shape,
                              max(1.0, leaf / 2), WARM[:3], (2.0, 9.0))
        layers += [glints] if glints is not None else []
    return layers


def _skyline(rng: np.random.Generator, cam: Camera, shape: tuple[int, int], z: float, lit: float) -> list[Layer]:
    h, w = shape
    img = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    windows: list[tuple[int, int, int, int]] = []
    x = -_u(rng, 0, cam.size(10, z))
    while x < w:
        bw, bh = cam.size(_u(rng, 8, 30), z), cam.size(_u(rng, 6, 45), z)
        base = cam.row_at(z, x + bw / 2) + 2
        box = _crop(shape, base - bh, base, x, x + bw)
        x += bw + cam.size(_u(rng, 0, 4), z)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        facade = np.asarray(_col(rng.choice(FACADES), 0.15, rng), np.float32)
        img[y0:y1, x0:x1] = facade
        alpha[y0:y1, x0:x1] = 255
        px, py = cam.size(_u(rng, 2.0, 4.0), z), cam.size(_u(rng, 2.8, 3.6), z)
        fw, fh = _u(rng, 0.35, 0.7), _u(rng, 0.4, 0.7)
        glass = np.asarray(_col((0.25, 0.30, 0.38), 0.3, rng), np.float32)
        for wy in np.arange(y0 + py * 0.6, y1 - py * 0.8, py):
            for wx in np.arange(x0 + px * 0.4, x1 - px * 0.8, px):
                r = (int(wy), int(wy + py * fh), int(wx), int(wx + px * fw))
                if r[1] > r[0] and r[3] > r[2]:
                    img[r[0]:r[1], r[2]:r[3]] = glass * _u(rng, 0.7, 1.3)
                    if rng.random() < lit:
                        windows.append(r)
    layer = to_layer("buildings", img, alpha, 1.0 / z, rng=rng, grain=((3, 0.08),))
    if layer is None:
        return []
    for y0, y1, x0, x1 in windows:
        colour = srgb_to_linear(np.asarray(rng.choice(WARM), np.float32))
        layer.premult[y0 - layer.y0:y1 - layer.y0, x0 - layer.x0:x1 - layer.x0] = colour * _u(rng, 1.5, 6.0)
    return [layer]


def _world_noise(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, footprint: np.ndarray, cells: list[float],
                 persistence: float = 0.6, grid: int = 256) -> np.ndarray:
    """Fractal noise fixed to the ground plane (u, v in metres); octaves finer than ~2 px fade out (no aliasing)."""
    out = np.zeros(u.shape, np.float32)
    amp, finest = 1.0, float(footprint.min())
    for cell in cells:
        g = rng.standard_normal((grid, grid)).astype(np.float32)
        if cell / finest / 2 - 0.5 <= 0:  # finer than two pixels everywhere: invisible
            continue
        s = cv2.remap(g, np.mod(u / cell, grid), np.mod(v / cell, grid), cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
        out += amp * np.clip(cell / footprint / 2 - 0.5, 0, 1) * s
        amp *= persistence
    return out


def _blades(rng: np.random.Generator, blade_px: np.ndarray) -> np.ndarray:
    """Vertical screen-space streaks as wide as a grass blade at that distance (`blade_px`): grass at a glance."""
    h, w = blade_px.shape
    out = np.zeros((h, w), np.float32)
    level = np.log2(np.maximum(blade_px, 1e-3))
    for k in range(7):
        c = 2.0 ** k
        gh, gw = int(h / (6 * c)) + 3, int(w / c) + 3
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        up = cv2.resize(grid, (int(gw * c), int(gh * 6 * c)), interpolation=cv2.INTER_CUBIC)[:h, :w]
        out += np.clip(1 - np.abs(level - k) / 1.5, 0, 1) * up
    return out


def _ground_colour(rng: np.random.Generator, style: str, u: np.ndarray, v: np.ndarray, blade_px: np.ndarray,
                   foot: np.ndarray, cam_h: float) -> np.ndarray:
    """sRGB ground colour at world position (u, v) metres, band-limited to the pixel footprint `foot`.

    Grass seen from above is isotropic noise on the plane; seen at a glance its blades stand up, so it turns
    into vertical streaks `blade_px` wide.
    """
    macro = _world_noise(rng, u, v, foot, [4.0, 1.5, 0.5])[..., None]
    if style == "grass":
        c0, c1 = (np.asarray(c, np.float32) for c in rng.choice(GREENS, 2, replace=False))
        dry = np.asarray((0.55, 0.52, 0.30), np.float32)
        mix = 1 / (1 + np.exp(-1.5 * macro))
        col = c0 * (1 - mix) + c1 * mix
        col = col + (dry - col) * np.clip(macro - 1.0, 0, 1) * _u(rng, 0, 0.8)
        t = np.clip((v / cam_h - 2) / 4, 0, 1)[..., None]
        blades = (1 - t) * _world_noise(rng, u, v, foot, [0.008, 0.004, 0.002], 1.0)[..., None] \
            + t * _blades(rng, blade_px)[..., None]
        return col * np.exp(0.45 * blades)
    fine = _world_noise(rng, u, v, foot, [0.03, 0.012, 0.005, 0.002], 1.0)[..., None]
    if style == "pavement":
        p = _u(rng, 0.12, 0.4)
        pz = p * _u(rng, 0.5, 1.0)
        iz = np.floor(v / pz)
        uu = u + (iz % 2) * p * 0.5 * (rng.random() < 0.7)
        ix = np.floor(uu / p)
        edge = np.minimum(np.minimum(uu - ix * p, (ix + 1) * p - uu), np.minimum(v - iz * pz, (iz + 1) * pz - v))
        joint = np.clip(0.5 - (edge - _u(rng, 0.001, 0.004)) / foot, 0, 1)[..., None]
        tint = rng.uniform(0.8, 1.15, 1024).astype(np.float32)[
            (ix.astype(np.int64) * 7919 + iz.astype(np.int64) * 104729) % 1024][..., None]
        base = np.asarray(rng.choice(FACADES), np.float32)
        col = base * tint * (1 + 0.08 * macro) * np.exp(0.1 * fine)
        return col * (1 - 0.6 * joint)
    soil = np.asarray(rng.choice([(0.45, 0.36, 0.26), (0.60, 0.55, 0.47), (0.36, 0.30, 0.24)]), np.float32)
    pebbles = np.clip(fine - 2.0, 0, 1) * 0.5 - np.clip(-fine - 2.0, 0, 1) * 0.4
    return soil * (1 + 0.15 * macro) * np.exp(0.12 * fine + pebbles)


def _ground(rng: np.random.Generator, cam: Camera, shape: tuple[int, int], style: str, haze) -> Layer:
    """The ground plane: disparity linear in rows below the horizon, texture fixed to world metres."""
    h, w = shape
    top = int(np.clip(np.floor(cam.horizon - abs(cam.roll) * w), 0, h - 1))  # nothing of the ground above
    yy, xx = np.mgrid[top:h, 0:w].astype(np.float32)
    dy = yy - cam.horizon - cam.roll * (xx - cam.cx)
    alpha = np.clip(dy + 0.5, 0, 1).astype(np.float32)
    disp = np.maximum(dy, 0) / (cam.cam_h * cam.f_px)
    z = 1.0 / np.maximum(disp, 1e-4)
    u, v = (xx - cam.cx) * z / cam.f_px, z
    foot = np.maximum(z / cam.f_px, z * z / (cam.f_px * cam.cam_h))  # metres per pixel, most foreshortened axis
    lin = srgb_to_linear(np.clip(_ground_colour(rng, style, u, v, 0.004 * cam.f_px / z, foot, cam.cam_h), 0, 1))
    fog = (1 - np.exp(-z / _u(rng, 60, 300)))[..., None]
    lin = lin * (1 - fog) + haze * fog
    return Layer("ground", (lin * alpha[..., None]).astype(np.float32), alpha, disp.astype(np.float32), top, 0)


def _blob(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, rng: np.random.Generator,
          rough: float = 0.25) -> np.ndarray:
    """An irregular ellipse-like mask with a one-pixel soft edge."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    d = np.sqrt(((yy - cy) / max(ry, 1)) ** 2 + ((xx - cx) / max(rx, 1)) ** 2)
    d = d + rough * noise(rng, shape[0], shape[1], max(4.0, min(rx, ry) / 2), 3)
    return np.clip((1 - d) * min(rx, ry) + 0.5, 0, 1)


def _canvas(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((*shape, 3), np.uint8), np.zeros(shape, np.uint8)


def _object(rng: np.random.Generator, cam: Camera, kind: str, z: float, x: float, shape: tuple[int, int]
            ) -> list[Layer]:
    """A mid-ground object standing on the ground at `z` metres, column `x`: tree, bush, rock, pole or post."""
    types = {"garden": ["tree", "bush", "bush", "rock"], "street": ["pole", "tree", "post", "post"],
             "dusk": ["pole", "pole", "tree", "post"]}.get(kind, ["bush", "rock"])
    typ = str(rng.choice(types))
    base = cam.row_at(z, x)
    s = cam.f_px / z
    if typ in ("tree", "bush"):
        trunk_h = _u(rng, 1.2, 3.5) * s if typ == "tree" else 0.0
        crown = _u(rng, 0.8, 2.2) * s if typ == "tree" else _u(rng, 0.4, 1.2) * s
        box = _crop(shape, base - trunk_h - crown * 2.4, base + crown * 0.3, x - crown * 1.9, x + crown * 1.9)
        if box is None:
            return []
        y0, y1, x0, x1 = box
        img, alpha = _canvas((y1 - y0, x1 - x0))
        if trunk_h:  # a lit cylinder with vertical bark furrows
            half = max(1.5, _u(rng, 0.06, 0.18) * s)
            yy, xx = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)
            nx = np.clip((xx - (x - x0)) / half, -1, 1)
            cov = np.clip(half - np.abs(xx - (x - x0)) + 0.5, 0, 1) * (yy > base - y0 - trunk_h - crown * 0.5)
            gh, gw = int((y1 - y0) / (4 * half)) + 3, int((x1 - x0) / (half / 4)) + 3
            furrows = cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (int(gw * half / 4) + 1,
                                 int(gh * 4 * half) + 1), interpolation=cv2.INTER_CUBIC)[:y1 - y0, :x1 - x0]
            shade = (0.3 + 0.7 * np.sqrt(1 - nx ** 2) * (0.75 - 0.25 * nx)) * np.exp(0.25 * furrows)
            bark = np.asarray(rng.choice([(0.30, 0.22, 0.16), (0.45, 0.42, 0.38), (0.25, 0.20, 0.17)]), np.float32)
            _paint(img, alpha, np.clip(bark * shade[..., None], 0, 1), cov.astype(np.float32))
        cy = base - trunk_h - crown * (0.75 if typ == "tree" else 0.55)
        mask = _blob((y1 - y0, x1 - x0), cy - y0, x - x0, crown * 0.85, crown * 1.15, rng)
        cut = base - y0 + crown * (0.08 + 0.06 * noise(rng, 1, x1 - x0, max(4.0, crown / 4), 2)[0])
        mask *= np.clip(cut[None] - np.arange(y1 - y0, dtype=np.float32)[:, None] + 0.5, 0, 1)  # ragged foot
        inner = np.clip(mask * 1.6 - 0.6, 0, 1)  # a dark interior so the crown is dense, not a cloud of leaves
        _paint(img, alpha, np.asarray(rng.choice(DARK_GREENS), np.float32) * np.ones((*mask.shape, 3), np.float32)
               * (0.6 + 0.2 * noise(rng, *mask.shape, max(3.0, crown / 6), 3)[..., None]).clip(0.2, 1), inner)
        foliage(rng, img, alpha, mask, GREENS, _u(rng, 0.06, 0.14) * s)
    elif typ == "rock":
        r = _u(rng, 0.15, 0.6) * s
        box = _crop(shape, base - r * 1.6, base + r * 0.3, x - r * 1.8, x + r * 1.8)
        if box is None:
            return []
        y0, y1, x0, x1 = box
        a = _blob((y1 - y0, x1 - x0), base - y0 - 0.5 * r, x - x0, r * 0.75, r * 1.4, rng, 0.15)
        yy = np.arange(y1 - y0, dtype=np.float32)[:, None, None]
        grey = np.asarray(rng.choice(FACADES), np.float32) * (1.2 - 0.6 * (yy - (base - y0 - r)) / r)
        rgb = np.clip(grey * (1 + 0.2 * noise(rng, y1 - y0, x1 - x0, max(2, r / 8), 3)[..., None]), 0, 1)
        img = (rgb[..., ::-1] * a[..., None] * 255).astype(np.uint8)
        alpha = (a * 255).astype(np.uint8)
    else:
        height = (_u(rng, 3.0, 6.0) if typ == "pole" else _u(rng, 0.6, 1.2)) * s
        width = max(2.0, (_u(rng, 0.08, 0.15) if typ == "pole" else _u(rng, 0.15, 0.3)) * s)
        box = _crop(shape, base - height - width * 3, base + 2, x - width * 3, x + width * 3)
        if box is None:
            return []
        y0, y1, x0, x1 = box
        img, alpha = _canvas((y1 - y0, x1 - x0))
        colour = _col(rng.choice([(0.25, 0.27, 0.28), (0.18, 0.30, 0.22), (0.55, 0.55, 0.52), (0.60, 0.20, 0.15)]),
                      0.2, rng)
        pts = (int(x - x0 - width / 2), int(base - y0 - height)), (int(x - x0 + width / 2), int(base - y0))
        cv2.rectangle(img, *pts, colour, -1)
        cv2.rectangle(alpha, *pts, 255, -1)
        if typ == "pole" and kind in ("street", "dusk"):
            cen = (x - x0, base - y0 - height)
            cv2.circle(img, (int(cen[0]), int(cen[1])), int(width * 1.5), colour, -1, AA)
            cv2.circle(alpha, (int(cen[0]), int(cen[1])), int(width * 1.5), 255, -1, AA)
            layer = to_layer(typ, img, alpha, 1.0 / z, y0, x0)
            if layer is None:
                return []
            lamp = lights_layer(rng, "lamp", np.array([[cen[0], cen[1] + width]]), 1.0 / z, (y1 - y0, x1 - x0),
                                width * 0.9, WARM[:2], (4.0, 20.0) if kind == "dusk" else (1.5, 4.0))
            if lamp is not None:
                lamp.y0, lamp.x0 = y0, x0
            return [layer] + ([lamp] if lamp is not None else [])
    layer = to_layer(typ, img, alpha, 1.0 / z, y0, x0, rng, ((2, 0.1),))
    return [layer] if layer is not None else []


def _paint(img: np.ndarray, alpha: np.ndarray, rgb: np.ndarray, cov: np.ndarray) -> None:
    """Composite straight sRGB float `rgb` with coverage `cov` over premultiplied uint8 canvases."""
    a = cov[..., None]
    img[:] = np.clip(img * (1 - a) + rgb[..., ::-1] * 255 * a, 0, 255).astype(np.uint8)
    alpha[:] = np.clip(alpha * (1 - cov) + 255 * cov, 0, 255).astype(np.uint8)


def _flower(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, c: tuple[float, float], r: float,
            stem_end: tuple[float, float] | None) -> None:
    if stem_end is not None:
        t = np.linspace(0, 1, 12)[:, None]
        bend = np.array([[r * _u(rng, -1, 1), 0]])
        pts = (np.array([c]) * (1 - t) + np.array([stem_end]) * t + bend * np.sin(np.pi * t)) * 16
        green = _col((0.26, 0.45, 0.16), 0.2, rng)
        cv2.polylines(img, [pts.astype(np.int32)], False, green, max(1, int(r * 0.09)), AA, shift=4)
        cv2.polylines(alpha, [pts.astype(np.int32)], False, 255, max(1, int(r * 0.09)), AA, shift=4)
        for k in range(int(rng.integers(0, 3))):
            p = pts[int(rng.integers(4, 11))] / 16
            _leaf(img, alpha, tuple(p), r * _u(rng, 0.8, 1.5), r * 0.35, np.pi * (1.15 + 0.7 * (k % 2)), green)
    n = int(rng.integers(5, 14))
    petal = np.asarray(rng.choice(PETALS), np.float32)
    offset = _u(rng, 0, 2 * np.pi)
    for ring, (scale, shade) in enumerate(((1.0, 0.85), (0.75, 1.0), (0.45, 0.7))):
        for k in range(n):
            a = offset + 2 * np.pi * (k + 0.5 * ring) / n + rng.normal(0, 0.08)
            ln = r * scale * _u(rng, 0.85, 1.1)
            _leaf(img, alpha, c, ln, min(ln * 0.8, 2 * np.pi * ln / n * _u(rng, 0.5, 0.9)), a,
                  _col(petal * shade, 0.1, rng))
    rc = r * _u(rng, 0.12, 0.28)
    cv2.circle(img, (int(c[0] * 16), int(c[1] * 16)), int(rc * 16), _col((0.85, 0.65, 0.15), 0.3, rng), -1, AA, 4)
    for _ in range(int(rc * rc / 3)):
        p = np.asarray(c) + rng.normal(0, rc / 2.5, 2)
        cv2.circle(img, (int(p[0] * 16), int(p[1] * 16)), max(8, int(rc * 1.6)), _col((0.45, 0.3, 0.1), 0.3, rng),
                   -1, AA, 4)


def _sprig(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, start, end, leaf: float) -> None:
    t = np.linspace(0, 1, 24)[:, None]
    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    normal = np.array([[-(end - start)[1], (end - start)[0]]]) / (np.linalg.norm(end - start) + 1e-6)
    pts = start * (1 - t) + end * t + normal * np.sin(np.pi * t) * leaf * _u(rng, -0.8, 0.8)
    brown = _col((0.35, 0.28, 0.18), 0.2, rng)
    cv2.polylines(img, [(pts * 16).astype(np.int32)], False, brown, max(1, int(leaf * 0.05)), AA, shift=4)
    cv2.polylines(alpha, [(pts * 16).astype(np.int32)], False, 255, max(1, int(leaf * 0.05)), AA, shift=4)
    base = np.asarray(rng.choice(GREENS), np.float32) * _u(rng, 1.0, 1.5)
    for k, i in enumerate(range(4, 24, int(rng.integers(2, 5)))):
        d = pts[min(i + 1, 23)] - pts[i - 1]
        ang = math.atan2(d[1], d[0]) + (0.9 if k % 2 else -0.9) + rng.normal(0, 0.2)
        ln = leaf * (0.6 + 0.4 * i / 24) * _u(rng, 0.8, 1.2)
        _leaf(img, alpha, tuple(pts[i]), ln, ln * _u(rng, 0.4, 0.6), ang, _col(base, 0.15, rng))


def _solid(rng: np.random.Generator, img: np.ndarray, alpha: np.ndarray, typ: str, cx: float, base: float,
           size: float) -> None:
    """A shaded vase (lathe profile) or fruit (sphere), lit from the upper left, with a specular glint."""
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32)
    light = np.array([-0.5, -0.6, 0.62], np.float32)
    if typ == "vase":
        t = np.clip((base - yy) / size, 0, 1)
        prof = np.interp(t, [0, 0.08, 0.35, 0.75, 0.88, 1.0],
                         [0.5, 0.75, 1.0, _u(rng, 0.35, 0.6), _u(rng, 0.25, 0.35), _u(rng, 0.3, 0.45)])
        rad = prof * size * _u(rng, 0.25, 0.4)
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
    rgb = colour * (0.25 + 0.75 * lam) * (1 + 0.08 * noise(rng, *cov.shape, 2, 2)[..., None]) + 0.6 * spec
    _paint(img, alpha, np.clip(rgb, 0, 1), cov.astype(np.float32))


def _foreground(rng: np.random.Generator, cam: Camera, z: float, shape: tuple[int, int]) -> list[Layer]:
    """Grass blades rising from the bottom edge or leaves reaching in from a side, well in front of the focus."""
    img, alpha = _canvas(shape)
    h, w = shape
    green = np.asarray(rng.choice(GREENS), np.float32)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(3, 10))):
            x0, tall, wd = _u(rng, 0, w), cam.height * _u(rng, 0.2, 0.6), cam.width * _u(rng, 0.006, 0.02)
            t = np.linspace(0, 1, 16)[:, None]
            bend = _u(rng, -0.4, 0.4) * tall
            spine = np.concatenate([x0 + bend * t ** 2, h - tall * t], 1)
            side = np.concatenate([wd * (1 - t), np.zeros_like(t)], 1)
            pts = np.concatenate([spine - side, (spine + side)[::-1]]) * 16
            cv2.fillPoly(img, [pts.astype(np.int32)], _col(green, 0.25, rng), AA, shift=4)
            cv2.fillPoly(alpha, [pts.astype(np.int32)], 255, AA, shift=4)
    else:
        left = rng.random() < 0.5
        for _ in range(int(rng.integers(2, 5))):
            y = _u(rng, 0.1, 0.9) * h
            ln = cam.height * _u(rng, 0.25, 0.5)
            ang = (0 if left else np.pi) + _u(rng, -0.6, 0.6)
            _leaf(img, alpha, (cam.margin * 0.5 if left else w - cam.margin * 0.5, y), ln, ln * _u(rng, 0.35, 0.5),
                  ang, _col(green, 0.2, rng))
    layer = to_layer("foreground", img, alpha, 1.0 / z, rng=rng, grain=((3, 0.1),))
    return [layer] if layer is not None else []


def _string_lights(rng: np.random.Generator, cam: Camera, z: float, shape: tuple[int, int]) -> list[Layer]:
    h, w = shape
    y_top = cam.margin + cam.height * _u(rng, 0.05, 0.4)
    sag = cam.height * _u(rng, 0.05, 0.25)
    xs = np.linspace(0, w, 64)
    ys = y_top + sag * (1 - ((xs - w / 2) / (w / 2)) ** 2)
    img, alpha = _canvas(shape)
    pts = (np.stack([xs, ys], 1) * 16).astype(np.int32)
    thick = max(1, int(cam.size(0.006, z)))
    cv2.polylines(img, [pts], False, (20, 20, 20), thick, AA, shift=4)
    cv2.polylines(alpha, [pts], False, 255, thick, AA, shift=4)
    bx = np.arange(_u(rng, 0, 1) * cam.size(0.3, z), w, cam.size(_u(rng, 0.2, 0.5), z))
    by = np.interp(bx, xs, ys) + cam.size(0.02, z)
    bulbs = lights_layer(rng, "bulbs", np.stack([bx, by], 1), 1.0 / z, shape, max(1.0, cam.size(0.012, z)),
                         WARM, (3.0, 15.0))
    return [x for x in (to_layer("string", img, alpha, 1.0 / z), bulbs) if x is not None]


def _backdrop(rng: np.random.Generator, cam: Camera, z: float, shape: tuple[int, int]) -> list[Layer]:
    """A hedge or leafy wall filling the view down to its ground row: dark interior, lit leaves, sun glints."""
    h, w = shape
    rows = np.arange(h, dtype=np.float32)[:, None]
    base = cam.row_at(z) + cam.roll * (np.arange(w, dtype=np.float32)[None] - cam.cx)
    mask = np.broadcast_to(np.clip(base - rows + 0.5, 0, 1), (h, w)).astype(np.float32)
    dark = np.asarray(rng.choice(DARK_GREENS), np.float32) * (0.6 + 0.25 * noise(rng, h, w, w / 12, 4)[..., None])
    img, alpha = _canvas(shape)
    _paint(img, alpha, np.clip(dark, 0, 1), mask)
    palette = GREENS + (DARK_GREENS if rng.random() < 0.5 else [(0.60, 0.50, 0.20)])
    foliage(rng, img, alpha, mask, palette, cam.size(_u(rng, 0.04, 0.09), z), density=1.2, max_leaves=4000)
    layers = [to_layer("backdrop", img, alpha, 1.0 / z, rng=rng, grain=((2, 0.1),))]
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys):
        pick = rng.integers(0, len(ys), int(rng.integers(8, 45)))
        glints = lights_layer(rng, "glints", np.stack([xs[pick], ys[pick]], 1), 1.0 / z, shape,
                              max(1.0, cam.size(0.006, z)), WARM[:3], (2.0, 12.0))
        layers += [glints] if glints is not None else []
    return layers


def _subject(rng: np.random.Generator, cam: Camera, typ: str, z: float, cx: float, base: float, size: float,
             shape: tuple[int, int], name: str = "subject") -> list[Layer]:
    """The in-focus subject (or a smaller companion): flower, sprig, vase or fruit, drawn in its own crop."""
    box = _crop(shape, min(base - size * 1.6, cam.margin - size), shape[0], cx - size * 1.3, cx + size * 1.3)
    if box is None:
        return []
    y0, y1, x0, x1 = box
    img, alpha = _canvas((y1 - y0, x1 - x0))
    if typ == "flower":
        _flower(rng, img, alpha, (cx - x0, base - size * 0.9 - y0), size * _u(rng, 0.25, 0.45),
                (cx - x0 + _u(rng, -0.3, 0.3) * size, y1 - y0 + 2))
    elif typ == "sprig":
        hang = rng.random() < 0.5
        start = (cx - x0 + _u(rng, -1, 1) * size, 0.0 if hang else y1 - y0)
        _sprig(rng, img, alpha, start, (cx - x0, base - size * 0.8 - y0), size * _u(rng, 0.35, 0.55))
    else:
        _solid(rng, img, alpha, typ, cx - x0, base - y0, size * (1.0 if typ == "vase" else 0.5))
    layer = to_layer(name, img, alpha, 1.0 / z, y0, x0, rng, ((1.5, 0.12), (size / 6, 0.1)))
    return [layer] if layer is not None else []


FOCAL_MM, SENSOR_MM = 50.0, 22.3
"""EBB! was shot with a Canon 7D (APS-C, 22.3 mm wide) and a 50 mm lens: f_px = 50 / 22.3 * width."""
_Z_SUBJECT = {"garden": (0.5, 3.0), "street": (0.6, 4.0), "hedge": (0.35, 1.5), "path": (0.4, 1.5), "dusk": (0.6, 4.0)}
_CAM_H = {"garden": (0.15, 1.0), "street": (0.4, 1.6), "hedge": (0.3, 1.2), "path": (0.3, 1.3), "dusk": (0.4, 1.6)}


def _log_u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def make_scene(rng: np.random.Generator, width: int, height: int, *, f_number: float = 1.8,
               kind: str | None = None) -> Scene:
    """One random scene of `kind` (default: drawn) for a `width` x `height` photo.

    The canvas margin covers the largest CoC at `f_number`, so blurring never runs out of world at the frame.
    """
    kind = kind or str(rng.choice(KINDS, p=[0.25, 0.1, 0.35, 0.2, 0.1]))
    f_px = FOCAL_MM / SENSOR_MM * width
    coc = f_px * FOCAL_MM / 1000 / (2 * f_number)  # CoC radius in px per inverse metre (thin lens)
    z_s, cam_h = _log_u(rng, *_Z_SUBJECT[kind]), _u(rng, *_CAM_H[kind])
    z_back = 0.0
    if kind == "hedge":  # a leafy wall whose foot is in (or just below) the frame; the horizon far above
        z_back = z_s * _u(rng, 2.5, 12)
        horizon = height * _u(rng, 0.55, 1.3) - cam_h * f_px / z_back
    elif kind == "path":  # looking down at the ground: the subject stands in the lower part of the frame
        horizon = height * _u(rng, 0.6, 0.95) - cam_h * f_px / z_s
    else:
        horizon = height * _u(rng, 0.05, 0.45)
    ground_row = horizon + cam_h * f_px / z_s
    stands = height * 0.55 < ground_row < height * 0.98
    typ = str(rng.choice(["vase", "fruit", "flower", "sprig"] if stands else ["flower", "flower", "sprig"]))
    base = ground_row if stands else min(ground_row, height * _u(rng, 0.7, 1.0))
    size = max(0.12 * height, min(height * _u(rng, 0.25, 0.5), _u(rng, 0.15, 0.6) * f_px / z_s))
    p_fg = {"hedge": 0.5, "garden": 0.35, "path": 0.35}.get(kind, 0.15)
    z_fg = max(0.25, z_s * _u(rng, 0.35, 0.6)) if rng.random() < p_fg else None
    d_near, margin = max(1.7 / z_s, 1.0 / z_fg if z_fg else 0.0), 0
    for _ in range(4):
        d_max = max(d_near, 1.1 * (height + margin - horizon) / (cam_h * f_px))
        margin = int(math.ceil(coc * max(1.0 / z_s, d_max - 1.0 / z_s))) + 4
    cam = Camera(width, height, margin, f_px, cam_h, horizon + margin, _u(rng, -0.03, 0.03))
    shape = (height + 2 * margin, width + 2 * margin)
    layers: list[Layer] = []
    flat: list[list[Layer]] = []
    haze = srgb_to_linear(np.asarray((0.6, 0.65, 0.6), np.float32))
    if kind == "hedge":
        flat.append(_backdrop(rng, cam, z_back, shape))
    elif kind == "path":
        z_back = 1e3
    else:
        sky = _sky(rng, cam, kind, shape)
        layers.append(sky)
        haze = sky.premult[int(np.clip(cam.horizon, 0, shape[0] - 1))].mean(0)
        if kind == "garden":
            if rng.random() < 0.5:
                flat.append([_hills(rng, cam, shape, haze)])
            z_back = _u(rng, 80, 400)
            flat.append(_treeline(rng, cam, shape, z_back, haze))
        else:
            z_back = _u(rng, 100, 500)
            flat.append(_skyline(rng, cam, shape, z_back, 0.35 if kind == "dusk" else 0.03))
    style = {"garden": str(rng.choice(["grass", "grass", "soil"])), "hedge": str(rng.choice(["grass", "soil"])),
             "path": str(rng.choice(["grass", "soil", "pavement"]))}.get(kind, "pavement")
    layers.append(_ground(rng, cam, shape, style, haze))
    n_obj = int(rng.integers(*{"garden": (2, 7), "street": (2, 6), "dusk": (2, 6)}.get(kind, (0, 3))))
    for _ in range(n_obj):
        lo = 1.5 * z_s if kind == "hedge" else max(2 * z_s, 3.0)
        z = _log_u(rng, lo, max(0.7 * z_back, 1.1 * lo))
        x = _u(rng, 0, shape[1])
        if cam.row_at(z, x) < shape[0]:
            flat.append(_object(rng, cam, kind, z, x, shape))
    if kind in ("dusk", "street") and rng.random() < (0.7 if kind == "dusk" else 0.2):
        flat.append(_string_lights(rng, cam, _u(rng, 2 * z_s, 30), shape))
    if kind in ("garden", "hedge", "path"):
        for _ in range(int(rng.integers(1, 6))):
            z = z_s * _u(rng, 0.6, 3.0)
            row = min(cam.row_at(z), margin + height * _u(rng, 0.7, 1.1))
            flat.append(_subject(rng, cam, str(rng.choice(["flower", "sprig"])), z, _u(rng, 0, shape[1]), row,
                                 size * z_s / z * _u(rng, 0.4, 0.8), shape, "companion"))
    flat.append(_subject(rng, cam, typ, z_s, margin + width * _u(rng, 0.3, 0.7), margin + base, size, shape))
    if z_fg:
        flat.append(_foreground(rng, cam, z_fg, shape))
    groups = [[layer for layer in g if layer is not None] for g in flat]
    for group in sorted((g for g in groups if g), key=lambda g: float(np.mean(g[0].disparity))):
        layers.extend(group)
    exposure = _u(rng, 0.03, 0.07) if kind == "dusk" else _u(rng, 0.09, 0.2)
    return Scene(kind, width, height, margin, 1.0 / z_s, layers, coc, exposure, typ)
