"""Read-only HDF5 files shared with DataLoader workers: the depth cache and the prepared inputs.

Both are written under another name and renamed into place, never changed in place, so readers need no HDF5
file locking, which also fails on the shared filesystems (NFS, Lustre) a multi-node run reads from. An h5py
handle must not cross a fork: `ForkSafeFile` opens on first use in each process and pickles without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py

from bokehpipe.errors import BokehpipeError


def open_read_only(path: str | os.PathLike[str]) -> h5py.File:
    """The one way a finished HDF5 artefact is opened for reading: without file locking (module docstring)."""
    return h5py.File(path, "r", locking=False)


class ForkSafeFile:
    """`file()` is the open handle of this process. `missing` and `unreadable` end the one line said when the file
    is absent (checked at construction) or will not open."""

    def __init__(self, path: str | os.PathLike[str], *, missing: str, unreadable: str) -> None:
        self.path = Path(path)
        self.unreadable = unreadable
        self._file: h5py.File | None = None
        self._pid: int | None = None
        if not self.path.is_file():
            raise BokehpipeError(f"{self.path}: {missing}")

    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = open_read_only(self.path)
            except OSError as exc:
                raise BokehpipeError(f"{self.path}: {self.unreadable} ({exc})") from None
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "unreadable": self.unreadable, "_file": None, "_pid": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
