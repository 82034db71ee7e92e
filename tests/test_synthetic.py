"""`bokehpipe synth`: layout, determinism, atomic/resumable writing, and how hard the pairs are (issue 3)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bokehpipe.data.ebb import load_index
from bokehpipe.data.io import read_image, read_map
from bokehpipe.data.synthetic import generate_pair, write_synthetic_set
from bokehpipe.errors import BokehpipeError
from bokehpipe.render import render


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Plain full-image PSNR, data range 1 (the project's metrics module is not needed for a sanity range)."""
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> Path:
    """Ten pairs at 384x256 with EBB!-like defects: big enough for blur to matter, small enough for CI."""
    root = tmp_path_factory.mktemp("store") / "datasets" / "eval"
    return write_synthetic_set(root, count=10, width=384, height=256, seed=5, val_fraction=0.3, workers=1)


def test_cli_synth_writes_a_set_that_data_check_accepts(run_cli, store_root):
    result = run_cli("synth", "tiny", "--count", "4", "--size", "96x64", "--seed", "1", "--workers", "1")
    assert result.exit_code == 0, result.output
    root = store_root / "datasets" / "tiny"
    assert sorted(p.name for p in root.parent.iterdir()) == ["tiny"]  # no partial folder left behind
    check = run_cli("data", "check", str(root), "--json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.output)
    assert report["ok"] and report["usable_pairs"] == 4 and report["problems"] == []
    index = load_index(root)
    assert [p.id for p in index.split("train")] == ["0", "1", "2"] and [p.id for p in index.split("val")] == ["3"]
    assert all(p.depth is not None for p in index.split("all"))
    raw = cv2.imread(str(root / "Training" / "depth" / "0.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (64, 96) and raw.min() == 0 and raw.max() == 65535
    meta = json.loads((root / "metadata.json").read_text())
    assert meta["seed"] == 1 and meta["generator_version"] >= 1 and sorted(meta["images"]) == ["0", "1", "2", "3"]
    for info in meta["images"].values():
        assert 0 <= info["focus"] <= 1 and info["aperture"] > 0 and info["layers"] >= 3
        assert np.hypot(*info["defects"]["shift_px"]) <= 2.0 and 88 <= min(info["defects"]["jpeg_quality"])
    again = run_cli("synth", "tiny", "--count", "4", "--size", "96x64")
    assert again.exit_code != 0 and "already exists" in again.output and "--overwrite" in again.output


def test_same_seed_is_byte_identical_whatever_the_worker_count(tmp_path):
    kwargs = dict(count=3, width=96, height=64)
    a = _files(write_synthetic_set(tmp_path / "a", seed=3, workers=1, **kwargs))
    b = _files(write_synthetic_set(tmp_path / "b", seed=3, workers=2, **kwargs))
    c = _files(write_synthetic_set(tmp_path / "c", seed=4, workers=1, **kwargs))
    assert a == b
    assert all(a[f"Training/original/{i}.jpg"] != c[f"Training/original/{i}.jpg"] for i in range(3))
    assert all(a[f"Training/depth/{i}.png"] != c[f"Training/depth/{i}.png"] for i in range(3))


def test_an_interrupted_run_leaves_no_set_and_resumes_to_the_same_bytes(tmp_path):
    class Stop(Exception):
        pass

    calls: list[int] = []

    def stop_after_two(n: int) -> None:
        calls.append(n)
        if len(calls) == 2:
            raise Stop

    kwargs = dict(count=4, width=96, height=64, seed=9, workers=1)
    with pytest.raises(Stop):
        write_synthetic_set(tmp_path / "set", progress=stop_after_two, **kwargs)
    assert not (tmp_path / "set").exists() and (tmp_path / ".set.partial").is_dir()
    resumed: list[int] = []
    write_synthetic_set(tmp_path / "set", progress=resumed.append, **kwargs)
    assert resumed[0] == 2 and sum(resumed) == 4  # two pairs were kept, two rendered
    assert not (tmp_path / ".set.partial").exists()
    assert _files(tmp_path / "set") == _files(write_synthetic_set(tmp_path / "ref", **kwargs))
    with pytest.raises(BokehpipeError, match="already exists"):
        write_synthetic_set(tmp_path / "set", **kwargs)
    write_synthetic_set(tmp_path / "set", overwrite=True, **{**kwargs, "count": 2})
    assert len(list((tmp_path / "set" / "Training" / "bokeh").iterdir())) == 2


def test_pairs_without_defects_differ_only_by_defocus():
    pair = generate_pair(0, 1, 192, 128, defects=False)
    assert pair.meta["defects"] == {} and pair.input.shape == pair.target.shape == (128, 192, 3)
    assert pair.disparity.min() == 0.0 and pair.disparity.max() == pytest.approx(1.0)
    sharp = np.abs(pair.disparity - pair.meta["focus"]) < 1e-3
    far = np.abs(pair.disparity - pair.meta["focus"]) > 0.3
    diff = np.abs(pair.input - pair.target).mean(axis=2)
    assert sharp.any() and far.any() and diff[sharp].mean() < 0.5 * diff[far].mean()


def test_identity_psnr_of_synthetic_pairs_is_in_the_real_ebb_range(synth_set, capsys):
    scores = [psnr(read_image(p.input), read_image(p.target)) for p in load_index(synth_set).split("all")]
    with capsys.disabled():
        print(f"\nsynthetic identity PSNR (input vs target, {len(scores)} pairs at 384x256): "
              f"mean {np.mean(scores):.2f} dB, range {min(scores):.2f}..{max(scores):.2f}")
    assert 18.0 <= np.mean(scores) <= 28.0


def test_identity_psnr_of_real_ebb_pairs(realdata, capsys):
    index = load_index(realdata / "ebb")
    scores = [psnr(read_image(p.input), read_image(p.target)) for p in index.split("all")]
    with capsys.disabled():
        print(f"\nreal EBB! identity PSNR ({len(scores)} pairs at 1536x1024): mean {np.mean(scores):.2f} dB, "
              f"range {min(scores):.2f}..{max(scores):.2f}")
    assert len(scores) >= 6 and 15.0 <= np.mean(scores) <= 28.0


def test_scatter_with_true_disparity_beats_identity_and_gaussian_but_not_perfectly(synth_set, capsys):
    meta = json.loads((synth_set / "metadata.json").read_text())["images"]
    rows = []
    for pair in load_index(synth_set).split("all"):
        image, target, disp = read_image(pair.input), read_image(pair.target), read_map(pair.depth)
        f, a = meta[pair.id]["focus"], meta[pair.id]["aperture"]
        rows.append([psnr(image, target), psnr(render(image, disp, "gaussian", focus=f, aperture=a), target),
                     psnr(render(image, disp, "scatter", focus=f, aperture=a), target)])
    identity, gaussian, scatter = np.mean(rows, axis=0)
    with capsys.disabled():
        print(f"\nsynthetic PSNR, {len(rows)} pairs: identity {identity:.2f}, gaussian {gaussian:.2f}, "
              f"scatter {scatter:.2f} dB")
    assert scatter > identity + 2.0 and scatter > gaussian + 1.0
    assert scatter < 40.0  # the occluded background and the pair defects stay out of its reach
    assert sum(r[2] > r[0] for r in rows) >= 0.8 * len(rows)


def test_aperture_range_pairs_are_pinned_to_their_published_pixels():
    """The pixels of two --aperture-range pairs (uint8 photos, 16-bit disparity), pinned: the disparity is
    computed once per pair, and the target's CoC scale keeps the float32 span rounding the sets were made
    with (a float64 span changes pair 1's target)."""
    import hashlib

    def u8(a: np.ndarray) -> bytes:
        return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8).tobytes()

    got = []
    for i in range(2):
        p = generate_pair(3, i, 384, 256, defects=False, aperture_range=(0.1, 1.2))
        data = u8(p.input) + u8(p.target) + (p.disparity * 65535).round().astype(np.uint16).tobytes()
        got.append(hashlib.sha256(data).hexdigest()[:16])
    assert got == ["8b4688200e127ab2", "99c82119c0ac9a6c"]


def test_visible_disparity_is_computed_once_per_pair(monkeypatch):
    import bokehpipe.data.synthetic as synthetic

    calls = []
    real = synthetic.visible_disparity
    monkeypatch.setattr(synthetic, "visible_disparity", lambda scene: calls.append(1) or real(scene))
    generate_pair(3, 1, 96, 64, defects=False, aperture_range=(0.1, 1.2))
    generate_pair(3, 1, 96, 64, defects=False)
    assert len(calls) == 2
