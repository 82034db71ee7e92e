"""Image-quality metrics and the one evaluation protocol (DESIGN.md "Metrics protocol").

- `functional`: differentiable PSNR, SSIM, MS-SSIM on (N, 3, H, W) tensors in [0, 1] (also the training loss).
- `protocol`: the `Protocol` record, `score_pair` for one prediction/target pair, `fit_color_gain` for `--align`.
- `lpips`: LPIPS v0.1 (AlexNet), only when its two weight files are in the store (imported on demand).
"""

from bokehpipe.metrics.functional import (
    DATA_RANGE,
    MS_SSIM_MIN_SIDE,
    MS_SSIM_WEIGHTS,
    SIGMA,
    WINDOW_SIZE,
    crop_border,
    gaussian_window,
    ms_ssim,
    ms_ssim_min_side,
    psnr,
    ssim,
    ssim_map,
)
from bokehpipe.metrics.protocol import (
    HIGHER_IS_BETTER,
    METRICS,
    PROTOCOL,
    Protocol,
    apply_color_gain,
    fit_color_gain,
    fit_shift,
    score_pair,
)

__all__ = ["DATA_RANGE", "HIGHER_IS_BETTER", "METRICS", "MS_SSIM_MIN_SIDE", "MS_SSIM_WEIGHTS", "PROTOCOL",
           "SIGMA", "WINDOW_SIZE", "Protocol", "apply_color_gain", "crop_border", "fit_color_gain", "fit_shift",
           "gaussian_window", "ms_ssim", "ms_ssim_min_side", "psnr", "score_pair", "ssim", "ssim_map"]
