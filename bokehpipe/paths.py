"""User-given paths without tracebacks: a symlink loop or a dangling link among the photos is one bad entry
(named, skipped), never a crash of the whole run (`Path.resolve` raises RuntimeError on a loop); an output
folder is proven writable before any work starts, not found read-only by the first temporary file."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from bokehpipe.errors import BokehpipeError, ImageReadError


def resolve_input(path: str | os.PathLike[str]) -> Path:
    """The absolute, link-free path of an input; ImageReadError naming it for a loop or a dangling link."""
    path = Path(path).expanduser()
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: "Symlink loop" (Python < 3.13); OSError: ELOOP
        if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
            raise ImageReadError(f"{path}: symbolic link loop; fix or remove the link") from None
        raise ImageReadError(f"{path}: cannot resolve the path ({exc}); check it") from None
    if path.is_symlink() and not resolved.exists():
        raise ImageReadError(f"{path}: symbolic link to a missing file ({os.readlink(path)}); fix or remove it")
    return resolved


def check_writable_dir(folder: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """Prove that `folder` (or, while it does not exist, its nearest existing parent, where it would be made)
    takes a file, without creating anything: permission bits, read-only mounts, a full disk and root's
    exemptions all answer the same way, by trying (a temporary file, deleted at once)."""
    folder = Path(folder).expanduser().absolute()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(probe))
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise BokehpipeError(f"{folder}: cannot write there ({exc.strerror or exc} in {probe}); choose another "
                             f"{option} or fix its permissions") from None
    return folder
