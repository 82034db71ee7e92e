"""Apertures as photographers name them: parsing and the f-number -> internal aperture law (issue 12)."""

from __future__ import annotations

import pytest
import torch

from bokehpipe.errors import BokehpipeError
from bokehpipe.render.calibration import (
    CALIBRATION_K,
    DEFAULT_APERTURE,
    DEFAULT_F_NUMBER,
    aperture_for_f_number,
    f_number_for_aperture,
    parse_aperture,
)


@pytest.mark.parametrize("text", ["f/2.8", "F/2.8", "f2.8", " f / 2.8 ", "F2.8"])
def test_f_numbers_in_the_ways_photographers_write_them(text):
    assert parse_aperture(text) == pytest.approx(aperture_for_f_number(2.8))
    assert parse_aperture(text) == pytest.approx(CALIBRATION_K * (1 / 2.8 - 1 / 16))


def test_a_plain_number_is_the_internal_scale_not_an_f_number():
    assert parse_aperture("2.8") == pytest.approx(2.8)
    assert parse_aperture("0.5") == pytest.approx(0.5)
    assert parse_aperture("2.8") != pytest.approx(parse_aperture("f/2.8"))


def test_default_is_the_calibrated_f_1_8_and_round_trips():
    assert DEFAULT_F_NUMBER == 1.8
    assert DEFAULT_APERTURE == pytest.approx(aperture_for_f_number(1.8))
    for n in (1.4, 1.8, 2.8, 5.6, 8.0):
        assert f_number_for_aperture(aperture_for_f_number(n)) == pytest.approx(n)


def test_smaller_f_number_means_a_larger_aperture():
    apertures = [aperture_for_f_number(n) for n in (1.2, 1.8, 2.8, 4.0, 8.0, 11.0)]
    assert all(a > b > 0 for a, b in zip(apertures, apertures[1:], strict=False))


@pytest.mark.parametrize("text, match", [
    ("f/0", "f-number must be a number > 0"),
    ("f/-2", "f-number must be a number > 0"),
    ("fx", "f-number must be a number > 0"),
    ("f/", "neither an f-number"),
    ("-1", "neither an f-number"),
    ("0", "neither an f-number"),
    ("nan", "neither an f-number"),
    ("wide", "neither an f-number"),
    ("f/16", "no wider than the f/16 input"),
    ("f/22", "no wider than the f/16 input"),
])
def test_bad_apertures_fail_with_one_clear_line(text, match):
    with pytest.raises(BokehpipeError, match=match) as info:
        parse_aperture(text)
    assert "\n" not in str(info.value)


def test_a_missing_aperture_becomes_the_calibrated_one_in_one_place():
    """Commands pass None down (CLI, infer's session, eval); the classical/BokehNet renderer alone turns it
    into DEFAULT_APERTURE, and render()/render_bokehnet() carry it as their signature default."""
    import re
    from pathlib import Path

    from bokehpipe.render.classical import ClassicalRenderer
    from bokehpipe.render.learned import BokehNetRenderer

    assert ClassicalRenderer("scatter").aperture == DEFAULT_APERTURE
    assert BokehNetRenderer(torch.nn.Identity()).aperture == DEFAULT_APERTURE
    pkg = Path(__file__).resolve().parent.parent / "bokehpipe"
    users = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*.py")  # files that import or define it
                   if re.search(r"import[^\n]*\bDEFAULT_APERTURE\b|^DEFAULT_APERTURE =", p.read_text(), re.M))
    assert users == ["render/__init__.py", "render/calibration.py", "render/classical.py", "render/learned.py"]
