"""Prepared inputs: a split's half-size network inputs and level-2 targets, written once into the store.

A training sample otherwise decodes two full-size JPEGs and its whole depth map; on a GPU that caps the steps
per second. `bokehpipe data prepare` writes, per pair, exactly what a sample is cut from (`data.windows`):

```
<store>/inputs/<dataset>/<depth source | rgb>/<split>.h5
  <id>/rgb        (h/2, w/2, 3) uint8     the network's x0.5 bicubic RGB, as a sample packs it
  <id>/disparity  (h/2, w/2)    float16   the depth map resized once to that size (with a depth source)
  <id>/target     (h/2, w/2, 3) uint8     the level-2 target (2x2 means of the bokeh photo)
```

Uncompressed, chunked 128x128 with Fletcher-32 checksums: a 512x512 crop reads only the chunks under it
(about 5 ms against 40-50 ms of decoding). Samples read from here equal those decoded from the photos bit for
bit; level 1 still decodes its full-size target. Keyed and checked like the depth cache: root attributes name
the geometry and the depth cache's identity, each entry its photos' sizes and sha256 and the map's sha256 (and the
sha256 the depth cache keeps of the map's source). `stale_ids` (at every training start: identity, ids, file sizes,
map sources) says which pairs cannot be served, and those are decoded instead; `verify_prepared` rehashes all.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bokehpipe.data.datasets import photo_of, prepare_workers, read_pair_samples
from bokehpipe.data.disparity import DisparitySource
from bokehpipe.data.ebb import Pair
from bokehpipe.data.h5read import ForkSafeFile
from bokehpipe.data.windows import Box, half_size, half_window, network_disparity, network_rgb, pack_network_rgb
from bokehpipe.errors import BokehpipeError
from bokehpipe.store import atomic_path, file_digest
from bokehpipe.versions import package_version

KIND = "bokehpipe-prepared-inputs"
SCHEMA_VERSION = 1
GEOMETRY = ("rgb: x0.5 bicubic (OpenCV, float32) rounded to uint8; disparity: stored map resized once to the "
            "half size (area down, bicubic up), clipped to [0, 1], float16; target: 2x2 box means rounded to the "
            "photo's sample type")
DEPTH_IDENTITY = ("schema_version", "source", "model", "weights_sha256", "input_rule", "normalisation", "precision")
CHUNK = 128
NAMES = ("rgb", "disparity", "target")


def depth_identity(depth: DisparitySource | None) -> dict[str, str]:
    """What identifies a depth cache's maps (its identity attributes, as text); {} without depth."""
    if depth is None:
        return {}
    attrs = getattr(depth, "attrs", {}) or {}
    return {key: str(attrs.get(key, "")) for key in DEPTH_IDENTITY}


@dataclass
class Entry:
    """One pair's prepared arrays and the fingerprints that tie them to their sources."""

    id: str
    arrays: dict[str, np.ndarray]
    attrs: dict[str, Any]


def prepare_pair(pair: Pair, depth: DisparitySource | None) -> Entry:
    """A pair's whole half-size frame, computed by the very functions a training sample is cut with."""
    rgb, target = read_pair_samples(pair)
    frame = half_size(*rgb.shape[:2])
    whole: Box = (0, 0, *frame)
    arrays = {"rgb": pack_network_rgb(network_rgb(rgb, whole), rgb.dtype), "target": half_window(target, whole)}
    attrs: dict[str, Any] = {}
    if depth is not None:
        disp = depth.disparity(photo_of(pair), None)  # type: ignore[arg-type]  # a cache needs no pixels
        arrays["disparity"] = network_disparity(disp, frame, whole).astype(np.float16)
        attrs["depth_sha256"] = _array_digest(disp)
        attrs["depth_source_sha256"] = _depth_source_digest(depth, pair.id)
    for name, path in (("input", pair.input), ("target", pair.target)):
        digest, nbytes = file_digest(path)
        attrs[f"{name}_sha256"], attrs[f"{name}_bytes"] = digest, np.int64(nbytes)
    return Entry(pair.id, arrays, attrs)


def _depth_source_digest(depth: DisparitySource, id_: str) -> str:
    """The sha256 a depth cache keeps of the file a map was made from ('' for sources without one): cheap to
    compare at every start, and it changes when the map is remade from another file."""
    entry_attrs = getattr(depth, "entry_attrs", None)
    return str(entry_attrs(id_).get("source_sha256", "")) if entry_attrs is not None else ""


def _array_digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr, dtype=np.float32).tobytes()).hexdigest()


def _write_entry(h5: h5py.File, entry: Entry) -> None:
    group = h5.create_group(entry.id)
    for name, arr in entry.arrays.items():
        chunks = (min(CHUNK, arr.shape[0]), min(CHUNK, arr.shape[1]), *arr.shape[2:])
        group.create_dataset(name, data=arr, chunks=chunks, fletcher32=True)
    for key, value in entry.attrs.items():
        group.attrs[key] = value


@dataclass
class PrepareResult:
    path: Path
    written: int
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, line naming the unreadable file)
    seconds: float = 0.0
    bytes: int = 0


_WORKER_DEPTH: list[DisparitySource | None] = [None]


def _init_worker(depth: DisparitySource | None) -> None:
    _WORKER_DEPTH[0] = depth


def _prepare_in_worker(pair: Pair) -> Entry | tuple[str, str]:
    try:
        return prepare_pair(pair, _WORKER_DEPTH[0])
    except BokehpipeError as exc:
        return pair.id, str(exc)


def _entries(pairs: Sequence[Pair], depth: DisparitySource | None, workers: int) -> Iterator[Entry | tuple[str, str]]:
    if workers <= 1:
        _init_worker(depth)
        yield from map(_prepare_in_worker, pairs)
        return
    prepare_workers(workers)  # OpenCV's thread pool does not survive fork: single-threaded before forking
    ctx = multiprocessing.get_context("fork")  # the depth cache reopens its file in each process
    with ctx.Pool(workers, initializer=_init_worker, initargs=(depth,)) as pool:
        yield from pool.imap(_prepare_in_worker, pairs, chunksize=2)


def write_prepared(path: str | os.PathLike[str], pairs: Sequence[Pair], depth: DisparitySource | None, *,
                   dataset: str, split: str, workers: int = 1,
                   tick: Callable[[], None] | None = None) -> PrepareResult:
    """Prepare every pair of a split into `path` (written whole, then renamed into place). A pair whose files
    cannot be read is left out and named in `failed`; training decodes it (and meets the same error)."""
    path, start = Path(path), time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    result = PrepareResult(path, 0)
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update({"kind": KIND, "schema_version": SCHEMA_VERSION, "geometry": GEOMETRY, "dataset": dataset,
                         "split": split, "with_depth": depth is not None, "bokehpipe_version": package_version(
                             "bokehpipe"), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        for key, value in depth_identity(depth).items():
            h5.attrs[f"depth_{key}"] = value
        for item in _entries(pairs, depth, workers):
            if isinstance(item, Entry):
                _write_entry(h5, item)
                result.written += 1
            else:
                result.failed.append(item)
            if tick is not None:
                tick()
    result.seconds, result.bytes = time.time() - start, path.stat().st_size
    return result


class PreparedInputs:
    """Read-only view of a prepared split, safe to pass to DataLoader workers (the file reopens per process;
    pickling drops the handle); a `datasets.PreparedSource`. `exclude` holds ids it must not serve (stale)."""

    def __init__(self, path: str | os.PathLike[str], exclude: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.exclude = frozenset(exclude)
        self._reader = ForkSafeFile(
            self.path, missing="prepared inputs not found; create them with `bokehpipe data prepare`",
            unreadable="not readable prepared inputs; delete the file and run `bokehpipe data prepare` again")

    def _h5(self) -> h5py.File:
        return self._reader.file()

    def close(self) -> None:
        self._reader.close()

    @property
    def attrs(self) -> dict[str, Any]:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in self._h5().attrs.items()}

    def has(self, id_: str) -> bool:
        return id_ not in self.exclude and id_ in self._h5()

    def frame(self, id_: str) -> tuple[int, int]:
        h, w = self._h5()[id_]["rgb"].shape[:2]
        return int(h), int(w)

    def window(self, id_: str, name: str, box: Box) -> np.ndarray:
        """The `box` of one prepared array: only the chunks under it are read (and checksummed)."""
        y, x, h, w = box
        try:
            return self._h5()[id_][name][y:y + h, x:x + w]
        except (OSError, KeyError) as exc:
            raise BokehpipeError(f"{self.path}: prepared {name} of id {id_!r} is unreadable ({exc}); delete the "
                                 "file and run `bokehpipe data prepare` again") from None


def stale_ids(prepared: PreparedInputs, pairs: Sequence[Pair], depth: DisparitySource | None) -> tuple[list[str], str]:
    """Which pairs the file cannot serve, and why in a few words ('' when it serves them all). Cheap enough
    for every training start: the identity, the ids and the photos' sizes (`verify_prepared` hashes)."""
    attrs = prepared.attrs
    if attrs.get("kind") != KIND or attrs.get("schema_version") != SCHEMA_VERSION or attrs.get("geometry") != GEOMETRY:
        return [p.id for p in pairs], "written by another version of the geometry"
    if depth is not None:
        wanted = depth_identity(depth)
        if not attrs.get("with_depth") or any(str(attrs.get(f"depth_{k}")) != v for k, v in wanted.items()):
            return [p.id for p in pairs], "made with other depth maps"
    h5 = prepared._h5()
    missing = [p.id for p in pairs if p.id not in h5]
    changed = [p.id for p in pairs if p.id in h5 and not (_same_sizes(h5[p.id].attrs, p) and (
        depth is None or h5[p.id].attrs.get("depth_source_sha256") == _depth_source_digest(depth, p.id)))]
    why = ", ".join(part for part in (f"{len(missing)} missing" if missing else "",
                                      f"{len(changed)} with changed photos or maps" if changed else "") if part)
    return missing + changed, why


def _same_sizes(attrs: Mapping[str, Any], pair: Pair) -> bool:
    try:
        return (pair.input.stat().st_size == int(attrs["input_bytes"])
                and pair.target is not None and pair.target.stat().st_size == int(attrs["target_bytes"]))
    except (OSError, KeyError):
        return False


def verify_prepared(path: str | os.PathLike[str], pairs: Sequence[Pair], depth: DisparitySource | None) -> list[str]:
    """Every problem of a prepared split, one line each: identity, missing ids, photos and maps that changed
    since (sha256), unreadable chunks. Empty when the file serves every pair."""
    prepared = PreparedInputs(path)
    try:
        ids, why = stale_ids(prepared, pairs, depth)
        problems = [f"{path}: {len(ids)} of {len(pairs)} pairs cannot be served ({why})"] if ids else []
        h5, bad = prepared._h5(), set(ids)
        for pair in pairs:
            if pair.id not in bad:
                problems += _verify_entry(h5[pair.id], pair, depth, path)
    finally:
        prepared.close()
    return problems


def _verify_entry(group: h5py.Group, pair: Pair, depth: DisparitySource | None, path: Path) -> list[str]:
    out = []
    for name, src in (("input", pair.input), ("target", pair.target)):
        if src is None or file_digest(src)[0] != group.attrs.get(f"{name}_sha256"):
            out.append(f"{path}: id {pair.id}: {src} changed since it was prepared")
    if depth is not None and _array_digest(depth.disparity(photo_of(pair), None)) != group.attrs.get(  # type: ignore[arg-type]
            "depth_sha256"):
        out.append(f"{path}: id {pair.id}: its depth map changed since it was prepared")
    for name in NAMES:
        if name in group:
            try:
                group[name][()]
            except OSError as exc:
                out.append(f"{path}: id {pair.id}: {name} is unreadable ({exc})")
    return out
