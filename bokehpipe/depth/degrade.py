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
