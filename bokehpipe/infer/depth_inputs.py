"""Where `bokehpipe infer` gets each photo's disparity (normalised inverse depth, [0, 1], near = 1; DESIGN.md).

Three sources, one interface (`DepthSource.disparity(job, rgb)`):

- `--depth DIR`: maps named like the photos (`DIR/<sub>/<stem>.png|.npy|...`, else `DIR/<stem>.*`), 8- or
  16-bit PNG, `.npy` or float TIFF, near = bright, at any resolution; normalised per image by min-max as
  phase one's cache stores every map (`bokehpipe.depth.transforms.normalise`).
- `--depth-cache PATH.h5`: a phase-one cache (`bokehpipe depth`), looked up by the photo's stem.
- `--depth-model VARIANT`: MiDaS run on the fly (phase one's model code; weights never downloaded here).

Maps come back at their own resolution (a PyNET map at half size stays so): a learned model resizes it to
its half-resolution input exactly as training did (`make_network_input`), and the classical renderers and the
saved depth PNG bring it to the photo's size with `fit_to_image` (the project's one resize policy, clipped to
[0, 1]). A photo without a map fails on its own (one line, the run goes on).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bokehpipe.data.io import MAP_SUFFIXES, check_map_fits, read_map, resize
from bokehpipe.errors import BokehpipeError, ImageReadError

from .files import Job


class DepthSource(Protocol):
    """Gives one photo's disparity (any resolution, [0, 1], near = 1); raises BokehpipeError for that photo
    alone."""

    description: str

    def disparity(self, job: Job, rgb: np.ndarray) -> np.ndarray: ...

    def protected(self) -> list[Path]:
        """Files this source reads that the run must never write to."""
        ...


def normalise_map(arr: np.ndarray, where: str | os.PathLike[str]) -> np.ndarray:
    """Per-image min-max to [0, 1], near = 1: what phase one stores for every source (MiDaS, `png`, `gt`
    maps), so a model sees the same kind of map at inference as in training."""
    from bokehpipe.depth.transforms import normalise

    arr = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ImageReadError(f"{where}: depth map holds NaN or infinite values; fix or regenerate it")
    return normalise(arr)[0]


def fit_to_image(disp: np.ndarray, rgb: np.ndarray, where: str | os.PathLike[str] = "depth map") -> np.ndarray:
    """Resize a disparity map to the photo's size (area down, bicubic up) and clip the bicubic overshoot;
    a map of another aspect ratio is refused (`check_map_fits`)."""
    check_map_fits(disp.shape, rgb.shape, where)
    h, w = rgb.shape[:2]
    return np.clip(resize(np.asarray(disp, dtype=np.float32), (w, h), clip=False), 0.0, 1.0)


class DirDepth:
    """`--depth DIR`: one map per photo, found by relative path and stem."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise BokehpipeError(f"{self.folder}: depth folder not found (given by --depth)")
        self.description = f"maps from {self.folder}"

    def find(self, job: Job) -> Path:
        stem = job.rel.stem
        for base in dict.fromkeys((self.folder / job.rel.parent, self.folder)):
            for suffix in MAP_SUFFIXES:
                for cand in (base / f"{stem}{suffix}", base / f"{stem}{suffix.upper()}"):
                    if cand.is_file():
                        return cand
        raise BokehpipeError(f"{job.input}: no depth map named {stem}.png/.npy in {self.folder}; add one or use "
                             "--depth-model / --depth-cache")

    def has(self, job: Job) -> bool:
        try:
            self.find(job)
        except BokehpipeError:
            return False
        return True

    def disparity(self, job: Job, rgb: np.ndarray) -> np.ndarray:
        path = self.find(job)
        disp = read_map(path)
        check_map_fits(disp.shape, rgb.shape, f"{path} (for {job.input})")
        return normalise_map(disp, path)

    def protected(self) -> list[Path]:
        return [p for p in self.folder.rglob("*") if p.is_file()]


class CacheDepth:
    """`--depth-cache PATH.h5`: a phase-one HDF5 cache (bokehpipe.depth.cache.DepthCache), ids = photo stems."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from bokehpipe.depth.cache import DepthCache

        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise BokehpipeError(f"{self.path}: depth cache not found (given by --depth-cache)")
        self.cache = DepthCache(self.path)
        self.description = f"cache {self.path}"

    def has(self, job: Job) -> bool:
        return job.name in self.cache

    def disparity(self, job: Job, rgb: np.ndarray) -> np.ndarray:
        if job.name not in self.cache:
            raise BokehpipeError(f"{job.input}: no depth for id {job.name!r} in {self.path}; run `bokehpipe depth` "
                                 "on this folder or use --depth-model")
        disp = self.cache.read(job.name)
        check_map_fits(disp.shape, rgb.shape, f"{self.path} id {job.name!r} (for {job.input})")
        return disp

    def protected(self) -> list[Path]:
        return [self.path]


class ModelDepth:
    """`--depth-model VARIANT`: MiDaS on the fly with phase one's model, preprocessing and normalisation.

    The weights path is resolved when the source is opened (missing weights stop the run before anything is
    written, with the offline instructions); the network is built on the first photo.
    """

    def __init__(self, variant: str, *, store: Any, weights: str | os.PathLike[str] | None = None,
                 device: str = "cpu") -> None:
        from bokehpipe import weights as registry
        from bokehpipe.depth.variants import get_variant

        self.variant = get_variant(variant)
        self.weights_path = registry.resolve(self.variant.weights_name, store, weights,
                                             flag="--weights PATH (with --depth-model)")
        self.device = device
        self.description = f"MiDaS {self.variant.name} on the fly"
        self._model: Any = None
        self._lock = threading.Lock()

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Normalised disparity (H, W) for an RGB photo: phase one's single-image prediction (official resize,
        bicubic back to the photo's size) and its per-image min-max, as the depth cache stores it."""
        from bokehpipe.depth.model import load_midas, predict
        from bokehpipe.depth.transforms import normalise

        with self._lock:  # one build, and one forward at a time if several reader threads share it
            if self._model is None:
                self._model = load_midas(self.variant.name, self.weights_path, device=self.device)
            raw = predict(self._model, rgb)
        return normalise(raw)[0]

    def disparity(self, job: Job, rgb: np.ndarray) -> np.ndarray:
        return self.predict(rgb)

    def protected(self) -> list[Path]:
        return [Path(self.weights_path)]


class NoDepth:
    """A model trained without depth, and no depth asked for: nothing to read, nothing for the gallery."""

    description = "none"

    def disparity(self, job: Job, rgb: np.ndarray) -> np.ndarray | None:  # type: ignore[override]
        return None

    def protected(self) -> list[Path]:
        return []


def open_depth_source(*, depth_dir: str | None = None, depth_cache: str | None = None,
                      depth_model: str | None = None, weights: str | None = None, store: Any = None,
                      device: str = "cpu", required: bool = True, default_model: str | None = None) -> DepthSource:
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
        return CacheDepth(depth_cache)
    if depth_model is None and not required:
        return NoDepth()
    variant = depth_model or default_model
    if variant is None:
        raise BokehpipeError("this renderer needs depth: give --depth DIR, --depth-cache PATH or --depth-model")
    return ModelDepth(variant, store=store, weights=weights, device=device)
