"""Classical depth-aware bokeh renderers: the baselines every learned model must beat, and a no-training mode.

`render(image, disparity, method, focus=..., aperture=...)` takes an sRGB image in [0, 1] and a normalised
disparity map in [0, 1] (near = 1, as MiDaS and `bokehpipe synth` give), both (H, W). The CoC radius is
`aperture * K_REF * (width / 1536) * |disparity - focus|` pixels (`bokehpipe.render.physics`); the synthetic
sets record each image's focus and aperture in that convention, so `scatter` with them and the ground-truth
disparity is the physically matched single-image baseline.

Methods (the table `METHODS`): `gaussian` (background mask + one Gaussian, the phone portrait mode of 2020)
and `scatter` (disc CoC in linear light, depth-ordered layers, highlight boost).

Auto-focus (`focus=None`): EBB! photos focus on the near subject, usually near the centre, so the focus is
the 95th percentile of disparity weighted by a centred Gaussian (sigma a quarter of each side): near things
in the middle win, a near blurred foreground at the frame edge does not.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np

from bokehpipe.errors import BokehpipeError
from bokehpipe.render.gaussian import render_gaussian
from bokehpipe.render.physics import K_REF, REF_WIDTH, coc_radius
from bokehpipe.render.scatter import render_scatter

METHODS: dict[str, Callable[..., np.ndarray]] = {"gaussian": render_gaussian, "scatter": render_scatter}
AUTO_FOCUS_PERCENTILE = 95.0

__all__ = ["METHODS", "K_REF", "REF_WIDTH", "auto_focus", "coc_radius", "focus_at", "method_options", "render"]


def auto_focus(disparity: np.ndarray) -> float:
    """The centre-weighted 95th percentile of disparity (see the module docstring)."""
    d = np.asarray(disparity, dtype=np.float32)
    h, w = d.shape
    wy = np.exp(-0.5 * ((np.arange(h) - (h - 1) / 2) / (0.25 * h)) ** 2)
    wx = np.exp(-0.5 * ((np.arange(w) - (w - 1) / 2) / (0.25 * w)) ** 2)
    weights = (wy[:, None] * wx[None, :]).ravel()
    order = np.argsort(d.ravel(), kind="stable")
    cum = np.cumsum(weights[order])
    k = int(np.searchsorted(cum, cum[-1] * AUTO_FOCUS_PERCENTILE / 100.0))
    return float(d.ravel()[order[min(k, len(order) - 1)]])


def focus_at(disparity: np.ndarray, x: int, y: int, radius: int = 8) -> float:
    """Focus on pixel (x, y): the median disparity in a (2 radius + 1)^2 window, robust to an edge pixel."""
    d = np.asarray(disparity)
    h, w = d.shape
    if not (0 <= x < w and 0 <= y < h):
        raise BokehpipeError(f"focus point ({x}, {y}) lies outside the {w}x{h} image; give 0 <= X < {w}, 0 <= Y < {h}")
    return float(np.median(d[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]))


def method_options(method: str) -> dict[str, object]:
    """The keyword options a method accepts, with their defaults."""
    fn = _method(method)
    return {name: p.default for name, p in inspect.signature(fn).parameters.items() if p.kind == p.KEYWORD_ONLY}


def _method(method: str) -> Callable[..., np.ndarray]:
    try:
        return METHODS[method]
    except KeyError:
        raise BokehpipeError(f"unknown render method {method!r}; choose one of: {', '.join(METHODS)}") from None


def render(image: np.ndarray, disparity: np.ndarray, method: str = "scatter", *, focus: float | None = None,
           aperture: float = 1.0, **method_options_: object) -> np.ndarray:
    """Render bokeh: sRGB float32 (H, W, 3) in [0, 1] + disparity (H, W) in [0, 1], near = 1 -> (H, W, 3).

    focus: disparity in focus (None = auto-focus); aperture: CoC scale > 0 (1 = K_REF px per unit disparity
    at width 1536). Extra keywords go to the method (see `method_options`).
    """
    fn = _method(method)
    image = np.asarray(image, dtype=np.float32)
    disparity = np.asarray(disparity, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise BokehpipeError(f"render needs an RGB image of shape (H, W, 3), got {image.shape}")
    if disparity.ndim != 2:
        raise BokehpipeError(f"render needs a 2-D disparity map (H, W), got shape {disparity.shape}")
    if disparity.shape != image.shape[:2]:
        raise BokehpipeError(f"disparity is {disparity.shape[1]}x{disparity.shape[0]} but the image is "
                             f"{image.shape[1]}x{image.shape[0]}; resize the map with bokehpipe.data.io.resize")
    if not np.isfinite(disparity).all():
        raise BokehpipeError("disparity map contains NaN or infinite values; fill or re-estimate it")
    if not (isinstance(aperture, (int, float)) and math.isfinite(aperture) and aperture > 0):
        raise BokehpipeError(f"aperture must be a number > 0, got {aperture}")
    if focus is None:
        focus = auto_focus(disparity)
    elif not math.isfinite(focus):
        raise BokehpipeError(f"focus must be a finite disparity (0 = far, 1 = near), got {focus}")
    unknown = sorted(set(method_options_) - set(method_options(method)))
    if unknown:
        raise BokehpipeError(f"method {method!r} has no option {', '.join(unknown)}; "
                             f"it takes: {', '.join(method_options(method)) or 'none'}")
    return fn(np.clip(image, 0.0, 1.0), disparity, float(focus), float(aperture), **method_options_)
