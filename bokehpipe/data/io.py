"""The one image decoder, the one resize policy and the image writers for the whole tool.

Every image and every depth map enters bokehpipe through `read_image` / `read_map`, and every change of
size goes through `resize`, so that a depth map computed in phase one lines up pixel for pixel with the
image that phase two and inference see.

Decoding (OpenCV): EXIF orientation applied (a phone portrait comes out upright); 8- and 16-bit; gray,
palette, RGBA (alpha dropped: EBB!-style photos are opaque) and CMYK JPEGs converted to RGB; float32 in
[0, 1]. A missing, zero-byte, truncated, corrupt or non-image file raises `ImageReadError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from bokehpipe.data.native_stderr import quiet_native_stderr
from bokehpipe.errors import ImageReadError
from bokehpipe.store import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
MAP_SUFFIXES = (".png", ".npy", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")

Interp = Literal["auto", "area", "linear", "cubic", "nearest"]
# One line per bad file is the user's view; OpenCV's own [ERROR]/[WARN] logging of the same decode failures
# (raised here as ImageReadError) would only repeat it as noise.
with contextlib.suppress(AttributeError):
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)

_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
           "nearest": cv2.INTER_NEAREST}


def is_image_file(path: str | os.PathLike[str]) -> bool:
    name = os.fspath(path)
    return name.lower().endswith(IMAGE_SUFFIXES) and not os.path.basename(name).startswith(".")


def _read_bytes(path: Path) -> np.ndarray:
    _check_regular_file(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a folder, not an image file") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror})") from None
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes); re-copy or re-download it")
    return data


def _check_regular_file(path: Path) -> None:
    """Only a regular file is read: a FIFO or a device named like a photo would block the reader for good."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ImageReadError(f"{path}: is a folder, not an image file")
    if not stat.S_ISREG(mode):
        raise ImageReadError(f"{path}: not a regular file (a pipe, socket or device named like an image); "
                             "remove it or move it out of the folder")


def _check_jpeg_complete(path: Path, data: np.ndarray) -> None:
    """libjpeg decodes a truncated JPEG into a grey-filled image with only a warning: catch it here."""
    if data.size >= 2 and data[0] == 0xFF and data[1] == 0xD8:
        tail = data[-4096:]
        tail = np.trim_zeros(tail, "b")  # some cameras pad after the end marker
        if tail.size < 2 or not (tail[-2] == 0xFF and tail[-1] == 0xD9):
            raise ImageReadError(f"{path}: truncated JPEG (no end-of-image marker); re-copy or re-download it")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


MAX_PIXELS_ENV = "BOKEHPIPE_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 250_000_000  # a 54 MP camera file is far inside; a 400 MP "photo" of 1 MB is a bomb
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def max_pixels() -> int:
    """The pixel budget a decoded image may have (BOKEHPIPE_MAX_PIXELS raises or lowers it)."""
    text = os.environ.get(MAX_PIXELS_ENV, "")
    try:
        value = int(float(text)) if text else DEFAULT_MAX_PIXELS
    except ValueError:
        raise ImageReadError(f"{MAX_PIXELS_ENV}={text!r}: expected a number of pixels, e.g. 400000000") from None
    return max(1, value)


def declared_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) a PNG, JPEG or BMP header declares, read without decoding; None for other formats."""
    head = data[:32].tobytes()
    if head.startswith(_PNG_SIGNATURE) and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head.startswith(b"BM") and len(head) >= 26:
        return abs(int.from_bytes(head[18:22], "little", signed=True)), abs(
            int.from_bytes(head[22:26], "little", signed=True))
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _jpeg_size(data: np.ndarray) -> tuple[int, int] | None:
    i, n = 2, data.size
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = int(data[i + 1])
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int(data[i + 2]) << 8 | int(data[i + 3])
        if marker in _JPEG_SOF:
            return int(data[i + 7]) << 8 | int(data[i + 8]), int(data[i + 5]) << 8 | int(data[i + 6])
        if marker in (0xD9, 0xDA) or length < 2:
            return None
        i += 2 + length
    return None


def _check_pixel_budget(path: Path, data: np.ndarray) -> None:
    """Refuse an image whose header declares more pixels than the budget, before decoding allocates them."""
    size = declared_size(data)
    if size is None:
        return
    w, h = size
    budget = max_pixels()
    if w * h > budget:
        raise ImageReadError(f"{path}: its header declares {w}x{h} = {w * h / 1e6:.0f} MP, above the pixel "
                             f"budget of {budget / 1e6:.0f} MP; if the image is genuine, raise it with "
                             f"{MAX_PIXELS_ENV}={w * h}")


def _check_png_complete(path: Path, data: np.ndarray) -> None:
    """Walk a PNG's chunks: a truncated file or a zero-size header is refused here, in one line, before libpng
    prints its own complaints to the terminal."""
    head = data[:8].tobytes()
    if len(head) < 8 and len(head) >= 2 and _PNG_SIGNATURE.startswith(head):
        raise ImageReadError(f"{path}: truncated PNG ({len(head)} bytes); re-copy or re-download it")
    if head != _PNG_SIGNATURE:
        return
    raw = memoryview(data)  # no copy of a large photo's bytes
    pos, first = 8, True
    while True:
        if pos + 8 > len(raw):
            raise ImageReadError(f"{path}: truncated PNG (ends before its IEND chunk); re-copy or re-download it")
        length = int.from_bytes(raw[pos:pos + 4], "big")
        kind = bytes(raw[pos + 4:pos + 8])
        if first:
            if kind != b"IHDR" or length < 8 or pos + 16 > len(raw):
                raise ImageReadError(f"{path}: damaged PNG (no IHDR header chunk)")
            width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
            if width == 0 or height == 0:
                raise ImageReadError(f"{path}: PNG declares a {width}x{height} image (empty)")
            first = False
        if pos + 12 + length > len(raw):
            raise ImageReadError(f"{path}: truncated PNG (its {kind.decode('latin-1')} chunk is cut short); "
                                 "re-copy or re-download it")
        if kind == b"IEND":
            return
        pos += 12 + length


def to_unit_float(img: np.ndarray, path: str | os.PathLike[str] = "image") -> np.ndarray:
    """Samples (8/16-bit or float) to float32 in [0, 1], scaled in place: one float copy (650 MB for a 54 MP
    photo), not two. `read_image` is `read_samples` followed by this; a window of a photo can be converted alone."""
    if img.dtype in (np.uint8, np.uint16):
        out = img.astype(np.float32)
        return np.divide(out, 255.0 if img.dtype == np.uint8 else 65535.0, out=out)
    if img.dtype in (np.float32, np.float64):
        return img.astype(np.float32)
    raise ImageReadError(f"{path}: unsupported sample type {img.dtype}; convert it to 8- or 16-bit PNG/JPEG")


def _decode(data: np.ndarray, flags: int, path: Path) -> np.ndarray | None:
    """`cv2.imdecode`, with OpenCV's own refusals (a header declaring more pixels than it will allocate, a
    zero-size image) turned into the one-line error; None when it simply cannot decode."""
    try:
        with quiet_native_stderr():  # libpng/libjpeg print their own lines; ours names the file once
            img = cv2.imdecode(data, flags)
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise ImageReadError(f"{path}: its header declares more than 2^30 pixels in a {data.size}-byte file; a "
                                 "damaged or hostile file, not a photo") from None
        raise ImageReadError(f"{path}: not a readable image (damaged header)") from None
    if img is not None and min(img.shape[:2]) == 0:
        raise ImageReadError(f"{path}: image of {img.shape[1]}x{img.shape[0]} pixels (empty)")
    return img


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file to an upright RGB float32 array (H, W, 3) in [0, 1]."""
    return to_unit_float(read_samples(path), path)


def read_samples(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file to an upright RGB array (H, W, 3) of its stored samples (uint8, uint16 or float),
    not yet scaled: training crops a window first and converts only that (`to_unit_float`)."""
    path = Path(path)
    data = _read_bytes(path)
    _check_pixel_budget(path, data)
    _check_jpeg_complete(path, data)
    _check_png_complete(path, data)
    # IMREAD_COLOR applies EXIF orientation and converts gray/palette/RGBA/CMYK to 3 channels;
    # IMREAD_ANYDEPTH keeps 16-bit samples.
    img = _decode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH, path)
    del data
    if img is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt, or not an image despite its name)")
    cv2.cvtColor(img, cv2.COLOR_BGR2RGB, dst=img)  # in place, before the 4x larger float copy exists
    return img


def read_map(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a single-channel map (depth/disparity): 8/16-bit PNG, float TIFF or `.npy` -> float32 (H, W).

    Integer maps are scaled to [0, 1] by their bit depth; `.npy` and float TIFF values are kept as stored.
    A colour file is accepted only when its channels are equal (some tools save gray depth as RGB): a
    colour-mapped visualisation (turbo, magma, ...) averaged to gray is wrong depth, so it is refused.
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise ImageReadError(f"{path}: file not found") from None
        except (ValueError, OSError) as exc:
            raise ImageReadError(f"{path}: not a readable .npy array ({exc})") from None
        arr = np.squeeze(np.asarray(arr))
        if arr.ndim != 2:
            raise ImageReadError(f"{path}: expected a 2-D depth array, got shape {arr.shape}")
        return arr.astype(np.float32)
    data = _read_bytes(path)
    _check_pixel_budget(path, data)
    _check_jpeg_complete(path, data)
    _check_png_complete(path, data)
    img = _decode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR, path)
    if img is None:
        raise ImageReadError(f"{path}: not a readable depth map (corrupt, or not an image despite its name)")
    img = to_unit_float(img, path)
    if img.ndim == 3:
        img = _gray_channels(img[..., :3], path)
    return np.ascontiguousarray(img, dtype=np.float32)


GRAY_TOLERANCE = 2.5 / 255  # JPEG chroma rounding of a gray map; a colour map differs by far more


def _gray_channels(img: np.ndarray, path: Path) -> np.ndarray:
    spread = float((img.max(axis=2) - img.min(axis=2)).max()) if img.size else 0.0
    if spread > GRAY_TOLERANCE:
        raise ImageReadError(f"{path}: a colour depth map (its R, G and B differ by up to {spread * 255:.0f}/255); "
                             "it looks like a colour-mapped visualisation, and averaging it to gray would give "
                             "wrong depth. Pass the raw disparity instead: a single-channel 8/16-bit PNG or .npy "
                             "(near = bright)")
    return img.mean(axis=2)


def resize(arr: np.ndarray, size: tuple[int, int], interp: Interp = "auto", *, clip: bool | None = None) -> np.ndarray:
    """The one resize policy. `size` is (width, height), OpenCV order.

    `auto` uses area averaging when shrinking (no aliasing) and bicubic when enlarging; results of cubic
    interpolation on images are clipped to [0, 1] (`clip=None` clips 3-channel arrays only, so depth/
    disparity maps with values outside [0, 1] survive).
    """
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"resize target must be positive, got {w}x{h}")
    src_h, src_w = arr.shape[:2]
    if (src_w, src_h) == (w, h):
        return arr.copy()
    if interp == "auto":
        interp = "area" if (w <= src_w and h <= src_h) else "cubic"
    out = cv2.resize(arr, (w, h), interpolation=_INTERP[interp])
    if clip is None:
        clip = arr.ndim == 3
    if clip and interp == "cubic":
        np.clip(out, 0.0, 1.0, out=out)
    return out


ASPECT_TOLERANCE = 0.02  # half-size maps of odd-sized photos differ by far less; another crop by far more


def check_map_fits(map_shape: tuple[int, ...], image_shape: tuple[int, ...], where: str | os.PathLike[str]) -> None:
    """The one rule for a depth map of another size (every command that pairs maps with photos): any scale
    is fine, another aspect ratio is refused, naming both sizes (stretching it would misplace all depth)."""
    mh, mw = map_shape[:2]
    h, w = image_shape[:2]
    if min(mh, mw, h, w) <= 0:
        raise ImageReadError(f"{where}: depth map is {mw}x{mh} and the photo {w}x{h}; both need pixels")
    if abs(mw / mh - w / h) > ASPECT_TOLERANCE * (w / h):
        raise ImageReadError(f"{where}: depth map is {mw}x{mh} but the photo is {w}x{h} (another aspect ratio); "
                             "it is for another crop or orientation: give the map made for this photo")


ENCODE_ROWS = 256  # rows converted at a time: float temporaries stay small whatever the photo size


def _encode(arr: np.ndarray, *, bits: int) -> np.ndarray:
    arr = np.asarray(arr)
    scale = 65535.0 if bits == 16 else 255.0
    out = np.empty(arr.shape, np.uint16 if bits == 16 else np.uint8)
    for y in range(0, arr.shape[0], ENCODE_ROWS):
        rows = np.clip(np.asarray(arr[y:y + ENCODE_ROWS], dtype=np.float32), 0.0, 1.0) * scale
        out[y:y + ENCODE_ROWS] = np.clip(np.rint(rows), 0, scale)
    if out.ndim == 3:
        cv2.cvtColor(out, cv2.COLOR_RGB2BGR, dst=out)  # in place, for OpenCV
    return out


def _write_encoded(path: Path, img: np.ndarray, ext: str, params: list[int]) -> Path:
    """Encode in memory, then write the bytes through Python into a temporary file that replaces `path`: any
    file name the OS takes works (OpenCV's own writer crashes on names that are not UTF-8), and a full disk is
    said as such. A folder standing where the file should go is refused by its own name."""
    kind = ext.lstrip(".").upper()
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, so the {kind} cannot be written there; move it or choose "
                             "another output")
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise ImageReadError(f"{path}: OpenCV could not encode the {kind}")
    try:
        with atomic_path(path, suffix=ext) as tmp, open(tmp, "wb") as fh:
            buf.tofile(fh)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ImageReadError(f"{path}: cannot write the {kind} ({why}); free space or choose another output "
                             "folder (nothing earlier was changed)") from None
    return path


def write_png(path: str | os.PathLike[str], arr: np.ndarray, *, bits: int = 8) -> Path:
    """Write an RGB (H, W, 3) or gray (H, W) float array in [0, 1] as 8- or 16-bit PNG, atomically."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    return _write_encoded(Path(path), _encode(arr, bits=bits), ".png", [cv2.IMWRITE_PNG_COMPRESSION, 3])


def write_jpeg(path: str | os.PathLike[str], arr: np.ndarray, *, quality: int = 95) -> Path:
    """Write an RGB float array in [0, 1] as a JPEG (4:2:0, like camera files), atomically."""
    return _write_encoded(Path(path), _encode(arr, bits=8), ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)])


def write_image(path: str | os.PathLike[str], arr: np.ndarray, *, quality: int = 95) -> Path:
    """Pick the writer from the extension: .png (8-bit) or .jpg/.jpeg."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        return write_png(path, arr)
    if suffix in (".jpg", ".jpeg"):
        return write_jpeg(path, arr, quality=quality)
    raise ValueError(f"{path}: unsupported output format {suffix!r}; use .png or .jpg")


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) after EXIF orientation, by decoding the file (catches corrupt files too)."""
    img = read_image(path)
    return img.shape[1], img.shape[0]
