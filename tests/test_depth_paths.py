"""One road from photo + depth map to pixels (issue 10).

The same photo and map, stored three ways (a full-size 16-bit PNG, a half-size 8-bit PNG as PyNET ships them,
an HDF5 cache entry), must reach a network bit-identically through the training dataset, `eval` and `infer`,
and a classical renderer identically through `render`, `infer --method` and `eval`'s baselines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bokehpipe.data.datasets import BokehPairs, batch_to_device
from bokehpipe.data.ebb import Pair
from bokehpipe.data.io import read_image, read_map, resize, write_png
from bokehpipe.depth.cache import DepthCache, Entry, write_entries
from bokehpipe.depth.producers import MapProducer
from bokehpipe.evaluate import Method, classical_method, evaluate
from bokehpipe.infer.depth_inputs import DirDepth, open_cache
from bokehpipe.infer.engine import run_jobs
from bokehpipe.infer.files import plan_jobs
from bokehpipe.render.classical import ClassicalRenderer
from bokehpipe.render.learned import LearnedRenderer

W, H = 192, 128  # multiples of 64: the training centre crop and infer's padding both leave the input whole


class Recorder(torch.nn.Module):
    """Stands in for a generator: keeps every network input it is given."""

    multiple = 32

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[np.ndarray] = []

    def forward(self, x: torch.Tensor, level: int) -> torch.Tensor:
        self.inputs += [t.numpy().copy() for t in x]
        return torch.zeros(x.shape[0], 3, 2 * x.shape[2], 2 * x.shape[3])


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rgb = resize(rng.random((16, 24, 3), dtype=np.float32), (W, H), "cubic")
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    disp = 0.2 + 0.6 * (yy / H) + 0.15 * np.sin(xx / 9.0)  # raw scale, not [0, 1]: every source normalises
    disp[40:90, 70:130] = 0.95  # a near subject with hard edges, where resampling twice shows
    return rgb, disp


@pytest.fixture(params=["full16", "half8", "h5"])
def stored(request, tmp_path: Path):
    """(pair, folder of maps or None, cache) for one way of storing the map."""
    rgb, disp = _scene()
    photos, maps = tmp_path / "photos", tmp_path / "maps"
    photos.mkdir()
    maps.mkdir()
    photo = write_png(photos / "p1.png", rgb, bits=16)
    pair = Pair("p1", photo, photo, None, "val")
    cache_path = tmp_path / "cache.h5"
    import h5py

    if request.param == "h5":  # a MiDaS-like entry at the photo's size, written as the depth pass writes it
        from bokehpipe.data.disparity import normalise

        data, lo, hi = normalise(disp * 7.0 - 1.0)
        entries = [Entry("p1", data.astype(np.float16), (W, H), str(photo), "", 0, lo, hi)]
        folder = None
    else:
        small = request.param == "half8"
        arr = resize(disp / disp.max(), (W // 2, H // 2)) if small else disp / disp.max()
        map_path = write_png(maps / "p1.png", arr, bits=8 if small else 16)
        pair = Pair("p1", photo, photo, map_path, "val")
        entries = [MapProducer("png").entry(pair)]  # what `bokehpipe depth --source png` stores
        folder = maps
    with h5py.File(cache_path, "w") as h5:
        write_entries(h5, entries)
    return pair, folder, cache_path


def _infer_inputs(pair: Pair, source, tmp_path: Path, renderer) -> list:
    jobs = plan_jobs([pair.input], pair.input.parent, tmp_path / "out", fmt="png")
    outcomes = run_jobs(jobs, renderer, source, read_threads=0)
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    return outcomes


def test_network_inputs_agree_in_train_eval_and_infer(stored, tmp_path: Path):
    pair, folder, cache_path = stored
    cache = DepthCache(cache_path)
    item = BokehPairs([pair], level=1, crop=None, with_depth=True, depth=cache)[0]
    assert item["input"].dtype in (torch.uint8, torch.float16)  # compact across the DataLoader, widened after
    train = batch_to_device(item, "cpu")["input"].numpy()
    assert train.shape == (4, H // 2, W // 2)

    rec_eval = Recorder()
    learned = Method("m", "learned", True, LearnedRenderer(rec_eval, level=1, with_depth=True))
    evaluate([pair], [learned], depth=cache)

    rec_cache, rec_dir = Recorder(), Recorder()
    _infer_inputs(pair, open_cache(cache_path), tmp_path / "c", LearnedRenderer(rec_cache, level=1))
    got = {"eval": rec_eval.inputs[0], "infer --depth-cache": rec_cache.inputs[0]}
    if folder is not None:  # the map itself, given to infer with --depth DIR
        _infer_inputs(pair, DirDepth(folder), tmp_path / "d", LearnedRenderer(rec_dir, level=1))
        got["infer --depth DIR"] = rec_dir.inputs[0]
    for where, x in got.items():  # eval and infer: the same float input, bit for bit
        assert x.dtype == train.dtype and x.shape == train.shape, where
        assert np.array_equal(x, got["eval"]), f"{where} differs from eval by {np.abs(x - got['eval']).max()}"
        # training: the same geometry, rounded to float16 on its way to the device
        assert np.abs(x - train).max() <= 2.0 ** -11, where


def test_the_old_double_resize_differed_for_half_size_maps(tmp_path: Path):
    """The bug this road removes: a half-size map first brought to full size, then halved, is not the map."""
    from bokehpipe.data.datasets import make_network_input

    rgb, disp = _scene()
    half = resize(disp / disp.max(), (W // 2, H // 2))
    once = make_network_input(rgb, half, with_depth=True)[3]
    twice = make_network_input(rgb, resize(half, (W, H), clip=True), with_depth=True)[3]
    assert np.abs(once - twice).max() > 0.01


def test_classical_renders_agree_through_render_infer_and_eval(stored, run_cli, tmp_path: Path):
    pair, folder, cache_path = stored
    cache = DepthCache(cache_path)
    save = tmp_path / "eval"
    evaluate([pair], [classical_method("scatter")], depth=cache, save_dir=save, save_count=1)
    from_eval = read_image(save / "scatter" / "p1.png")
    from bokehpipe.render.calibration import DEFAULT_APERTURE  # eval's baselines on photos: the calibrated f/1.8

    outcomes = _infer_inputs(pair, open_cache(cache_path), tmp_path / "c",
                             ClassicalRenderer("scatter", aperture=DEFAULT_APERTURE))
    from_infer = read_image(outcomes[0].job.output)
    assert np.array_equal(from_eval, from_infer)
    # the depth PNG infer writes is the map brought to the photo's size once
    saved_map = read_map(outcomes[0].job.depth_output)
    assert saved_map.shape == (H, W)
    if folder is None:
        return
    # the two commands, with focus and aperture given: their defaults differ today (render: the salient-subject
    # focus and f/1.8; infer --method: auto-focus and aperture 1), see the issue 10 note
    chosen = ("--method", "scatter", "--focus", "0.8", "--aperture", "1")
    out_r, out_i = tmp_path / "r", tmp_path / "i"
    r = run_cli("render", pair.input, "--depth", folder / "p1.png", *chosen, "--out", out_r)
    assert r.exit_code == 0, r.output
    i = run_cli("infer", pair.input.parent, *chosen, "--depth", folder, "--format", "png", "--out", out_i)
    assert i.exit_code == 0, i.output
    from_render, from_cli_infer = read_image(out_r / "p1.png"), read_image(out_i / "p1.png")
    assert np.array_equal(from_render, from_cli_infer)
    assert np.abs(from_render - read_image(pair.input)).max() > 0.05  # it did blur something
