"""Classical renderers: the `render()` contract, focus rules, gaussian vs scatter, and `bokehpipe render` (issue 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bokehpipe.data.io import read_image, write_png
from bokehpipe.errors import BokehpipeError
from bokehpipe.render import METHODS, choose_focus, focus_at, method_options, render


def _scene(h: int = 48, w: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A dim textured far background (disparity 0.1) with a bright near subject block (0.8) in the middle."""
    rng = np.random.default_rng(seed)
    image = (0.1 + 0.2 * rng.random((h, w, 3))).astype(np.float32)
    disp = np.full((h, w), 0.1, np.float32)
    disp[h // 4:3 * h // 4, w // 4:3 * w // 4] = 0.8
    image[disp > 0.5] = 0.9
    return image, disp


def test_render_returns_an_image_of_the_same_shape_for_every_method():
    image, disp = _scene()
    assert set(METHODS) == {"gaussian", "scatter"}
    for method in METHODS:
        out = render(image, disp, method, focus=0.8, aperture=4.0)
        assert out.shape == image.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
        assert not np.allclose(out, image)  # the background is blurred
    assert {"highlight", "threshold", "gamma"} <= set(method_options("scatter"))
    assert {"margin", "sigma"} <= set(method_options("gaussian"))


@pytest.mark.parametrize("kwargs, match", [
    (dict(aperture=0.0), "aperture must be a number > 0"),
    (dict(aperture=-1.0), "aperture must be a number > 0"),
    (dict(aperture=float("nan")), "aperture must be a number > 0"),
    (dict(method="bilateral"), "unknown render method 'bilateral'; choose one of: gaussian, scatter"),
    (dict(method="gaussian", highlight=2.0), "has no option highlight"),
    (dict(focus=float("inf")), "focus must be a finite disparity"),
])
def test_render_rejects_bad_arguments_with_one_clear_message(kwargs, match):
    image, disp = _scene()
    with pytest.raises(BokehpipeError, match=match):
        render(image, disp, **kwargs)


def test_render_rejects_maps_that_do_not_match_the_image():
    image, disp = _scene()
    with pytest.raises(BokehpipeError, match="disparity is 32x24 but the image is 64x48"):
        render(image, disp[::2, ::2])
    with pytest.raises(BokehpipeError, match="NaN"):
        render(image, np.where(disp > 0.5, np.nan, disp))
    with pytest.raises(BokehpipeError, match=r"\(H, W, 3\)"):
        render(image[..., 0], disp)


def test_choose_focus_picks_the_near_central_subject_and_focus_at_reads_a_window():
    image, disp = _scene(96, 128)
    disp[:, :6] = 1.0  # a near, blurred foreground strip at the frame edge must not win
    assert choose_focus(image, disp).disparity == pytest.approx(0.8)
    assert np.allclose(render(image, disp), render(image, disp, focus=0.8))
    assert focus_at(disp, 64, 48).disparity == pytest.approx(0.8)
    assert focus_at(disp, 120, 5, radius=3).disparity == pytest.approx(0.1)
    assert focus_at(disp, 34, 26, radius=4).disparity == pytest.approx(0.8)  # most of the window is on the block
    assert focus_at(disp, 32, 24, radius=4).disparity == pytest.approx(0.1)  # a quarter: the median ignores an edge
    with pytest.raises(BokehpipeError, match="outside the 128x96 image"):
        focus_at(disp, 128, 10)


def test_gaussian_keeps_the_subject_but_halos_it_where_scatter_does_not():
    image, disp = _scene(96, 128)
    gauss = render(image, disp, "gaussian", focus=0.8, aperture=6.0)
    scatter = render(image, disp, "scatter", focus=0.8, aperture=6.0)
    inside = np.s_[30:66, 40:88]
    assert np.abs(gauss[inside] - image[inside]).max() < 1e-6
    assert np.abs(scatter[inside] - image[inside]).max() < 1e-4
    assert gauss[:10].std() < 0.5 * image[:10].std()  # background blurred
    ring = np.s_[18:22, 40:88]  # background just above the subject
    background = float(image[:8].mean())
    assert gauss[ring].mean() > background + 0.1  # the bright subject bleeds into the blurred background
    assert abs(float(scatter[ring].mean()) - background) < 0.03  # depth order keeps it out


# --- the CLI ------------------------------------------------------------------------------------------------------
@pytest.fixture
def photo(tmp_path: Path) -> tuple[Path, Path]:
    image, disp = _scene()
    (tmp_path / "in").mkdir()
    write_png(tmp_path / "in" / "a.png", image)
    write_png(tmp_path / "a_depth.png", disp, bits=16)
    return tmp_path / "in" / "a.png", tmp_path / "a_depth.png"


def _error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_cli_render_writes_one_png_per_input(run_cli, photo, tmp_path):
    image, depth = photo
    for method in ("gaussian", "scatter"):
        result = run_cli("render", image, "--depth", depth, "--method", method, "--focus-at", "32,24",
                         "--aperture", "3", "--out", tmp_path / method)
        assert result.exit_code == 0, result.output
        assert "focus 1.000: the point (32, 24); aperture 3 " in result.output  # maps are min-max normalised
        out = read_image(tmp_path / method / "a.png")
        assert out.shape == (48, 64, 3) and not np.allclose(out, read_image(image), atol=1 / 255)


def test_cli_render_takes_a_folder_of_npy_maps_named_like_the_inputs(run_cli, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "maps").mkdir()
    for name, seed in (("x", 1), ("y", 2)):
        image, disp = _scene(seed=seed)
        write_png(tmp_path / "photos" / f"{name}.png", image)
        np.save(tmp_path / "maps" / f"{name}.npy", disp * 5.0)  # raw scale: min-max normalised, as infer does
        write_png(tmp_path / f"{name}_unit.png", disp, bits=16)
    result = run_cli("render", tmp_path / "photos", "--depth", tmp_path / "maps", "--focus", "0.8", "--out",
                     tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "focus 0.800: as given by --focus" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x.png", "y.png"]
    single = run_cli("render", tmp_path / "photos" / "x.png", "--depth", tmp_path / "x_unit.png", "--focus", "0.8",
                     "--out", tmp_path / "out_unit")
    assert single.exit_code == 0, single.output  # one normalisation: the x5 map and the unit map render alike
    assert np.array_equal(read_image(tmp_path / "out" / "x.png"), read_image(tmp_path / "out_unit" / "x.png"))
    (tmp_path / "maps" / "y.npy").unlink()  # a photo without a map is skipped with one line, the others render
    result = run_cli("render", tmp_path / "photos", "--depth", tmp_path / "maps", "--out", tmp_path / "o")
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped: ")]
    assert result.exit_code == 1 and len(skipped) == 1 and "no depth map named y.*" in skipped[0], result.output
    assert "1 of 2 image(s) could not be rendered" in result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["x.png"]


def test_cli_render_resizes_a_smaller_map_with_a_warning_and_refuses_another_aspect(run_cli, photo, tmp_path):
    image, _ = photo
    _, disp = _scene()
    write_png(tmp_path / "half.png", disp[::2, ::2], bits=16)
    result = run_cli("render", image, "--depth", tmp_path / "half.png", "--out", tmp_path / "o1")
    assert result.exit_code == 0, result.output
    assert "depth map is 32x24, resized to the image's 64x48" in result.output
    write_png(tmp_path / "square.png", disp[:48, :48], bits=16)
    line = _error_line(run_cli("render", image, "--depth", tmp_path / "square.png", "--out", tmp_path / "o2"))
    assert "48x48" in line and "64x48" in line and "another aspect ratio" in line


def test_cli_render_bad_inputs_fail_with_one_clear_line(run_cli, photo, tmp_path):
    image, depth = photo
    assert "depth map not found" in _error_line(
        run_cli("render", image, "--depth", tmp_path / "nope.png", "--out", tmp_path / "o"))
    broken = tmp_path / "in" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not really a jpeg")
    assert "broken.jpg" in _error_line(run_cli("render", broken, "--depth", depth, "--out", tmp_path / "o"))
    assert "aperture '0' is neither an f-number" in _error_line(
        run_cli("render", image, "--depth", depth, "--aperture", "0", "--out", tmp_path / "o"))
    assert "f-number must be a number > 0" in _error_line(
        run_cli("render", image, "--depth", depth, "--aperture", "f/0", "--out", tmp_path / "o"))
    assert "either --focus or --focus-at" in _error_line(
        run_cli("render", image, "--depth", depth, "--focus", "0.5", "--focus-at", "1,1", "--out", tmp_path / "o"))
    assert "would overwrite an input" in _error_line(
        run_cli("render", image, "--depth", depth, "--out", image.parent))
    assert not (tmp_path / "o").exists()
    refused = run_cli("render", image, "--depth", depth, "--focus", "2", "--out", tmp_path / "o")
    assert refused.exit_code == 2 and "2.0 is not in the range 0.0<=x<=1.0" in refused.output  # as infer refuses it


def test_cli_render_never_writes_over_a_depth_map_even_with_overwrite(run_cli, tmp_path):
    """The maps are inputs too: an output named like a map in the --depth folder is refused before any work."""
    image, disp = _scene()
    write_png(tmp_path / "photos" / "a.jpg", image)
    write_png(tmp_path / "maps" / "a.png", disp, bits=16)
    before = (tmp_path / "maps" / "a.png").read_bytes()
    line = _error_line(run_cli("render", tmp_path / "photos", "--depth", tmp_path / "maps", "--out", tmp_path / "maps",
                               "--overwrite"))
    assert "would overwrite an input" in line and (tmp_path / "maps" / "a.png").read_bytes() == before


def test_cli_render_refuses_existing_outputs_without_overwrite(run_cli, photo, tmp_path):
    image, depth = photo
    out = tmp_path / "out"
    assert run_cli("render", image, "--depth", depth, "--out", out).exit_code == 0
    before = (out / "a.png").read_bytes()
    assert "already exists; pass --overwrite" in _error_line(
        run_cli("render", image, "--depth", depth, "--method", "gaussian", "--out", out))
    assert (out / "a.png").read_bytes() == before
    result = run_cli("render", image, "--depth", depth, "--method", "gaussian", "--out", out, "--overwrite")
    assert result.exit_code == 0 and (out / "a.png").read_bytes() != before


def _two_planes(h: int = 64, w: int = 128, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Texture everywhere; the left half near (disparity 1), the right half far (0)."""
    rng = np.random.default_rng(seed)
    image = (0.2 + 0.6 * rng.random((h, w, 3))).astype(np.float32)
    disp = np.zeros((h, w), np.float32)
    disp[:, : w // 2] = 1.0
    return image, disp


def _sharpness(img: np.ndarray) -> float:
    return float(np.abs(np.diff(img, axis=1)).mean() + np.abs(np.diff(img, axis=0)).mean())


def test_cli_render_focus_at_moves_the_sharp_region_and_a_wider_aperture_blurs_more(run_cli, tmp_path):
    image, disp = _two_planes()
    write_png(tmp_path / "p.png", image)
    write_png(tmp_path / "p_depth.png", disp, bits=16)
    outs = {}
    for name, args in (("left", ["--focus-at", "20,32"]), ("right", ["--focus-at", "108,32"]),
                       ("right_f8", ["--focus-at", "108,32", "--aperture", "f/8"])):
        result = run_cli("render", tmp_path / "p.png", "--depth", tmp_path / "p_depth.png", *args,
                         "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
        outs[name] = read_image(tmp_path / name / "p.png")
    assert "aperture f/1.8" in run_cli("render", tmp_path / "p.png", "--depth", tmp_path / "p_depth.png",
                                       "--out", tmp_path / "auto").output
    left, right = np.s_[:, 8:48], np.s_[:, 80:120]
    assert _sharpness(outs["left"][left]) > 3 * _sharpness(outs["left"][right])
    assert _sharpness(outs["right"][right]) > 3 * _sharpness(outs["right"][left])
    assert np.abs(outs["left"][left] - image[left]).max() < 2 / 255  # in-focus region stays as it was
    assert _sharpness(outs["right_f8"][left]) > 1.5 * _sharpness(outs["right"][left])  # f/8 blurs less than f/1.8
