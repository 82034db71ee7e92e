"""The calibration fit and the aperture-control table (studies/calibrate.py, realpairs.py), on made-up data."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from bokehpipe.data.io import write_png
from calibrate import PairCurve, fit_k, report, thin_lens
from realpairs import aperture_table, format_aperture_table, real_pairs


def _curve(scene: str, n: float, k_true: float) -> PairCurve:
    """A PSNR curve peaked at the thin-lens aperture k_true * (1/N - 1/16), parabolic in log-aperture."""
    apertures = [float(a) for a in np.geomspace(0.02, 2.5, 15)]
    peak = math.log(k_true * thin_lens(n))
    raw = [30.0 - 4.0 * (math.log(a) - peak) ** 2 for a in apertures]
    return PairCurve(f"{scene}@f/{n:g}", scene, n, 0.5, "auto", 20.0, 20.5, apertures, raw, [r + 0.5 for r in raw])


def test_fit_k_recovers_the_thin_lens_constant_and_leave_one_out_reports_every_pair():
    curves = [_curve(s, n, 0.8) for s in ("a", "b", "c") for n in (1.8, 2.8, 8.0)]
    assert fit_k(curves, align=False) == pytest.approx(0.8, rel=0.03)
    a, p = curves[0].best(align=False)
    assert a == pytest.approx(0.8 * thin_lens(1.8), rel=0.03) and p == pytest.approx(30.0, abs=0.05)
    rep = report(curves)
    assert rep["k"]["auto"] == pytest.approx(0.8, rel=0.03)
    assert len(rep["leave_one_scene_out"]) == 2 * len(curves)  # raw and aligned
    # a scene that wants a different k pulls the fit when included, not when left out
    odd = [_curve("d", n, 1.6) for n in (1.8, 2.8, 8.0)]
    assert fit_k(curves + odd, align=False) > fit_k(curves, align=False)


def _blur(img: np.ndarray, aperture: float) -> np.ndarray:
    sigma = 40.0 * aperture * img.shape[1] / 1536
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0.05 else img.copy()


def test_aperture_table_puts_the_win_on_the_diagonal_for_a_renderer_that_matches_the_targets(tmp_path):
    from bokehpipe.render.calibration import aperture_for_f_number

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.random((96, 144, 3)).astype(np.float32), (0, 0), 1.0)
    for folder in ("input", "1_8", "2_8", "8", "depth"):
        (tmp_path / "vabd" / folder).mkdir(parents=True)
    write_png(tmp_path / "vabd" / "input" / "0001.jpg", image)  # .jpg name, PNG bytes: the decoder sniffs
    disp = np.zeros((96, 144), np.float32)
    disp[30:60, 50:100] = 1.0
    write_png(tmp_path / "vabd" / "depth" / "0001.png", disp, bits=16)
    for n, folder in ((1.8, "1_8"), (2.8, "2_8"), (8.0, "8")):
        write_png(tmp_path / "vabd" / folder / "0001.jpg", _blur(image, aperture_for_f_number(n)))
    assert [p.f_number for p in real_pairs(tmp_path)] == [1.8, 2.8, 8.0]
    rows = aperture_table(lambda rgb, d, focus, a: _blur(rgb, a), tmp_path, width=None)
    assert len(rows) == 9
    text = format_aperture_table(rows)
    assert "diagonal wins (the render at the target's own f-number scores best): 3/3" in text


def test_real_eval_json_records_its_command_and_width_for_the_report(tmp_path, monkeypatch):
    """The report quotes the 768-px table with the settings it ran at, so the JSON must carry them."""
    import json

    import real_eval

    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.random((96, 144, 3)).astype(np.float32), (0, 0), 1.0)
    for folder in ("input", "1_8", "depth"):
        (tmp_path / "vabd" / folder).mkdir(parents=True)
    write_png(tmp_path / "vabd" / "input" / "0001.jpg", image)
    write_png(tmp_path / "vabd" / "1_8" / "0001.jpg", _blur(image, 0.3))
    write_png(tmp_path / "vabd" / "depth" / "0001.png", rng.random((96, 144)).astype(np.float32), bits=16)
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(tmp_path))
    out = tmp_path / "real.json"
    assert real_eval.main(["--methods", "identity", "--width", "72", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["width"] == 72 and data["methods"] == ["identity"]
    assert "--width 72" in data["command"] and data["commit"]
    assert [(r["pair"], r["method"]) for r in data["rows"]] == [("vabd/0001@f/1.8", "identity")]
