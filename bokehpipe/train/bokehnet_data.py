"""BokehNet training examples: synthetic pairs with monocular-like depth and their `scatter` renders, cached.

Each example is one synthetic pair (`bokehpipe synth --aperture-range ...`) seen through a depth map that
looks like what the network will get at inference (`bokehpipe.depth.degrade.monocular_like`; a fraction
keeps the clean map), with the pair's true focus mapped into that map and its true aperture, plus the
classical scatter render from exactly those inputs. Scatter costs about as much as a training step, so
every example is rendered once and kept as arrays in `<run>/examples/<split>.npz` (uint8 photos, float16
disparity); a cache whose recipe differs is rebuilt, a matching one is reused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.errors import BokehpipeError

RECIPE_VERSION = 1


@dataclass(frozen=True)
class ExampleRecipe:
    """How examples are drawn from a set; recorded with the cache and in the run's config."""

    variants: int = 2  # depth degradations per pair
    clean_fraction: float = 0.25  # share of examples that keep the set's clean disparity
    strength: float = 1.0  # monocular_like strength
    seed: int = 0
    version: int = RECIPE_VERSION


@dataclass
class Examples:
    """Arrays of N examples: image/target/scatter (N, H, W, 3) uint8, disparity (N, H, W) float16, focus and
    aperture (N,) float32, and the source ids."""

    image: np.ndarray
    target: np.ndarray
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


def set_images(root: Path, split: str) -> tuple[list[str], dict[str, Any]]:
    """Ids of `split` and per-image metadata (focus, aperture) of a synthetic set at `root`."""
    meta_path, splits_path = root / "metadata.json", root / "splits.json"
    if not meta_path.is_file() or not splits_path.is_file():
        raise BokehpipeError(f"{root}: not a synthetic set (no metadata.json/splits.json); make one with "
                             "`bokehpipe synth NAME --aperture-range 0.1,1.2`")
    ids = json.loads(splits_path.read_text()).get(split)
    if not ids:
        raise BokehpipeError(f"{root}: split {split!r} is empty or missing in splits.json")
    return [str(i) for i in ids], json.loads(meta_path.read_text())["images"]


def build_examples(root: Path, split: str, recipe: ExampleRecipe, *, limit: int = 0,
                   progress: Any = None) -> Examples:
    """Render the examples of `split` (the first `limit` ids when limit > 0)."""
    from bokehpipe.data.io import read_image, read_map
    from bokehpipe.depth.degrade import monocular_like
    from bokehpipe.render import render

    ids, meta = set_images(root, split)
    ids = ids[:limit] if limit > 0 else ids
    n = len(ids) * recipe.variants
    first = read_image(root / "Training" / "original" / f"{ids[0]}.jpg")
    h, w = first.shape[:2]
    ex = Examples(image=np.empty((n, h, w, 3), np.uint8), target=np.empty((n, h, w, 3), np.uint8),
                  scatter=np.empty((n, h, w, 3), np.uint8), disparity=np.empty((n, h, w), np.float16),
                  focus=np.empty(n, np.float32), aperture=np.empty(n, np.float32),
                  ids=[i for i in ids for _ in range(recipe.variants)])
    k = 0
    for i in ids:
        image = read_image(root / "Training" / "original" / f"{i}.jpg")
        target = read_image(root / "Training" / "bokeh" / f"{i}.jpg")
        clean = read_map(root / "Training" / "depth" / f"{i}.png").astype(np.float32)
        if image.shape[:2] != (h, w):
            raise BokehpipeError(f"{root}: pair {i} is {image.shape[1]}x{image.shape[0]}, not {w}x{h} like the rest")
        focus, aperture = float(meta[i]["focus"]), float(meta[i]["aperture"])
        for v in range(recipe.variants):
            rng = np.random.default_rng([recipe.seed, int(i), v, RECIPE_VERSION])
            if rng.random() < recipe.clean_fraction:
                disp, f = clean, focus
            else:
                disp = monocular_like(clean, rng, strength=recipe.strength)
                f = mapped_focus(clean, disp, focus)
            ex.image[k], ex.target[k] = _u8(image), _u8(target)
            ex.scatter[k] = _u8(render(image, disp, "scatter", focus=f, aperture=aperture))
            ex.disparity[k], ex.focus[k], ex.aperture[k] = disp, f, aperture
            k += 1
        if progress is not None:
            progress(1)
    return ex


def load_or_build(cache: Path, root: Path, split: str, recipe: ExampleRecipe, *, limit: int = 0,
                  progress: Any = None) -> Examples:
    """The cached examples when their recipe and source match, else build and cache them (atomically)."""
    from bokehpipe.store import atomic_path

    key = json.dumps({"recipe": asdict(recipe), "root": str(root.resolve()), "split": split, "limit": limit},
                     sort_keys=True)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["key"]) == key:
                return Examples(**{k: z[k] for k in ("image", "target", "scatter", "disparity", "focus",
                                                     "aperture")}, ids=[str(i) for i in z["ids"]])
    ex = build_examples(root, split, recipe, limit=limit, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, key=np.asarray(key), ids=np.asarray(ex.ids), image=ex.image, target=ex.target,
                 scatter=ex.scatter, disparity=ex.disparity, focus=ex.focus, aperture=ex.aperture)
    return ex
