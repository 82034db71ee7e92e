"""Training and validation samples at the paper's geometry, streamed from disk (PyNET-Bokeh, arXiv:2006.05698).

The network sees the photo downscaled x0.5 (bicubic) plus its disparity resized to the same half size
(`make_network_input`, the definition of this geometry, which eval and inference use; its two resizes,
`windows.half_rgb` and `windows.fit_disparity`, are the only places a photo or map is resized for a network).
Maps arrive at their stored size (`bokehpipe.data.disparity`). Training samples are aligned crops: `crop` x
`crop` at half resolution against the 2*crop x 2*crop full-resolution target, which is reduced to the trained
level's scale (level 1: full resolution; level L: 2**(1-L)). The paper augments with rot90 and vertical flips;
so do we, applied identically to input and target.

A sample is computed from a window of the photo, not the whole photo (the same pixels, bit for bit), and
crosses the DataLoader compact (uint8 RGB, float16 disparity; `bokehpipe.data.windows`); `batch_to_device`
widens it on the training device. A split's half-size inputs can be prepared once (`bokehpipe.data.prepared`),
giving the same samples without decoding full-size photos.

Every random choice of a sample (which image, where to crop, how to flip) is a pure function of
(seed, level, global sample position), drawn by `StepSampler`. A resumed run, a run with more DataLoader
workers and a DDP run therefore see the very same samples in the very same global batches. Nothing is
held in RAM beyond the batches in flight (the official code kept the whole set as float64 arrays).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from bokehpipe.data.disparity import DisparitySource, Photo
from bokehpipe.data.ebb import Pair
from bokehpipe.data.io import read_samples, to_unit_float
from bokehpipe.data.windows import (
    Box,
    fit_disparity,
    half_rgb,
    half_size,
    level_target,
    network_disparity,
    network_rgb,
    pack_network_rgb,
    pack_samples,
    reduce_half,
)
from bokehpipe.errors import BokehpipeError

MULTIPLE = 32  # PyNET's padding multiple at network-input resolution


def make_network_input(rgb_full: np.ndarray, disparity: np.ndarray | None, *, with_depth: bool) -> np.ndarray:
    """RGB (H, W, 3) in [0, 1] (+ disparity (h, w), any size, near = 1) -> (C, H//2, W//2) float32.

    RGB is downscaled x0.5 with bicubic interpolation as in the paper; the disparity, as stored (never first
    brought to the photo's size: that would resample it twice), is resized once to the same half size with the
    project's resize policy (`bokehpipe.data.io.resize`) and clipped to [0, 1]. Training computes the same
    pixels from a window of the photo (`bokehpipe.data.windows`).
    """
    if rgb_full.ndim != 3 or rgb_full.shape[2] != 3:
        raise ValueError(f"expected an RGB array (H, W, 3), got shape {rgb_full.shape}")
    h2, w2 = half_size(*rgb_full.shape[:2])
    if h2 < 1 or w2 < 1:
        raise ValueError(f"image {rgb_full.shape[1]}x{rgb_full.shape[0]} is too small")
    chans = [np.transpose(half_rgb(rgb_full), (2, 0, 1))]
    if with_depth:
        if disparity is None:
            raise ValueError("with_depth=True needs a disparity map")
        if disparity.ndim != 2:
            raise ValueError(f"expected a disparity map (h, w), got shape {disparity.shape}")
        chans.append(fit_disparity(disparity, (w2, h2))[None])
    return np.ascontiguousarray(np.concatenate(chans, 0), dtype=np.float32)


def photo_of(pair: Pair) -> Photo:
    """The key a `DisparitySource` looks a pair's map up by."""
    return Photo(pair.id, pair.input)


def read_pair_samples(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """A pair's input and target samples (`read_samples`: not yet scaled), decoded once each; a target of
    another size is that pair's fault, named."""
    rgb = read_samples(pair.input)
    target = read_samples(pair.target)
    if rgb.shape != target.shape:
        raise BokehpipeError(f"{pair.target}: target is {target.shape[1]}x{target.shape[0]} but input "
                             f"{pair.input.name} is {rgb.shape[1]}x{rgb.shape[0]}; re-export the pair at one "
                             "size (see `bokehpipe data check`)")
    return rgb, target


def read_pair_images(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """A pair's input and target as float32 RGB in [0, 1] (`read_pair_samples`, scaled)."""
    rgb, target = read_pair_samples(pair)
    return to_unit_float(rgb, pair.input), to_unit_float(target, pair.target)


def check_depth_coverage(pairs: Sequence[Pair], depth: DisparitySource, *, where: str) -> None:
    """Fail before training starts when the source lacks maps, naming how many and which."""
    missing = [p.id for p in pairs if not depth.has(photo_of(p))]
    if missing:
        path = getattr(depth, "path", where)
        ids = ", ".join(missing[:5]) + ("..." if len(missing) > 5 else "")
        raise BokehpipeError(f"{path}: depth cache lacks {len(missing)} of {len(pairs)} ids ({ids}); "
                             "run `bokehpipe depth` for this dataset and split")


class PreparedSource(Protocol):
    """Half-size inputs and level-2 targets written once per split (`bokehpipe.data.prepared.PreparedInputs`)."""

    def has(self, id_: str) -> bool: ...

    def frame(self, id_: str) -> tuple[int, int]: ...

    def window(self, id_: str, name: str, box: Box) -> np.ndarray: ...


class _Decoded:
    """A pair's windows from its decoded photos and its depth source (the whole files are read, nothing else
    is resized whole)."""

    def __init__(self, pair: Pair, depth: DisparitySource | None) -> None:
        self.pair = pair
        self.rgb, self.target = read_pair_samples(pair)
        self.frame = half_size(*self.rgb.shape[:2])
        # training reads maps from a depth cache, which needs no pixels of the photo
        self.disp = depth.disparity(photo_of(pair), None) if depth is not None else None  # type: ignore[arg-type]

    def network_rgb(self, box: Box) -> np.ndarray:
        return pack_network_rgb(network_rgb(self.rgb, box), self.rgb.dtype)

    def disparity(self, box: Box) -> np.ndarray:
        assert self.disp is not None
        return network_disparity(self.disp, self.frame, box).astype(np.float16)

    def level_target(self, box: Box, level: int) -> np.ndarray:
        return pack_samples(level_target(self.target, box, level))

    def source(self, box: Box, level: int) -> np.ndarray:
        return pack_samples(level_target(self.rgb, box, level))


class _Prepared:
    """A pair's windows from the prepared half-size cache; only level 1's full-size target (and the identity
    baseline's source) still decode a photo."""

    def __init__(self, pair: Pair, prepared: PreparedSource) -> None:
        self.pair, self.prepared = pair, prepared
        self.frame = prepared.frame(pair.id)

    def network_rgb(self, box: Box) -> np.ndarray:
        return self.prepared.window(self.pair.id, "rgb", box)

    def disparity(self, box: Box) -> np.ndarray:
        return self.prepared.window(self.pair.id, "disparity", box)

    def level_target(self, box: Box, level: int) -> np.ndarray:
        if level == 1:
            return pack_samples(level_target(read_samples(self.pair.target), box, 1))
        return pack_samples(reduce_half(self.prepared.window(self.pair.id, "target", box), level))

    def source(self, box: Box, level: int) -> np.ndarray:
        return pack_samples(level_target(read_samples(self.pair.input), box, level))


class BokehPairs(Dataset):
    """Input/target pairs (+ cached depth) at one training level.

    `crop` is the half-resolution crop side (a multiple of 32); None takes the whole photo, centre-cropped to
    the largest multiple of 32 (validation on full images). Items are `int` (deterministic centre crop, no
    augmentation) or `(index, key)` from `StepSampler` (random crop and rot90/flip drawn from `key`). An item
    is compact (`bokehpipe.data.windows`): `input` (3, h, w) uint8, `disparity` (1, h, w) float16 (with
    depth), `target` and optional `source` uint8 (float16 for photos that are not 8-bit); `batch_to_device`
    makes the float32 network input on the device. With `prepared` (the split's half-size cache) a pair is
    read from it instead of decoding its photos: the same samples, bit for bit.
    """

    def __init__(self, pairs: Sequence[Pair], *, level: int, crop: int | None, with_depth: bool,
                 depth: DisparitySource | None = None, augment: bool = False, with_source: bool = False,
                 prepared: PreparedSource | None = None) -> None:
        if with_depth and depth is None and prepared is None:
            raise BokehpipeError("with_depth needs a depth cache (or pass --no-depth)")
        if crop is not None and (crop <= 0 or crop % MULTIPLE):
            raise BokehpipeError(f"crop {crop} must be a positive multiple of {MULTIPLE} (network input pixels)")
        if any(p.target is None for p in pairs):
            bad = next(p for p in pairs if p.target is None)
            raise BokehpipeError(f"{bad.input}: no bokeh target; training needs pairs (pick a split with targets)")
        self.pairs = list(pairs)
        self.level, self.crop, self.with_depth = level, crop, with_depth
        self.depth, self.augment, self.with_source = depth, augment, with_source
        self.prepared = prepared

    def __len__(self) -> int:
        return len(self.pairs)

    def _open(self, pair: Pair) -> _Decoded | _Prepared:
        if self.prepared is not None and self.prepared.has(pair.id):
            return _Prepared(pair, self.prepared)
        return _Decoded(pair, self.depth if self.with_depth else None)

    def _box(self, pair: Pair, frame: tuple[int, int], rng: np.random.Generator | None) -> Box:
        h2, w2 = frame
        ch, cw = (self.crop, self.crop) if self.crop else (h2 // MULTIPLE * MULTIPLE, w2 // MULTIPLE * MULTIPLE)
        if ch > h2 or cw > w2 or ch == 0 or cw == 0:
            raise BokehpipeError(f"{pair.input}: image {2 * w2}x{2 * h2} is too small for a "
                                 f"{max(ch, MULTIPLE)}px crop at half resolution; lower the crop or drop the image")
        if rng is not None:
            y, x = int(rng.integers(0, h2 - ch + 1)), int(rng.integers(0, w2 - cw + 1))
        else:
            y, x = (h2 - ch) // 2, (w2 - cw) // 2
        return y, x, ch, cw

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, key = (item, None) if isinstance(item, (int, np.integer)) else item
        pair = self.pairs[int(index)]
        photo = self._open(pair)
        rng = np.random.default_rng(key) if (key is not None and self.augment) else None
        box = self._box(pair, photo.frame, rng)
        arrays = {"input": photo.network_rgb(box), "target": photo.level_target(box, self.level)}
        if self.with_depth:
            arrays["disparity"] = photo.disparity(box)[..., None]
        if self.with_source:  # the input at the target's scale: the "identity" baseline
            arrays["source"] = photo.source(box, self.level)
        if rng is not None:
            k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
            arrays = {name: _rot_flip(a, k, flip) for name, a in arrays.items()}
        out: dict[str, Any] = {name: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
                               for name, a in arrays.items()}
        out["id"] = pair.id
        return out


def _rot_flip(hwc: np.ndarray, k: int, flip: bool) -> np.ndarray:
    out = np.rot90(hwc, k, axes=(0, 1))
    return out[::-1] if flip else out


def batch_to_device(batch: dict[str, Any], device: torch.device | str,
                    memory_format: torch.memory_format = torch.preserve_format) -> dict[str, torch.Tensor]:
    """The compact tensors of a batch (or one item) as float32 on `device`: uint8 / 255, float16 widened, and
    the disparity appended to the input's channels. They cross to the device small and are widened there."""
    out = {}
    for name in ("input", "target", "source"):
        if name in batch:
            out[name] = _unit_float(batch[name].to(device, non_blocking=True))
    if "disparity" in batch:
        out["input"] = torch.cat([out["input"], _unit_float(batch["disparity"].to(device, non_blocking=True))], -3)
    out["input"] = out["input"].contiguous(memory_format=memory_format) if out["input"].dim() == 4 else out["input"]
    return out


def _unit_float(t: torch.Tensor) -> torch.Tensor:
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    return t.float()


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
