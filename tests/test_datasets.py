"""Training data: the paper's input geometry, aligned crops and flips, level scaling, the step sampler's
determinism and DDP split, depth-cache coverage checks, and readable errors for bad files."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_data import PngDepth, write_toy_dataset

from bokehpipe.data.datasets import (
    BokehPairs,
    StepSampler,
    batch_to_device,
    check_depth_coverage,
    make_network_input,
)
from bokehpipe.data.disparity import normalise_map
from bokehpipe.data.ebb import load_index
from bokehpipe.data.io import read_image, read_map, resize, write_png
from bokehpipe.errors import BokehpipeError, ImageReadError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"), n_train=4, n_val=2, size=(192, 128))


def _pairs(root: Path, split: str = "train"):
    return load_index(root).split(split)


def test_network_input_geometry():
    rng = np.random.default_rng(0)
    rgb = rng.random((101, 67, 3), dtype=np.float32)
    disp = rng.random((20, 13), dtype=np.float32)
    x = make_network_input(rgb, disp, with_depth=True)
    assert x.shape == (4, 50, 33) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:3], resize(rgb, (33, 50), "cubic").transpose(2, 0, 1))  # x0.5 bicubic
    np.testing.assert_allclose(x[3], np.clip(resize(disp, (33, 50), clip=False), 0, 1))
    assert 0 <= x.min() and x.max() <= 1
    assert make_network_input(rgb, None, with_depth=False).shape == (3, 50, 33)
    with pytest.raises(ValueError, match="needs a disparity"):
        make_network_input(rgb, None, with_depth=True)


@pytest.mark.parametrize("level", [7, 4, 2, 1])
def test_level_scaling_and_centre_crop_alignment(toy: Path, level: int):
    pairs = _pairs(toy)
    ds = BokehPairs(pairs, level=level, crop=64, with_depth=True, depth=PngDepth(pairs))
    item = ds[0]
    side = int(64 * 2 ** (2 - level))
    assert item["input"].shape == (3, 64, 64) and item["disparity"].shape == (1, 64, 64)
    assert item["target"].shape == (3, side, side)
    assert item["input"].dtype == item["target"].dtype == torch.uint8 and item["disparity"].dtype == torch.float16
    batch = batch_to_device(item, "cpu")
    assert batch["input"].shape == (4, 64, 64) and batch["input"].dtype == torch.float32
    # centre crop of the 96x64 half-resolution frame: y = 0, x = 16 -> target rows 0..128, cols 32..160; the
    # target pyramid: full size, its 2x2 means rounded to 8 bits, then means of those
    full = read_image(pairs[0].target)[0:128, 32:160]
    np.testing.assert_allclose(batch["target"].numpy(), resize(full, (side, side)).transpose(2, 0, 1),
                               atol=1.01 / 255 if level > 1 else 0)
    disp = normalise_map(read_map(pairs[0].depth), pairs[0].depth)  # the one rule every source applies
    expect = make_network_input(read_image(pairs[0].input), disp, with_depth=True)[:, 0:64, 16:80]
    np.testing.assert_array_equal(batch["input"][:3].numpy(), np.rint(expect[:3] * 255) / np.float32(255))
    np.testing.assert_array_equal(batch["input"][3].numpy(), expect[3].astype(np.float16).astype(np.float32))


def test_whole_image_validation_crops_to_multiple_of_32(toy: Path):
    pairs = _pairs(toy, "val")
    ds = BokehPairs(pairs, level=1, crop=None, with_depth=False, with_source=True)
    item = ds[1]
    assert item["input"].shape == (3, 64, 96) and item["target"].shape == (3, 128, 192)
    assert item["source"].shape == item["target"].shape and "disparity" not in item


def test_augmentation_keeps_input_and_target_aligned(tmp_path: Path):
    """Input and target are the same photo: after random crops, rot90 and flips they must still match."""
    root = write_toy_dataset(tmp_path, n_train=2, n_val=0, size=(256, 192))
    for p in (root / "Training" / "original").iterdir():
        (root / "Training" / "bokeh" / p.name).write_bytes(p.read_bytes())
    ds = BokehPairs(_pairs(root), level=2, crop=64, with_depth=False, augment=True)
    sampler = StepSampler(len(ds), batch=4, steps=4, seed=3, level=2)
    corr, shuffled = [], []
    for micro in sampler:
        for key in micro:
            item = batch_to_device(ds[key], "cpu")
            a, b = item["input"].numpy().ravel(), item["target"].numpy().ravel()
            corr.append(np.corrcoef(a, b)[0, 1])
            shuffled.append(np.corrcoef(a, np.rot90(item["target"].numpy(), 1, axes=(1, 2)).ravel())[0, 1])
    assert min(corr) > 0.97 and max(shuffled) < 0.9


def test_sampler_is_deterministic_resumable_and_splits_global_batches():
    def stream(**kw):
        return list(StepSampler(10, batch=5, steps=6, seed=1, level=3, **kw))

    full = stream()
    assert full == stream() and len(full) == 6
    assert stream(start_step=4) == full[4:]
    assert stream(accumulate=2)[2 * 4:] == stream(accumulate=2, start_step=4)
    per_epoch = Counter(i for batch in full[:2] for i, _ in batch)  # 2 steps x 5 = one epoch of 10
    assert sorted(per_epoch) == list(range(10)) and set(per_epoch.values()) == {1}
    for world, accumulate in ((2, 1), (2, 2), (3, 1)):
        shards = [StepSampler(10, batch=5, steps=6, seed=1, level=3, rank=r, world=world, accumulate=accumulate)
                  for r in range(world)]
        for step in range(6):
            micro = [m for s in shards for m in s.micro_batches(step)]
            assert sorted(k for m in micro for k in m) == sorted(full[step])
            assert max(map(len, micro)) - min(map(len, micro)) <= 1
    with pytest.raises(BokehpipeError, match="smaller than world size"):
        StepSampler(10, batch=2, steps=1, seed=0, level=1, world=2, accumulate=2)


def test_depth_coverage_and_missing_id(toy: Path):
    pairs = _pairs(toy)
    depth = PngDepth(pairs[1:])
    with pytest.raises(BokehpipeError, match=r"lacks 1 of 4 ids \(0\)"):
        check_depth_coverage(pairs, depth, where="x")
    ds = BokehPairs(pairs, level=3, crop=64, with_depth=True, depth=depth)
    with pytest.raises(BokehpipeError, match="no depth for id 0"):
        ds[0]


def test_unreadable_file_names_the_file(tmp_path: Path):
    root = write_toy_dataset(tmp_path, n_train=2, n_val=0, size=(128, 128))
    bad = root / "Training" / "bokeh" / "1.png"
    bad.write_bytes(b"not a png")
    ds = BokehPairs(_pairs(root), level=2, crop=64, with_depth=False)
    ds[0]
    with pytest.raises(ImageReadError, match=str(bad)):
        ds[1]


def test_size_mismatch_and_small_image_errors(tmp_path: Path):
    root = write_toy_dataset(tmp_path, n_train=2, n_val=0, size=(128, 128))
    write_png(root / "Training" / "bokeh" / "1.png", np.zeros((64, 64, 3), np.float32))
    ds = BokehPairs(_pairs(root), level=2, crop=64, with_depth=False)
    with pytest.raises(BokehpipeError, match="target is 64x64 but input 1.png is 128x128"):
        ds[1]
    big = BokehPairs(_pairs(root), level=2, crop=96, with_depth=False)
    with pytest.raises(BokehpipeError, match="too small for a 96px crop"):
        big[0]
    with pytest.raises(BokehpipeError, match="multiple of 32"):
        BokehPairs(_pairs(root), level=2, crop=48, with_depth=False)


def test_dataset_holds_paths_not_pixels(toy: Path):
    pairs = _pairs(toy)
    ds = BokehPairs(pairs, level=1, crop=64, with_depth=True, depth=PngDepth(pairs))
    ds[0]
    assert len(pickle.dumps(ds)) < 4096  # what each DataLoader worker receives
    assert isinstance(ds[(0, 123)]["input"], torch.Tensor)
