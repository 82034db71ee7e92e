"""`scatter`: disparity-driven disc bokeh from one image, as a depth-ordered layered gather.

The thin-lens CoC of every pixel (`bokehpipe.physics`) is quantised to signed radius levels
(negative = behind the focus plane). Each level's pixels, split linearly between their two nearest levels,
form a premultiplied RGBA layer in linear light that is blurred with a soft-edged disc of the level's radius;
the layers are composited far to near with 'over' and the result is divided by the accumulated alpha.
This is the gather form of the scatter renderer of BokehMe (Peng et al., CVPR 2022): a pixel's light spreads
over its own CoC, and depth order decides what covers what, so a sharp subject never bleeds into the
blurred background behind it while a blurred foreground spreads over the subject. What a foreground hides
is unknown to a single image, so its blurred silhouette shows a mix of itself and the subject, never the
true background: the layered synthetic ground truth is out of reach by construction.

Clipped highlights are boosted before blurring (`highlight`, applied smoothly above `threshold` in sRGB),
because a saturated pixel stands for more light than 1.0 and real bokeh balls are bright.
"""

from __future__ import annotations

import numpy as np

from bokehpipe.physics import (
    EDGE,
    LevelSplit,
    blur_disc,
    coc_scale,
    linear_to_srgb,
    signed_levels,
    srgb_to_linear,
    support_box,
)


def to_linear(image: np.ndarray, gamma: float | None) -> np.ndarray:
    """sRGB curve (gamma None) or a plain power law (BokehMe uses gamma 2.2..4 to favour highlights)."""
    return srgb_to_linear(image) if gamma is None else np.power(np.clip(image, 0, 1), gamma).astype(np.float32)


def from_linear(lin: np.ndarray, gamma: float | None) -> np.ndarray:
    return linear_to_srgb(lin) if gamma is None else np.power(np.clip(lin, 0, 1), 1 / gamma).astype(np.float32)


def boost_highlights(lin: np.ndarray, image: np.ndarray, radius: np.ndarray, highlight: float, threshold: float
                     ) -> np.ndarray:
    """Scale linear light by up to `highlight` where the sRGB image's brightest channel nears saturation.

    The boost fades in over the first two pixels of CoC radius: an in-focus highlight stays as it was.
    """
    if highlight == 1.0:
        return lin
    t = np.clip((image.max(axis=2) - threshold) / max(1.0 - threshold, 1e-6), 0, 1)
    t = t * t * (3 - 2 * t) * np.clip(np.abs(radius) / 2.0, 0, 1)
    return lin * (1 + (highlight - 1) * t)[..., None]


def render_scatter(image: np.ndarray, disparity: np.ndarray, focus: float, aperture: float, *,
                   highlight: float = 2.0, threshold: float = 0.98, gamma: float | None = None,
                   edge: float = EDGE, ratio: float = 1.1) -> np.ndarray:
    """Render bokeh for an sRGB image (H, W, 3) in [0, 1] and its disparity (H, W, near = 1).

    highlight: gain for saturated pixels (1 = off); threshold: sRGB level where the boost starts;
    gamma: None for the sRGB curve, else a power law; edge: disc rim width in px; ratio: radius level step.
    """
    h, w = disparity.shape
    signed = (coc_scale(w, aperture) * (disparity.astype(np.float32) - np.float32(focus))).astype(np.float32)
    lin = boost_highlights(to_linear(image, gamma), image, signed, float(highlight), float(threshold))
    split = LevelSplit(signed, signed_levels(float(signed.min()), float(signed.max()), ratio=ratio))
    acc = np.zeros((h, w, 4), np.float32)
    for j in split.used():  # ascending signed radius: far to near
        weight = split.weight(j)
        radius = abs(float(split.levels[j]))
        box = support_box(weight > 0, int(np.ceil(radius + edge)) + 8)
        if box is None:
            continue
        wgt = weight[box]
        layer = np.empty((*wgt.shape, 4), np.float32)
        np.multiply(lin[box], wgt[..., None], out=layer[..., :3])
        layer[..., 3] = wgt
        blurred = blur_disc(layer, radius, edge=edge)
        region = acc[box]  # a view: composite 'over' in place
        region *= 1.0 - blurred[..., 3:4]
        region += blurred
    out = acc[..., :3] / np.maximum(acc[..., 3:], 1e-6)
    return np.clip(from_linear(out, gamma), 0.0, 1.0)
