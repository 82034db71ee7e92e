"""`gaussian`: the "current solutions" baseline that Ignatov et al. (CVPR-W 2020, section 1) argue against.

Phone portrait modes of the time segmented the background and blurred it with a Gaussian: the background
mask is every pixel whose disparity lies more than `margin` below the focus (feathered over `feather`), the
blur is one Gaussian over the whole image in sRGB, and the two are blended by the mask. No disc shape, no
linear light, no depth-dependent size, and the subject's colours halo into the blurred background, which
is exactly what the learned model and the `scatter` renderer are measured against.
"""

from __future__ import annotations

import cv2
import numpy as np

from bokehpipe.physics import coc_scale


def render_gaussian(image: np.ndarray, disparity: np.ndarray, focus: float, aperture: float, *,
                    margin: float = 0.1, feather: float = 0.05, sigma: float | None = None) -> np.ndarray:
    """Blur the background (disparity < focus - margin) of an sRGB image (H, W, 3) with one Gaussian.

    sigma: blur in px; default half the CoC radius at the background's median disparity, the Gaussian whose
    visual width matches that disc.
    """
    h, w = disparity.shape
    # the mask in place, one plane (the same float32 arithmetic as the expression it replaces)
    mask = np.subtract(np.float32(focus - margin), disparity, dtype=np.float32)
    mask /= np.float32(max(feather, 1e-6))
    np.clip(mask, 0, 1, out=mask)
    if sigma is None:
        background = disparity[mask > 0.5]
        gap = float(focus - np.median(background, overwrite_input=True)) if background.size else margin
        sigma = coc_scale(w, aperture) * max(gap, margin) / 2
    if sigma <= 0.3 or not mask.any():
        return np.array(image, dtype=np.float32, copy=True)
    image = np.ascontiguousarray(image, dtype=np.float32)
    scale = int(np.clip(sigma // 4, 1, 8))  # a wide Gaussian loses nothing on a coarser grid, and is far cheaper
    small = cv2.resize(image, (max(1, w // scale), max(1, h // scale)), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), float(sigma) / scale, borderType=cv2.BORDER_REFLECT)
    blurred = cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR)
    # image + mask * (blurred - image), in place: no full-size temporaries (a 54 MP photo is 650 MB a plane set)
    blurred -= image
    blurred *= mask[..., None]
    blurred += image
    return np.clip(blurred, 0.0, 1.0, out=blurred)
