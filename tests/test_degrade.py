"""Degraded depth (the paper's 8-bit, half-resolution, smooth MegaDepth maps) for experiment 1."""

from __future__ import annotations

import numpy as np

from bokehpipe.data.io import write_jpeg, write_png
from bokehpipe.depth.cache import DepthCache
from bokehpipe.depth.degrade import DEGRADATIONS


def test_paper_degradation_halves_quantises_and_softens_edges():
    disp = np.zeros((64, 96), np.float32)
    disp[:, 48:] = 1.0  # a hard depth edge
    out = DEGRADATIONS["paper"].apply(disp, (96, 64))
    assert out.shape == (32, 48)
    assert np.allclose(out * 255, np.round(out * 255))  # 8-bit levels
    row = out[16]
    assert 0 < row[23] < 1 and 0 < row[24] < 1  # the edge is no longer a step
    assert row[0] == 0 and row[-1] == 1


def test_mono_degradation_moves_depth_per_image_drops_thin_structures_and_is_repeatable():
    yy, xx = np.mgrid[0:64, 0:96].astype(np.float32)
    disp = 0.2 + 0.5 * yy / 63  # a ground plane
    disp[:, 38:44] = 1.0  # a 6-px pole: 3 px at half size, thinner than the opening
    mono, paper = DEGRADATIONS["mono"], DEGRADATIONS["paper"]
    a, b = mono.apply(disp, (96, 64), key="1"), mono.apply(disp, (96, 64), key="2")
    assert np.array_equal(a, mono.apply(disp, (96, 64), key="1"))  # seeded by the id: the cache is stable
    assert not np.allclose(a, b, atol=0.02)  # each image gets its own error
    clean = paper.apply(disp, (96, 64))
    assert np.abs(a - clean).mean() > 0.02  # wrong beyond blur: the curve and the error field
    assert clean[16, 20].max() > 0.6 > a[16, 20]  # the pole survives blur but not the opening
    assert np.allclose(a * 255, np.round(a * 255))


def test_depth_degrade_writes_its_own_cache(run_cli, tmp_path, store_root):
    root = tmp_path / "set"
    rng = np.random.default_rng(0)
    for i in range(3):
        write_jpeg(root / "Training" / "original" / f"{i}.jpg", rng.random((64, 96, 3), dtype=np.float32))
        write_jpeg(root / "Training" / "bokeh" / f"{i}.jpg", rng.random((64, 96, 3), dtype=np.float32))
        write_png(root / "Training" / "depth" / f"{i}.png", np.tile(np.linspace(0, 1, 96, dtype=np.float32), (64, 1)),
                  bits=16)
    for extra in ([], ["--degrade", "paper"]):
        result = run_cli("depth", "--data", root, "--split", "all", "--source", "gt", *extra)
        assert result.exit_code == 0, result.output
    clean = DepthCache(store_root / "depth" / "set" / "gt" / "all.h5")
    low = DepthCache(store_root / "depth" / "set" / "gt-paper" / "all.h5")
    assert clean.read("0").shape == (64, 96) and low.read("0").shape == (32, 48)
    assert "degraded" in low.attrs["input_rule"] and low.attrs["model"] == "gt-paper"
    bad = run_cli("depth", "--data", root, "--split", "all", "--source", "gt", "--degrade", "blurry")
    assert bad.exit_code == 1 and "unknown --degrade 'blurry'" in bad.output


def _pin(a: np.ndarray) -> str:
    """A checksum of a map to 4 decimals: any change to a recipe's draws or steps changes it."""
    import hashlib

    return hashlib.sha256(np.round(np.asarray(a, np.float64), 4).tobytes()).hexdigest()[:16]


def test_depth_degradation_recipes_are_pinned():
    """Two recipes with their own provenance, kept bit-stable: `monocular_like` (BokehNet's training data; the
    shipped weights name it) and the cached `mono`/`paper` degradations (the exp_depth study in the report)."""
    from bokehpipe.depth.degrade import monocular_like

    yy = np.mgrid[0:48, 0:64][0].astype(np.float32)
    disp = 0.2 + 0.5 * yy / 47
    disp[10:30, 20:40] = 0.9
    assert _pin(monocular_like(disp, np.random.default_rng(7))) == "962bec2e509e145f"
    assert _pin(monocular_like(disp, np.random.default_rng(7), strength=0.5)) == "61d243dad0d1fbc5"
    assert _pin(DEGRADATIONS["mono"].apply(disp, (64, 48), key="17")) == "1157acbff6fc01f1"
    assert _pin(DEGRADATIONS["paper"].apply(disp, (64, 48), key="17")) == "173ec44478a91b19"
