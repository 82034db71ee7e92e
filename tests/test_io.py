"""The one decoder: orientation, bit depth, colour models, and one error type for every broken file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from bokehpipe.data.io import read_image, read_map, resize, write_jpeg, write_png
from bokehpipe.errors import ImageReadError


def _strip_image() -> np.ndarray:
    """40x20 landscape, red strip on the left 10 columns, black elsewhere."""
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :10] = [255, 0, 0]
    return a


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees clockwise
    Image.fromarray(_strip_image()).save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    img = read_image(tmp_path / "rot.jpg")
    assert img.shape == (40, 20, 3)  # portrait after orientation
    assert img[:8, :, 0].mean() > 0.9 and img[:8, :, 1].mean() < 0.1  # the left strip is now on top
    assert img[15:, :, 0].mean() < 0.1


def test_sixteen_bit_png_keeps_precision(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "ramp.png"), ramp)
    img = read_image(tmp_path / "ramp.png")
    assert img.dtype == np.float32 and img.shape == (64, 64, 3)
    assert np.unique(img[..., 0]).size == 4096  # 8-bit would collapse to 256 levels
    np.testing.assert_allclose(img[..., 0], ramp / 65535.0, atol=1e-6)
    depth = read_map(tmp_path / "ramp.png")
    assert depth.shape == (64, 64) and np.unique(depth).size == 4096


def test_cmyk_jpeg_and_rgba_png_and_palette_come_out_rgb(tmp_path):
    Image.fromarray(_strip_image()).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    cmyk = read_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (20, 40, 3)
    np.testing.assert_allclose(cmyk[10, 3], [1, 0, 0], atol=0.05)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png")
    assert out.shape == (8, 8, 3)
    np.testing.assert_allclose(out[0, 0], [0, 200 / 255, 0], atol=1e-6)
    Image.fromarray(_strip_image()).convert("P").save(tmp_path / "pal.png")
    np.testing.assert_allclose(read_image(tmp_path / "pal.png")[5, 2], [1, 0, 0], atol=1e-6)
    Image.fromarray(_strip_image()[..., 0]).save(tmp_path / "gray.png")
    assert read_image(tmp_path / "gray.png").shape == (20, 40, 3)


@pytest.mark.parametrize("kind,expect", [
    ("zero", "empty file"), ("text", "not a readable image"), ("truncated", "truncated JPEG"),
    ("missing", "not found"), ("corrupt_png", "truncated PNG"),
])
def test_broken_files_raise_one_error_type_naming_the_file(tmp_path, kind, expect):
    good = tmp_path / "good.jpg"
    write_jpeg(good, np.random.default_rng(0).random((32, 48, 3), dtype=np.float32))
    path = tmp_path / f"{kind}.jpg"
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a JPEG\n")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "corrupt_png":
        path = tmp_path / "corrupt.png"
        write_png(path, np.zeros((8, 8, 3), np.float32))
        data = bytearray(path.read_bytes())
        data[40:60] = b"\x00" * 20
        path.write_bytes(bytes(data[:60]))
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(path) in str(info.value) and expect in str(info.value)


def test_writers_round_trip_and_are_atomic(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.random((16, 24, 3), dtype=np.float32)
    write_png(tmp_path / "a.png", img, bits=16)
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), img, atol=1 / 65535)
    write_png(tmp_path / "a8.png", img)
    np.testing.assert_allclose(read_image(tmp_path / "a8.png"), img, atol=0.5 / 255 + 1e-6)
    smooth = resize(img, (240, 160), "linear")  # JPEG keeps smooth content, not per-pixel colour noise
    write_jpeg(tmp_path / "a.jpg", smooth, quality=95)
    assert np.abs(read_image(tmp_path / "a.jpg") - smooth).mean() < 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "a.png", "a8.png"]  # no temp files left


def test_resize_policy_area_down_cubic_up_and_maps_unclipped():
    img = np.random.default_rng(2).random((64, 96, 3), dtype=np.float32)
    down = resize(img, (48, 32))
    np.testing.assert_allclose(down[0, 0], img[:2, :2].mean(axis=(0, 1)), atol=1e-5)  # area average
    up = resize(img, (192, 128))
    assert up.shape == (128, 192, 3) and up.min() >= 0 and up.max() <= 1
    depth = np.linspace(-1, 2, 64 * 96, dtype=np.float32).reshape(64, 96)
    assert resize(depth, (192, 128)).max() > 1.5  # maps are not clipped to [0, 1]
    with pytest.raises(ValueError):
        resize(img, (0, 10))
