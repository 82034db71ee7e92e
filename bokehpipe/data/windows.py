"""One training crop's pixels, computed from a window of the photo instead of the whole photo, and packed small.

A training sample is a `crop` x `crop` window at half resolution (`Box`). Resizing the whole 1536x1024 photo to
take one window of it cost most of a sample's time; here only the window is converted and resized, and the
result equals the whole-photo computation (`datasets.make_network_input`) bit for bit. Two details make that
exact: the x0.5 bicubic reads one full-resolution pixel beyond each side of the window, and OpenCV's vectorised
loops handle the last pixels of a row apart from the rest, so the window is taken with a margin and aligned to
`ALIGN` half-resolution pixels (tests/test_windows.py checks the equality on random windows, edges included).
Photos whose size is odd, and maps that are not an integer multiple of the half size, take the whole-photo path.

Targets form a pyramid: level 1 is the full-resolution window itself; level 2 its 2x2 box mean; coarser levels
are reduced from level 2. Each is rounded back to the photo's sample type (8 bits for a JPEG), so that the
prepared half-size targets (`data.prepared`) give the very same samples.

What crosses the DataLoader is compact (`pack_unit`): RGB as uint8 (8-bit photos; float16 otherwise), the
disparity as float16 (the depth cache's precision), 1.25 MiB for a 512x512 sample instead of 4 MiB of float32;
`datasets.batch_to_device` turns them into float32 on the training device.
"""

from __future__ import annotations

import numpy as np

from bokehpipe.data.io import resize, to_unit_float

Box = tuple[int, int, int, int]  # y, x, height, width in half-resolution pixels
ALIGN = 16  # half-resolution pixels: a multiple of every SIMD width OpenCV uses for float32 rows (x3 channels)


def half_size(height: int, width: int) -> tuple[int, int]:
    """Network input (height, width) for a full-resolution photo: x0.5, rounded down."""
    return height // 2, width // 2


def half_rgb(rgb: np.ndarray) -> np.ndarray:
    """The network's RGB: x0.5 bicubic of float RGB in [0, 1], as in the paper (the one call that makes it)."""
    h2, w2 = half_size(*rgb.shape[:2])
    return resize(rgb.astype(np.float32, copy=False), (w2, h2), "cubic")


def fit_disparity(disparity: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A stored map resized once to `size` = (width, height) with the project's policy, clipped to [0, 1]."""
    return np.clip(resize(disparity.astype(np.float32, copy=False), size, clip=False), 0.0, 1.0)


def _span(start: int, length: int, limit: int) -> tuple[int, int]:
    """[lo, hi) around [start, start + length) in half-resolution pixels: one pixel of margin before, ALIGN
    after, both ends on ALIGN multiples (or the frame's edge), so OpenCV treats the kept pixels as it does in
    the whole frame."""
    lo = max(0, (start - 1) // ALIGN * ALIGN)
    hi = min(limit, -(-(start + length + 1) // ALIGN) * ALIGN + ALIGN)
    return lo, hi


def network_rgb(samples: np.ndarray, box: Box) -> np.ndarray:
    """`half_rgb(to_unit_float(samples))` inside `box`, (h, w, 3) float32, from a window when that is exact."""
    height, width = samples.shape[:2]
    h2, w2 = half_size(height, width)
    y, x, h, w = box
    if (height, width) != (2 * h2, 2 * w2):  # odd size: x0.5 is not exactly 2:1, so no window is exact
        return half_rgb(to_unit_float(samples))[y:y + h, x:x + w]
    (y0, y1), (x0, x1) = _span(y, h, h2), _span(x, w, w2)
    win = half_rgb(to_unit_float(samples[2 * y0:2 * y1, 2 * x0:2 * x1]))
    return win[y - y0:y - y0 + h, x - x0:x - x0 + w]


def network_disparity(disparity: np.ndarray, frame: tuple[int, int], box: Box) -> np.ndarray:
    """`fit_disparity(map, half size)` inside `box`, (h, w) float32; `frame` = (h2, w2), the half size. A map
    stored at k times the half size (k = 1: PyNET's half-size maps; 2: full-size maps) is cut at its own scale
    first; any other scale is resized whole."""
    h2, w2 = frame
    y, x, h, w = box
    mh, mw = disparity.shape[:2]
    k = mh // h2 if h2 else 0
    if k < 1 or (mh, mw) != (k * h2, k * w2):
        return fit_disparity(disparity, (w2, h2))[y:y + h, x:x + w]
    (y0, y1), (x0, x1) = _span(y, h, h2), _span(x, w, w2)
    win = fit_disparity(disparity[k * y0:k * y1, k * x0:k * x1], (x1 - x0, y1 - y0))
    return win[y - y0:y - y0 + h, x - x0:x - x0 + w]


def _rounded(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Back to the photo's sample type: integer samples are rounded (ties to even), float ones kept."""
    if np.issubdtype(dtype, np.integer):
        return np.rint(values).astype(dtype)
    return values.astype(dtype)


def box_half(samples: np.ndarray) -> np.ndarray:
    """The level-2 target of a full-resolution array of even size: 2x2 box means, rounded to its sample type."""
    h, w = samples.shape[:2]
    return _rounded(resize(samples.astype(np.float32), (w // 2, h // 2), "area"), samples.dtype)


def half_window(samples: np.ndarray, box: Box) -> np.ndarray:
    """`box_half(samples)` (photo cut to even size) inside `box`, from a window: the level-2 target."""
    h2, w2 = half_size(*samples.shape[:2])
    y, x, h, w = box
    (y0, y1), (x0, x1) = _span(y, h, h2), _span(x, w, w2)
    win = box_half(samples[2 * y0:2 * y1, 2 * x0:2 * x1])
    return win[y - y0:y - y0 + h, x - x0:x - x0 + w]


def reduce_half(half: np.ndarray, level: int) -> np.ndarray:
    """A level-2 target (or window of one) reduced to `level` >= 2: area means, rounded to its sample type."""
    factor = 2 ** (level - 2)
    if factor == 1:
        return half
    h, w = half.shape[:2]
    return _rounded(resize(half.astype(np.float32), (w // factor, h // factor), "area"), half.dtype)


def level_target(samples: np.ndarray, box: Box, level: int) -> np.ndarray:
    """The target pyramid at `level` inside `box` (half-resolution coordinates), from full-resolution samples:
    level 1 the window itself (2h x 2w), level 2 its box means (h x w), level L its reduction by 2**(L-2)."""
    y, x, h, w = box
    if level == 1:
        return samples[2 * y:2 * (y + h), 2 * x:2 * (x + w)]
    return reduce_half(half_window(samples, box), level)


def pack_unit(values: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] for the DataLoader: uint8 (the photos' own precision, 1/4 of float32's bytes)."""
    return np.rint(values * 255.0).astype(np.uint8)


def pack_samples(samples: np.ndarray) -> np.ndarray:
    """Samples of a photo for the DataLoader: uint8 as they are; 16-bit or float ones as float16 in [0, 1]."""
    if samples.dtype == np.uint8:
        return samples
    return to_unit_float(samples).astype(np.float16)


def pack_network_rgb(rgb: np.ndarray, sample_dtype: np.dtype) -> np.ndarray:
    """The network's float RGB for the DataLoader: uint8 for an 8-bit photo, else float16."""
    return pack_unit(rgb) if sample_dtype == np.uint8 else rgb.astype(np.float16)
