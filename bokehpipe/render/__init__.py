"""Bokeh rendering: classical depth-aware methods (the baselines every learned model must beat, and a no-training
mode), and in `render.learned` trained generators, each on a full-size photo.

`render(image, disparity, method, focus=..., aperture=...)` takes an sRGB image in [0, 1] and a normalised
disparity map in [0, 1] (near = 1, as MiDaS and `bokehpipe synth` give), both (H, W). The CoC radius is
`aperture * K_REF * (width / 1536) * |disparity - focus|` pixels (`bokehpipe.physics`); the synthetic
sets record each image's focus and aperture in that convention, so `scatter` with them and the ground-truth
disparity is the physically matched single-image baseline.

Methods (the table `METHODS`): `gaussian` (background mask + one Gaussian, the phone portrait mode of 2020)
and `scatter` (disc CoC in linear light, depth-ordered layers, highlight boost).

Focus follows the one rule `bokehpipe.render.focus.resolve_focus`; auto-focus (`focus=None`) is `choose_focus`:
a face where there is one, else the salient central subject. Apertures as f-numbers: `bokehpipe.render.calibration`.

A classical method on a full-size photo (the map fitted to it, scatter tiled exactly when memory asks):
`bokehpipe.render.classical.ClassicalRenderer`; a learned generator (PyNET, BokehNet): `bokehpipe.render.learned`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np

from bokehpipe.errors import BokehpipeError
from bokehpipe.physics import K_REF, REF_WIDTH, clip_unit, coc_radius
from bokehpipe.render.calibration import DEFAULT_APERTURE
from bokehpipe.render.focus import Focus, choose_focus, focus_at, resolve_focus
from bokehpipe.render.gaussian import render_gaussian
from bokehpipe.render.scatter import render_scatter

METHODS: dict[str, Callable[..., np.ndarray]] = {"gaussian": render_gaussian, "scatter": render_scatter}

__all__ = ["METHODS", "K_REF", "REF_WIDTH", "Focus", "choose_focus", "coc_radius", "focus_at", "method_options",
           "render", "resolve_focus"]


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
           aperture: float = DEFAULT_APERTURE, **method_options_: object) -> np.ndarray:
    """Render bokeh: sRGB float32 (H, W, 3) in [0, 1] + disparity (H, W) in [0, 1], near = 1 -> (H, W, 3).

    focus: disparity in focus (None = auto-focus, `choose_focus`); aperture: CoC scale > 0 (1 = K_REF px per
    unit disparity at width 1536; default the calibrated f/1.8, `calibration.DEFAULT_APERTURE`). Extra keywords
    go to the method (see `method_options`).
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
    focus = resolve_focus(image, disparity, focus=focus).disparity
    unknown = sorted(set(method_options_) - set(method_options(method)))
    if unknown:
        raise BokehpipeError(f"method {method!r} has no option {', '.join(unknown)}; "
                             f"it takes: {', '.join(method_options(method)) or 'none'}")
    return fn(clip_unit(image), disparity, float(focus), float(aperture), **method_options_)
