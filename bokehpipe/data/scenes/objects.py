"""Mid-ground and near things: trees, bushes, rocks, poles and lamps, string lights, a near foreground.

They stand on the ground between the subject and the background (or, for the foreground, well in front of the
focus plane), giving the range of blur sizes and occlusion edges that EBB! scenes (Ignatov et al., CVPR-W
2020, section 3) have; lamps and bulbs add HDR point lights that become bokeh balls.
"""

from __future__ import annotations

import cv2
import numpy as np

from bokehpipe.data.scenes import paint as kit
from bokehpipe.data.scenes.model import Camera, Layer


def _object(rng: np.random.Generator, cam: Camera, kind: str, z: float, x: float, shape: tuple[int, int]
            ) -> list[Layer]:
    """A mid-ground object standing on the ground at `z` metres, column `x`: tree, bush, rock, pole or post."""
    types = {"garden": ["tree", "bush", "bush", "rock"], "street": ["pole", "tree", "post", "post"],
             "dusk": ["pole", "pole", "tree", "post"]}.get(kind, ["bush", "rock"])
    typ = str(rng.choice(types))
    base = cam.row_at(z, x)
    s = cam.f_px / z
    if typ in ("tree", "bush"):
        trunk_h = kit._u(rng, 1.2, 3.5) * s if typ == "tree" else 0.0
        crown = kit._u(rng, 0.8, 2.2) * s if typ == "tree" else kit._u(rng, 0.4, 1.2) * s
        box = kit._crop(shape, base - trunk_h - crown * 2.4, base + crown * 0.3, x - crown * 1.9, x + crown * 1.9)
        if box is None:
            return []
        y0, y1, x0, x1 = box
        img, alpha = kit._canvas((y1 - y0, x1 - x0))
        if trunk_h:  # a lit cylinder with vertical bark furrows
            half = max(1.5, kit._u(rng, 0.06, 0.18) * s)
            yy, xx = np.mgrid[0:y1 - y0, 0:x1 - x0].astype(np.float32)
            nx = np.clip((xx - (x - x0)) / half, -1, 1)
            cov = np.clip(half - np.abs(xx - (x - x0)) + 0.5, 0, 1) * (yy > base - y0 - trunk_h - crown * 0.5)
            gh, gw = int((y1 - y0) / (4 * half)) + 3, int((x1 - x0) / (half / 4)) + 3
            furrows = cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (int(gw * half / 4) + 1,
                                 int(gh * 4 * half) + 1), interpolation=cv2.INTER_CUBIC)[:y1 - y0, :x1 - x0]
            shade = (0.3 + 0.7 * np.sqrt(1 - nx ** 2) * (0.75 - 0.25 * nx)) * np.exp(0.25 * furrows)
            bark = np.asarray(rng.choice([(0.30, 0.22, 0.16), (0.45, 0.42, 0.38), (0.25, 0.20, 0.17)]), np.float32)
            kit._paint(img, alpha, np.clip(bark * shade[..., None], 0, 1), cov.astype(np.float32))
        cy = base - trunk_h - crown * (0.75 if typ == "tree" else 0.55)
        mask = kit._blob((y1 - y0, x1 - x0), cy - y0, x - x0, crown * 0.85, crown * 1.15, rng)
        cut = base - y0 + crown * (0.08 + 0.06 * kit.noise(rng, 1, x1 - x0, max(4.0, crown / 4), 2)[0])
        mask *= np.clip(cut[None] - np.arange(y1 - y0, dtype=np.float32)[:, None] + 0.5, 0, 1)  # ragged foot
        inner = np.clip(mask * 1.6 - 0.6, 0, 1)  # a dark interior so the crown is dense, not a cloud of leaves
        kit._paint(img, alpha,
                   np.asarray(rng.choice(kit.DARK_GREENS), np.float32) * np.ones((*mask.shape, 3), np.float32)
                   * (0.6 + 0.2 * kit.noise(rng, *mask.shape, max(3.0, crown / 6), 3)[..., None]).clip(0.2, 1), inner)
        kit.foliage(rng, img, alpha, mask, kit.GREENS, kit._u(rng, 0.06, 0.14) * s)
    elif typ == "rock":
        r = kit._u(rng, 0.15, 0.6) * s
        box = kit._crop(shape, base - r * 1.6, base + r * 0.3, x - r * 1.8, x + r * 1.8)
        if box is None:
            return []
        y0, y1, x0, x1 = box
        a = kit._blob((y1 - y0, x1 - x0), base - y0 - 0.5 * r, x - x0, r * 0.75, r * 1.4, rng, 0.15)
        yy = np.arange(y1 - y0, dtype=np.float32)[:, None, None]
        grey = np.asarray(rng.choice(kit.FACADES), np.float32) * (1.2 - 0.6 * (yy - (base - y0 - r)) / r)
        rgb = np.clip(grey * (1 + 0.2 * kit.noise(rng, y1 - y0, x1 - x0, max(2, r / 8), 3)[..., None]), 0, 1)
        img = (rgb[..., ::-1] * a[..., None] * 255).astype(np.uint8)
        alpha = (a * 255).astype(np.uint8)
    else:
        height = (kit._u(rng, 3.0, 6.0) if typ == "pole" else kit._u(rng, 0.6, 1.2)) * s
        width = max(2.0, (kit._u(rng, 0.08, 0.15) if typ == "pole" else kit._u(rng, 0.15, 0.3)) * s)
        box = kit._crop(shape, base - height - width * 3, base + 2, x - width * 3, x + width * 3)
        if box is None:
            return []
        y0, y1, x0, x1 = box
        img, alpha = kit._canvas((y1 - y0, x1 - x0))
        colour = kit._col(rng.choice([(0.25, 0.27, 0.28), (0.18, 0.30, 0.22), (0.55, 0.55, 0.52), (0.60, 0.20, 0.15)]),
                      0.2, rng)
        pts = (int(x - x0 - width / 2), int(base - y0 - height)), (int(x - x0 + width / 2), int(base - y0))
        cv2.rectangle(img, *pts, colour, -1)
        cv2.rectangle(alpha, *pts, 255, -1)
        if typ == "pole" and kind in ("street", "dusk"):
            cen = (x - x0, base - y0 - height)
            cv2.circle(img, (int(cen[0]), int(cen[1])), int(width * 1.5), colour, -1, kit.AA)
            cv2.circle(alpha, (int(cen[0]), int(cen[1])), int(width * 1.5), 255, -1, kit.AA)
            layer = kit.to_layer(typ, img, alpha, 1.0 / z, y0, x0)
            if layer is None:
                return []
            lamp = kit.lights_layer(rng, "lamp", np.array([[cen[0], cen[1] + width]]), 1.0 / z, (y1 - y0, x1 - x0),
                                width * 0.9, kit.WARM[:2], (4.0, 20.0) if kind == "dusk" else (1.5, 4.0))
            if lamp is not None:
                lamp.y0, lamp.x0 = y0, x0
            return [layer] + ([lamp] if lamp is not None else [])
    layer = kit.to_layer(typ, img, alpha, 1.0 / z, y0, x0, rng, ((2, 0.1),))
    return [layer] if layer is not None else []


def _string_lights(rng: np.random.Generator, cam: Camera, z: float, shape: tuple[int, int]) -> list[Layer]:
    h, w = shape
    y_top = cam.margin + cam.height * kit._u(rng, 0.05, 0.4)
    sag = cam.height * kit._u(rng, 0.05, 0.25)
    xs = np.linspace(0, w, 64)
    ys = y_top + sag * (1 - ((xs - w / 2) / (w / 2)) ** 2)
    img, alpha = kit._canvas(shape)
    pts = (np.stack([xs, ys], 1) * 16).astype(np.int32)
    thick = max(1, int(cam.size(0.006, z)))
    cv2.polylines(img, [pts], False, (20, 20, 20), thick, kit.AA, shift=4)
    cv2.polylines(alpha, [pts], False, 255, thick, kit.AA, shift=4)
    bx = np.arange(kit._u(rng, 0, 1) * cam.size(0.3, z), w, cam.size(kit._u(rng, 0.2, 0.5), z))
    by = np.interp(bx, xs, ys) + cam.size(0.02, z)
    bulbs = kit.lights_layer(rng, "bulbs", np.stack([bx, by], 1), 1.0 / z, shape, max(1.0, cam.size(0.012, z)),
                         kit.WARM, (3.0, 15.0))
    return [x for x in (kit.to_layer("string", img, alpha, 1.0 / z), bulbs) if x is not None]


def _foreground(rng: np.random.Generator, cam: Camera, z: float, shape: tuple[int, int]) -> list[Layer]:
    """Grass blades rising from the bottom edge or leaves reaching in from a side, well in front of the focus."""
    img, alpha = kit._canvas(shape)
    h, w = shape
    green = np.asarray(rng.choice(kit.GREENS), np.float32)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(3, 10))):
            x0, tall, wd = kit._u(rng, 0, w), cam.height * kit._u(rng, 0.2, 0.6), cam.width * kit._u(rng, 0.006, 0.02)
            t = np.linspace(0, 1, 16)[:, None]
            bend = kit._u(rng, -0.4, 0.4) * tall
            spine = np.concatenate([x0 + bend * t ** 2, h - tall * t], 1)
            side = np.concatenate([wd * (1 - t), np.zeros_like(t)], 1)
            pts = np.concatenate([spine - side, (spine + side)[::-1]]) * 16
            cv2.fillPoly(img, [pts.astype(np.int32)], kit._col(green, 0.25, rng), kit.AA, shift=4)
            cv2.fillPoly(alpha, [pts.astype(np.int32)], 255, kit.AA, shift=4)
    else:
        left = rng.random() < 0.5
        for _ in range(int(rng.integers(2, 5))):
            y = kit._u(rng, 0.1, 0.9) * h
            ln = cam.height * kit._u(rng, 0.25, 0.5)
            ang = (0 if left else np.pi) + kit._u(rng, -0.6, 0.6)
            kit._leaf(img, alpha, (cam.margin * 0.5 if left else w - cam.margin * 0.5, y), ln,
                      ln * kit._u(rng, 0.35, 0.5), ang, kit._col(green, 0.2, rng))
    layer = kit.to_layer("foreground", img, alpha, 1.0 / z, rng=rng, grain=((3, 0.1),))
    return [layer] if layer is not None else []
