"""The ground plane: the one layer whose disparity varies per pixel, textured in world metres.

Its disparity is linear in rows below the horizon (pinhole camera over flat ground), so the blur grows
continuously towards the camera as in EBB! photos (Ignatov et al., CVPR-W 2020). Grass, soil and pavement
textures are fixed to the plane and band-limited to each pixel's footprint, so the far ground does not alias
into false detail that the f/1.8 target would then have to blur.
"""

from __future__ import annotations

import cv2
import numpy as np

from bokehpipe.data.scenes.model import Camera, Layer
from bokehpipe.data.scenes.paint import FACADES, GREENS, _u
from bokehpipe.physics import srgb_to_linear


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
