"""MiDaS preprocessing and postprocessing exactly as the official `run.py` does it.

isl-org/MiDaS `midas/transforms.py` (Resize, NormalizeImage, PrepareForNet) and `run.py` (`process`):

1. RGB in [0, 1]; resize with OpenCV bicubic to the variant's size: `upper_bound` (v2.1: fit inside
   net x net) or `minimal` (DPT: scale as little as possible), keeping the aspect ratio unless the backbone
   needs a square input; each side rounded to a multiple of 32 (numpy round-half-even, then floor if the
   bound is exceeded).
2. `(x - mean) / std` with the variant's statistics, HWC -> CHW float32.
3. The prediction is resized back to the photo's size with bicubic interpolation (align_corners=False).

bokehpipe then stores it per image normalised to [0, 1] by its own min and max (near = 1, the raw range
kept in the cache; `bokehpipe.data.disparity.normalise`, the one rule), which `NORMALISATION` states in every
cache's provenance.
"""

from __future__ import annotations

import cv2
import numpy as np

from bokehpipe.depth.variants import MidasVariant
from bokehpipe.errors import BokehpipeError

MULTIPLE = 32
NORMALISATION = ("per-image min-max of the raw MiDaS output (relative inverse depth) -> [0, 1], near = 1; "
                 "raw range in each entry's raw_min/raw_max")


def _constrain(x: float, *, min_val: int = 0, max_val: int | None = None) -> int:
    y = int(np.round(x / MULTIPLE) * MULTIPLE)
    if max_val is not None and y > max_val:
        y = int(np.floor(x / MULTIPLE) * MULTIPLE)
    if y < min_val:
        y = int(np.ceil(x / MULTIPLE) * MULTIPLE)
    return y


def network_size(width: int, height: int, variant: MidasVariant, net_size: int | None = None) -> tuple[int, int]:
    """(width, height) of the network input for a photo of `width` x `height` (official Resize.get_size)."""
    if net_size is not None and variant.fixed_size and net_size != variant.net_size:
        raise BokehpipeError(f"{variant.name} only accepts {variant.net_size}x{variant.net_size} inputs; "
                             "drop the net-size override")
    size = int(net_size or variant.net_size)
    scale_h, scale_w = size / height, size / width
    if variant.keep_aspect:
        if variant.resize_method == "upper_bound":
            scale_h = scale_w = min(scale_w, scale_h)
        elif variant.resize_method == "minimal":
            if abs(1 - scale_w) < abs(1 - scale_h):
                scale_h = scale_w
            else:
                scale_w = scale_h
        else:
            raise ValueError(f"unknown resize method {variant.resize_method!r}")
    if variant.resize_method == "upper_bound":
        return _constrain(scale_w * width, max_val=size), _constrain(scale_h * height, max_val=size)
    return _constrain(scale_w * width), _constrain(scale_h * height)


def prepare(image: np.ndarray, variant: MidasVariant, net_size: int | None = None) -> np.ndarray:
    """RGB float (H, W, 3) in [0, 1] -> normalised network input (3, h, w) float32."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    w, h = network_size(image.shape[1], image.shape[0], variant, net_size)
    resized = cv2.resize(np.asarray(image, dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    mean = np.asarray(variant.mean, dtype=np.float32)
    std = np.asarray(variant.std, dtype=np.float32)
    return np.ascontiguousarray(((resized - mean) / std).transpose(2, 0, 1), dtype=np.float32)


def resize_prediction(pred, size: tuple[int, int]):
    """(B, h, w) tensor -> (B, H, W) at `size` = (width, height): bicubic, align_corners=False (official)."""
    import torch.nn.functional as F

    return F.interpolate(pred.unsqueeze(1).float(), size=(int(size[1]), int(size[0])), mode="bicubic",
                         align_corners=False).squeeze(1)

