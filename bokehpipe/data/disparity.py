"""A photo's disparity map: the one protocol that hands it over, the one normalisation, the one fit to a photo.

Disparity here is normalised inverse depth in [0, 1] with near = 1 (DESIGN.md, "Store layout"). Every consumer
reads a photo's map through `DisparitySource.disparity`, which returns it at the resolution it is STORED at
(a PyNET map at half size stays at half size). What happens next depends on who asks, and happens in one place
each:

- a network: `bokehpipe.data.datasets.make_network_input` resizes the map once, to the network's input size
  (training, eval and `infer` alike, so the three see bit-identical inputs);
- a classical renderer, or the saved depth PNG: `fit_to_photo` brings it to the photo's size.

Sources that implement the protocol: `bokehpipe.depth.cache.DepthCache` (a phase-one HDF5 cache; training,
eval and `infer --depth-cache`) and `bokehpipe.infer.depth_inputs` (`--depth DIR`, `--depth-model`, none).
The phase-one producers that fill a cache (`bokehpipe.depth.producers`) are a different thing: depth *producers*.

One normalisation rule (`normalise`): per-image min-max to [0, 1], near = 1, rounded to float16, the precision
the cache stores. A map read from a folder, computed on the fly or read back from a cache is therefore the
same array.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bokehpipe.data.io import check_map_fits, resize
from bokehpipe.errors import BokehpipeError, ImageReadError

STORED_DTYPE = np.float16  # the depth cache's precision; `normalise` rounds to it


@dataclass(frozen=True)
class Photo:
    """Which photo a map is asked for: its id (cache key, map stem), its file, and (for `infer` over a folder)
    its path relative to that folder, so maps in matching subfolders are found."""

    id: str
    path: Path
    rel: Path | None = None


@dataclass(frozen=True)
class MetricMap:
    """What makes a normalised map metric: the range of 1/z (1/m) it was normalised from, and the photo's Exif
    35 mm focal length when recorded (its field of view; None: not recorded)."""

    inverse_range: tuple[float, float]
    focal_35mm: float | None = None


class DisparitySource(Protocol):
    """Gives one photo's disparity at its stored resolution, [0, 1], near = 1, float32.

    `disparity` raises BokehpipeError naming the photo when it has no map (that photo alone fails).
    """

    description: str

    def has(self, photo: Photo) -> bool: ...

    def disparity(self, photo: Photo, rgb: np.ndarray) -> np.ndarray: ...

    def protected(self) -> list[Path]:
        """Files this source reads, which a run must never write to."""
        ...


def normalise(raw: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Per-image min-max to [0, 1] (near = 1: maps and MiDaS give inverse depth), rounded to float16 -> float32,
    plus the raw range. A flat map becomes all zeros (all far)."""
    raw = np.asarray(raw, dtype=np.float32)
    if not np.all(np.isfinite(raw)):
        raise BokehpipeError("non-finite depth values (NaN/inf); with --precision fp16/bf16 try fp32")
    lo, hi = float(raw.min()), float(raw.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.zeros_like(raw), lo, hi
    out = ((raw - lo) / (hi - lo)).astype(STORED_DTYPE).astype(np.float32)
    return out, lo, hi


def normalise_map(arr: np.ndarray, where: str | os.PathLike[str]) -> np.ndarray:
    """`normalise` for a map read from a file: a NaN or infinite value is that file's fault, named."""
    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ImageReadError(f"{where}: depth map holds NaN or infinite values; fix or regenerate it")
    return normalise(arr)[0]


def fit_to_photo(disp: np.ndarray, shape: tuple[int, ...], where: str | os.PathLike[str] = "depth map") -> np.ndarray:
    """A map at the photo's (height, width) (`shape` may be the photo's full shape): the project's resize
    policy (area down, bicubic up), the bicubic overshoot clipped to [0, 1]. A map already at that size is
    returned as float32 unchanged."""
    h, w = int(shape[0]), int(shape[1])
    disp = np.asarray(disp, dtype=np.float32)
    if disp.shape == (h, w):
        return disp
    check_map_fits(disp.shape, (h, w), where)  # another aspect ratio: refused, never stretched
    return np.clip(resize(disp, (w, h), clip=False), 0.0, 1.0)
