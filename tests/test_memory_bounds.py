"""Bounded memory at any photo size (issue 13), each case on a small image with a tiny forced budget: the
tile budget, the channels-last blended output, the in-place crop, BokehNet's strip-wise compose, the
in-range photo that is not copied, and progress within one photo for an untiled learned render.

Peak RSS itself is measured by `python studies/infer_memory.py` (a study, not a test)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from test_bokehnet import _scene
from tiny_nets import LocalNet

from bokehpipe.physics import clip_unit
from bokehpipe.render.classical import ClassicalRenderer
from bokehpipe.render.learned import BokehNetRenderer, LearnedRenderer
from bokehpipe.render.tiling import TilePolicy, crop_in_place, tiled_apply

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_tile_policy_gives_each_tile_the_tile_budget_once_a_photo_is_too_big():
    policy = TilePolicy(memory_mb=1.0, tile_memory_mb=0.25)
    assert policy.tile_side(100, 100, 100.0) is None  # 1 MB of work fits: whole
    side = policy.tile_side(200, 200, 100.0)  # 3.8 MB: tiled, each tile within 0.25 MB
    assert side is not None and side * side * 100.0 <= 0.25 * 2**20 < (side + 1) ** 2 * 100.0
    half = policy.tile_side(200, 200, 100.0, tile_share=0.5)  # a learned model's tiles: half the budget
    assert half is not None and half * half * 100.0 <= 0.125 * 2**20 < (half + 1) ** 2 * 100.0
    assert policy.tile_side(10_000, 10_000, 0.0) is None  # a renderer that never tiles (gaussian)
    assert TilePolicy(memory_mb=None).tile_side(10_000, 10_000, 100.0) is None


def test_tiled_output_is_channels_last_and_matches_the_whole():
    net = LocalNet().eval()
    x = torch.rand(1, 4, 96, 136, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        whole = net(x)
    tiled = tiled_apply(net, x, tile=48, overlap=32, align=8)
    assert tiled[0].permute(1, 2, 0).is_contiguous()  # HWC without a copy
    assert float((tiled - whole).abs().max()) < 1e-5


def test_crop_in_place_keeps_the_memory_and_the_values():
    arr = np.random.default_rng(0).random((7, 9, 3), dtype=np.float32)
    expect = arr[:5, :6].copy()
    out = crop_in_place(arr, 5, 6)
    assert out.flags.c_contiguous and np.shares_memory(out, arr) and np.array_equal(out, expect)
    assert crop_in_place(arr, 7, 9) is arr


def test_learned_renderer_under_a_tiny_memory_budget_tiles_and_matches():
    rng = np.random.default_rng(2)
    rgb = rng.random((256, 384, 3), dtype=np.float32)
    disp = rng.random((128, 192), dtype=np.float32)
    whole = LearnedRenderer(LocalNet(), tiles=TilePolicy(memory_mb=None)).render_batch([rgb], [disp])[0]
    # 52 MB of work at LocalNet's estimate (550 B a pixel) > 20 MB: tiled, half of 24 MB a tile (72 px input)
    tight = LearnedRenderer(LocalNet(), tiles=TilePolicy(memory_mb=20.0, tile_memory_mb=24.0, overlap=64))
    seen: list[tuple[int, int]] = []
    tight.on_tile = lambda done, total: seen.append((done, total))
    out = tight.render_batch([rgb], [disp])[0]
    assert tight.tiled_count == 1 and len(seen) > 1 and seen[-1][0] == seen[-1][1]
    assert out.shape == whole.shape == (256, 384, 3) and out.flags.c_contiguous and out.dtype == np.float32
    assert float(np.abs(out - whole)[16:-16, 16:-16].max()) < 1e-3


def test_scatter_under_a_tiny_memory_budget_tiles_and_matches():
    image, disp, _ = _scene(160, 120)
    whole = ClassicalRenderer("scatter", focus=1.0, aperture=0.5).render_batch([image], [disp])[0]
    tight = ClassicalRenderer("scatter", focus=1.0, aperture=0.5, tiles=TilePolicy(memory_mb=1.0, tile_memory_mb=0.5))
    out = tight.render_batch([image], [disp])[0]
    assert tight.tiled_count == 1 and out.flags.c_contiguous
    assert float(np.abs(out - whole).max()) < 1e-3 and float(np.abs(whole - image).mean()) > 0.005


def test_gaussian_never_tiles_even_under_a_tiny_budget():
    image, disp, _ = _scene(160, 120)
    r = ClassicalRenderer("gaussian", focus=1.0, tiles=TilePolicy(memory_mb=0.001, tile_memory_mb=0.001))
    r.render_batch([image], [disp])
    assert r.tiled_count == 0


def test_bokehnet_compose_in_strips_equals_one_whole_resize(monkeypatch):
    from bokehpipe.render import learned

    rng = np.random.default_rng(4)
    h, w = 123, 157
    image = rng.random((h, w, 3), dtype=np.float32)
    scatter = rng.random((h, w, 3), dtype=np.float32)
    small = np.concatenate([rng.random((13, 17, 1)), rng.normal(0, 0.1, (13, 17, 3))], 2).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    expect = np.clip(scatter + big[..., :1] * (image - scatter) + big[..., 1:], 0.0, 1.0)
    monkeypatch.setattr(learned, "COMPOSE_ROWS", 5)  # many strips, a short last one
    s = scatter.copy()
    out = learned.compose(image, s, small)
    assert np.shares_memory(out, s)  # written into S: no full-size temporary
    assert float(np.abs(out - expect).max()) < 1e-5


def test_bokehnet_renderer_under_a_tiny_memory_budget_tiles_scatter():
    from bokehpipe.render.learned import load_bokehnet

    model, _ = load_bokehnet()
    image, disp, _ = _scene(192, 128)
    whole = BokehNetRenderer(model, focus=1.0, aperture=0.5, tiles=TilePolicy(memory_mb=None)).render_one(image, disp)
    tight = BokehNetRenderer(model, focus=1.0, aperture=0.5, tiles=TilePolicy(memory_mb=1.0, tile_memory_mb=0.5))
    out = tight.render_one(image, disp)
    assert tight.tiled_count == 1 and np.abs(out - whole).max() < 0.02


def test_an_untiled_learned_render_on_cpu_reports_progress_by_block():
    from bokehpipe.models import create_model

    rng = np.random.default_rng(6)
    rgb = rng.random((64, 96, 3), dtype=np.float32)
    disp = rng.random((32, 48), dtype=np.float32)
    torch.manual_seed(0)
    net = create_model("pynet-xs", in_chans=4)
    quiet = LearnedRenderer(net).render_batch([rgb], [disp])[0]
    r = LearnedRenderer(net)
    seen: list[tuple[int, int]] = []
    r.on_tile = lambda done, total: seen.append((done, total))
    out = r.render_batch([rgb], [disp])[0]
    assert r.tiled_count == 0 and len(seen) > 5 and seen[-1][0] == seen[-1][1] == seen[0][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert np.array_equal(out, quiet)  # the counting pass changes nothing
    calls: list[int] = []
    net.register_forward_hook(lambda *_: calls.append(1))
    again = [r.render_batch([rgb], [disp])[0] for _ in range(3)]
    assert len(calls) == 3 and all(np.array_equal(a, out) for a in again)  # blocks counted once per run
    assert seen[-1] == (seen[0][1], seen[0][1])


def test_clip_unit_copies_only_out_of_range_arrays():
    inside = np.random.default_rng(0).random((4, 5, 3), dtype=np.float32)
    assert clip_unit(inside) is inside
    outside = inside * 2 - 0.5
    clipped = clip_unit(outside)
    assert clipped is not outside and clipped.min() >= 0 and clipped.max() <= 1 and outside.min() < 0


def test_infer_reads_a_big_photo_only_when_it_is_needed(monkeypatch):
    """Read-ahead holds decoded photos beside the one rendering: only as many as PREFETCH_BYTES allows."""
    import time

    from bokehpipe.infer import engine

    started: list[int] = []

    def fake_load(job, depth):
        started.append(job)
        return engine._Loaded(job, np.zeros((64, 64, 3), np.float32))  # 48 KB

    monkeypatch.setattr(engine, "_load", fake_load)
    monkeypatch.setattr(engine, "PREFETCH_BYTES", 10_000)  # less than one photo: no read-ahead
    for i, _ in enumerate(engine._prefetch(list(range(4)), None, ahead=2, threads=1)):
        time.sleep(0.05)  # time for a read-ahead thread to start one, were it allowed
        assert len(started) == i + 1
    started.clear()
    monkeypatch.setattr(engine, "PREFETCH_BYTES", 2**30)  # small photos: two read ahead of the one rendering
    reads = engine._prefetch(list(range(6)), None, ahead=2, threads=1)
    next(reads)
    time.sleep(0.2)
    assert len(started) == 3


@pytest.mark.slow
def test_memory_bench_runs_the_real_command_on_a_folder(tmp_path, capsys):
    import json

    import infer_memory

    argv = ["--sizes", "64x48", "--renderers", "gaussian", "--photos", "2", "--work", str(tmp_path)]
    assert infer_memory.main(argv) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["exit"] == 0 and row["photos"] == 2 and row["peak_rss_mb"] > 0, row
    assert len(list((tmp_path / "64x48" / "out-gaussian").glob("*.jpg"))) == 2
