"""Training examples of a correction generator (BokehNet): pairs seen through the depth the network will meet,
with their scatter renders.

A synthetic set (`bokehpipe synth --aperture-range ...`, per-image focus and aperture in metadata.json, drawn
at the working width): each example is one pair seen through a depth map that looks like what the network
will get at inference (`bokehpipe.depth.degrade.monocular_like`; a fraction keeps the clean map), with the
pair's true focus mapped into that map and its true aperture, plus the classical scatter render from exactly
those inputs (`build_examples`).

A real paired set (EBB!, or any layout `bokehpipe data check` reads; `RealSet`) has no such metadata: its maps
come from a phase-one depth cache, the focus is `infer`'s auto-focus, every target was shot at one f-number,
and each example is made as the learned renderer meets a photo: scatter at full resolution, then everything
shrunk to the working size (`build_real_examples`).

Scatter costs about as much as a training step, so every example is rendered once and kept as arrays in
`<run>/examples/<split>.npz` (uint8 photos, each held once for all its variants; float16 disparity); a cache
whose recipe or source differs is rebuilt, a matching one is reused. `CorrectionCrops` serves them to the one
training loop as `{"input", "target", "source"}` items, like `data.datasets.BokehPairs` serves PyNET's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.ebb import Pair, load_index, load_metadata
from bokehpipe.errors import BokehpipeError

RECIPE_VERSION = 1
REAL_F_NUMBER = 1.8
"""A real set's targets (no per-image metadata) are taken as shot at this f-number unless --f-number says."""


@dataclass(frozen=True)
class ExampleRecipe:
    """How examples are drawn from a synthetic set; recorded with the cache and in the run's config."""

    variants: int = 2  # monocular-like depth degradations per pair
    clean_fraction: float = 0.25  # share of examples that keep the set's clean disparity
    strength: float = 1.0  # monocular_like strength
    seed: int = 0  # the run's seed
    version: int = RECIPE_VERSION


CACHE_LAYOUT = 2  # 2: each photo stored once plus a per-example `pair` index (1 kept a copy per variant)
_ARRAYS = ("image", "target", "pair", "scatter", "disparity", "focus", "aperture")


@dataclass
class Examples:
    """N examples drawn from P photos. Each photo is held once: image/target (P, H, W, 3) uint8, and `pair` (N,)
    says which photo example n shows. Per example: scatter (N, H, W, 3) uint8, disparity (N, H, W) float16,
    focus and aperture (N,) float32, and the source ids."""

    image: np.ndarray
    target: np.ndarray
    pair: np.ndarray
    scatter: np.ndarray
    disparity: np.ndarray
    focus: np.ndarray
    aperture: np.ndarray
    ids: list[str]
    left_out: list[str] = field(default_factory=list)  # real sets: ids of another working size (aspect ratio)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class RealSet:
    """How a real paired set becomes examples: every target shot at f/`f_number`, each split's maps read from
    its phase-one depth cache (`caches`: (split, .h5 path) pairs, resolved by the command)."""

    f_number: float
    caches: tuple[tuple[str, str], ...]

    def cache(self, split: str) -> Path:
        for name, path in self.caches:
            if name == split:
                return Path(path)
        raise BokehpipeError(f"no depth cache was resolved for split {split!r}")


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def mapped_focus(clean: np.ndarray, degraded: np.ndarray, focus: float, tol: float = 0.02) -> float:
    """The true focus expressed in the degraded map: its median over pixels the clean map has in focus."""
    sel = np.abs(clean - focus) < tol
    if sel.sum() < 16:
        sel = np.abs(clean - focus) <= np.quantile(np.abs(clean - focus), 0.002)
    return float(np.median(degraded[sel]))


def set_pairs(root: Path, split: str) -> tuple[list[Pair], dict[str, dict[str, Any]]]:
    """The pairs of `split` (with their depth maps) and per-image focus/aperture of a synthetic set at `root`."""
    meta = load_metadata(root)
    if meta is None:
        raise BokehpipeError(f"{root}: not a synthetic set (no focus/aperture in metadata.json); make one with "
                             "`bokehpipe synth NAME --aperture-range 0.1,1.2`")
    pairs = load_index(root).split(split, require_targets=True)
    if not pairs:
        raise BokehpipeError(f"{root}: split {split!r} is empty")
    for p in pairs:
        if p.depth is None or p.id not in meta:
            raise BokehpipeError(f"{p.input}: no depth map or no focus/aperture in metadata.json; "
                                 "regenerate the set with `bokehpipe synth NAME --aperture-range 0.1,1.2`")
    return pairs, meta


def build_examples(root: Path, split: str, recipe: ExampleRecipe, *, limit: int = 0,
                   progress: Any = None) -> Examples:
    """Render the examples of `split` (the first `limit` pairs when limit > 0); each file is read once."""
    from bokehpipe.data.io import read_image, read_map
    from bokehpipe.depth.degrade import monocular_like
    from bokehpipe.render import render

    pairs, meta = set_pairs(root, split)
    pairs = pairs[:limit] if limit > 0 else pairs
    n, ex, k = len(pairs) * recipe.variants, None, 0
    for j, p in enumerate(pairs):
        image = read_image(p.input)
        if ex is None:
            h, w = image.shape[:2]
            ex = Examples(image=np.empty((len(pairs), h, w, 3), np.uint8),
                          target=np.empty((len(pairs), h, w, 3), np.uint8),
                          pair=np.repeat(np.arange(len(pairs), dtype=np.int64), recipe.variants),
                          scatter=np.empty((n, h, w, 3), np.uint8), disparity=np.empty((n, h, w), np.float16),
                          focus=np.empty(n, np.float32), aperture=np.empty(n, np.float32),
                          ids=[q.id for q in pairs for _ in range(recipe.variants)])
        if image.shape[:2] != (h, w):
            raise BokehpipeError(f"{root}: pair {p.id} is {image.shape[1]}x{image.shape[0]}, not {w}x{h} like the rest")
        ex.image[j], ex.target[j] = _u8(image), _u8(read_image(p.target))
        clean = read_map(p.depth).astype(np.float32)
        focus, aperture = float(meta[p.id]["focus"]), float(meta[p.id]["aperture"])
        for v in range(recipe.variants):
            rng = np.random.default_rng([recipe.seed, int(p.id), v, RECIPE_VERSION])
            if rng.random() < recipe.clean_fraction:
                disp, f = clean, focus
            else:
                disp = monocular_like(clean, rng, strength=recipe.strength)
                f = mapped_focus(clean, disp, focus)
            ex.scatter[k] = _u8(render(image, disp, "scatter", focus=f, aperture=aperture))
            ex.disparity[k], ex.focus[k], ex.aperture[k] = disp, f, aperture
            k += 1
        if progress is not None:
            progress(1)
    assert ex is not None  # set_pairs raises on an empty split
    return ex


def build_real_examples(root: Path, split: str, real: RealSet, *, limit: int = 0, progress: Any = None) -> Examples:
    """One example per real pair of `split`, as the shipped renderer meets the photo at inference: the cached map
    fitted to the photo, `infer`'s auto-focus on the whole photo, scatter at full resolution at the f-number's
    calibrated aperture, then photo, target, scatter and map shrunk to the working size
    (`render.learned.to_working_size`). Examples share one array size: pairs whose working size is less common
    than another's (another aspect ratio or orientation) are left out and named in `left_out`. A pair without a
    map in the cache stops the build before any is rendered."""
    from bokehpipe.data.datasets import check_depth_coverage
    from bokehpipe.depth.cache import DepthCache
    from bokehpipe.render.calibration import aperture_for_f_number

    pairs = load_index(root).split(split, require_targets=True)
    pairs = pairs[:limit] if limit > 0 else pairs
    if not pairs:
        raise BokehpipeError(f"{root}: split {split!r} has no pairs with targets (see `bokehpipe data check {root}`)")
    aperture = aperture_for_f_number(real.f_number)
    groups: dict[tuple[int, ...], dict[str, list[Any]]] = {}  # working size -> its examples, field by field
    with DepthCache(real.cache(split)) as depth:
        check_depth_coverage(pairs, depth, where=str(real.cache(split)))
        for p in pairs:
            arrays, focus = _real_example(p, depth, aperture)
            group = groups.setdefault(arrays[0].shape, {k: [] for k in ("ids", *_REAL_FIELDS, "focus")})
            for k, a in zip(("ids", *_REAL_FIELDS, "focus"), (p.id, *arrays, focus), strict=True):
                group[k].append(a)
            if progress is not None:
                progress(1)
    keep = max(groups.values(), key=lambda g: len(g["ids"]))  # the most common working size; first seen on a tie
    fields = {k: np.stack(keep.pop(k)) for k in _REAL_FIELDS}  # one field at a time: the lists go as they stack
    n = len(keep["ids"])
    return Examples(**fields, pair=np.arange(n, dtype=np.int64), focus=np.asarray(keep["focus"], np.float32),
                    aperture=np.full(n, aperture, np.float32), ids=keep["ids"],
                    left_out=[i for g in groups.values() if g is not keep for i in g["ids"]])


_REAL_FIELDS = ("image", "target", "scatter", "disparity")


def _real_example(p: Pair, depth: Any, aperture: float) -> tuple[tuple[np.ndarray, ...], float]:
    """((image, target, scatter as uint8, disparity as float16) at working size; the focus)."""
    from bokehpipe.data.datasets import photo_of, read_pair_images
    from bokehpipe.data.disparity import fit_to_photo
    from bokehpipe.render.learned import scatter_at, to_working_size, working_size

    image, target = read_pair_images(p)
    disp = fit_to_photo(depth.disparity(photo_of(p), image), image.shape, p.input)
    focus, scatter = scatter_at(image, disp, None, aperture)
    work = working_size(image.shape[1], image.shape[0])
    arrays = [_u8(to_working_size(a, work)) for a in (image, target, scatter)]
    arrays.append(np.clip(to_working_size(disp, work), 0.0, 1.0).astype(np.float16))
    return tuple(arrays), focus


def load_or_build(cache: Path, root: Path, split: str, recipe: ExampleRecipe, *, limit: int = 0,
                  progress: Any = None, real: RealSet | None = None) -> Examples:
    """The cached examples when their recipe and source match, else build and cache them (atomically); `real`
    makes them from a real paired set (`build_real_examples`), else from a synthetic one (`build_examples`)."""
    from bokehpipe.store import atomic_path

    source = {"recipe": asdict(recipe)} if real is None else {"real": asdict(real)}
    key = json.dumps({**source, "root": str(root.resolve()), "split": split, "limit": limit,
                      "layout": CACHE_LAYOUT}, sort_keys=True)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                left_out = [str(i) for i in z["left_out"]] if "left_out" in z else []
                return Examples(**{k: z[k] for k in _ARRAYS}, ids=[str(i) for i in z["ids"]], left_out=left_out)
    ex = (build_examples(root, split, recipe, limit=limit, progress=progress) if real is None else
          build_real_examples(root, split, real, limit=limit, progress=progress))
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, key=np.asarray(key), ids=np.asarray(ex.ids), left_out=np.asarray(ex.left_out, dtype=str),
                 **{k: getattr(ex, k) for k in _ARRAYS})
    return ex


class CorrectionCrops:
    """Examples as training items for the one loop: `{"input": (9, h, w) network input, "target", "source"}`,
    where the source is the scatter render (what an untrained correction returns: the run's baseline).

    Items are `int` (the whole example, or its centre crop) or `(index, key)` from `StepSampler` (a random
    `crop` x `crop` window and a horizontal flip drawn from `key`). No rotations: photos keep their gravity.
    """

    def __init__(self, ex: Examples, *, crop: int | None, augment: bool = False) -> None:
        self.ex, self.crop, self.augment = ex, crop, augment

    def __len__(self) -> int:
        return len(self.ex)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        import torch

        from bokehpipe.models.bokehnet import network_input

        index, key = (int(item), None) if isinstance(item, (int, np.integer)) else (int(item[0]), item[1])
        ex = self.ex
        h, w = ex.image.shape[1:3]
        ch, cw = (min(self.crop, h), min(self.crop, w)) if self.crop else (h, w)
        rng = np.random.default_rng(key) if (key is not None and self.augment) else None
        y = int(rng.integers(0, h - ch + 1)) if rng is not None else (h - ch) // 2
        x = int(rng.integers(0, w - cw + 1)) if rng is not None else (w - cw) // 2
        flip = rng is not None and bool(rng.integers(0, 2))
        photo = int(ex.pair[index])

        def window(a: np.ndarray) -> torch.Tensor:
            a = a[y:y + ch, x:x + cw]
            a = np.ascontiguousarray(a[:, ::-1] if flip else a, dtype=np.float32)
            return torch.from_numpy(a).permute(2, 0, 1) if a.ndim == 3 else torch.from_numpy(a)[None]

        image, scatter = window(ex.image[photo]) / 255.0, window(ex.scatter[index]) / 255.0
        disp = window(ex.disparity[index])
        x_in = network_input(image[None], scatter[None], disp[None], torch.tensor([float(ex.focus[index])]),
                             torch.tensor([float(ex.aperture[index])]))[0]
        return {"input": x_in, "target": window(ex.target[photo]) / 255.0, "source": scatter, "id": ex.ids[index]}
