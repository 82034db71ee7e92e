"""Apertures as photographers name them: f-numbers mapped onto the renderers' internal aperture scale.

The renderers take an internal `aperture` scale: CoC radius = aperture * K_REF * (width / 1536) * |d - focus|
pixels (`bokehpipe.physics`). A photographer says "f/2.8". The thin lens makes the blur diameter
proportional to 1/N, and the input photos (EBB!, VABD) are shot at f/16, so they already carry a little
blur; the blur a renderer must *add* is modelled as `a(N) = k * (1/N - 1/16)`, one constant k for all N.

k is measured, not guessed: it is the k whose renders of real f/16 -> f/N pairs (VABD at three f-numbers,
EBB! at f/1.8) best match the real photos, at the best focus and after forgiving the targets' exposure, so
that it describes the lens rather than the focus rule (the repository's `studies/calibrate.py` measures it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bokehpipe.errors import BokehpipeError
from bokehpipe.physics import F_NUMBER_INPUT

CALIBRATION_K = 1.065
"""Internal aperture per unit of (1/N - 1/16), fitted on real pairs (module docstring)."""
DEFAULT_F_NUMBER = 1.8
"""EBB!'s look: the Canon 70D targets are shot at f/1.8."""

_F_NUMBER = re.compile(r"^\s*[fF]\s*/?\s*(?P<n>[^\s/]+)\s*$")


def aperture_for_f_number(n: float) -> float:
    """The internal aperture that renders an f/16 photo as if shot at f/`n` (`k * (1/n - 1/16)`)."""
    if not (isinstance(n, (int, float)) and math.isfinite(n) and n > 0):
        raise BokehpipeError(f"f-number must be a finite number > 0, got {n!r}; e.g. f/1.8 or f/2.8")
    if n >= F_NUMBER_INPUT:
        raise BokehpipeError(f"f/{n:g} is no wider than the f/{F_NUMBER_INPUT:g} input photo, so there is no blur to "
                             f"add; choose an f-number below {F_NUMBER_INPUT:g}, e.g. f/1.8")
    return CALIBRATION_K * (1.0 / n - 1.0 / F_NUMBER_INPUT)


def f_number_for_aperture(aperture: float) -> float:
    """The f-number an internal aperture corresponds to (inverse of `aperture_for_f_number`), for messages."""
    return 1.0 / (aperture / CALIBRATION_K + 1.0 / F_NUMBER_INPUT)


MIN_F_NUMBER = 0.7
"""The widest f-number taken (the fastest lenses made are about f/0.95); below it the blur is no lens's."""
MAX_APERTURE = 4.0
"""The largest internal scale taken: about 8 times f/1.8's blur (a CoC radius of 160 px across the whole
disparity range of a 1536-px-wide photo); beyond it a render is a smear whose memory grows without bound."""


def parse_aperture(text: str) -> float:
    """Read an aperture as a user types it: "f/2.8", "F/2.8", "f2.8" are f-numbers; a plain number such as
    "0.5" is the internal scale itself (the one the synthetic sets record). Returns the internal scale."""
    raw = str(text)
    match = _F_NUMBER.match(raw)
    try:
        value = float(match.group("n") if match else raw)
    except ValueError:
        value = math.nan
    if match:
        if not (math.isfinite(value) and value > 0):
            raise BokehpipeError(f"aperture {raw!r}: the f-number must be a number > 0; write it like f/1.8 or f/2.8")
        if value < MIN_F_NUMBER:
            raise BokehpipeError(f"aperture {raw!r}: f-numbers below f/{MIN_F_NUMBER:g} are wider than any lens; "
                                 "choose one such as f/1.4 or f/2.8")
        return aperture_for_f_number(value)
    if not (math.isfinite(value) and 0 < value <= MAX_APERTURE):
        raise BokehpipeError(f"aperture {raw!r} is neither an f-number (f/1.8, f/2.8) nor an internal scale in "
                             f"(0, {MAX_APERTURE:g}] (f/1.8 is {DEFAULT_APERTURE_TEXT})")
    return value


DEFAULT_APERTURE = aperture_for_f_number(DEFAULT_F_NUMBER)
"""The internal aperture of the calibrated f/1.8 look: the default everywhere an aperture is not given."""
DEFAULT_APERTURE_TEXT = f"{DEFAULT_APERTURE:.3f}"


@dataclass(frozen=True)
class Aperture:
    """An aperture as a user gave it: the internal scale, and how a message names it (the f-number as typed, or
    the scale with the f-number it corresponds to)."""

    scale: float
    label: str
    f_number: float | None = None  # when typed as an f-number: what a lens-true render of a metric map uses


def read_aperture(text: str) -> Aperture:
    """`parse_aperture` plus the name to print: "f/2.8" stays "f/2.8", "0.5" becomes "0.5 (about f/1.9)"."""
    scale = parse_aperture(text)
    match = _F_NUMBER.match(text)
    if match:
        return Aperture(scale, text.strip(), float(match.group("n")))
    return Aperture(scale, f"{scale:g} (about f/{f_number_for_aperture(scale):.2g})")
