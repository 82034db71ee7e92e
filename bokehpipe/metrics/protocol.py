"""The evaluation protocol, written down once (DESIGN.md "Metrics protocol"), and per-pair scoring.

Every number `bokehpipe eval` reports comes from `score_pair(pred, target, PROTOCOL)`: images in [0, 1]
(a prediction is clipped, as it would be when saved), data range 1, SSIM with an 11-px Gaussian window of
sigma 1.5 on RGB, MS-SSIM with five scales, LPIPS (AlexNet, v0.1) when its weights are present, each on the
full image and with a 32-px border cropped from every side (the crop of the PyNET-Bokeh evaluation code).
Keys are `<metric>` for the full image and `<metric>_crop<B>` for a B-px crop.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from bokehpipe.errors import BokehpipeError
from bokehpipe.metrics.functional import (
    DATA_RANGE,
    MS_SSIM_WEIGHTS,
    SIGMA,
    WINDOW_SIZE,
    crop_border,
    ms_ssim,
    ms_ssim_min_side,
    psnr,
    ssim_map,
)

METRICS = ("psnr", "ssim", "ms_ssim", "lpips")
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "ms_ssim": True, "lpips": False}
LPIPS_MIN_SIDE = 32


@dataclass(frozen=True)
class Protocol:
    """How predictions are scored; saved next to every report so numbers can be compared across runs."""

    value_range: tuple[float, float] = (0.0, 1.0)
    data_range: float = DATA_RANGE
    ssim_window: int = WINDOW_SIZE
    ssim_sigma: float = SIGMA
    ms_ssim_weights: tuple[float, ...] = MS_SSIM_WEIGHTS
    borders: tuple[int, ...] = (0, 32)
    metrics: tuple[str, ...] = METRICS
    clip_prediction: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise BokehpipeError(f"unknown metrics {', '.join(unknown)}; known: {', '.join(METRICS)}")
        if any(b < 0 for b in self.borders) or len(set(self.borders)) != len(self.borders):
            raise BokehpipeError(f"borders must be distinct and >= 0, got {self.borders}")
        if not math.isclose(self.data_range, self.value_range[1] - self.value_range[0]):
            raise BokehpipeError(f"data_range {self.data_range} must be the width of value_range {self.value_range}")
        if self.ssim_window % 2 != 1 or self.ssim_window < 3:
            raise BokehpipeError(f"ssim_window must be odd and >= 3, got {self.ssim_window}")

    def key(self, metric: str, border: int) -> str:
        return metric if border == 0 else f"{metric}_crop{border}"

    def columns(self, *, lpips: bool) -> list[str]:
        """Every key score_pair can return, in report order (`lpips` columns only when the metric is loaded)."""
        return [self.key(m, b) for m in self.metrics if lpips or m != "lpips" for b in self.borders]

    def describe(self) -> dict:
        """A JSON-ready record of the protocol for summary files."""
        return {**asdict(self), "ssim_k1": 0.01, "ssim_k2": 0.03, "ssim_channels": "RGB, mean over channels",
                "ssim_padding": "valid (map only where the window fits, as scikit-image and pytorch_msssim)",
                "ms_ssim_downsample": "2x2 mean, odd sides extended by their last row/column",
                "prediction": "float, clipped to value_range, not quantised to 8 bits",
                "ms_ssim_min_side": ms_ssim_min_side(self.ssim_window, len(self.ms_ssim_weights)),
                "psnr": "10 log10(data_range^2 / MSE), MSE over all pixels and channels of one image",
                "lpips": "AlexNet v0.1 (Zhang et al. 2018), inputs mapped to [-1, 1]; absent without weights"}


PROTOCOL = Protocol()


def fit_color_gain(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-channel gain g (3,) minimising ||g * pred - target||^2 over one image: g_c = <p_c, t_c> / <p_c, p_c>.

    For `eval --align`. EBB! inputs (f/16) and targets (f/1.8) are separate exposures, so brightness and white
    balance differ by a few percent (real pairs need gains of up to about 20%; targets are brighter on
    average), and part of every method's error is a global colour cast that says nothing about the bokeh.
    The gain is fit *using the target*, which no renderer can see at test time, so aligned numbers
    are an oracle diagnostic ("how good is the blur once exposure is forgiven") and are reported separately,
    never in place of the unaligned numbers that papers compare.
    """
    p = np.asarray(pred, dtype=np.float64).reshape(-1, 3)
    t = np.asarray(target, dtype=np.float64).reshape(-1, 3)
    if p.shape != t.shape:
        raise BokehpipeError(f"fit_color_gain: prediction {np.shape(pred)} and target {np.shape(target)} differ")
    energy = (p * p).sum(0)
    gain = np.where(energy > 0, (p * t).sum(0) / np.maximum(energy, 1e-12), 1.0)
    return gain.astype(np.float32)


def apply_color_gain(pred: np.ndarray, gain: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(pred, dtype=np.float32) * gain.reshape(1, 1, 3), 0.0, 1.0)


MAX_SHIFT = 4
"""Largest integer shift (px) `fit_shift` tries: EBB!'s pairs are registered to within about 2 px."""


def fit_shift(pred: np.ndarray, target: np.ndarray, max_shift: int = MAX_SHIFT) -> tuple[int, int]:
    """The integer (dy, dx) within +-`max_shift` that minimises the mean squared error of the shifted
    prediction against the target on the interior (a `max_shift` border is left out, so the wrapped rows of
    `np.roll` never count). An oracle like `fit_color_gain`: it measures how much EBB!'s residual
    misalignment alone costs a metric; the search runs on luminance."""
    p = np.asarray(pred, dtype=np.float32).mean(-1)
    t = np.asarray(target, dtype=np.float32).mean(-1)
    m = max_shift
    best, best_err = (0, 0), np.inf
    for dy in range(-m, m + 1):
        for dx in range(-m, m + 1):
            err = float(np.mean((np.roll(p, (dy, dx), axis=(0, 1))[m:-m, m:-m] - t[m:-m, m:-m]) ** 2))
            if err < best_err:
                best, best_err = (dy, dx), err
    return best


def apply_shift(pred: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    return np.roll(np.asarray(pred, dtype=np.float32), shift, axis=(0, 1))


def _to_tensor(img: np.ndarray, name: str, device: torch.device | str) -> torch.Tensor:
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise BokehpipeError(f"score_pair: {name} must be an (H, W, 3) RGB array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise BokehpipeError(f"score_pair: {name} must be float in [0, 1] (read it with bokehpipe.data.io.read_image),"
                             f" got {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1)[None].to(device)


def score_pair(pred: np.ndarray, target: np.ndarray, protocol: Protocol = PROTOCOL, *,
               lpips: torch.nn.Module | None = None, align: bool | str = False,
               device: torch.device | str = "cpu") -> dict[str, float]:
    """Score one prediction against its target: {key: value} for every metric and border of `protocol`.

    A metric is left out (not faked) when it cannot be computed: `lpips` when no model is given (see
    `bokehpipe.metrics.lpips.load_lpips`), MS-SSIM when the (cropped) image is smaller than 161 px, anything
    when the crop leaves less than one SSIM window. `align=True` applies `fit_color_gain` first; `align="shift"`
    applies `fit_shift`, then the colour gain (both oracles; read the 32-px-border numbers, which the rolled
    border never reaches).
    SSIM runs in float32 (PSNR's MSE in float64): on real 1536x1024 pairs it matches scikit-image's float64
    SSIM to ~1e-6 at a fraction of the time.
    """
    if np.shape(pred) != np.shape(target):
        raise BokehpipeError(f"score_pair: prediction {np.shape(pred)} and target {np.shape(target)} differ in size; "
                             "render at the target's size")
    if protocol.clip_prediction:
        pred = np.clip(pred, *protocol.value_range)
    if align == "shift":
        pred = apply_shift(pred, fit_shift(pred, target))
    if align:
        pred = apply_color_gain(pred, fit_color_gain(pred, target))
    x, y = _to_tensor(pred, "prediction", device), _to_tensor(target, "target", device)
    h, w = x.shape[-2:]
    out: dict[str, float] = {}
    with torch.no_grad():
        smap = None
        if "ssim" in protocol.metrics and min(h, w) >= protocol.ssim_window:
            smap = ssim_map(x, y, protocol.data_range, win_size=protocol.ssim_window, sigma=protocol.ssim_sigma)
        for metric in protocol.metrics:
            for border in protocol.borders:
                side = min(h, w) - 2 * border
                if metric == "ssim":
                    value = float(crop_border(smap, border).mean()) if side >= protocol.ssim_window else None
                else:
                    value = _score(metric, x, y, border, side, protocol, lpips)
                if value is not None:
                    out[protocol.key(metric, border)] = value
    return out


def _score(metric: str, x: torch.Tensor, y: torch.Tensor, border: int, side: int, protocol: Protocol,
           lpips: torch.nn.Module | None) -> float | None:
    win = {"win_size": protocol.ssim_window, "sigma": protocol.ssim_sigma}
    if metric == "psnr":
        return float(psnr(x, y, border, protocol.data_range)) if side > 0 else None
    if metric == "ms_ssim":
        if side < ms_ssim_min_side(protocol.ssim_window, len(protocol.ms_ssim_weights)):
            return None
        return float(ms_ssim(x, y, border, protocol.data_range, weights=protocol.ms_ssim_weights, **win))
    if metric == "lpips":
        if lpips is None or side < LPIPS_MIN_SIDE:
            return None
        ref = next(lpips.parameters())  # the model decides device and dtype
        x, y = crop_border(x, border), crop_border(y, border)
        return float(lpips(x.to(ref), y.to(ref))[0])
    raise BokehpipeError(f"unknown metric {metric!r}")  # pragma: no cover - Protocol validates names
