"""The refocus gallery's files and decisions, without a browser (tests/test_refocus_browser.py drives the page).

Planes: the auto-focus plus the clickable depths, a small near subject included; renders: the caller's
renderer at the product's f-number calibration, f/16 being the photo itself; the page: self-contained (no
URL outside its folder), its click grid pointing at the plane of what is there, its size stated.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bokehpipe.errors import BokehpipeError
from bokehpipe.infer.refocus import (
    ORIGINAL,
    RefocusPhoto,
    focus_planes,
    plane_tolerance,
    preview_size,
    shared_renders,
    write_refocus_gallery,
)
from bokehpipe.render.calibration import aperture_for_f_number
from bokehpipe.render.focus import choose_focus, focus_at


def _scene(w: int = 160, h: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Far textured background (0.05), a mid-depth central block (0.45) and a small near square (0.95)."""
    rng = np.random.default_rng(seed)
    image = rng.random((h, w, 3)).astype(np.float32)
    disp = np.full((h, w), 0.05, np.float32)
    disp[h // 4:3 * h // 4, w // 3:2 * w // 3] = 0.45
    disp[4:26, 4:26] = 0.95  # 3% of the photo (focus_at's window fits in it): quantiles would merge it away
    return image, disp


class Recorder:
    """A stand-in renderer that records its calls and returns a recognisable image."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, int], float, float]] = []

    def __call__(self, image: np.ndarray, disparity: np.ndarray, focus: float, aperture: float) -> np.ndarray:
        assert image.shape[:2] == disparity.shape
        self.calls.append((disparity.shape, focus, aperture))
        return np.clip(image * 0.5 + aperture * 0.1, 0, 1)


def _page_data(page: Path) -> dict:
    text = page.read_text(encoding="utf-8")
    block = re.search(r'<script type="application/json" id="refocus-data">(.*?)</script>', text, re.S)
    assert block, "the page carries its data as one JSON block"
    return json.loads(block.group(1))


def test_planes_hold_the_auto_focus_and_every_clickable_depth():
    grid = np.full((20, 30), 0.05, np.float32)
    grid[5:15, 10:20] = 0.45
    grid[1:3, 1:3] = 0.95  # 4 of 600 cells: clickable (>= 0.5%)
    planes = focus_planes(grid, 0.45, 6, 0.02)
    assert planes == sorted(planes) and 0.45 in planes
    assert [round(p, 2) for p in planes] == [0.05, 0.45, 0.95]  # no more depths to offer: three planes, not six
    assert focus_planes(grid, 0.45, 2, 0.02) == pytest.approx([0.45, 0.95])  # the farthest from the auto-focus first
    assert focus_planes(grid, 0.45, 6, 0.6) == [0.45]  # nothing looks different enough to add


def test_shared_renders_keep_the_auto_focus_exact_and_merge_lookalikes():
    planes = [0.1, 0.12, 0.5, 0.9]
    assert shared_renders(planes, 1, 0.0) == [0, 1, 2, 3]
    assert shared_renders(planes, 1, 0.05) == [1, 1, 2, 3]  # 0.1 shows the auto-focus plane 0.12's render
    assert shared_renders(planes, 2, 1.0) == [2, 2, 2, 2]
    assert plane_tolerance(640, 16.0) == float("inf")  # f/16 adds no blur: every plane is the original
    assert plane_tolerance(640, 1.4) < plane_tolerance(640, 8.0) < plane_tolerance(320, 8.0)


def test_preview_size_keeps_the_aspect_and_never_enlarges():
    assert preview_size(1536, 1024, 640) == (640, 427)
    assert preview_size(1080, 1350, 640) == (512, 640)  # a portrait: its longer side
    assert preview_size(300, 200, 640) == (300, 200)


def test_gallery_files_renders_and_page(tmp_path: Path):
    image, disp = _scene()
    render = Recorder()
    stacks = []
    page = write_refocus_gallery(tmp_path / "out", [RefocusPhoto("my photo", image, disp)], render,
                                 preview_side=128, f_numbers=(16, 1.4, 4), command="bokehpipe infer in/ --depth d/",
                                 on_photo=stacks.append)
    (stack,) = stacks
    auto = choose_focus(image, disp).disparity
    assert stack.planes[stack.auto_plane] == auto and stack.preview == (128, 80)
    assert any(p > 0.9 for p in stack.planes) and any(p < 0.1 for p in stack.planes)  # the small near square too
    apertures = sorted({a for _, _, a in render.calls})
    assert apertures == pytest.approx(sorted([aperture_for_f_number(1.4), aperture_for_f_number(4)]))  # no f/16
    assert {shape for shape, _, _ in render.calls} == {(80, 128)}  # rendered at the preview size
    assert {f for _, f, _ in render.calls} <= set(stack.planes) and render.calls[0][1] == auto  # auto first

    folder = page.parent / stack.folder
    data = _page_data(page)
    (photo,) = data["photos"]
    assert photo["f_numbers"] == [1.4, 4.0, 16.0] and photo["files"][2] == [ORIGINAL] * len(stack.planes)
    shown = {name for row in photo["files"] for name in row}
    assert all((folder / name).is_file() for name in shown)
    assert len(list(folder.iterdir())) == len(shown) == len(render.calls) + 1  # every file is used, none twice
    assert stack.bytes == sum(p.stat().st_size for p in folder.iterdir())
    assert f"{stack.bytes / 1024:.0f} KB in {len(shown)} files" in page.read_text(encoding="utf-8")
    assert photo["command"] == "bokehpipe infer in/ --depth d/" and photo["start"] == 0  # f/1.4: nearest to f/1.8

    # the click grid: a cell maps to the plane nearest to what focus_at reads at that cell's photo pixel
    rows, cols = photo["rows"], photo["cols"]
    for (u, v), depth in (((0.09, 0.12), 0.95), ((0.5, 0.5), 0.45), ((0.9, 0.9), 0.05)):
        x, y = int(u * 160), int(v * 100)
        plane = int(photo["grid"][int(v * rows) * cols + int(u * cols)], 36)
        assert focus_at(disp, x, y).disparity == pytest.approx(depth)
        assert stack.planes[plane] == pytest.approx(depth, abs=0.01)


def test_page_is_self_contained(tmp_path: Path):
    image, disp = _scene()
    page = write_refocus_gallery(tmp_path, [RefocusPhoto("a</script><b>", image, disp)], Recorder(), preview_side=48,
                                 f_numbers=(2, 16))
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(https?:|//[a-z]|<link|@import|url\()", text, re.I)
    assert len(re.findall(r"<script", text)) == 2 and "<script src" not in text
    assert "a</script><b>" not in text  # the name is escaped in the HTML and in the JSON block
    assert _page_data(page)["photos"][0]["folder"] == "00-a_script_b"


def test_refuses_to_replace_another_page_and_bad_inputs(tmp_path: Path):
    image, disp = _scene()
    other = tmp_path / "index.html"
    other.write_text("<html>infer's before/after gallery</html>", encoding="utf-8")
    with pytest.raises(BokehpipeError, match="another page is there"):
        write_refocus_gallery(tmp_path, [RefocusPhoto("x", image, disp)], Recorder())
    assert other.read_text(encoding="utf-8") == "<html>infer's before/after gallery</html>"
    with pytest.raises(BokehpipeError, match="photo.jpg: the refocus gallery needs .* same size"):
        write_refocus_gallery(tmp_path / "r", [RefocusPhoto("photo.jpg", image, disp[::2])], Recorder())
    with pytest.raises(BokehpipeError, match="f-numbers must be finite"):
        write_refocus_gallery(tmp_path / "r", [RefocusPhoto("x", image, disp)], Recorder(), f_numbers=(0, 2))
    bad = disp.copy()
    bad[0, 0] = np.nan
    with pytest.raises(BokehpipeError, match="x: the disparity map has NaN"):
        write_refocus_gallery(tmp_path / "r", [RefocusPhoto("x", image, bad)], Recorder())


def test_infer_writes_the_refocus_page_for_a_few_photos_unless_told_not_to(run_cli, tmp_path, synthetic_photos):
    """`infer` writes OUT/refocus/index.html beside its before/after gallery (up to 12 photos unasked); the page's
    command renders one photo with the same depth and method; --no-refocus leaves it out."""
    folder, depth = synthetic_photos.images, synthetic_photos.depth_maps
    res = run_cli("infer", folder, "--depth", depth, "--method", "scatter", "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    page = tmp_path / "a" / "refocus" / "index.html"
    assert page.is_file() and f"refocus gallery: {page}" in res.output
    text = page.read_text(encoding="utf-8")
    assert f"--depth {depth}" in text and "--method scatter" in text
    res = run_cli("infer", folder, "--depth", depth, "--method", "scatter", "--out", tmp_path / "b", "--no-refocus")
    assert res.exit_code == 0 and not (tmp_path / "b" / "refocus").exists()
