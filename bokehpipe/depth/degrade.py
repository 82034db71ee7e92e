"""Degraded depth, for measuring how much depth quality matters (report, experiment 1).

The paper fed PyNET MegaDepth maps stored as 8-bit PNGs at half resolution (`original_depth/`): coarse,
smoothed and quantised. `paper` imitates that from a clean map: a Gaussian blur of `sigma` px at half
resolution (MegaDepth's predictions are soft at object edges), area downsampling to half the photo's size,
and quantisation to 8 bits. Cached under `<source>-<name>`, so degraded and clean maps never mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bokehpipe.data.io import resize
from bokehpipe.errors import BokehpipeError


@dataclass(frozen=True)
class Degradation:
    name: str
    scale: float  # output size relative to the photo
    blur_sigma: float  # px at the output size
    bits: int

    def describe(self) -> str:
        return (f"{self.name}: resize to x{self.scale} of the photo (area), Gaussian blur sigma {self.blur_sigma} px, "
                f"quantised to {self.bits} bits")

    def apply(self, disparity01: np.ndarray, photo_size: tuple[int, int]) -> np.ndarray:
        """A [0, 1] map at any size -> the degraded map at `scale` x the photo's (width, height)."""
        w, h = photo_size
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        out = resize(np.asarray(disparity01, np.float32), size, clip=False)
        if self.blur_sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), self.blur_sigma, borderType=cv2.BORDER_REFLECT)
        levels = 2**self.bits - 1
        return np.round(np.clip(out, 0.0, 1.0) * levels) / levels


DEGRADATIONS: dict[str, Degradation] = {"paper": Degradation("paper", scale=0.5, blur_sigma=2.0, bits=8)}


def get_degradation(name: str | None) -> Degradation | None:
    if name in (None, "", "none"):
        return None
    try:
        return DEGRADATIONS[name]
    except KeyError:
        raise BokehpipeError(f"unknown --degrade {name!r}; choose from none, {', '.join(DEGRADATIONS)}") from None


def monocular_like(disparity01: np.ndarray, rng: np.random.Generator, *, strength: float = 1.0) -> np.ndarray:
    """A clean [0, 1] disparity map made to look like a monocular estimate (MiDaS) of the same photo.

    What a network meets at inference and a layered synthetic map lacks: a mild non-linear disparity curve,
    object edges displaced by a few pixels (grey dilation or erosion: the foreground grows or shrinks),
    soft edges (Gaussian blur), a smooth low-frequency error, and min-max renormalisation to [0, 1].
    Sizes are relative to the map's width (tuned at 384 px); `strength` 0 returns the map renormalised.
    """
    d = np.asarray(disparity01, np.float32)
    h, w = d.shape
    px = w / 384.0 * strength
    if strength > 0:
        d = np.power(np.clip(d, 0.0, 1.0), np.float32(np.exp(rng.uniform(-0.35, 0.35) * strength)))
        r = int(round(rng.uniform(0.0, 3.0) * px))
        if r > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            d = cv2.dilate(d, kernel) if rng.random() < 0.6 else cv2.erode(d, kernel)
        sigma = rng.uniform(0.5, 3.0) * px
        if sigma > 0.3:
            d = cv2.GaussianBlur(d, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        gh, gw = 3, 4
        coarse = rng.normal(0.0, 0.04 * strength, (gh, gw)).astype(np.float32)
        d = d + cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    lo, hi = float(d.min()), float(d.max())
    return ((d - lo) / max(hi - lo, 1e-6)).astype(np.float32)
