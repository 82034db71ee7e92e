"""PSNR, SSIM and MS-SSIM on torch tensors: the metric definitions of the evaluation protocol.

SSIM follows Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
structural similarity", IEEE TIP 2004: an 11-tap Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
data range 1.0 (images in [0, 1]), population (not sample) statistics. The SSIM map is computed only where
the window fits inside the image ("valid" convolution, no padding), which is what scikit-image
(`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` crops its map by
the window radius), torchmetrics (pads, then crops the padded rim off the map) and `pytorch_msssim` do;
"same"-padded variants that average the rim too (kornia's default) give slightly different numbers.
RGB SSIM is the mean over the three channels.

MS-SSIM follows Wang, Simoncelli & Bovik, "Multi-scale structural similarity for image quality assessment",
Asilomar 2003: five scales with weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), contrast-structure at the
four finer scales and full SSIM at the coarsest, per channel, then the channel mean (as TensorFlow's
`ssim_multiscale` and `pytorch_msssim`). Downsampling is a 2x2 mean; an odd side is first extended by
repeating its last row/column (the reference MATLAB code's symmetric boundary), so no pixel is dropped.

Everything here is differentiable (the trainer uses 1 - SSIM as a loss) and runs in float32 or float64
even under autocast: the variance terms E[x^2] - E[x]^2 cancel catastrophically in bfloat16/float16.
`border` crops that many pixels from every side before scoring (the PyNET-Bokeh evaluation crops 32).

Written here instead of depending on pytorch-msssim or torchmetrics: the whole definition is ~100 lines of
torch, it must also serve as a training loss under autocast, and tests/test_metrics.py pins it against
scikit-image (SSIM, PSNR) and an independent numpy MS-SSIM, which is what keeps the protocol fixed.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from bokehpipe.errors import BokehpipeError

WINDOW_SIZE = 11
SIGMA = 1.5
K1 = 0.01
K2 = 0.03
DATA_RANGE = 1.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# Smallest side MS-SSIM accepts: after four halvings (ceil) the coarsest scale must still hold an 11-px window.
MS_SSIM_MIN_SIDE = 161


def _check_pair(pred: torch.Tensor, target: torch.Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise BokehpipeError(f"{name}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in "
                             "shape; resize or crop them to the same size before scoring")
    if pred.ndim != 4:
        raise BokehpipeError(f"{name}: expected (N, C, H, W) tensors, got shape {tuple(pred.shape)}")


def crop_border(x: torch.Tensor, border: int) -> torch.Tensor:
    """Drop `border` pixels from each side of an (N, C, H, W) tensor (the paper's evaluation crops 32)."""
    if border < 0:
        raise BokehpipeError(f"border must be >= 0, got {border}")
    if border == 0:
        return x
    h, w = x.shape[-2:]
    if h <= 2 * border or w <= 2 * border:
        raise BokehpipeError(f"a {border}-px border crop leaves nothing of a {w}x{h} image; use a smaller border")
    return x[..., border:h - border, border:w - border]


def _working_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def psnr(pred: torch.Tensor, target: torch.Tensor, border: int = 0, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, (N,). Identical images give +inf.

    The MSE is taken over all channels and pixels of each image (not averaged per channel), in float64 so the
    number agrees with a numpy reference to well under 1e-4 dB.
    """
    _check_pair(pred, target, "psnr")
    pred, target = crop_border(pred, border), crop_border(target, border)
    out_dtype = _working_dtype(pred)
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(1)
    return (10.0 * torch.log10(data_range ** 2 / mse)).to(out_dtype)


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = SIGMA, *, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """The normalised 1-D Gaussian (size,); SSIM filters with it separably (rows then columns). Built once per
    size, sigma, dtype and device: a training step on a GPU would otherwise build it on the CPU and copy it
    over on every call."""
    return _window(size, float(sigma), dtype, torch.device(device) if device is not None else torch.device("cpu"))


@functools.lru_cache(maxsize=32)
def _window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def _blur_valid(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Depthwise separable Gaussian filter without padding: the output shrinks by size - 1 on each axis."""
    c = x.shape[1]
    k = window.numel()
    x = F.conv2d(x, window.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, window.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _ssim_maps(pred: torch.Tensor, target: torch.Tensor, window: torch.Tensor,
               data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """SSIM and contrast-structure maps (N, C, H - k + 1, W - k + 1) over the valid region."""
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    # one depthwise pass over the five moment maps (x, y, x^2, y^2, xy) instead of five calls
    moments = _blur_valid(torch.cat([pred, target, pred * pred, target * target, pred * target], 1), window)
    mu_x, mu_y, e_xx, e_yy, e_xy = moments.chunk(5, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x, var_y, cov = e_xx - mu_xx, e_yy - mu_yy, e_xy - mu_xy
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = ((2 * mu_xy + c1) / (mu_xx + mu_yy + c1)) * cs_map
    return ssim_map, cs_map


def _ssim_components(pred: torch.Tensor, target: torch.Tensor, window: torch.Tensor,
                     data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean SSIM and mean contrast-structure term, each (N, C)."""
    ssim_map, cs_map = _ssim_maps(pred, target, window, data_range)
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def _prepare(pred: torch.Tensor, target: torch.Tensor, border: int, name: str,
             min_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    _check_pair(pred, target, name)
    pred, target = crop_border(pred, border), crop_border(target, border)
    h, w = pred.shape[-2:]
    if min(h, w) < min_side:
        raise BokehpipeError(f"{name}: a {w}x{h} image (after a {border}-px border crop) is smaller than the "
                             f"{min_side}-px minimum side; score a larger image or a smaller border")
    dtype = _working_dtype(pred)
    return pred.to(dtype), target.to(dtype)


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float = DATA_RANGE, *,
             win_size: int = WINDOW_SIZE, sigma: float = SIGMA) -> torch.Tensor:
    """The local SSIM map (N, C, H - win_size + 1, W - win_size + 1), entry (i, j) for the window at (i, j).

    With valid filtering, the map of an image cropped by b pixels is exactly this map cropped by b, which is
    how `score_pair` gets full and border-cropped SSIM from one pass.
    """
    with torch.autocast(device_type=pred.device.type, enabled=False):
        pred, target = _prepare(pred, target, 0, "ssim", win_size)
        window = gaussian_window(win_size, sigma, dtype=pred.dtype, device=pred.device)
        return _ssim_maps(pred, target, window, data_range)[0]


def ssim(pred: torch.Tensor, target: torch.Tensor, border: int = 0, data_range: float = DATA_RANGE, *,
         win_size: int = WINDOW_SIZE, sigma: float = SIGMA) -> torch.Tensor:
    """Mean SSIM per image, (N,): 11-px Gaussian window, sigma 1.5, valid region only, mean over channels."""
    _check_pair(pred, target, "ssim")
    return ssim_map(crop_border(pred, border), crop_border(target, border), data_range, win_size=win_size,
                    sigma=sigma).flatten(1).mean(1)


def _halve(x: torch.Tensor) -> torch.Tensor:
    """2x2 mean; an odd side is extended by its last row/column first, so the result has ceil(side / 2)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(x, 2)


def ms_ssim_min_side(win_size: int = WINDOW_SIZE, scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Smallest image side MS-SSIM accepts: the coarsest scale (side / 2^(scales-1), rounded up) must hold a window."""
    return (win_size - 1) * 2 ** (scales - 1) + 1


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, border: int = 0, data_range: float = DATA_RANGE, *,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS, win_size: int = WINDOW_SIZE,
            sigma: float = SIGMA) -> torch.Tensor:
    """Multi-scale SSIM per image, (N,). Needs a smallest side of at least `MS_SSIM_MIN_SIDE` (161 px).

    Negative per-scale terms are clamped at 0 before the fractional powers (as TensorFlow and pytorch_msssim
    do) so strongly anti-correlated images score 0 rather than NaN.
    """
    with torch.autocast(device_type=pred.device.type, enabled=False):
        pred, target = _prepare(pred, target, border, "ms_ssim", ms_ssim_min_side(win_size, len(weights)))
        window = gaussian_window(win_size, sigma, dtype=pred.dtype, device=pred.device)
        w = torch.tensor(weights, dtype=pred.dtype, device=pred.device)
        terms = []
        for level in range(len(weights)):
            ssim_nc, cs_nc = _ssim_components(pred, target, window, data_range)
            if level == len(weights) - 1:
                terms.append(torch.relu(ssim_nc))
            else:
                terms.append(torch.relu(cs_nc))
                pred, target = _halve(pred), _halve(target)
        stacked = torch.stack(terms, dim=-1)  # (N, C, scales)
        return stacked.pow(w).prod(-1).mean(1)
