"""A virtual lens on a photo: the sensor width that gives the photo's own field of view, for lens-true blur
from metric depth (`bokehpipe.physics.metric_to_relative`).

A photo whose Exif records `FocalLengthIn35mmFilm` (f35) shows the field of view of an f35 lens on a 36 mm
frame; a virtual lens of focal length f then needs a sensor `36 * f / f35` wide to show the same view. A photo
without it is taken to have EBB!'s field of view: a 50 mm lens on an APS-C (22.3 mm) sensor.
"""

from __future__ import annotations

import os

from bokehpipe.physics import APSC_SENSOR_MM, FULL_FRAME_MM, Lens

DEFAULT_FOCAL_MM = 50.0


def sensor_width(focal_mm: float, focal_35mm: float | None) -> float:
    """The sensor width (mm) on which a `focal_mm` lens shows a photo's field of view: from its Exif 35 mm
    equivalent when recorded, else EBB!'s (50 mm on APS-C)."""
    if focal_35mm:
        return FULL_FRAME_MM * focal_mm / focal_35mm
    return APSC_SENSOR_MM * focal_mm / DEFAULT_FOCAL_MM


def lens_for_photo(path: str | os.PathLike[str] | None, *, focal_mm: float = DEFAULT_FOCAL_MM,
                   f_number: float = 1.8) -> tuple[Lens, str]:
    """(the virtual lens, a line saying where its field of view came from) for the photo at `path`."""
    from bokehpipe.data.exif import focal_length_35mm

    f35 = focal_length_35mm(path) if path is not None else None
    lens = Lens(focal_mm, f_number, sensor_width(focal_mm, f35))
    if f35:
        return lens, f"field of view from Exif: {f35:g} mm full-frame equivalent"
    default_f35 = FULL_FRAME_MM * DEFAULT_FOCAL_MM / APSC_SENSOR_MM
    return lens, (f"no Exif focal length: EBB!'s field of view assumed (50 mm on APS-C, {default_f35:.0f} mm "
                  "full-frame equivalent)")


def virtual_lens(aperture: float | None, f_number: float | None, focal_mm: float = DEFAULT_FOCAL_MM) -> Lens | None:
    """The lens a metric map is rendered with: `focal_mm` at the f-number given (default EBB!'s f/1.8); none when
    the aperture was given as an internal scale (a blur strength, not a lens)."""
    from bokehpipe.render.calibration import DEFAULT_F_NUMBER

    if aperture is not None and f_number is None:
        return None
    return Lens(focal_mm, f_number or DEFAULT_F_NUMBER)
