"""Lens-true blur from metric depth: the thin-lens formula, its hand-computed example, the relative form the
renderers take, and the field of view from Exif."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from bokehpipe.physics import Lens, coc_radius, metric_to_relative, thin_lens_coc_diameter


def test_the_hand_computed_example():
    """50 mm f/1.8 on APS-C (22.3 mm), 1536 px wide, subject at 1 m, background at infinity:
    f^2 / (N (z_f - f)) = 2500 / (1.8 * 950) = 1.462 mm on the sensor, x 1536 / 22.3 = 100.7 px; at 3 m 32.4 px."""
    assert thin_lens_coc_diameter(np.inf, 1.0, Lens(), 1536) == pytest.approx(2500 / (1.8 * 950) * 1536 / 22.3)
    assert thin_lens_coc_diameter(np.inf, 1.0, Lens(), 1536) == pytest.approx(100.70, abs=0.01)
    assert thin_lens_coc_diameter(np.inf, 3.0, Lens(), 1536) == pytest.approx(32.43, abs=0.01)
    assert thin_lens_coc_diameter(1.0, 1.0, Lens(), 1536) == 0.0
    assert thin_lens_coc_diameter(np.inf, 1.0, Lens(f_number=3.6), 1536) == pytest.approx(100.70 / 2, abs=0.01)


def test_metric_depth_becomes_the_renderers_relative_blur_exactly():
    """Per pixel, the normalised disparity, focus and aperture `metric_to_relative` returns give the scatter
    renderer's CoC radius equal to half the thin-lens diameter."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 60.0, (48, 96))
    depth[0, 0] = 1e6  # a far background
    lens = Lens(85.0, 2.8, 36.0)
    rel = metric_to_relative(depth, 2.0, lens)
    assert rel.disparity.min() == 0 and rel.disparity.max() == 1
    want = thin_lens_coc_diameter(depth, 2.0, lens, 96) / 2
    got = coc_radius(rel.disparity, rel.focus, width=96, aperture=rel.aperture)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_synthetic_scenes_metric_depth_follows_the_thin_lens():
    """A synthetic pair records its metric range (inverse metres): its normalised map is metric depth again,
    and the lens-true blur of EBB!'s lens focused on the subject is the thin-lens diameter at every pixel."""
    from bokehpipe.data.synthetic import generate_pair

    pair = generate_pair(0, 1, 192, 128, defects=False)
    d_min, d_max = pair.meta["disparity_range_per_m"]
    inv = d_min + pair.disparity.astype(np.float64) * (d_max - d_min)
    depth = 1.0 / inv
    focus_m = 1.0 / (d_min + pair.meta["focus"] * (d_max - d_min))
    rel = metric_to_relative(depth, focus_m, Lens())
    got = 2 * coc_radius(rel.disparity, rel.focus, width=192, aperture=rel.aperture)
    np.testing.assert_allclose(got, thin_lens_coc_diameter(depth, focus_m, Lens(), 192), rtol=1e-4, atol=1e-3)
    assert rel.focus == pytest.approx(pair.meta["focus"], abs=1e-5)  # the same subject in focus


def _jpeg_with_focal_35(path: Path, f35: int | None, order: str) -> Path:
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert ok
    data = buf.tobytes()
    if f35 is not None:
        bo = {"<": b"II", ">": b"MM"}[order]
        # TIFF header, IFD0 with one entry (Exif pointer -> offset 26), Exif IFD with FocalLengthIn35mmFilm
        tiff = bo + struct.pack(order + "HI", 42, 8)
        tiff += struct.pack(order + "H", 1) + struct.pack(order + "HHII", 0x8769, 4, 1, 26)
        tiff += struct.pack(order + "I", 0)
        tiff += struct.pack(order + "H", 1) + struct.pack(order + "HHIHH", 0xA405, 3, 1, f35, 0)
        tiff += struct.pack(order + "I", 0)
        app1 = b"Exif\x00\x00" + tiff
        data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("order", ["<", ">"])
def test_field_of_view_from_exif(tmp_path: Path, order: str):
    from bokehpipe.data.exif import focal_length_35mm
    from bokehpipe.data.io import read_image
    from bokehpipe.render.lens import lens_for_photo

    photo = _jpeg_with_focal_35(tmp_path / "a.jpg", 28, order)
    assert read_image(photo).shape == (8, 8, 3)  # still a valid JPEG
    assert focal_length_35mm(photo) == 28.0
    lens, why = lens_for_photo(photo, focal_mm=50.0)
    assert lens.sensor_mm == pytest.approx(36 * 50 / 28) and "Exif" in why
    plain = _jpeg_with_focal_35(tmp_path / "b.jpg", None, order)
    assert focal_length_35mm(plain) is None
    lens, why = lens_for_photo(plain)
    assert lens == Lens() and "EBB!" in why
    (tmp_path / "c.jpg").write_bytes(b"\xff\xd8\xff\xe1\x00")  # truncated: not recorded, no crash
    assert focal_length_35mm(tmp_path / "c.jpg") is None


def test_a_metric_map_renders_lens_true_through_the_job_runner(tmp_path):
    """A depth source that knows its map is metric (its 1/z range) gets the lens's blur: the job runner hands
    the range to a renderer with a lens, which renders exactly what scatter renders at the aperture the thin
    lens gives for that focus distance; a relative map (no range) keeps the calibrated f/1.8."""
    from bokehpipe.data.disparity import normalise
    from bokehpipe.data.io import read_image, write_jpeg
    from bokehpipe.infer.engine import run_jobs
    from bokehpipe.infer.files import find_inputs, plan_jobs
    from bokehpipe.physics import lens_aperture
    from bokehpipe.render import render
    from bokehpipe.render.calibration import DEFAULT_APERTURE
    from bokehpipe.render.classical import ClassicalRenderer

    rng = np.random.default_rng(3)
    write_jpeg(tmp_path / "in" / "a.jpg", rng.random((48, 96, 3)).astype(np.float32))
    depth_m = np.full((48, 96), 20.0, np.float32)
    depth_m[12:36, 30:66] = 1.5  # a subject at 1.5 m before a background at 20 m
    disp, lo, hi = normalise(1.0 / depth_m)

    class Metric:
        description = "a metric map"

        def __init__(self, metric: bool) -> None:
            self.metric = metric

        def has(self, photo):
            return True

        def disparity(self, photo, rgb):
            return disp

        def metric_range(self, photo):
            return (lo, hi) if self.metric else None

        def protected(self):
            return []

    outs = {}
    for metric in (True, False):
        jobs = plan_jobs(find_inputs(tmp_path / "in"), tmp_path / "in", tmp_path / f"out{metric}", fmt="png")
        [done] = run_jobs(jobs, ClassicalRenderer("scatter", focus_point=(48, 24), lens=Lens(85.0, 2.8)),
                          Metric(metric))
        assert done.ok, done.message
        outs[metric] = read_image(jobs[0].output)
    photo = read_image(tmp_path / "in" / "a.jpg")
    lens_true = lens_aperture(Lens(85.0, 2.8, 22.3 * 85 / 50), float(disp[24, 48]), (lo, hi), 96)
    assert lens_true == pytest.approx(thin_lens_coc_diameter(20.0, 1.5, Lens(85.0, 2.8, 22.3 * 85 / 50), 96) / 2
                                      / (40 * 96 / 1536) / float(disp.max() - disp.min()), rel=1e-3)
    for metric, aperture in ((True, lens_true), (False, DEFAULT_APERTURE)):
        want = render(photo, disp, "scatter", focus=float(disp[24, 48]), aperture=aperture)
        assert np.abs(outs[metric] - want).max() <= 1 / 255 + 1e-6
    assert np.abs(outs[True] - outs[False]).max() > 2 / 255  # the lens made a difference
