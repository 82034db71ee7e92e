"""BokehNet training examples: synthetic pairs with monocular-like depth and their `scatter` renders, cached.

Each example is one synthetic pair (`bokehpipe synth --aperture-range ...`) seen through a depth map that
looks like what the network will get at inference (`bokehpipe.depth.degrade.monocular_like`; a fraction
keeps the clean map), with the pair's true focus mapped into that map and its true aperture, plus the
classical scatter render from exactly those inputs. Scatter costs about as much as a training step, so
every example is rendered once and kept as arrays in `<run>/examples/<split>.npz` (uint8 photos, each held
once for all its variants; float16 disparity); a cache whose recipe differs is rebuilt, a matching one is reused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.ebb import Pair, load_index, load_metadata
from bokehpipe.errors import BokehpipeError
from bokehpipe.train.bokehnet_config import RECIPE_VERSION, ExampleRecipe

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

    def __len__(self) -> int:
        return len(self.ids)


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


def load_or_build(cache: Path, root: Path, split: str, recipe: ExampleRecipe, *, limit: int = 0,
                  progress: Any = None) -> Examples:
    """The cached examples when their recipe and source match, else build and cache them (atomically)."""
    from bokehpipe.store import atomic_path

    key = json.dumps({"recipe": asdict(recipe), "root": str(root.resolve()), "split": split, "limit": limit,
                      "layout": CACHE_LAYOUT}, sort_keys=True)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                return Examples(**{k: z[k] for k in _ARRAYS}, ids=[str(i) for i in z["ids"]])
    ex = build_examples(root, split, recipe, limit=limit, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, key=np.asarray(key), ids=np.asarray(ex.ids), **{k: getattr(ex, k) for k in _ARRAYS})
    return ex
