"""Training and validation samples at the paper's geometry, streamed from disk (PyNET-Bokeh, arXiv:2006.05698).

The network sees the photo downscaled x0.5 (bicubic) plus its disparity resized to the same half size
(`make_network_input`, the one place this geometry lives and the only place a map is resized for a network;
eval and inference use it too). Maps arrive at their stored size (`bokehpipe.data.disparity`). Training samples are
aligned crops: `crop` x `crop` at half resolution against the 2*crop x 2*crop full-resolution target, then
the target is resized to the trained level's scale (level 1: full resolution; level L: 2**(1-L)). The paper
augments with rot90 and vertical flips; so do we, applied identically to input and target.

Every random choice of a sample (which image, where to crop, how to flip) is a pure function of
(seed, level, global sample position), drawn by `StepSampler`. A resumed run, a run with more DataLoader
workers and a DDP run therefore see the very same samples in the very same global batches. Nothing is
held in RAM beyond the batches in flight (the official code kept the whole set as float64 arrays).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from bokehpipe.data.disparity import DisparitySource, Photo
from bokehpipe.data.ebb import Pair
from bokehpipe.data.io import read_image, resize
from bokehpipe.errors import BokehpipeError

MULTIPLE = 32  # PyNET's padding multiple at network-input resolution


def half_size(height: int, width: int) -> tuple[int, int]:
    """Network input (height, width) for a full-resolution photo: x0.5, rounded down."""
    return height // 2, width // 2


def make_network_input(rgb_full: np.ndarray, disparity: np.ndarray | None, *, with_depth: bool) -> np.ndarray:
    """RGB (H, W, 3) in [0, 1] (+ disparity (h, w), any size, near = 1) -> (C, H//2, W//2) float32.

    RGB is downscaled x0.5 with bicubic interpolation as in the paper; the disparity, as stored (never first
    brought to the photo's size: that would resample it twice), is resized once to the same half size with the
    project's resize policy (`bokehpipe.data.io.resize`) and clipped to [0, 1].
    """
    if rgb_full.ndim != 3 or rgb_full.shape[2] != 3:
        raise ValueError(f"expected an RGB array (H, W, 3), got shape {rgb_full.shape}")
    h2, w2 = half_size(*rgb_full.shape[:2])
    if h2 < 1 or w2 < 1:
        raise ValueError(f"image {rgb_full.shape[1]}x{rgb_full.shape[0]} is too small")
    rgb = resize(rgb_full.astype(np.float32, copy=False), (w2, h2), "cubic")
    chans = [np.transpose(rgb, (2, 0, 1))]
    if with_depth:
        if disparity is None:
            raise ValueError("with_depth=True needs a disparity map")
        if disparity.ndim != 2:
            raise ValueError(f"expected a disparity map (h, w), got shape {disparity.shape}")
        disp = np.clip(resize(disparity.astype(np.float32, copy=False), (w2, h2), clip=False), 0.0, 1.0)
        chans.append(disp[None])
    return np.ascontiguousarray(np.concatenate(chans, 0), dtype=np.float32)


def photo_of(pair: Pair) -> Photo:
    """The key a `DisparitySource` looks a pair's map up by."""
    return Photo(pair.id, pair.input)


def read_pair_images(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """A pair's input and target, decoded once each; a target of another size is that pair's fault, named."""
    rgb = read_image(pair.input)
    target = read_image(pair.target)
    if rgb.shape != target.shape:
        raise BokehpipeError(f"{pair.target}: target is {target.shape[1]}x{target.shape[0]} but input "
                             f"{pair.input.name} is {rgb.shape[1]}x{rgb.shape[0]}; re-export the pair at one "
                             "size (see `bokehpipe data check`)")
    return rgb, target


def check_depth_coverage(pairs: Sequence[Pair], depth: DisparitySource, *, where: str) -> None:
    """Fail before training starts when the source lacks maps, naming how many and which."""
    missing = [p.id for p in pairs if not depth.has(photo_of(p))]
    if missing:
        path = getattr(depth, "path", where)
        ids = ", ".join(missing[:5]) + ("..." if len(missing) > 5 else "")
        raise BokehpipeError(f"{path}: depth cache lacks {len(missing)} of {len(pairs)} ids ({ids}); "
                             "run `bokehpipe depth` for this dataset and split")


class BokehPairs(Dataset):
    """Input/target pairs (+ cached depth) at one training level.

    `crop` is the half-resolution crop side (a multiple of 32); None takes the whole photo, centre-cropped to
    the largest multiple of 32 (validation on full images). Items are `int` (deterministic centre crop, no
    augmentation) or `(index, key)` from `StepSampler` (random crop and rot90/flip drawn from `key`).
    """

    def __init__(self, pairs: Sequence[Pair], *, level: int, crop: int | None, with_depth: bool,
                 depth: DisparitySource | None = None, augment: bool = False, with_source: bool = False) -> None:
        if with_depth and depth is None:
            raise BokehpipeError("with_depth needs a depth cache (or pass --no-depth)")
        if crop is not None and (crop <= 0 or crop % MULTIPLE):
            raise BokehpipeError(f"crop {crop} must be a positive multiple of {MULTIPLE} (network input pixels)")
        if any(p.target is None for p in pairs):
            bad = next(p for p in pairs if p.target is None)
            raise BokehpipeError(f"{bad.input}: no bokeh target; training needs pairs (pick a split with targets)")
        self.pairs = list(pairs)
        self.level, self.crop, self.with_depth = level, crop, with_depth
        self.depth, self.augment, self.with_source = depth, augment, with_source

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, pair: Pair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rgb, target = read_pair_images(pair)
        disp = None
        if self.with_depth:
            # at its stored size, exactly as eval and inference read it; make_network_input resizes it once
            disp = self.depth.disparity(photo_of(pair), rgb)
        return make_network_input(rgb, disp, with_depth=self.with_depth), target, rgb

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, key = (item, None) if isinstance(item, (int, np.integer)) else item
        pair = self.pairs[int(index)]
        net_in, target, rgb = self._load(pair)
        _, h2, w2 = net_in.shape
        ch, cw = (self.crop, self.crop) if self.crop else (h2 // MULTIPLE * MULTIPLE, w2 // MULTIPLE * MULTIPLE)
        if ch > h2 or cw > w2 or ch == 0 or cw == 0:
            raise BokehpipeError(f"{pair.input}: image {target.shape[1]}x{target.shape[0]} is too small for a "
                                 f"{max(ch, MULTIPLE)}px crop at half resolution; lower the crop or drop the image")
        rng = np.random.default_rng(key) if (key is not None and self.augment) else None
        if rng is not None:
            y, x = int(rng.integers(0, h2 - ch + 1)), int(rng.integers(0, w2 - cw + 1))
        else:
            y, x = (h2 - ch) // 2, (w2 - cw) // 2
        net_in = net_in[:, y:y + ch, x:x + cw]
        target = target[2 * y:2 * (y + ch), 2 * x:2 * (x + cw)]
        th, tw = int(ch * 2 ** (2 - self.level)), int(cw * 2 ** (2 - self.level))
        source = None
        if self.with_source:  # the input at the target's scale: the "identity" baseline
            source = resize(rgb[2 * y:2 * (y + ch), 2 * x:2 * (x + cw)], (tw, th)).transpose(2, 0, 1)
        target = resize(target, (tw, th)).transpose(2, 0, 1)
        if rng is not None:
            k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
            net_in, target = _rot_flip(net_in, k, flip), _rot_flip(target, k, flip)
        out = {"input": torch.from_numpy(np.ascontiguousarray(net_in)),
               "target": torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)), "id": pair.id}
        if source is not None:
            out["source"] = torch.from_numpy(np.ascontiguousarray(source, dtype=np.float32))
        return out


def _rot_flip(chw: np.ndarray, k: int, flip: bool) -> np.ndarray:
    out = np.rot90(chw, k, axes=(1, 2))
    return out[:, ::-1] if flip else out


class StepSampler(Sampler[list[tuple[int, int]]]):
    """Batch sampler for step-based training, resumable at any step and identical under any world size.

    Global sample position `p = step * batch + j` walks through epochs of a seeded permutation (epoch
    `p // n`), like DistributedSampler with `set_epoch`, but addressed by step so a resumed run continues
    mid-epoch. Each global batch is split into `world * accumulate` micro-batches (sizes differ by at most
    one); this rank receives micro-batches `m * world + rank`. Each item is `(index, key)` where `key`
    seeds that sample's crop and flips.
    """

    def __init__(self, n: int, *, batch: int, steps: int, seed: int, level: int, start_step: int = 0,
                 rank: int = 0, world: int = 1, accumulate: int = 1) -> None:
        if n < 1:
            raise BokehpipeError("the training split is empty")
        if batch < world * accumulate:
            raise BokehpipeError(f"batch {batch} is smaller than world size x accumulation ({world} x {accumulate}); "
                                 "lower --accumulate or use fewer processes")
        self.n, self.batch, self.steps, self.seed, self.level = n, batch, steps, seed, level
        self.start_step, self.rank, self.world, self.accumulate = start_step, rank, world, accumulate
        self._perm_epoch, self._perm = -1, np.arange(0)

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.accumulate

    def _index(self, position: int) -> int:
        epoch = position // self.n
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, self.level, epoch]).permutation(self.n)
            self._perm_epoch = epoch
        return int(self._perm[position % self.n])

    def micro_batches(self, step: int) -> list[list[tuple[int, int]]]:
        """This rank's micro-batches for `step` (list of `accumulate` lists of (index, key))."""
        chunks = np.array_split(np.arange(self.batch), self.world * self.accumulate)
        out = []
        for m in range(self.accumulate):
            js = chunks[m * self.world + self.rank]
            positions = [step * self.batch + int(j) for j in js]
            out.append([(self._index(p), _sample_key(self.seed, self.level, p)) for p in positions])
        return out

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.steps):
            yield from self.micro_batches(step)


def _sample_key(seed: int, level: int, position: int) -> int:
    return int(np.random.SeedSequence([seed, level, position]).generate_state(1, np.uint64)[0])


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; keep ids as a list."""
    out: dict[str, Any] = {"id": [it["id"] for it in items]}
    for key in items[0]:
        if key != "id":
            out[key] = torch.stack([it[key] for it in items])
    return out


def prepare_workers(workers: int) -> None:
    """Make the calling process safe to fork DataLoader workers from; call before building the loader.

    OpenCV's pthreads pool does not survive fork: a worker forked while the parent's pool is alive hangs for
    good on its first OpenCV call that touches the pool (seen as a silent stall). The workers are the
    decoding parallelism anyway, so OpenCV runs single-threaded here and in every worker forked from here.
    """
    if workers > 0:
        import cv2

        cv2.setNumThreads(1)


def worker_init(_: int) -> None:
    """One torch thread and a sequential OpenCV per DataLoader worker: the workers are the parallelism, and a
    worker with a thread pool of its own competes with the main process's (bokehpipe/threads.py)."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(0)
