"""A generated corpus of malformed inputs for the fuzz-style test (issue 13): helpers, not tests."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_header(width: int, height: int, bit_depth: int = 8, colour: int = 2, idat: bytes = b"") -> bytes:
    """A PNG whose IHDR declares any size (valid CRCs), with a tiny (or no) image stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(idat))
            + _png_chunk(b"IEND", b""))


def insert_chunk(png: bytes, kind: bytes, data: bytes, crc: bytes | None = None) -> bytes:
    """`png` with one more chunk before its first IDAT (`crc` overrides the right checksum)."""
    chunk = _png_chunk(kind, data)
    if crc is not None:
        chunk = chunk[:-4] + crc
    i = png.find(b"IDAT") - 4
    return png[:i] + chunk + png[i:]


def jpeg_with_size(good: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF0 marker declares another size."""
    i = good.find(b"\xff\xc0")
    assert i > 0
    return good[:i + 5] + struct.pack(">HH", height, width) + good[i + 9:]


def encode(img: np.ndarray, ext: str) -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def build(root: Path, seed: int = 0) -> dict[str, list[Path]]:
    """`root/images` + `root/depth_maps` (the `folder` layout). Returns {"good": photos whose photo and map are
    both fine, "bad_photos": ..., "bad_maps": ..., "unreadable": chmod-000 files}."""
    rng = np.random.default_rng(seed)
    images, maps = root / "images", root / "depth_maps"
    images.mkdir(parents=True)
    maps.mkdir(parents=True)
    photo = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    disp = (rng.random((30, 40)) * 65535).astype(np.uint16)
    good_png, good_jpg, good_map = encode(photo, ".png"), encode(photo, ".jpg"), encode(disp, ".png")
    out: dict[str, list[Path]] = {"good": [], "bad_photos": [], "bad_maps": [], "unreadable": []}

    def put(folder: Path, name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    # good photos that make the image libraries talk on stderr: an ancillary chunk with a bad CRC (libpng
    # warns, then decodes) and a JPEG cut and re-terminated ("Corrupt JPEG data", grey-filled but decodable)
    quirk_png = insert_chunk(good_png, b"tEXt", b"a\x00bcd", crc=b"\x00\x00\x00\x00")
    quirk_jpg = good_jpg[:len(good_jpg) // 2] + b"\xff\xd9"
    for name, data in (("good_a.png", good_png), ("good_b.jpg", good_jpg), ("quirk_text_crc.png", quirk_png),
                       ("quirk_cut.jpg", quirk_jpg)):
        out["good"].append(put(images, name, data))
        put(maps, Path(name).stem + ".png", good_map)
    bad: dict[str, bytes] = {}
    for cut in sorted({0, 1, 7, 8, 16, 33, 45, len(good_png) // 2, len(good_png) - 13, len(good_png) - 1}):
        bad[f"trunc_png_{cut}.png"] = good_png[:cut]
    for cut in sorted({2, 4, 20, 100, len(good_jpg) // 2, len(good_jpg) - 2}):
        bad[f"trunc_jpg_{cut}.jpg"] = good_jpg[:cut]
    bad["magic_png.png"] = b"GIF89a" + good_png[6:]
    bad["magic_jpg.jpg"] = b"\x00\x00" + good_jpg[2:]
    bad["text.jpg"] = b"this is not an image\n" * 4
    bad["zero_w.png"] = png_with_header(0, 30)
    bad["zero_h.png"] = png_with_header(40, 0)
    bad["huge.png"] = png_with_header(100_000, 100_000, idat=b"\x00" * 64)
    bad["huge_16bit.png"] = png_with_header(70_000, 70_000, bit_depth=16, colour=0, idat=b"\x00" * 64)
    bad["huge_jpg.jpg"] = jpeg_with_size(good_jpg, 65_000, 65_000)
    bad["zero_jpg.jpg"] = jpeg_with_size(good_jpg, 0, 30)
    idat = good_png.find(b"IDAT") - 4
    n_idat = int.from_bytes(good_png[idat:idat + 4], "big")
    garbage = b"\x78\x9c" + rng.integers(0, 256, n_idat, dtype=np.uint8).tobytes()
    bad["bad_idat.png"] = good_png[:idat] + _png_chunk(b"IDAT", garbage) + good_png[idat + 12 + n_idat:]  # libpng error
    for name, data in bad.items():
        out["bad_photos"].append(put(images, name, data))
        put(maps, Path(name).stem + ".png", good_map)
        out["bad_maps"].append(put(maps, f"m_{Path(name).stem}.png", data))
        put(images, f"m_{Path(name).stem}.png", good_png)
    # symlinks: a loop, a dangling link (bad), a link to a good photo (good)
    os.symlink("loop_b.png", images / "loop_a.png")
    os.symlink("loop_a.png", images / "loop_b.png")
    os.symlink("missing.png", images / "dangling.png")
    out["bad_photos"] += [images / "loop_a.png", images / "loop_b.png", images / "dangling.png"]
    for name in ("loop_a", "loop_b", "dangling"):
        put(maps, f"{name}.png", good_map)
    (root / "elsewhere").mkdir()
    put(root / "elsewhere", "good_c.png", good_png)
    os.symlink("../elsewhere/good_c.png", images / "link_good.png")  # a photo linked from outside FOLDER
    put(maps, "link_good.png", good_map)
    out["good"].append(images / "link_good.png")
    # unreadable: as root, permission bits do not stop reads (handled honestly by the test)
    locked = put(images, "locked.png", good_png)
    put(maps, "locked.png", good_map)
    os.chmod(locked, 0)
    out["unreadable"].append(locked)
    good_maps_for_bad = {p.name for p in out["bad_maps"]}
    assert all((maps / (p.stem + ".png")).exists() for p in images.iterdir() if p.name not in good_maps_for_bad)
    return out


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file (links by their target text), so any change to an input shows."""
    import hashlib

    digest: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                digest[rel] = "link:" + os.readlink(path)
            else:
                mode = path.stat().st_mode
                digest[rel] = f"{mode:o}:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return digest
