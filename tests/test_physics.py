"""Thin-lens physics shared by the synthetic generator and the scatter renderer (issue 3, "What it must show")."""

from __future__ import annotations

import numpy as np
import pytest

from bokehpipe.data.scenes import Layer, Scene
from bokehpipe.data.synthetic import render_layers
from bokehpipe.physics import (
    K_REF,
    LevelSplit,
    blur_varying,
    coc_radius,
    disc_kernel,
    linear_to_srgb,
    radius_levels,
    signed_levels,
    srgb_to_linear,
)
from bokehpipe.render import render


def _spread_radius(lin: np.ndarray, cy: int, cx: int) -> tuple[float, float]:
    """(radius from the second moment of a spread, radius of its half-maximum support) around (cy, cx)."""
    e = lin.sum(axis=2) if lin.ndim == 3 else lin
    yy, xx = np.mgrid[0:e.shape[0], 0:e.shape[1]]
    rho2 = (yy - cy) ** 2 + (xx - cx) ** 2
    moment = float(np.sqrt(2 * (e * rho2).sum() / e.sum()))  # a uniform disc of radius r has E[rho^2] = r^2 / 2
    support = float(np.sqrt(rho2[e > 0.5 * e.max()].max()))
    return moment, support


def _point_scene(size: int, disparity: float, focus: float, coc_per_disparity: float) -> Scene:
    premult = np.zeros((size, size, 3), np.float32)
    alpha = np.ones((size, size), np.float32)  # a black opaque layer with one white point light
    premult[size // 2, size // 2] = 1.0
    return Scene("test", size, size, 0, focus, [Layer("points", premult, alpha, disparity)], coc_per_disparity)


def test_srgb_round_trip_and_known_values():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.21404, abs=1e-4)
    assert linear_to_srgb(np.float32(2.0)) == pytest.approx(1.0)  # a sensor saturates


def test_coc_formula_scales_with_width_and_aperture():
    assert coc_radius(0.2, 0.7, width=1536) == pytest.approx(0.5 * K_REF)
    assert coc_radius(0.2, 0.7, width=768, aperture=2.0) == pytest.approx(0.5 * K_REF)
    assert coc_radius(0.7, 0.7, width=1536) == 0.0


def test_disc_kernel_is_normalised_with_the_area_of_its_radius():
    for r in (0.0, 3.0, 10.5, 25.0):
        k = disc_kernel(r)
        assert k.sum() == pytest.approx(1.0, abs=1e-5)
        if r:
            assert k.sum() / k.max() == pytest.approx(np.pi * r * r, rel=0.02)  # area, rim counted by coverage
    assert disc_kernel(0.2).max() == pytest.approx(1.0)  # below half a pixel: a delta, i.e. in focus


def test_level_split_is_a_partition_of_unity():
    values = np.linspace(-37.3, 52.1, 999, dtype=np.float32).reshape(27, 37)
    levels = signed_levels(float(values.min()), float(values.max()))
    assert 0.0 in levels and np.all(np.diff(levels) > 0)
    split = LevelSplit(values, levels)
    total = sum(split.weight(j) for j in split.used())
    assert np.allclose(total, 1.0, atol=1e-6)
    recon = sum(split.weight(j) * split.levels[j] for j in split.used())
    assert np.allclose(recon, values, atol=1e-3)  # linear interpolation between levels
    assert radius_levels(8.0)[-1] == 8.0 and len(radius_levels(100.0)) < 40


@pytest.mark.parametrize("radius", [6.0, 13.7, 21.0])
def test_point_light_becomes_a_disc_of_the_coc_radius(radius):
    size, disparity, focus = 121, 0.2, 0.7
    # synthetic generator: coc_per_disparity * |d - f| pixels
    lin = render_layers(_point_scene(size, disparity, focus, radius / (focus - disparity)), 1.0)
    moment, support = _spread_radius(lin, size // 2, size // 2)
    assert abs(moment - radius) <= 1.0 and abs(support - radius) <= 1.0
    # scatter renderer: aperture * K_REF * (W / 1536) * |d - f| pixels
    image = np.zeros((size, size, 3), np.float32)
    image[size // 2, size // 2] = 1.0
    aperture = radius / (K_REF * size / 1536 * (focus - disparity))
    out = render(image, np.full((size, size), disparity, np.float32), "scatter", focus=focus, aperture=aperture,
                 highlight=1.0)
    moment, support = _spread_radius(srgb_to_linear(out), size // 2, size // 2)
    assert abs(moment - radius) <= 1.0 and abs(support - radius) <= 1.0


def test_energy_is_conserved_in_linear_light():
    rng = np.random.default_rng(0)
    h, w = 160, 240
    lin = np.zeros((h, w, 3), np.float32)
    lin[40:120, 50:190] = rng.random((80, 140, 3)) * 0.8  # texture well away from the borders
    ramp = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    # generator: one layer whose CoC varies per pixel (split into radius levels, blurred, summed)
    premult = np.concatenate([lin, np.ones((h, w, 1), np.float32)], axis=2)
    out = blur_varying(premult, 30 * np.abs(ramp - 0.5))
    assert out[..., :3].sum() == pytest.approx(lin.sum(), rel=0.01)
    # scatter: constant, ramped and stepped disparity
    for disp in (np.full((h, w), 0.2, np.float32), ramp, np.where(ramp < 0.5, 0.1, 0.9).astype(np.float32)):
        result = render(linear_to_srgb(lin), disp, "scatter", focus=0.5, aperture=1.5, highlight=1.0)
        assert srgb_to_linear(result).sum() == pytest.approx(srgb_to_linear(linear_to_srgb(lin)).sum(), rel=0.01)


def test_pixels_at_the_focus_disparity_are_unchanged():
    rng = np.random.default_rng(1)
    h, w = 120, 160
    image = rng.random((h, w, 3)).astype(np.float32)
    image[60, 80] = 1.0  # a saturated pixel in focus stays as it was (no highlight boost without blur)
    disp = np.full((h, w), 0.1, np.float32)
    disp[30:90, 40:120] = 0.6  # the in-focus subject in front of a blurred background
    out = render(image, disp, "scatter", focus=0.6, aperture=2.0)
    assert np.abs(out[32:88, 42:118] - image[32:88, 42:118]).max() < 1e-4
    assert np.abs(out[:20] - image[:20]).mean() > 0.05  # while the background is blurred
    # generator: a layer at the focus disparity renders exactly as drawn
    scene = _point_scene(64, 0.6, 0.6, 50.0)
    scene.layers[0].premult[:] = rng.random((64, 64, 3)).astype(np.float32)
    assert np.allclose(render_layers(scene, 1.0), scene.layers[0].premult, atol=1e-6)


def test_doubling_the_aperture_blurs_monotonically():
    rng = np.random.default_rng(2)
    h, w = 96, 128
    image = np.clip(rng.random((h, w, 3)) * 0.9, 0, 1).astype(np.float32)
    disp = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))

    def sharpness(x: np.ndarray) -> float:
        return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=0)).mean())

    scores = [sharpness(render(image, disp, "scatter", focus=1.0, aperture=a)) for a in (0.25, 0.5, 1.0, 2.0, 4.0)]
    assert all(a > b for a, b in zip(scores[:-1], scores[1:], strict=True)), scores
    radii = [_spread_radius(render_layers(_point_scene(101, 0.2, 0.7, 10.0), a), 50, 50)[0] for a in (1, 2, 4)]
    assert radii[0] < radii[1] < radii[2] and radii[2] == pytest.approx(4 * 5.0, abs=1.0)


def test_layered_occlusion_reveals_the_background_behind_a_blurred_foreground():
    """Inside the foreground's former silhouette the generator shows the sharp background texture; the
    single-image scatter renderer cannot (it never saw what the foreground hid)."""
    h, w, r = 80, 120, 8.0
    stripes = (0.2 + 0.6 * ((np.arange(w) // 2) % 2)).astype(np.float32)
    bg = np.zeros((h, w, 3), np.float32)
    bg[..., 0] = stripes  # red vertical stripes, in focus
    fg = np.zeros((h, w, 3), np.float32)
    fg_alpha = np.zeros((h, w), np.float32)
    fg_alpha[:, 60:] = 1.0  # an opaque blue half-plane in front, blurred by r px
    fg[:, 60:, 2] = 0.5
    scene = Scene("test", w, h, 0, 0.5, [Layer("bg", bg, np.ones((h, w), np.float32), 0.5),
                                         Layer("fg", fg, fg_alpha, 0.5 + 1.0)], r)
    out = render_layers(scene, 1.0)
    band = out[20:60, 61:66, 0]  # 1..5 px inside the silhouette edge
    assert band.mean() > 0.1  # background light shows through the blurred edge
    assert np.corrcoef(band.mean(axis=0), stripes[61:66])[0, 1] > 0.9  # and it is the sharp texture itself
    # scatter from the composited sharp photo: inside the silhouette there is no background to show
    photo = linear_to_srgb(np.where(fg_alpha[..., None] > 0, fg, bg))
    disp = np.where(fg_alpha > 0, 1.0, 0.5).astype(np.float32)
    single = srgb_to_linear(render(photo, disp, "scatter", focus=0.5, aperture=r / (K_REF * w / 1536 * 0.5)))
    assert single[20:60, 61:66, 0].mean() < 0.5 * band.mean()
