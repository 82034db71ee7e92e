"""The phase-one depth cache: HDF5 schema, provenance, the lazy reader, and verification against a dataset.

Layout: `store/depth/<dataset>/<model-or-source>/<split>.h5` holds
one float16 dataset per image id (name = id), chunked and gzip-compressed, values = relative inverse
depth normalised to [0, 1] with near = 1 (from a metric network: 1/depth, `depth_units` = "metres").
Root attributes are the provenance (schema version, source, model, weights sha256, input rule,
normalisation, precision, depth units, versions, creation time); each dataset
carries `image_size` (w, h of the photo), `source_file`, `source_sha256`, `source_bytes`, `raw_min`,
`raw_max`. Resolution: MiDaS maps at the photo's full decoded size; `gt`/`png` maps at their native size
(PyNET maps are half resolution). Consumers read a map at its stored size through the one protocol
(`bokehpipe.data.disparity.DisparitySource`, which `DepthCache` implements) and resize it where they use it.

Identity: a cache is only extended or reused when the `IDENTITY` attributes equal the requested run's, so
maps from different models or weights are never mixed or reused silently.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bokehpipe.data.disparity import Photo
from bokehpipe.data.h5read import ForkSafeFile, open_read_only
from bokehpipe.data.io import resize
from bokehpipe.depth import SOURCES
from bokehpipe.errors import BokehpipeError
from bokehpipe.store import file_digest
from bokehpipe.versions import package_version

SCHEMA_VERSION = 1
KIND = "bokehpipe-depth-cache"
IDENTITY = ("schema_version", "source", "model", "weights_sha256", "input_rule", "normalisation", "precision")
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True, "fletcher32": True}
CHUNK = 256


def fill_command(dataset: str, split: str, source: str, model: str, data_root: str | None = None) -> str:
    """The command that creates or completes a cache (quoted in every 'missing' message)."""
    where = f"--data {data_root}" if data_root else f"--dataset {dataset}"
    model_part = f" --model {model}" if source == "midas" else ""
    if source != "midas" and model.startswith(f"{source}-"):
        model_part = f" --degrade {model[len(source) + 1:]}"  # a degraded map cache, e.g. gt-paper
    return f"bokehpipe depth {where} --split {split} --source {source}{model_part}"


def make_provenance(*, source: str, model: str, dataset: str, split: str, dataset_root: str,
                    weights_sha256: str = "", weights_file: str = "", input_rule: str = "native",
                    normalisation: str, precision: str = "fp32", command: str = "",
                    depth_units: str = "relative") -> dict[str, Any]:
    """Root attributes of a cache (and of each shard part): identity fields plus context. `depth_units`
    "metres": the maps are 1/depth of a metric network and raw_min/raw_max are in 1/m (see `normalisation`)."""
    if source not in SOURCES:
        raise BokehpipeError(f"unknown depth source {source!r}; use one of {', '.join(SOURCES)}")
    return {
        "kind": KIND, "schema_version": SCHEMA_VERSION, "source": source, "model": model,
        "weights_sha256": weights_sha256, "weights_file": weights_file, "input_rule": input_rule,
        "normalisation": normalisation, "precision": precision, "depth_units": depth_units, "dataset": dataset,
        "split": split,
        "dataset_root": dataset_root, "fill_command": command,
        "bokehpipe_version": package_version("bokehpipe"), "torch_version": package_version("torch"),
        "timm_version": package_version("timm"), "h5py_version": h5py.__version__, "numpy_version": np.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _short(value: Any) -> str:
    return f"{value[:12]}..." if isinstance(value, str) and len(value) > 40 else str(value)


def identity_differences(found: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Human-readable list of identity fields that differ ('model: dpt_hybrid_384 != midas_v21_small_256')."""
    out = []
    for key in IDENTITY:
        a, b = found.get(key), wanted.get(key)
        if str(a) != str(b):
            out.append(f"{key}: cached {_short(a)} != requested {_short(b)}")
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def attrs_dict(attrs: h5py.AttributeManager) -> dict[str, Any]:
    return {k: _plain(v) for k, v in attrs.items()}


@dataclass
class Entry:
    """One computed map before it is written: float16 (H, W) in [0, 1] and its per-dataset attributes."""

    id: str
    data: np.ndarray
    image_size: tuple[int, int]
    source_file: str
    source_sha256: str
    source_bytes: int
    raw_min: float
    raw_max: float


def write_entries(h5: h5py.File, entries: Iterable[Entry]) -> int:
    n = 0
    for e in entries:
        data = np.asarray(e.data, dtype=np.float16)
        if data.ndim != 2:
            raise ValueError(f"depth map {e.id!r} must be 2-D, got {data.shape}")
        chunks = (min(CHUNK, data.shape[0]), min(CHUNK, data.shape[1]))
        if e.id in h5:
            del h5[e.id]
        ds = h5.create_dataset(e.id, data=data, chunks=chunks, **COMPRESSION)
        ds.attrs["image_size"] = np.asarray(e.image_size, dtype=np.int64)
        ds.attrs["source_file"] = e.source_file
        ds.attrs["source_sha256"] = e.source_sha256
        ds.attrs["source_bytes"] = np.int64(e.source_bytes)
        ds.attrs["raw_min"] = np.float64(e.raw_min)
        ds.attrs["raw_max"] = np.float64(e.raw_max)
        n += 1
    return n


def set_root_attrs(h5: h5py.File, provenance: Mapping[str, Any]) -> None:
    for key, value in provenance.items():
        h5.attrs[key] = value


def sort_ids(ids: Iterable[str]) -> list[str]:
    """Numeric ids in numeric order first (EBB! 0..4693), then the rest by name."""
    return sorted(ids, key=lambda i: (0, int(i), "") if i.isdigit() else (1, 0, i))


class DepthCache:
    """Read-only view of one cache file, safe to pass to DataLoader workers; a `DisparitySource`.

    The HDF5 file opens on first use and re-opens when the process id changes (an h5py handle must not
    cross a fork); pickling drops the handle. Use as a context manager or call `close()`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.description = f"cache {self.path}"
        self._reader = ForkSafeFile(
            self.path, missing="depth cache not found; create it with `bokehpipe depth ...`",
            unreadable="not a readable HDF5 depth cache; delete it and run `bokehpipe depth` again")

    # --- lifecycle -------------------------------------------------------------------------------------
    def _h5(self) -> h5py.File:
        return self._reader.file()

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> DepthCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- queries ---------------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        return attrs_dict(self._h5().attrs)

    def ids(self) -> list[str]:
        return sort_ids(self._h5().keys())

    def __contains__(self, id_: object) -> bool:
        return isinstance(id_, str) and id_ in self._h5()

    def __len__(self) -> int:
        return len(self._h5())

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())

    def entry_attrs(self, id_: str) -> dict[str, Any]:
        return attrs_dict(self._dataset(id_).attrs)

    def _dataset(self, id_: str) -> h5py.Dataset:
        h5 = self._h5()
        if id_ not in h5:
            command = _plain(h5.attrs.get("fill_command", "")) or "bokehpipe depth --split SPLIT --source SOURCE"
            raise BokehpipeError(f"{self.path}: no depth map for id {id_!r}; fill the cache with `{command}`")
        return h5[id_]

    def read(self, id_: str, size: tuple[int, int] | None = None) -> np.ndarray:
        """The map as float32 (H, W) in [0, 1]; `size` = (width, height) resizes with the one resize policy."""
        try:
            arr = np.asarray(self._dataset(id_)[()], dtype=np.float32)
        except (OSError, KeyError) as exc:
            raise BokehpipeError(f"{self.path}: depth map {id_!r} is corrupt ({exc}); run "
                                 "`bokehpipe depth verify` and recompute it") from None
        if size is not None and (arr.shape[1], arr.shape[0]) != (int(size[0]), int(size[1])):
            arr = resize(arr, (int(size[0]), int(size[1])), clip=True)
        return arr

    # --- the DisparitySource protocol (bokehpipe.data.disparity) ----------------------------------------
    def has(self, photo: Photo) -> bool:
        return photo.id in self

    def metric_range(self, photo: Photo) -> tuple[float, float] | None:
        """The 1/z range (1/m) a metric network's map was normalised from; None for relative maps."""
        if self.attrs.get("depth_units") != "metres" or photo.id not in self:
            return None
        entry = self.entry_attrs(photo.id)
        return float(entry["raw_min"]), float(entry["raw_max"])

    def disparity(self, photo: Photo, rgb: np.ndarray | None = None) -> np.ndarray:
        """The photo's map at its stored size (the consumer resizes it where it uses it)."""
        if photo.id not in self:
            command = _plain(self._h5().attrs.get("fill_command", "")) or "bokehpipe depth"
            raise BokehpipeError(f"{photo.path}: no depth for id {photo.id!r} in {self.path}; fill the cache with "
                                 f"`{command}` (or give another depth source)")
        return self.read(photo.id)

    def protected(self) -> list[Path]:
        return [self.path]


def parts_dir(cache_path: Path) -> Path:
    """Where an unfinished run keeps its per-rank shard parts (merged into the cache at the end)."""
    return cache_path.with_name(cache_path.stem + ".parts")


def _hint(source_or_model: str) -> tuple[str, str]:
    base = source_or_model.split("-", 1)[0]
    if base in ("gt", "png"):
        return base, source_or_model
    return "midas", source_or_model


def open_depth_cache(store, dataset_name: str, source_or_model: str, split: str) -> DepthCache:
    """The cache of `dataset_name`/`split` made by a MiDaS variant or by `gt`/`png`, or a clear error."""
    path = store.depth_cache(dataset_name, source_or_model, split)
    source, model = _hint(source_or_model)
    command = fill_command(dataset_name, split, source, model)
    if not path.is_file():
        pending = parts_dir(path).is_dir()
        why = "an interrupted run left unmerged parts" if pending else "no depth cache"
        raise BokehpipeError(f"{path}: {why}; run `{command}` first")
    return DepthCache(path)


# --- verification ----------------------------------------------------------------------------------------

@dataclass
class VerifyReport:
    path: Path
    expected: int = 0
    ok_ids: int = 0
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    pending_parts: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.corrupt or self.problems)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "expected": self.expected, "ok_ids": self.ok_ids,
                "missing": self.missing, "stale": self.stale,
                "corrupt": [{"id": i, "reason": r} for i, r in self.corrupt], "extra": self.extra,
                "problems": self.problems, "pending_parts": self.pending_parts}


def check_entry(ds: h5py.Dataset, source: str) -> str | None:
    """Why a stored map is unusable, or None: dtype, shape, finite values in [0, 1], readable chunks."""
    if ds.dtype != np.float16 or ds.ndim != 2:
        return f"expected float16 (H, W), found {ds.dtype} {ds.shape}"
    try:
        arr = ds[()]
    except OSError as exc:
        return f"unreadable data ({exc})"
    if not np.all(np.isfinite(arr)):
        return "non-finite values"
    if arr.size and (float(arr.min()) < 0.0 or float(arr.max()) > 1.0):
        return f"values outside [0, 1] ({float(arr.min()):.3g}..{float(arr.max()):.3g})"
    if source == "midas":
        w, h = (int(v) for v in ds.attrs.get("image_size", (0, 0)))
        if (h, w) != tuple(ds.shape):
            return f"shape {ds.shape} differs from the photo's {h}x{w}"
    return None


def verify_cache(path: str | os.PathLike[str], expected: Mapping[str, Path], *,
                 wanted: Mapping[str, Any] | None = None, hash_sources: bool = True) -> VerifyReport:
    """Check a cache against `expected` = {id: source file}: missing, stale (source changed), corrupt, extra.

    `wanted` (provenance of the requested model/source) adds identity problems; `hash_sources=False`
    compares file sizes only (fast, misses same-size edits).
    """
    path = Path(path)
    report = VerifyReport(path, expected=len(expected))
    parts = parts_dir(path)
    report.pending_parts = len(list(parts.glob("*.h5"))) if parts.is_dir() else 0
    if not path.is_file():
        report.problems.append(f"{path}: cache file not found")
        report.missing = sort_ids(expected)
        return report
    try:
        h5 = open_read_only(path)
    except OSError as exc:
        report.problems.append(f"{path}: not a readable HDF5 file ({exc})")
        return report
    with h5:
        root = attrs_dict(h5.attrs)
        if root.get("kind") != KIND or root.get("schema_version") != SCHEMA_VERSION:
            report.problems.append(f"{path}: not a bokehpipe depth cache of schema {SCHEMA_VERSION} "
                                   f"(kind={root.get('kind')!r}, schema={root.get('schema_version')!r})")
        if wanted is not None:
            report.problems += [f"{path}: {d}" for d in identity_differences(root, wanted)]
        source = str(root.get("source", ""))
        for id_ in sort_ids(expected):
            if id_ not in h5:
                report.missing.append(id_)
                continue
            ds = h5[id_]
            reason = check_entry(ds, source)
            if reason is not None:
                report.corrupt.append((id_, reason))
                continue
            src = Path(expected[id_])
            if not src.is_file():
                report.stale.append(id_)
                continue
            if hash_sources:
                digest, size = file_digest(src)
                fresh = digest == _plain(ds.attrs.get("source_sha256", ""))
            else:
                fresh = src.stat().st_size == int(_plain(ds.attrs.get("source_bytes", -1)))
            if not fresh:
                report.stale.append(id_)
                continue
            report.ok_ids += 1
        report.extra = sort_ids(set(h5.keys()) - set(expected))
    return report
