"""The one EXIF field bokehpipe needs beyond orientation: `FocalLengthIn35mmFilm` (tag 0xA405), which fixes a
photo's field of view, so a virtual lens's blur can be given in that photo's pixels.

OpenCV applies the orientation tag but exposes no other; this reads the JPEG's APP1 Exif segment (a TIFF
structure: IFD0, then the Exif sub-IFD it points to with tag 0x8769) directly, without another dependency.
Anything unexpected (no Exif, another file type, a damaged segment) is simply "not recorded": None.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

EXIF_IFD_POINTER = 0x8769
FOCAL_LENGTH_35MM = 0xA405
_MAX_SEGMENT_SCAN = 64  # JPEG segments looked at before giving up (APP1 comes first in practice)


def focal_length_35mm(path: str | os.PathLike[str]) -> float | None:
    """The 35 mm-equivalent focal length recorded in a JPEG's Exif, in mm, or None."""
    try:
        tiff = _exif_tiff(Path(path))
        return None if tiff is None else _ifd_value(tiff, FOCAL_LENGTH_35MM)
    except (OSError, struct.error, ValueError, IndexError):
        return None


def _exif_tiff(path: Path) -> bytes | None:
    with path.open("rb") as fh:
        if fh.read(2) != b"\xff\xd8":
            return None
        for _ in range(_MAX_SEGMENT_SCAN):
            marker = fh.read(2)
            if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):  # end, or image data begins
                return None
            size = struct.unpack(">H", fh.read(2))[0]
            body = fh.read(size - 2)
            if marker[1] == 0xE1 and body.startswith(b"Exif\x00\x00"):
                return body[6:]
    return None


def _ifd_value(tiff: bytes, tag: int) -> float | None:
    """`tag` from the Exif sub-IFD of a TIFF block (either byte order), as a number."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    ifd0 = struct.unpack(order + "I", tiff[4:8])[0]
    pointer = _entry(tiff, order, ifd0, EXIF_IFD_POINTER)
    if pointer is None:
        return None
    value = _entry(tiff, order, int(pointer), tag)
    return None if value is None or value <= 0 else float(value)


def _entry(tiff: bytes, order: str, offset: int, tag: int) -> int | None:
    """The value of a SHORT or LONG entry `tag` in the IFD at `offset` (values stored in the entry itself)."""
    count = struct.unpack(order + "H", tiff[offset:offset + 2])[0]
    for i in range(count):
        start = offset + 2 + 12 * i
        entry_tag, kind = struct.unpack(order + "HH", tiff[start:start + 4])
        if entry_tag != tag:
            continue
        if kind == 3:  # SHORT
            return struct.unpack(order + "H", tiff[start + 8:start + 10])[0]
        if kind == 4:  # LONG (also how the Exif IFD pointer is stored)
            return struct.unpack(order + "I", tiff[start + 8:start + 12])[0]
        return None
    return None
