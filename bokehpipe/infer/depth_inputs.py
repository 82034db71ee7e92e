"""Where `bokehpipe infer` gets each photo's disparity (normalised inverse depth, [0, 1], near = 1; DESIGN.md).

Three sources, one protocol (`bokehpipe.data.disparity.DisparitySource`, the one training and eval use too):

- `--depth DIR`: maps named like the photos (`DIR/<sub>/<stem>.png|.npy|...`, else `DIR/<stem>.*`), 8- or
  16-bit PNG, `.npy` or float TIFF, near = bright, at any resolution; normalised by the one rule
  (`bokehpipe.data.disparity.normalise`), so a folder of maps gives what a cache built from it gives.
  `bokehpipe render --depth` takes such a folder too, or one map file for one photo (`MapFile`).
- `--depth-cache PATH.h5`: a phase-one cache (`bokehpipe.depth.cache.DepthCache`), looked up by the photo's stem.
- `--depth-model VARIANT`: MiDaS run on the fly (phase one's model code; weights never downloaded here).

Maps come back at their stored resolution (a PyNET map at half size stays so): a learned model resizes it to
its half-resolution input exactly as training did (`make_network_input`), and the classical renderers and the
saved depth PNG bring it to the photo's size with `fit_to_photo`. A photo without a map fails on its own
(one line, the run goes on).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.disparity import DisparitySource, Photo, normalise, normalise_map
from bokehpipe.data.io import MAP_SUFFIXES, check_map_fits, read_map
from bokehpipe.errors import BokehpipeError


class DirDepth:
    """`--depth DIR`: one map per photo, found by relative path and stem."""

    def __init__(self, folder: str | os.PathLike[str], *, fix: str = "add one or use --depth-model / --depth-cache"
                 ) -> None:
        self.folder = Path(folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise BokehpipeError(f"{self.folder}: depth folder not found (given by --depth)")
        self.description = f"maps from {self.folder}"
        self.fix = fix  # the end of the line about a photo without a map: what this command offers instead

    def find(self, photo: Photo) -> Path:
        stem = photo.id
        rel_dir = photo.rel.parent if photo.rel is not None else Path()
        for base in dict.fromkeys((self.folder / rel_dir, self.folder)):
            for suffix in MAP_SUFFIXES:
                for cand in (base / f"{stem}{suffix}", base / f"{stem}{suffix.upper()}"):
                    if cand.is_file():
                        return cand
        raise BokehpipeError(f"{photo.path}: no depth map named {stem}.* in {self.folder} (expected one of "
                             f"{', '.join(stem + s for s in MAP_SUFFIXES)}); {self.fix}")

    def has(self, photo: Photo) -> bool:
        try:
            self.find(photo)
        except BokehpipeError:
            return False
        return True

    def disparity(self, photo: Photo, rgb: np.ndarray) -> np.ndarray:
        return read_photo_map(self.find(photo), rgb)

    def protected(self) -> list[Path]:
        return [p for p in self.folder.rglob("*") if p.is_file()]


class MapFile:
    """`render PHOTO --depth FILE`: one map file, for the one photo given."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not Path(path).exists():
            raise BokehpipeError(f"{path}: depth map not found; check --depth")
        self.path = Path(path).expanduser().resolve()
        self.description = f"the map {self.path}"

    def find(self, photo: Photo) -> Path:
        return self.path

    def has(self, photo: Photo) -> bool:
        return True

    def disparity(self, photo: Photo, rgb: np.ndarray) -> np.ndarray:
        return read_photo_map(self.path, rgb)

    def protected(self) -> list[Path]:
        return [self.path]


def read_photo_map(path: Path, rgb: np.ndarray) -> np.ndarray:
    """A map file for a photo, at its stored size: refused when its aspect ratio is not the photo's, normalised
    by the one rule (learned models resize maps themselves, classical renderers fit them to the photo)."""
    disp = read_map(path)
    check_map_fits(disp.shape, rgb.shape, path)
    return normalise_map(disp, path)


def open_cache(path: str | os.PathLike[str]) -> DisparitySource:
    """`--depth-cache PATH.h5`: a phase-one HDF5 cache, ids = photo stems."""
    from bokehpipe.depth.cache import DepthCache

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise BokehpipeError(f"{path}: depth cache not found (given by --depth-cache)")
    cache = DepthCache(path)
    cache.ids()  # opened once here: a damaged file is one line before any photo, not one per photo
    return cache


class ModelDepth:
    """`--depth-model VARIANT` (or the default for photos): a depth network (MiDaS or Depth Anything V2) on the fly,
    with phase one's model, preprocessing and normalisation.

    The weights path is resolved when the source is opened (missing weights stop the run before anything is
    written, with the offline instructions); the network is built on the first photo.
    """

    def __init__(self, variant: str, *, store: Any, weights: str | os.PathLike[str] | None = None,
                 device: str = "cpu") -> None:
        from bokehpipe import weights as registry
        from bokehpipe.depth.variants import get_variant

        self.variant = get_variant(variant)
        self.weights_path = registry.resolve(self.variant.weights_name, store, weights,
                                             flag="--weights PATH (with --depth-model), or --depth DIR of depth maps")
        self.device = device
        self.description = f"{self.variant.name} on the fly"
        self._lock = threading.Lock()
        self._ranges: dict[str, tuple[float, float]] = {}
        from bokehpipe.depth.model import load_midas

        # built now: a damaged or foreign weights file is one line before any photo, not one per photo
        self._model: Any = load_midas(self.variant.name, self.weights_path, device=self.device)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return self._predict(rgb)[0]

    def _predict(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """Normalised disparity (H, W) for an RGB photo: phase one's single-image prediction (official resize,
        bicubic back to the photo's size) and its per-image min-max, as the depth cache stores it."""
        from bokehpipe.depth.model import predict

        with self._lock:  # one forward at a time if several reader threads share it
            raw = predict(self._model, rgb)
        disp, lo, hi = normalise(raw)
        return disp, (lo, hi)

    def has(self, photo: Photo) -> bool:
        return True

    def disparity(self, photo: Photo, rgb: np.ndarray) -> np.ndarray:
        disp, inverse_range = self._predict(rgb)
        if self.variant.metric:
            with self._lock:
                self._ranges[photo.id] = inverse_range
        return disp

    def metric_range(self, photo: Photo) -> tuple[float, float] | None:
        """A metric network's 1/z range (1/m) for the photo's map just given; None for a relative network."""
        with self._lock:
            return self._ranges.pop(photo.id, None) if self.variant.metric else None

    def protected(self) -> list[Path]:
        return [Path(self.weights_path)]


class NoDepth:
    """A model trained without depth, and no depth asked for: nothing to read, nothing for the gallery."""

    description = "none"

    def has(self, photo: Photo) -> bool:
        return False

    def disparity(self, photo: Photo, rgb: np.ndarray) -> np.ndarray | None:  # type: ignore[override]
        return None

    def protected(self) -> list[Path]:
        return []


def open_depth_source(*, depth_dir: str | None = None, depth_cache: str | None = None,
                      depth_model: str | None = None, weights: str | None = None, store: Any = None,
                      device: str = "cpu", required: bool = True, default_model: str | None = None) -> DisparitySource:
    """Pick the source from the CLI options (at most one); with none given, MiDaS `default_model` if depth is
    `required`, else no depth at all."""
    given = [n for n, v in (("--depth", depth_dir), ("--depth-cache", depth_cache), ("--depth-model", depth_model))
             if v is not None]
    if len(given) > 1:
        raise BokehpipeError(f"give one depth source, not {' and '.join(given)}")
    if weights is not None and (depth_dir is not None or depth_cache is not None):
        raise BokehpipeError("--weights is the MiDaS checkpoint for --depth-model; it does not go with "
                             f"{given[0]}")
    if depth_dir is not None:
        return DirDepth(depth_dir)
    if depth_cache is not None:
        return open_cache(depth_cache)
    if depth_model is None and not required:
        return NoDepth()
    variant = depth_model or default_model
    if variant is None:
        raise BokehpipeError("this renderer needs depth: give --depth DIR, --depth-cache PATH or --depth-model")
    return ModelDepth(variant, store=store, weights=weights, device=device)
