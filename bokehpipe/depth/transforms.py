"""Depth-network preprocessing and postprocessing exactly as each official inference script does it.

MiDaS: isl-org/MiDaS `midas/transforms.py` (Resize, NormalizeImage, PrepareForNet) and `run.py` (`process`).
Depth Anything V2: DepthAnything/Depth-Anything-V2 `depth_anything_v2/util/transform.py` and
`DepthAnythingV2.infer_image` / `image2tensor` in `depth_anything_v2/dpt.py` (the same Resize class).

1. RGB in [0, 1]; resize with OpenCV bicubic to the variant's size, keeping the aspect ratio unless the
   backbone needs a square input: `upper_bound` (MiDaS v2.1: fit inside net x net), `minimal` (DPT: scale
   as little as possible) or `lower_bound` (DA-V2: the shorter side reaches 518); each side rounded to a
   multiple of 32 (MiDaS) or 14 (DA-V2, the patch size): numpy round-half-even, then floor if an upper
   bound is exceeded, ceil if a lower bound is missed.
2. `(x - mean) / std` with the variant's statistics, HWC -> CHW float32.
3. The prediction is resized back to the photo's size: bicubic (align_corners=False) for MiDaS, bilinear
   with align_corners=True for DA-V2.

bokehpipe then stores it per image normalised to [0, 1] by its own min and max (near = 1, the raw range
kept in the cache; `bokehpipe.data.disparity.normalise`, the one rule), which `normalisation_rule` states in
every cache's provenance. A metric network's depth (metres, near = small) is inverted first
(`to_inverse_depth`), so the stored map is a disparity like every other and the raw range carries the
metric scale: `depth_metres` turns a stored map back into metres.
"""

from __future__ import annotations

import cv2
import numpy as np

from bokehpipe.depth.variants import DepthVariant
from bokehpipe.errors import BokehpipeError

NORMALISATION = ("per-image min-max of the raw MiDaS output (relative inverse depth) -> [0, 1], near = 1; "
                 "raw range in each entry's raw_min/raw_max")
MIN_DEPTH_M = 1e-3  # a metric head's sigmoid can underflow to 0 m; 1/depth is taken of at least 1 mm
METRIC_NORMALISATION = (f"per-image min-max of 1/depth, depth = the metric network's output in metres (clamped to "
                        f">= {MIN_DEPTH_M} m) -> [0, 1], near = 1; raw_min/raw_max in 1/m: "
                        "depth_m = 1 / (raw_min + value * (raw_max - raw_min))")


def _constrain(x: float, multiple: int, *, min_val: int = 0, max_val: int | None = None) -> int:
    y = int(np.round(x / multiple) * multiple)
    if max_val is not None and y > max_val:
        y = int(np.floor(x / multiple) * multiple)
    if y < min_val:
        y = int(np.ceil(x / multiple) * multiple)
    return y


def _scales(width: int, height: int, size: int, method: str) -> tuple[float, float]:
    """(scale_w, scale_h) of the official Resize.get_size for a keep-aspect resize."""
    scale_h, scale_w = size / height, size / width
    if method == "upper_bound":
        scale = min(scale_w, scale_h)
    elif method == "lower_bound":
        scale = max(scale_w, scale_h)
    elif method == "minimal":
        scale = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
    else:
        raise ValueError(f"unknown resize method {method!r}")
    return scale, scale


def network_size(width: int, height: int, variant: DepthVariant, net_size: int | None = None) -> tuple[int, int]:
    """(width, height) of the network input for a photo of `width` x `height` (official Resize.get_size)."""
    if net_size is not None and variant.fixed_size and net_size != variant.net_size:
        raise BokehpipeError(f"{variant.name} only accepts {variant.net_size}x{variant.net_size} inputs; "
                             "drop the net-size override")
    size = int(net_size or variant.net_size)
    if variant.keep_aspect:
        scale_w, scale_h = _scales(width, height, size, variant.resize_method)
    else:
        scale_w, scale_h = size / width, size / height
    bounds: dict[str, int] = {}
    if variant.resize_method == "upper_bound":
        bounds = {"max_val": size}
    elif variant.resize_method == "lower_bound":
        bounds = {"min_val": size}
    return (_constrain(scale_w * width, variant.multiple, **bounds),
            _constrain(scale_h * height, variant.multiple, **bounds))


def prepare(image: np.ndarray, variant: DepthVariant, net_size: int | None = None) -> np.ndarray:
    """RGB float (H, W, 3) in [0, 1] -> normalised network input (3, h, w) float32."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    w, h = network_size(image.shape[1], image.shape[0], variant, net_size)
    resized = cv2.resize(np.asarray(image, dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    mean = np.asarray(variant.mean, dtype=np.float32)
    std = np.asarray(variant.std, dtype=np.float32)
    return np.ascontiguousarray(((resized - mean) / std).transpose(2, 0, 1), dtype=np.float32)


def resize_prediction(pred, size: tuple[int, int], variant: DepthVariant):
    """(B, h, w) tensor -> (B, H, W) at `size` = (width, height), as the variant's official script does it:
    bicubic with align_corners=False (MiDaS run.py) or bilinear with align_corners=True (DA-V2 infer_image)."""
    import torch.nn.functional as F

    out_hw = (int(size[1]), int(size[0]))
    x = pred.unsqueeze(1).float()
    if variant.output_resize == "bicubic":
        return F.interpolate(x, size=out_hw, mode="bicubic", align_corners=False).squeeze(1)
    if variant.output_resize == "bilinear_corners":
        return F.interpolate(x, size=out_hw, mode="bilinear", align_corners=True).squeeze(1)
    raise ValueError(f"unknown output resize {variant.output_resize!r}")


def to_inverse_depth(raw: np.ndarray, variant: DepthVariant) -> np.ndarray:
    """What the cache normalises: a relative network's output as it is (already inverse depth, returned
    unchanged), a metric network's metres as 1/depth in 1/m."""
    if not variant.metric:
        return raw
    return np.float32(1.0) / np.maximum(np.asarray(raw, dtype=np.float32), np.float32(MIN_DEPTH_M))


def depth_metres(stored: np.ndarray, raw_min: float, raw_max: float) -> np.ndarray:
    """A map cached from a metric network (values in [0, 1], its entry's raw_min/raw_max in 1/m) back in
    metres: the inverse of `to_inverse_depth` + `normalise`, up to the float16 rounding of the stored map
    (about 5e-4 of the depth)."""
    if not raw_min > 0:
        raise BokehpipeError(f"raw_min {raw_min} is not a positive 1/metres: the map is not from a metric network")
    inverse = raw_min + np.asarray(stored, dtype=np.float64) * (raw_max - raw_min)
    return (1.0 / inverse).astype(np.float32)


def normalisation_rule(variant: DepthVariant) -> str:
    """The `normalisation` provenance of a cache made with `variant` (part of its identity)."""
    if variant.metric:
        return METRIC_NORMALISATION
    if variant.arch == "depth_anything":
        return NORMALISATION.replace("MiDaS", "Depth Anything V2")
    return NORMALISATION
