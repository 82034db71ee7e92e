"""Auto-focus lands on the subject a photographer would pick, not on whatever is nearest (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bokehpipe.errors import BokehpipeError
from bokehpipe.render.focus import Focus, choose_focus, focus_at, resolve_focus


def _subject_and_near_edge(h: int = 120, w: int = 180, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A far plain background (0.1), a textured central subject (0.5) and a nearer branch at the left edge (0.9)."""
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), 0.55, np.float32) + 0.02 * rng.standard_normal((h, w, 3)).astype(np.float32)
    disp = np.full((h, w), 0.1, np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    subject = ((xx - w * 0.5) / (0.12 * w)) ** 2 + ((yy - h * 0.5) / (0.3 * h)) ** 2 < 1
    disp[subject] = 0.5
    image[subject] = 0.2 + 0.6 * rng.random((int(subject.sum()), 3))
    branch = xx < 0.12 * w
    disp[branch] = 0.9
    image[branch] = 0.3 + 0.3 * rng.random((int(branch.sum()), 3))
    return np.clip(image, 0, 1), disp


def test_auto_focus_picks_the_central_subject_over_a_nearer_edge_object():
    image, disp = _subject_and_near_edge()
    f = choose_focus(image, disp)
    assert isinstance(f, Focus)
    assert f.disparity == pytest.approx(0.5, abs=0.02)
    assert 0.3 * 180 < f.x < 0.7 * 180 and f.reason


def test_focus_at_reads_the_point_and_says_so():
    _, disp = _subject_and_near_edge()
    f = focus_at(disp, 90, 60)
    assert (f.disparity, f.x, f.y) == (pytest.approx(0.5), 90, 60) and "(90, 60)" in f.reason
    assert focus_at(disp, 5, 60).disparity == pytest.approx(0.9)
    with pytest.raises(BokehpipeError, match="outside the 180x120 image"):
        focus_at(disp, 180, 0)


def test_resolve_focus_takes_a_value_then_a_point_then_auto_focus_and_refuses_both():
    image, disp = _subject_and_near_edge()
    assert resolve_focus(image, disp, focus=0.25) == Focus(0.25, -1, -1, "as given by --focus")
    assert resolve_focus(image, disp, point=(5, 60)) == focus_at(disp, 5, 60)
    assert resolve_focus(image, disp) == choose_focus(image, disp)
    with pytest.raises(BokehpipeError, match="either --focus or --focus-at, not both"):
        resolve_focus(image, disp, focus=0.25, point=(5, 60))
    with pytest.raises(BokehpipeError, match="finite disparity"):
        resolve_focus(image, disp, focus=float("nan"))


def test_renderers_and_commands_decide_the_focus_only_through_resolve_focus():
    """"No focus given, so auto-focus" is decided in one place: the renderers, the job runner, eval and the
    commands never call the auto-focus or the point rule themselves."""
    import re

    pkg = Path(__file__).resolve().parents[1] / "bokehpipe"
    files = [*pkg.glob("render/*.py"), *pkg.glob("infer/*.py"), *pkg.glob("cli/*.py"), pkg / "evaluate.py"]
    callers = sorted(str(f.relative_to(pkg)) for f in files
                     if re.search(r"\b(choose_focus|focus_at)\(", f.read_text()) and f.name != "focus.py")
    assert callers == []


def test_choose_focus_rejects_mismatched_inputs():
    image, disp = _subject_and_near_edge()
    with pytest.raises(BokehpipeError, match="choose_focus needs"):
        choose_focus(image, disp[::2])


def test_auto_focus_on_real_photos_picks_the_subject(realdata):
    """Real-photo extra. In the portraits a face or a person wins over nearer branches (21) and a nearer rock
    (13). In vabd/0002 the frontal cascade finds a 'face' in the far tree trunk at the left edge (disparity
    ~0.1); the subject is the near plant in the middle, and focusing there is what the f/1.8 target shows."""
    from bokehpipe.data.io import read_image, read_map
    from bokehpipe.render.focus import has_face_detector

    def photo(path: str, depth: str) -> tuple[np.ndarray, np.ndarray]:
        disp = read_map(realdata / depth)
        return read_image(realdata / path), (disp - disp.min()) / (disp.max() - disp.min())

    # the woman's face, near branches at the left edge (~0.8); the seated man, a nearer rock at the bottom edge
    for name, subject in (("21", (690, 530)), ("13", (742, 630))):
        image, disp = photo(f"portraits/{name}.jpg", f"portraits/disparity/{name}.png")
        person = focus_at(disp, *subject, radius=20).disparity  # hand-picked on the photo
        f = choose_focus(image, disp)
        assert abs(f.disparity - person) < 0.05, (name, f)
        assert float(np.quantile(disp, 0.99)) - person > 0.15, name  # something really is nearer than the person
        if name == "21" and has_face_detector():
            assert "face" in f.reason
    f = choose_focus(*photo("vabd/input/0002.jpg", "vabd/depth/0002.png"))
    assert "face" not in f.reason and f.disparity > 0.5, f


class _FakeCascade:
    """Stands in for a Haar cascade: 'detects' fixed boxes (in the detector's 640-px frame)."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detectMultiScale(self, gray, **kwargs):  # noqa: N802 (OpenCV's name)
        return self.boxes if gray.shape[1] == 640 else []  # the profile pass's mirrored image finds nothing new


def test_an_off_centre_face_hit_is_not_the_subject_but_a_framed_face_is(monkeypatch):
    """Haar cascades fire on bark and foliage near the frame edge (vabd/0002's trunk, EBB! sample 9's leaves);
    such a hit, even the largest, loses to a smaller face framed towards the middle, and alone it is no face."""
    from bokehpipe.render import focus

    image = np.full((427, 640, 3), 0.5, np.float32)
    edge, middle = (20, 200, 90, 90), (380, 120, 60, 60)  # centres at x = 0.10 and 0.64 of the width
    monkeypatch.setattr(focus, "_cascades", lambda: (_FakeCascade([edge, middle]),))
    assert focus.largest_face(image) == middle
    monkeypatch.setattr(focus, "_cascades", lambda: (_FakeCascade([edge]),))
    assert focus.largest_face(image) is None
    head = (290, 10, 60, 60)  # centred across, near the top: a standing person in a tall frame
    monkeypatch.setattr(focus, "_cascades", lambda: (_FakeCascade([edge, head]),))
    assert focus.largest_face(image) == head
    assert focus.centre_prior(0.10, 0.5) < focus.FACE_MIN_CENTRE < focus.centre_prior(0.64, 0.35)


def test_transfer_focus_follows_the_subject_onto_an_estimated_map():
    """A synthetic set's true focus is a value of its exact map; on a warped, shifted, half-size estimate of
    that map the same value misses the subject, and `transfer_focus` reads the subject's value instead."""
    from bokehpipe.data.io import resize
    from bokehpipe.render.focus import transfer_focus

    _, exact = _subject_and_near_edge()
    warped = np.clip(0.8 * exact ** 0.6 + 0.15, 0.0, 1.0)  # a monocular-style curve and shift
    estimate = resize(warped, (warped.shape[1] // 2, warped.shape[0] // 2))
    moved = transfer_focus(exact, estimate, 0.5)
    assert abs(moved - (0.8 * 0.5 ** 0.6 + 0.15)) < 0.02  # the subject's value in the estimate
    assert abs(moved - 0.5) > 0.1  # which the exact map's value would have missed
    assert transfer_focus(exact, exact, 0.1) == pytest.approx(0.1)  # the exact map is its own estimate
    assert transfer_focus(exact, exact, 0.3) == pytest.approx(0.5)  # no pixel at 0.3: the closest layer
