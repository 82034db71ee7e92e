"""One writer per artefact: the lock every writing command takes (`train` per run, `infer` per output folder,
`eval` per tag, `depth` per cache).

Why a lock file and not only `flock`: the file says who holds it (pid, host, command, start time), so the
refusal can name the other process, and it works as a plain marker on file systems without `flock`.
Why also `flock` on it: the kernel releases an `flock` when its process dies, even under `kill -9`, so a lock
whose `flock` can be taken is stale for certain, and a recycled pid cannot keep a dead lock alive. A lock
held on another host (a shared file system) cannot be checked and is never broken; the message says how to
remove it by hand.

Creating is `O_CREAT | O_EXCL` (atomic), so two processes can never both believe they hold it. Breaking a
stale lock is done under its `flock` and only if the path still names the same file (inode), so two
processes reclaiming the same stale lock cannot remove each other's fresh one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bokehpipe.errors import BokehpipeError


class LockedError(BokehpipeError):
    """Another live process holds the lock; the message names it and what to do."""


def lock_beside(target: str | os.PathLike[str]) -> Path:
    """`<parent>/.<name>.lock`: the lock for writing `target` (a folder or file), hidden from listings."""
    target = Path(target)
    return target.with_name(f".{target.name}.lock")


def _holder_info(command: str | None) -> dict[str, Any]:
    cmd = command or " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": cmd,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _read_holder(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65536)
    try:
        info = json.loads(raw.decode("utf-8"))
        return info if isinstance(info, dict) else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _describe(info: dict[str, Any]) -> str:
    pid, host, cmd = info.get("pid", "?"), info.get("host", "?"), info.get("command", "?")
    return f"pid {pid} on {host}, started {info.get('started', '?')}: `{cmd}`"


def _flock_busy(fd: int, op: int) -> bool:
    """Whether a live process holds a conflicting `flock` on `fd`. Where `flock` does not work (OSError) the
    answer is False and callers decide by host and pid alone."""
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _try_break_stale(path: Path) -> bool:
    """Remove `path` if its holder is gone; True when removed (or already gone), False when it is held.

    Stale means: recorded on this host, and either its `flock` can be taken (the kernel dropped it with the
    process) or, where `flock` does not work, its pid is dead."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        if _flock_busy(fd, fcntl.LOCK_EX):
            return False  # a live process on this host holds it
        info = _read_holder(fd)
        if info.get("host") != socket.gethostname():
            return False  # another host's lock (or unreadable): its holder cannot be checked from here
        if not _flock_supported(path.parent) and _pid_alive(info.get("pid")):
            return False
        try:
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                return True  # someone already replaced it; retry the create
        except FileNotFoundError:
            return True
        path.unlink()
        return True
    finally:
        os.close(fd)


_FLOCK_OK: dict[Path, bool] = {}


def _flock_supported(folder: Path) -> bool:
    """Whether `flock` works in `folder` (it does on local file systems; some network mounts ignore it)."""
    if folder not in _FLOCK_OK:
        ok = True
        try:
            fd = os.open(folder, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        except OSError:
            ok = False
        _FLOCK_OK[folder] = ok
    return _FLOCK_OK[folder]


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str], *, what: str, command: str | None = None) -> Iterator[Path]:
    """Hold the lock file `path` for the block; raise `LockedError` at once if a live process holds it.

    `what` completes the refusal: "another process is writing {what}". The lock is removed on exit, on an
    exception and on Ctrl-C; after `kill -9` the next taker finds it stale and breaks it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BokehpipeError(f"{path.parent}: cannot create the folder ({exc.strerror}); check the path and "
                             "its permissions") from None
    payload = json.dumps(_holder_info(command)).encode("utf-8")
    fd = -1
    for _attempt in range(20):
        fd = _create_complete(path, payload)
        if fd >= 0:
            break
        if _try_break_stale(path):
            continue
        raise LockedError(f"{path}: another process ({_describe(_holder_of(path))}) is writing {what}; wait for "
                          f"it or stop it (if it is gone, delete {path})")
    else:  # pragma: no cover - only under a storm of competing reclaimers
        raise LockedError(f"{path}: could not take the lock for {what}; try again")
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                path.unlink()
        os.close(fd)


def _create_complete(path: Path, payload: bytes) -> int:
    """Make `path` appear already written and `flock`ed (temp file + `os.link`, which fails if `path`
    exists), so nobody ever sees a half-written lock; -1 if `path` exists. Falls back to `O_EXCL` where hard
    links are not supported."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except OSError as exc:
        raise BokehpipeError(f"{path}: cannot create the lock file ({exc.strerror}); check that {path.parent} "
                             "is writable") from None
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, payload)
        os.fsync(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            os.close(fd)
            return -1
        except OSError:  # no hard links on this file system
            os.close(fd)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                return -1
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, payload)
        return fd
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _holder_of(path: Path) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return {}
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def is_locked(path: str | os.PathLike[str]) -> bool:
    """Whether a live process holds `path` now (for listings that must not show half-made artefacts)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        if _flock_busy(fd, fcntl.LOCK_SH):
            return True
        info = _read_holder(fd)
        return info.get("host") not in (None, socket.gethostname()) or (
            not _flock_supported(path.parent) and _pid_alive(info.get("pid")))
    finally:
        os.close(fd)
