"""Degraded depth, for measuring how much depth quality matters.

The paper fed PyNET MegaDepth maps stored as 8-bit PNGs at half resolution (`original_depth/`): coarse,
smoothed and quantised. `paper` imitates that from a clean map: a Gaussian blur of `sigma` px at half
resolution (MegaDepth's predictions are soft at object edges), area downsampling to half the photo's size,
and quantisation to 8 bits. Blur alone is kind, though: a monocular estimate (MiDaS, MegaDepth) is also wrong
in ways a blur never is. `mono` adds those errors, drawn per image from a seed of the photo's id: a global
curve (relative depth is only known up to scale, shift and a monotone warp, so the focus plane's value moves),
a smooth low-frequency error field (planes that tilt, far regions that bulge), and thin near structures lost
(a grey opening removes branches and hair thinner than a few pixels). Cached under `<source>-<name>`, so
degraded and clean maps never mix.

`monocular_like` is BokehNet's per-example recipe (random edge shifts and blur per draw, min-max renormalised;
the shipped weights' provenance names it). It is not folded into `mono`: each recipe is the provenance of
published numbers (`mono`: the report's exp_depth study; `monocular_like`: bokehnet.pt), and
tests/test_degrade.py pins both, so neither may change.
"""

from __future__ import annotations

import zlib
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
    # monocular-style errors (0 = off): per-image curve d' = gain * d**gamma + shift with |log gamma|,
    # |gain - 1| and |shift| up to these; a smooth error field of this amplitude on a 4x3 grid; a grey opening
    # of this many px (at the output size) that removes thin near structures
    gamma: float = 0.0
    gain: float = 0.0
    shift: float = 0.0
    field: float = 0.0
    opening_px: int = 0

    def describe(self) -> str:
        text = (f"{self.name}: resize to x{self.scale} of the photo (area), Gaussian blur sigma {self.blur_sigma} px, "
                f"quantised to {self.bits} bits")
        if self.monocular:
            text += (f"; per image: curve gain*d^gamma+shift (|log gamma|<={self.gamma}, |gain-1|<={self.gain}, "
                     f"|shift|<={self.shift}), smooth error field +-{self.field}, grey opening {self.opening_px} px")
        return text

    @property
    def monocular(self) -> bool:
        return bool(self.gamma or self.gain or self.shift or self.field or self.opening_px)

    def apply(self, disparity01: np.ndarray, photo_size: tuple[int, int], key: str = "") -> np.ndarray:
        """A [0, 1] map at any size -> the degraded map at `scale` x the photo's (width, height). `key` (the
        photo's id) seeds the monocular errors, so a map degrades the same way every time."""
        w, h = photo_size
        size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        out = resize(np.asarray(disparity01, np.float32), size, clip=False)
        if self.opening_px > 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (self.opening_px, self.opening_px))
            out = cv2.morphologyEx(out, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REFLECT)
        if self.blur_sigma > 0:
            out = cv2.GaussianBlur(out, (0, 0), self.blur_sigma, borderType=cv2.BORDER_REFLECT)
        if self.monocular:
            out = self._monocular_errors(out, np.random.default_rng(zlib.crc32(key.encode())))
        levels = 2**self.bits - 1
        return np.round(np.clip(out, 0.0, 1.0) * levels) / levels

    def _monocular_errors(self, disp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        gamma = float(np.exp(rng.uniform(-self.gamma, self.gamma)))
        gain = 1.0 + rng.uniform(-self.gain, self.gain)
        shift = rng.uniform(-self.shift, self.shift)
        out = gain * np.clip(disp, 0.0, 1.0) ** gamma + shift
        if self.field > 0:
            grid = rng.uniform(-self.field, self.field, size=(3, 4)).astype(np.float32)
            out = out + cv2.resize(grid, (disp.shape[1], disp.shape[0]), interpolation=cv2.INTER_CUBIC)
        return out.astype(np.float32)


DEGRADATIONS: dict[str, Degradation] = {
    "paper": Degradation("paper", scale=0.5, blur_sigma=2.0, bits=8),
    "mono": Degradation("mono", scale=0.5, blur_sigma=3.0, bits=8, gamma=0.35, gain=0.15, shift=0.08,
                        field=0.08, opening_px=5),
}


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
