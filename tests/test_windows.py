"""The training data path: samples computed from a window of the photo equal the whole-photo geometry bit for bit,
cross the DataLoader compact (uint8 RGB, float16 disparity), and the prepared half-size inputs give the very same
samples as decoding the photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from toy_data import PngDepth, write_toy_dataset

from bokehpipe.data.datasets import BokehPairs, StepSampler, batch_to_device, collate, make_network_input
from bokehpipe.data.disparity import normalise_map
from bokehpipe.data.ebb import load_index
from bokehpipe.data.io import read_image, read_map, read_samples
from bokehpipe.data.prepared import PreparedInputs, stale_ids, verify_prepared, write_prepared
from bokehpipe.data.windows import (
    box_half,
    fit_disparity,
    half_rgb,
    half_window,
    level_target,
    network_disparity,
    network_rgb,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _boxes(rng: np.random.Generator, h2: int, w2: int, n: int) -> list[tuple[int, int, int, int]]:
    """Random windows, a third of them against the frame's right or bottom edge."""
    out = []
    for i in range(n):
        h, w = int(rng.integers(1, h2 + 1)), int(rng.integers(1, w2 + 1))
        y, x = int(rng.integers(0, h2 - h + 1)), int(rng.integers(0, w2 - w + 1))
        if i % 3 == 1:
            x = w2 - w
        if i % 3 == 2:
            y = h2 - h
        out.append((y, x, h, w))
    return out


@pytest.mark.parametrize("shape", [(192, 320), (130, 258), (121, 200)])  # even, even, odd (whole-photo path)
def test_window_rgb_equals_the_whole_photo_bit_for_bit(shape: tuple[int, int]):
    rng = np.random.default_rng(shape[1])
    samples = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    whole = half_rgb(samples.astype(np.float32) / 255)
    assert np.array_equal(whole, make_network_input(samples.astype(np.float32) / 255, None, with_depth=False)
                          .transpose(1, 2, 0))
    for y, x, h, w in _boxes(rng, *whole.shape[:2], 60):
        got = network_rgb(samples, (y, x, h, w))
        assert got.shape == (h, w, 3) and np.array_equal(got, whole[y:y + h, x:x + w]), (y, x, h, w)


@pytest.mark.parametrize("scale", [1, 2, 3, 0.7])  # half size, full size, 1.5x full size, smaller (whole path)
def test_window_disparity_equals_the_whole_map_bit_for_bit(scale: float):
    h2, w2 = 96, 160
    rng = np.random.default_rng(7)
    disp = rng.random((int(h2 * scale), int(w2 * scale)), dtype=np.float32)
    whole = fit_disparity(disp, (w2, h2))
    for y, x, h, w in _boxes(rng, h2, w2, 40):
        assert np.array_equal(network_disparity(disp, (h2, w2), (y, x, h, w)), whole[y:y + h, x:x + w])


def test_target_pyramid_from_a_window_equals_the_whole_target():
    rng = np.random.default_rng(3)
    samples = rng.integers(0, 256, (257, 385, 3), dtype=np.uint8)  # odd: the half frame drops the last row/col
    half = box_half(samples[:256, :384])
    assert half.dtype == np.uint8 and half.shape == (128, 192, 3)
    for y, x, h, w in _boxes(rng, 128, 192, 40):
        assert np.array_equal(half_window(samples, (y, x, h, w)), half[y:y + h, x:x + w])
    box = (32, 64, 64, 64)
    assert np.array_equal(level_target(samples, box, 1), samples[64:192, 128:256])
    assert level_target(samples, box, 2).shape == (64, 64, 3)
    four = level_target(samples, box, 4)
    assert four.shape == (16, 16, 3) and four.dtype == np.uint8
    expect = half[32:96, 64:128].astype(np.float32).reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    assert np.abs(four - expect).max() <= 0.5 + 1e-4  # 4x4 means of the level-2 target, rounded


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), n_train=4, n_val=2, size=(256, 192), jpeg=True)


def test_samples_cross_the_loader_compact_and_widen_on_the_device(toy: Path):
    pairs = load_index(toy).split("train")
    ds = BokehPairs(pairs, level=1, crop=64, with_depth=True, depth=PngDepth(pairs), augment=True)
    sampler = StepSampler(len(ds), batch=2, steps=2, seed=0, level=1)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert len(batches) == 2
    for batch in batches:
        assert batch["input"].dtype == batch["target"].dtype == torch.uint8
        assert batch["disparity"].dtype == torch.float16
        assert batch["input"].shape == (2, 3, 64, 64) and batch["target"].shape == (2, 3, 128, 128)
        sample_bytes = sum(batch[k][0].numel() * batch[k].element_size() for k in ("input", "disparity", "target"))
        assert sample_bytes == 64 * 64 * 3 + 64 * 64 * 2 + 128 * 128 * 3  # float32 would be 4x the RGB bytes
    # the same items built in this process, widened: equal to the whole photo's network input, 8-bit rounded
    item = ds[0]  # centre crop, no flips
    x = batch_to_device(collate([item]), "cpu", torch.channels_last)["input"]
    assert x.dtype == torch.float32 and x.shape == (1, 4, 64, 64) and x.is_contiguous(memory_format=torch.channels_last)
    disp = normalise_map(read_map(pairs[0].depth), pairs[0].depth)
    whole = make_network_input(read_image(pairs[0].input), disp, with_depth=True)[:, 16:80, 32:96]
    np.testing.assert_array_equal(x[0, :3].numpy(), np.rint(whole[:3] * 255) / np.float32(255))
    np.testing.assert_array_equal(x[0, 3].numpy(), whole[3].astype(np.float16).astype(np.float32))


def _items(ds: BokehPairs, keys) -> list[dict]:
    return [ds[k] for k in keys]


def _same(a: list[dict], b: list[dict]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if k == "id":
                assert x[k] == y[k]
            else:
                assert x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]), k


def test_prepared_inputs_give_the_same_samples(toy: Path, tmp_path: Path):
    pairs = load_index(toy).split("train")
    depth = PngDepth(pairs)
    path = tmp_path / "train.h5"
    result = write_prepared(path, pairs, depth, dataset="toy", split="train", workers=2)
    assert result.written == 4 and not result.failed
    prepared = PreparedInputs(path)
    keys = [k for micro in StepSampler(4, batch=4, steps=2, seed=5, level=2) for k in micro]
    for level in (7, 4, 2, 1):
        kw = dict(level=level, crop=64, with_depth=True, depth=depth, augment=True)
        _same(_items(BokehPairs(pairs, **kw), keys), _items(BokehPairs(pairs, prepared=prepared, **kw), keys))
    val = dict(level=3, crop=None, with_depth=True, depth=depth, with_source=True)  # whole images, identity source
    _same(_items(BokehPairs(pairs, **val), range(4)), _items(BokehPairs(pairs, prepared=prepared, **val), range(4)))
    assert stale_ids(prepared, pairs, depth) == ([], "")
    assert verify_prepared(path, pairs, depth) == []


def test_prepared_inputs_know_when_a_photo_changed(toy: Path, tmp_path: Path):
    root = tmp_path / "toy"
    shutil.copytree(toy, root)
    pairs = load_index(root).split("train")
    path = tmp_path / "train.h5"
    write_prepared(path, pairs, None, dataset="toy", split="train")
    photo = pairs[1].input
    photo.write_bytes(photo.read_bytes() + b"\0" * 16)  # another size: stale at a glance
    prepared = PreparedInputs(path)
    assert stale_ids(prepared, pairs, None) == (["1"], "1 with changed photos or maps")
    problems = verify_prepared(path, pairs, None)
    assert any("1 of 4 pairs cannot be served" in p for p in problems)
    served = PreparedInputs(path, exclude=["1"])
    assert served.has("0") and not served.has("1")
    assert read_samples(photo).shape == (192, 256, 3)  # still a photo: the decoded path serves it


def test_train_cuts_samples_from_prepared_inputs_and_trains_the_same(toy: Path, run_cli, store_root: Path):
    """`data prepare` once, then `train` says it reads them and trains bit-identically to decoding the photos."""
    for split, n in (("train", 4), ("val", 2)):
        assert run_cli("depth", "--data", toy, "--split", split, "--source", "gt").exit_code == 0
        res = run_cli("data", "prepare", "--data", toy, "--split", split, "--workers", "1")
        assert res.exit_code == 0 and f"{n} of {n} pairs prepared" in res.output, res.output
    path = store_root / "inputs" / toy.name / "gt" / "train.h5"
    res = run_cli("data", "prepare", "--data", toy, "--split", "train")
    assert res.exit_code == 0 and "up to date (4 pairs verified)" in res.output
    common = ("train", "--data", toy, "--model", "pynet-xs", "--levels", "7..6", "--crop", "64", "--batch", "2",
              "--steps", "2", "--val-split", "val", "--val-every", "2", "--workers", "0", "--threads", "1")
    fast = run_cli(*common, "--run", "prepared")
    assert fast.exit_code == 0, fast.output
    assert f"samples cut from prepared inputs {path}" in fast.output
    slow = run_cli(*common, "--run", "decoded", "--no-prepared")
    assert slow.exit_code == 0 and "prepared inputs" not in slow.output
    a, b = (torch.load(store_root / "runs" / r / "checkpoints" / "level6" / "last.pt", weights_only=True)
            for r in ("prepared", "decoded"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["val"]["val_psnr"] == b["val"]["val_psnr"] and a["val"]["val_images"] == 2


def test_a_remade_depth_map_makes_its_prepared_pair_stale(toy: Path, tmp_path: Path, run_cli, store_root: Path):
    from bokehpipe.data.io import write_png
    from bokehpipe.depth.cache import DepthCache

    root = tmp_path / "maps"
    shutil.copytree(toy, root)
    assert run_cli("depth", "--data", root, "--split", "train", "--source", "gt").exit_code == 0
    assert run_cli("data", "prepare", "--data", root, "--split", "train", "--workers", "1").exit_code == 0
    write_png(root / "Training" / "depth" / "2.png", np.full((192, 256), 0.3, np.float32), bits=16)  # remade map
    assert run_cli("depth", "--data", root, "--split", "train", "--source", "gt").exit_code == 0
    pairs = load_index(root).split("train")
    with DepthCache(store_root / "depth" / "maps" / "gt" / "train.h5") as depth:
        prepared = PreparedInputs(store_root / "inputs" / "maps" / "gt" / "train.h5")
        assert stale_ids(prepared, pairs, depth) == (["2"], "1 with changed photos or maps")
    res = run_cli("data", "prepare", "--data", root, "--split", "train", "--workers", "1")
    assert res.exit_code == 0 and "4 of 4 pairs prepared" in res.output  # not up to date: rebuilt
