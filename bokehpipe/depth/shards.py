"""Crash-safe writing of a depth cache: per-rank shard parts, a run lock, and the merge into `<split>.h5`.

HDF5 files are not safe to write from two processes, and a process killed inside an h5py write can leave
the file unreadable. So a run never writes into the cache in place: each rank writes every batch as a
small, complete HDF5 part (`<split>.parts/<token>-r<rank>-<seq>.h5`) that appears atomically
(`bokehpipe.store.atomic_path`: temp file + `os.replace`). `kill -9` loses at most the batch in flight;
the finished parts stay readable (each is a valid cache file). At the end, rank 0 merges the existing
cache and all parts into a new file that replaces `<split>.h5` in one `os.replace`, then removes the parts.
A rerun treats ids found in the cache or in parts as done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py

from bokehpipe.depth.cache import (
    Entry,
    attrs_dict,
    identity_differences,
    open_read_only,
    parts_dir,
    set_root_attrs,
    write_entries,
)
from bokehpipe.errors import BokehpipeError
from bokehpipe.locks import exclusive, lock_beside
from bokehpipe.store import atomic_path, remove_stale_temporaries


@contextlib.contextmanager
def run_lock(cache_path: Path) -> Iterator[Path]:
    """One writer per cache: the project's lock primitive (`bokehpipe.locks`) on `.<split>.lock` beside it
    (`lock_beside` of the cache without its suffix: the name every version has used)."""
    with exclusive(lock_beside(cache_path.with_suffix("")),
                   what=f"the depth cache {cache_path} (another `bokehpipe depth` run)") as lock:
        yield lock


def list_parts(cache_path: Path) -> list[Path]:
    """Finished parts of an unfinished run, oldest first (temp files of a killed write are ignored)."""
    folder = parts_dir(cache_path)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.h5") if not p.name.startswith("."))


def clean_temporaries(cache_path: Path) -> int:
    """Remove temp files a killed process left behind: the cache's own (its folder holds other splits' caches)
    and its parts' (only call while holding the run lock)."""
    return (remove_stale_temporaries(cache_path.parent, of=cache_path.name, recursive=False)
            + remove_stale_temporaries(parts_dir(cache_path), recursive=False))


def read_part_index(part: Path) -> tuple[dict[str, Any], list[str]]:
    """(root attributes, ids) of one part; an unreadable part raises naming the file."""
    try:
        with open_read_only(part) as h5:
            return attrs_dict(h5.attrs), list(h5.keys())
    except OSError as exc:
        raise BokehpipeError(f"{part}: unreadable shard part ({exc}); delete it and rerun") from None


def check_identity(path: Path, found: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    diffs = identity_differences(found, wanted)
    if diffs:
        raise BokehpipeError(f"{path}: made by a different depth model/source ({'; '.join(diffs)}); "
                             "pass --overwrite to replace it, or choose the matching --model/--source")


class PartWriter:
    """Writes one rank's batches as atomic parts named `<token>-r<rank>-<seq>.h5`."""

    def __init__(self, cache_path: Path, provenance: Mapping[str, Any], *, token: str, rank: int = 0) -> None:
        self.folder = parts_dir(cache_path)
        self.provenance = dict(provenance)
        self.token, self.rank, self.seq = token, rank, 0
        self.written: list[Path] = []

    def write(self, entries: list[Entry]) -> Path | None:
        if not entries:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{self.token}-r{self.rank:03d}-{self.seq:06d}.h5"
        while final.exists():  # never replace a finished part, whatever the token
            self.seq += 1
            final = self.folder / f"{self.token}-r{self.rank:03d}-{self.seq:06d}.h5"
        self.seq += 1
        with atomic_path(final) as tmp:
            with h5py.File(tmp, "w") as h5:
                set_root_attrs(h5, self.provenance)
                write_entries(h5, entries)
        self.written.append(final)
        return final


def merge(cache_path: Path, parts: Iterable[Path], provenance: Mapping[str, Any], *,
          keep_existing: bool = True) -> int:
    """Existing cache (if kept) + parts -> new `<split>.h5`, replaced atomically; later parts win per id.

    Datasets are copied with HDF5's object copy (compressed chunks, attributes and all). Returns the
    number of ids in the new cache. Parts are deleted only after the new cache is in place.
    """
    parts = list(parts)
    sources: dict[str, Path] = {}
    created = None
    if keep_existing and cache_path.is_file():
        with open_read_only(cache_path) as h5:
            created = attrs_dict(h5.attrs).get("created")
            sources.update({i: cache_path for i in h5.keys()})
    for part in parts:
        sources.update({i: part for i in read_part_index(part)[1]})
    by_file: dict[Path, list[str]] = {}
    for id_, src in sources.items():
        by_file.setdefault(src, []).append(id_)
    root = dict(provenance)
    if created:
        root["created"] = created
        root["updated"] = provenance.get("created", "")
    with atomic_path(cache_path) as tmp:
        with h5py.File(tmp, "w") as dst:
            set_root_attrs(dst, root)
            for src_path, ids in by_file.items():
                with open_read_only(src_path) as src:
                    for id_ in ids:
                        src.copy(src[id_], dst, name=id_)
    for part in parts:
        with contextlib.suppress(OSError):
            part.unlink()
    folder = parts_dir(cache_path)
    with contextlib.suppress(OSError):
        folder.rmdir()  # only when empty
    return len(sources)
