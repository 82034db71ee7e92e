"""Thin-lens defocus physics shared by the synthetic generator and the classical renderers.

The circle of confusion (CoC) of a thin lens is linear in disparity (inverse depth):
`radius_px = aperture * K_REF * (width / 1536) * |disp - disp_focus|` (Potmesil & Chakravarty 1981; the
form BokehMe, Peng et al. CVPR 2022, uses for its classical renderer). Disparity here is the normalised
disparity bokehpipe stores everywhere: [0, 1], near = 1. `K_REF` is the one constant that ties the
synthetic f/1.8 targets (`bokehpipe synth`, aperture scale recorded per image) to the `scatter` renderer, so
that scatter with the ground-truth disparity, focus and aperture is the physically matched baseline.

Blurs happen in linear light (the sRGB curve undone, IEC 61966-2-1) with disc kernels whose rim is
anti-aliased over about one pixel, on premultiplied RGBA so that alpha travels with colour. A disparity
range is handled by quantising the CoC to a few radius levels and splitting each pixel linearly between
its two nearest levels (a partition of unity, so no energy is lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

K_REF = 40.0
"""CoC radius in pixels per unit of normalised disparity, at width 1536 and aperture scale 1 (f/1.8)."""
REF_WIDTH = 1536
F_NUMBER_TARGET = 1.8
F_NUMBER_INPUT = 16.0
INPUT_APERTURE = F_NUMBER_TARGET / F_NUMBER_INPUT
"""The f/16 input's CoC relative to the f/1.8 target's: the CoC diameter scales with 1/N (~8.9x smaller)."""
EDGE = 1.0
"""Width in pixels of a disc kernel's soft rim (a linear ramp centred on the radius)."""


def clip_unit(arr: np.ndarray) -> np.ndarray:
    """`arr` clipped to [0, 1], float32; the array itself (no copy) when it is float32 and in range already, as
    a decoded photo is: at 54 MP every copy of a photo is 650 MB."""
    arr = np.asarray(arr, dtype=np.float32)
    if arr.size and (float(arr.min()) < 0.0 or float(arr.max()) > 1.0):
        return np.clip(arr, 0.0, 1.0)
    return arr


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve (IEC 61966-2-1); float32 in, float32 out."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4)
                    ).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Apply the sRGB curve; linear values are clipped to [0, 1] first (a sensor saturates)."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055
                    ).astype(np.float32)


def coc_scale(width: int, aperture: float = 1.0) -> float:
    """Pixels of CoC radius per unit of normalised disparity difference for an image `width` pixels wide."""
    return float(aperture) * K_REF * float(width) / REF_WIDTH


def coc_radius(disparity: np.ndarray | float, focus: float, *, width: int, aperture: float = 1.0
               ) -> np.ndarray | float:
    """CoC radius in pixels: `aperture * K_REF * (width / 1536) * |disparity - focus|`."""
    return coc_scale(width, aperture) * np.abs(np.asarray(disparity, dtype=np.float32) - np.float32(focus))


@lru_cache(maxsize=512)
def _disc_kernel(radius_milli: int, edge_milli: int) -> np.ndarray:
    radius, edge = radius_milli / 1000.0, edge_milli / 1000.0
    support = int(np.ceil(radius + edge / 2))
    yy, xx = np.mgrid[-support:support + 1, -support:support + 1].astype(np.float32)
    dist = np.sqrt(xx * xx + yy * yy)
    kernel = np.clip((radius + edge / 2 - dist) / edge, 0.0, 1.0).astype(np.float32)
    if kernel.sum() <= 0:  # radius ~0: a delta
        kernel[support, support] = 1.0
    kernel /= kernel.sum()
    kernel.setflags(write=False)
    return kernel


def disc_kernel(radius: float, edge: float = EDGE) -> np.ndarray:
    """A normalised disc of `radius` pixels with a rim ramped linearly over `edge` pixels (anti-aliased).

    Its area is pi*radius^2 to within the rim, so a point light spreads over a disc of the CoC radius; a
    radius below half a pixel gives a delta (in focus).
    """
    if radius < 0 or edge <= 0:
        raise ValueError(f"disc_kernel needs radius >= 0 and edge > 0, got {radius}, {edge}")
    return _disc_kernel(int(round(radius * 1000)), int(round(edge * 1000)))


def support_box(mask: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    """The bounding box of `mask`, grown by `pad` pixels and clipped to the array; None if the mask is empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        return None
    h, w = mask.shape
    return (slice(max(0, rows[0] - pad), min(h, rows[-1] + pad + 1)),
            slice(max(0, cols[0] - pad), min(w, cols[-1] + pad + 1)))


def _reduction(radius: float) -> int:
    """Blur large discs on a 2x / 4x smaller grid: the disc removes those frequencies anyway (rim: 2-4 px)."""
    return 4 if radius >= 48 else 2 if radius >= 16 else 1


def blur_disc(arr: np.ndarray, radius: float, *, edge: float = EDGE) -> np.ndarray:
    """Convolve (H, W) or (H, W, C<=4) float32 with a disc; outside the array counts as zero (transparent).

    Radii of 16 px and more are blurred on a reduced grid (exact block averages down, bilinear up), which
    keeps the cost of a 100-px bokeh ball near that of a 25-px one and conserves energy.
    """
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if radius < 0.5 * edge - 1e-6:
        return arr.copy()
    s = _reduction(radius)
    if s == 1:
        return cv2.filter2D(arr, -1, disc_kernel(radius, edge), borderType=cv2.BORDER_CONSTANT)
    h, w = arr.shape[:2]
    ph, pw = -h % s, -w % s
    padded = cv2.copyMakeBorder(arr, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=0) if ph or pw else arr
    small = cv2.resize(padded, ((w + pw) // s, (h + ph) // s), interpolation=cv2.INTER_AREA)
    small = cv2.filter2D(small, -1, disc_kernel(radius / s, edge), borderType=cv2.BORDER_CONSTANT)
    out = cv2.resize(small, (w + pw, h + ph), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out[:h, :w])


def radius_levels(max_radius: float, *, linear_until: float = 8.0, ratio: float = 1.1) -> np.ndarray:
    """Radius levels 0, 1, ..., `linear_until`, then growing by `ratio`: the quantisation of a CoC range.

    One-pixel steps where a step is visible, a constant relative step beyond (a 10% change of a large disc
    is invisible), so a 40-px CoC range needs about 25 blurs rather than 40.
    """
    levels = [float(r) for r in np.arange(0.0, min(linear_until, max_radius) + 1.0)]
    while levels[-1] < max_radius:
        levels.append(levels[-1] * ratio if levels[-1] >= linear_until else levels[-1] + 1.0)
    return np.asarray(levels, dtype=np.float32)


def signed_levels(lo: float, hi: float, **kwargs) -> np.ndarray:
    """Ascending signed radius levels covering [lo, hi] (negative = behind the focus plane), with 0 included."""
    neg = -radius_levels(max(-lo, 0.0), **kwargs)[::-1] if lo < 0 else np.zeros(1, np.float32)
    pos = radius_levels(max(hi, 0.0), **kwargs) if hi > 0 else np.zeros(1, np.float32)
    return np.concatenate([neg[:-1], pos]).astype(np.float32)


class LevelSplit:
    """Split per-pixel values between their two nearest levels with linear (tent) weights.

    The weights of all levels sum to one at every pixel, so splitting, blurring and summing conserves energy.
    """

    def __init__(self, values: np.ndarray, levels: np.ndarray) -> None:
        self.levels = np.asarray(levels, dtype=np.float32)
        v = np.clip(np.asarray(values, dtype=np.float32), self.levels[0], self.levels[-1])
        if len(self.levels) == 1:
            self.lo = np.zeros(v.shape, np.int32)
            self.frac = np.zeros(v.shape, np.float32)
            return
        lo = np.clip(np.searchsorted(self.levels, v, side="right") - 1, 0, len(self.levels) - 2).astype(np.int32)
        span = self.levels[lo + 1] - self.levels[lo]
        self.lo = lo
        self.frac = np.clip((v - self.levels[lo]) / span, 0.0, 1.0).astype(np.float32)
        counts = np.bincount(lo.ravel(), minlength=len(self.levels))
        self._present = (counts > 0) | (np.concatenate([[0], counts[:-1]]) > 0)

    def used(self) -> list[int]:
        """Indices of levels that carry weight somewhere (empty levels are skipped by callers)."""
        if len(self.levels) == 1:
            return [0]
        return [int(i) for i in np.flatnonzero(self._present)]

    def weight(self, j: int) -> np.ndarray:
        """The (H, W) weight of level `j`."""
        w = np.where(self.lo == j, 1.0 - self.frac, 0.0)
        if j > 0:
            w = np.where(self.lo == j - 1, self.frac, w)
        return w.astype(np.float32)


def blur_varying(premult: np.ndarray, radius: np.ndarray | float, *, edge: float = EDGE,
                 ratio: float = 1.1) -> np.ndarray:
    """Blur premultiplied RGBA whose CoC radius varies per pixel: split into radius levels, blur, sum.

    Summing (not compositing) is right within one surface: its parts do not hide each other, and the sum
    keeps the partition of unity, so a uniformly opaque surface stays opaque.
    """
    if np.isscalar(radius) or np.ndim(radius) == 0:
        return blur_disc(premult, float(radius), edge=edge)
    radius = np.asarray(radius, dtype=np.float32)
    alpha = premult[..., 3] if premult.ndim == 3 else premult
    covered = alpha > 0
    if not covered.any():
        return np.zeros_like(premult, dtype=np.float32)
    r_lo, r_hi = float(radius[covered].min()), float(radius[covered].max())
    levels = radius_levels(r_hi, ratio=ratio)
    levels = levels[np.searchsorted(levels, r_lo, side="right") - 1:]
    split = LevelSplit(radius, levels)
    out = np.zeros(premult.shape, np.float32)
    for j in split.used():
        w = split.weight(j)
        r = float(split.levels[j])
        box = support_box((w > 0) & covered, int(np.ceil(r + edge)) + 8)
        if box is None:
            continue
        part = premult[box] * (w[box][..., None] if premult.ndim == 3 else w[box])
        out[box] += blur_disc(part, r, edge=edge)
    return out



# --- lens-true blur from metric depth --------------------------------------------------------------------

APSC_SENSOR_MM = 22.3  # Canon 7D (EBB!'s camera): APS-C sensor width
FULL_FRAME_MM = 36.0  # the 35 mm film frame's width, what EXIF's FocalLengthIn35mmFilm refers to


@dataclass(frozen=True)
class Lens:
    """A virtual thin lens on a sensor `sensor_mm` wide. The default is EBB!'s: 50 mm at f/1.8 on APS-C."""

    focal_mm: float = 50.0
    f_number: float = 1.8
    sensor_mm: float = APSC_SENSOR_MM

    def __post_init__(self) -> None:
        for name in ("focal_mm", "f_number", "sensor_mm"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def coc_per_dioptre(lens: Lens, focus_m: float, width_px: int) -> float:
    """CoC radius in pixels per inverse metre of |1/z - 1/z_f| for a `width_px`-wide photo focused at `focus_m`.

    Thin lens: the blur-circle diameter on the sensor is `f^2 / (N (z_f - f)) * |z - z_f| / z`, i.e.
    `f^2 z_f / (N (z_f - f)) * |1/z_f - 1/z|`, and `width_px / sensor` pixels per metre of sensor.
    """
    f, sensor = lens.focal_mm / 1000.0, lens.sensor_mm / 1000.0
    if not focus_m > f:
        raise ValueError(f"focus distance {focus_m} m must lie beyond the focal length ({lens.focal_mm:g} mm)")
    return f * f * focus_m / (2.0 * lens.f_number * (focus_m - f)) * width_px / sensor


def thin_lens_coc_diameter(depth_m: np.ndarray | float, focus_m: float, lens: Lens, width_px: int
                           ) -> np.ndarray | float:
    """Blur-circle diameter in pixels at metric depth `depth_m` (inf allowed: the far background)."""
    inv = 1.0 / np.asarray(depth_m, dtype=np.float64)
    return 2.0 * coc_per_dioptre(lens, focus_m, width_px) * np.abs(inv - 1.0 / focus_m)


@dataclass(frozen=True)
class RelativeBlur:
    """A metric scene as the disparity renderers take it: normalised disparity (near = 1), the focus in it,
    and the internal aperture that makes `coc_radius` equal the lens's CoC radius at every pixel."""

    disparity: np.ndarray
    focus: float
    aperture: float


def metric_to_relative(depth_m: np.ndarray, focus_m: float, lens: Lens) -> RelativeBlur:
    """Metric depth (H, W) -> the normalised disparity, focus and aperture of the same blur: disparity is
    linear in 1/z, so min-max normalising 1/z and scaling the aperture by its span keeps every CoC exact."""
    inv = 1.0 / np.asarray(depth_m, dtype=np.float64)
    lo, hi = float(inv.min()), float(inv.max())
    span = max(hi - lo, 1e-12)
    width = int(np.asarray(depth_m).shape[1])
    aperture = coc_per_dioptre(lens, focus_m, width) * span / coc_scale(width, 1.0)
    disp = ((inv - lo) / span).astype(np.float32)
    return RelativeBlur(disp, float((1.0 / focus_m - lo) / span), float(aperture))


def lens_aperture(lens: Lens, focus: float, inverse_range: tuple[float, float], width_px: int) -> float:
    """The internal aperture that gives a normalised map (min-max of 1/z over `inverse_range`, in 1/m) the lens's
    CoC at every pixel when focused at normalised disparity `focus`: the relative renderers' way to render a
    metric map lens-true. A focus nearer than twice the focal length is taken at twice the focal length."""
    lo, hi = (float(v) for v in inverse_range)
    span = max(hi - lo, 1e-12)
    focus_m = max(1.0 / max(lo + float(focus) * span, 1e-9), 2.0 * lens.focal_mm / 1000.0)
    return coc_per_dioptre(lens, focus_m, width_px) * span / coc_scale(width_px, 1.0)
