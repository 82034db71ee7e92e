"""Resolving user-given paths without tracebacks: a symlink loop or a dangling link among the photos is one
bad entry (named, skipped), never a crash of the whole run (`Path.resolve` raises RuntimeError on a loop)."""

from __future__ import annotations

import os
from pathlib import Path

from bokehpipe.errors import ImageReadError


def resolve_input(path: str | os.PathLike[str]) -> Path:
    """The absolute, link-free path of an input; ImageReadError naming it for a loop or a dangling link."""
    path = Path(path).expanduser()
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError: "Symlink loop" (Python < 3.13); OSError: ELOOP
        if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == 40:
            raise ImageReadError(f"{path}: symbolic link loop; fix or remove the link") from None
        raise ImageReadError(f"{path}: cannot resolve the path ({exc}); check it") from None
    if path.is_symlink() and not resolved.exists():
        raise ImageReadError(f"{path}: symbolic link to a missing file ({os.readlink(path)}); fix or remove it")
    return resolved
