"""Scene assembly: draw the camera and the subject distance for a scene kind, then stack the elements.

The lens is EBB!'s (Ignatov et al., CVPR-W 2020, section 3: 50 mm on APS-C), so the f/1.8 CoC follows from
the distances, and the canvas margin is sized to the largest CoC so blurring never runs out of world at the
frame. Scene kinds (garden, street, hedge close-up, path seen from above, dusk) choose which elements
appear; layers are sorted back to front by disparity. The order of random draws here fixes every scene of a
seed, so it must not change without bumping the generator version in `bokehpipe.data.synthetic`.
"""

from __future__ import annotations

import math

import numpy as np

from bokehpipe.data.scenes.background import _backdrop, _hills, _sky, _skyline, _treeline
from bokehpipe.data.scenes.ground import _ground
from bokehpipe.data.scenes.model import KINDS, Camera, Layer, Scene
from bokehpipe.data.scenes.objects import _foreground, _object, _string_lights
from bokehpipe.data.scenes.paint import _u
from bokehpipe.data.scenes.subjects import _subject
from bokehpipe.physics import srgb_to_linear

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
