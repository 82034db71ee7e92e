"""The artifact store: one folder tree that every phase reads and writes.

```
<root>/datasets/<name>/                  synthetic sets in the EBB! released layout
<root>/weights/<file>                    MiDaS, VGG-19, LPIPS checkpoints (sha256-verified)
<root>/depth/<dataset>/<model>/<split>.h5
<root>/inputs/<dataset>/<depth>/<split>.h5   half-size training inputs prepared once (optional)
<root>/runs/<run>/                       config, metrics.csv, checkpoints/level<L>/{last,best}.pt
<root>/renders/<run>/                    inference outputs and index.html
<root>/reports/                          eval tables, bench.json, figures
<root>/manifest.json                     what wrote what, when
```

Every writer goes through `atomic_path`/`atomic_write_*`: the file appears whole under its final name or
not at all, so a crash never leaves a half-written file where a good one stood. No torch import here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokehpipe.errors import BokehpipeError

DEFAULT_STORE = "cache"
STORE_ENV = "BOKEHPIPE_STORE"
MANIFEST_NAME = "manifest.json"


RUN_DONE = "done.json"  # written by the training loop when a run has trained all it will


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `final`; on success it replaces `final` in one `os.replace`.

    The temporary file keeps `final`'s suffix (or `suffix`) so that writers that pick a format from the
    extension (OpenCV, h5py, torch) still work. On any exception the temporary file is removed and `final`
    is left exactly as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + (suffix or final.suffix),
                                    dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; final files get the usual permissions
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")  # mkstemp's 8 random characters


def remove_stale_temporaries(folder: str | os.PathLike[str], *, of: str | None = None, recursive: bool = True) -> int:
    """Delete the temporary files `atomic_path` leaves when its process is killed (`.<name>.<random>.tmp*`),
    under `folder` (and its subfolders when `recursive`); with `of`, only those of the file named `of`, for a
    folder whose other files belong to other writers. The one cleaner of killed writes (runs, depth caches and
    parts, renders). Only call while holding the lock of what it cleans: a live writer's temporary file looks
    the same. Returns how many it removed."""
    import glob

    pattern = f".{glob.escape(of)}.*.tmp*" if of else ".*.tmp*"
    removed = 0
    for tmp in (Path(folder).rglob(pattern) if recursive else Path(folder).glob(pattern)):
        if _TEMP_NAME.match(tmp.name) and tmp.is_file() and not tmp.is_symlink():
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed

def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in 1 MiB blocks: the one file fingerprint (depth-cache
    staleness, weights verification)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _read_umask() -> int:
    """The process umask, read once at import: os.umask can only be read by setting it, which would race
    with writer threads if done per call."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BokehpipeError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise BokehpipeError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); delete or repair it") from None


def run_of_checkpoint(path: str | os.PathLike[str]) -> str | None:
    """The run a checkpoint file was written by (runs/<run>/checkpoints/level<N>/<which>.pt -> <run>); None for a
    file kept outside that layout."""
    parts = Path(path).parts
    return parts[-4] if len(parts) >= 4 and parts[-3] == "checkpoints" else None


def resolve_store_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--store` wins, then BOKEHPIPE_STORE, then the nearest enclosing store, then ./cache."""
    return locate_store(explicit).root


@dataclass(frozen=True)
class StoreChoice:
    """Which store a command uses and why (`bokehpipe info` prints the reason)."""

    root: Path
    reason: str


def locate_store(explicit: str | os.PathLike[str] | None = None, *, cwd: Path | None = None) -> StoreChoice:
    """One store whatever folder you run from, found like git finds its repository.

    Order: `--store`, else BOKEHPIPE_STORE, else the nearest folder at or above the working folder that
    holds a bokehpipe store (`cache/` with its manifest.json), else ./cache (created on first write).
    """
    if explicit is not None:
        return StoreChoice(Path(explicit).expanduser().resolve(), "given by --store")
    env = os.environ.get(STORE_ENV)
    if env:
        return StoreChoice(Path(env).expanduser().resolve(), f"from ${STORE_ENV}")
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_STORE
        if (candidate / MANIFEST_NAME).is_file():
            where = "the working folder" if folder == here else f"found above the working folder ({folder})"
            return StoreChoice(candidate, f"{where} holds a store ({DEFAULT_STORE}/{MANIFEST_NAME})")
    return StoreChoice(here / DEFAULT_STORE, f"no store found at or above {here}: ./{DEFAULT_STORE} "
                                               "(pass --store DIR or set $BOKEHPIPE_STORE to use another)")


MAX_NAME_BYTES = 100  # file systems allow 255; writers add suffixes (".lock", ".<random>.tmp.png", ...)


def _check_name(kind: str, name: str) -> str:
    if not name or name in {".", ".."} or "/" in name or "\\" in name or name.startswith("."):
        raise BokehpipeError(f"invalid {kind} name {name!r}: use letters, digits, '-', '_' (no slashes)")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise BokehpipeError(f"invalid {kind} name {name[:40]!r}...: {len(name.encode('utf-8'))} bytes long; use at "
                             f"most {MAX_NAME_BYTES}")
    return name


@dataclass(frozen=True)
class ArtifactStore:
    """Path helpers over the store layout; creating the folders is left to the writers."""

    root: Path

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None) -> ArtifactStore:
        return cls(resolve_store_root(root))

    # --- layout -------------------------------------------------------------------------------------
    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def weights_dir(self) -> Path:
        return self.root / "weights"

    @property
    def depth_dir(self) -> Path:
        return self.root / "depth"

    @property
    def inputs_dir(self) -> Path:
        return self.root / "inputs"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def renders_dir(self) -> Path:
        return self.root / "renders"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def dataset(self, name: str) -> Path:
        return self.datasets_dir / _check_name("dataset", name)

    def weights(self, filename: str) -> Path:
        return self.weights_dir / _check_name("weights file", filename)

    def depth_cache(self, dataset: str, model: str, split: str) -> Path:
        return self.depth_dir / _check_name("dataset", dataset) / _check_name("depth model", model) / (
            f"{_check_name('split', split)}.h5")

    def prepared_inputs(self, dataset: str, depth: str | None, split: str) -> Path:
        """A split's prepared half-size inputs with the maps of depth cache `depth` (None: RGB only, `rgb/`)."""
        return self.inputs_dir / _check_name("dataset", dataset) / _check_name("depth model", depth or "rgb") / (
            f"{_check_name('split', split)}.h5")

    def run(self, name: str) -> Path:
        return self.runs_dir / _check_name("run", name)

    def existing_run(self, name: str) -> Path:
        """runs/<name>/ when it holds a run; else one line naming the runs that exist."""
        path = self.run(name)
        if not (path / "checkpoints").is_dir():
            runs = ", ".join(self.list_runs()) or "none yet; train one with `bokehpipe train`"
            raise BokehpipeError(f"{path}: no run {name!r} in the store {self.root} (runs: {runs})")
        return path

    def run_finished(self, name: str) -> bool:
        """The one "finished" rule for every generator: the training loop wrote runs/<name>/done.json."""
        return (self.run(name) / RUN_DONE).is_file()

    @property
    def exports_dir(self) -> Path:
        """Where `export` writes a run's weights file unless told otherwise."""
        return self.root / "exports"

    def run_lock(self, name: str) -> Path:
        """The lock `train` holds while it writes runs/<name>/ (beside it, so a failed start leaves no folder)."""
        from bokehpipe.locks import lock_beside

        return lock_beside(self.run(name))

    def eval_report(self, tag: str) -> Path:
        return self.reports_dir / "eval" / _check_name("eval tag", tag)

    def renders(self, name: str) -> Path:
        return self.renders_dir / _check_name("render set", name)

    # --- lookups ------------------------------------------------------------------------------------
    def resolve_dataset(self, *, data: str | os.PathLike[str] | None, dataset: str | None) -> tuple[Path, str]:
        """Turn `--data PATH` / `--dataset NAME` into (folder, name); the name keys the depth cache."""
        if data is not None and dataset is not None:
            raise BokehpipeError("give either --data PATH or --dataset NAME, not both")
        if data is not None:
            path = Path(data).expanduser().resolve()
            if not path.is_dir():
                raise BokehpipeError(f"{path}: dataset folder not found; check --data")
            return path, path.name
        if dataset is None:
            raise BokehpipeError("no dataset given: pass --data PATH or --dataset NAME (see `bokehpipe info`)")
        path = self.dataset(dataset)
        if not path.is_dir():
            known = ", ".join(self.list_datasets()) or "none"
            raise BokehpipeError(f"{path}: dataset {dataset!r} is not in the store (known: {known}); "
                                 f"create it with `bokehpipe synth {dataset}` or pass --data PATH")
        return path, dataset

    def list_datasets(self) -> list[str]:
        return _subdirs(self.datasets_dir)

    def list_runs(self) -> list[str]:
        """Run folders with a checkpoint, or being trained now; a folder a killed train left before its first
        checkpoint holds nothing to use and is not listed (`train --resume auto` still continues it)."""
        from bokehpipe.locks import is_locked

        return [name for name in _subdirs(self.runs_dir)
                if (self.runs_dir / name / "checkpoints").is_dir() or is_locked(self.run_lock(name))]

    def list_weights(self) -> list[str]:
        if not self.weights_dir.is_dir():
            return []
        return sorted(p.name for p in self.weights_dir.iterdir() if p.is_file() and not p.name.startswith("."))

    def list_depth_caches(self) -> list[Path]:
        if not self.depth_dir.is_dir():
            return []
        return sorted(p for p in self.depth_dir.glob("*/*/*.h5") if not p.name.startswith("."))

    # --- manifest -----------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"entries": {}}
        return read_json(self.manifest_path)

    def record(self, path: str | os.PathLike[str], kind: str, **info: Any) -> None:
        """Note in the manifest what wrote `path` (relative to the root) and when.

        The manifest is a convenience index for `bokehpipe info`; the artefacts carry their own provenance,
        so a lost manifest loses nothing.
        """
        rel = os.path.relpath(Path(path).resolve(), self.root)
        manifest = self.manifest()
        manifest.setdefault("entries", {})[rel] = {"kind": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                                    **info}
        atomic_write_json(self.manifest_path, manifest)


def _subdirs(path: Path) -> list[str]:
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
