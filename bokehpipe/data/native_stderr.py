"""C-library chatter on stderr during a decode (libpng, libjpeg, libtiff), kept off the user's terminal.

OpenCV hands libpng no error callback, so libpng writes "libpng warning: ..." / "libpng error: ..." straight to
file descriptor 2, and libjpeg prints "Corrupt JPEG data: ..." the same way; OpenCV's log level does not
reach them. bokehpipe already names every bad file in one line of its own (`ImageReadError`), so these
lines are noise, and for a good photo with a quirk (a PNG's "iCCP: known incorrect sRGB profile") they are
alarming noise. `quiet_native_stderr()` points fd 2 at a temporary file for the length of a decode only,
then restores it and writes back every line that is not such a library message: text that another
thread (a progress bar) wrote meanwhile is delayed by the decode, never lost. Nested and concurrent
decodes share one redirection (reference-counted under a lock). Every image read passes here, so the
temporary file is made once per process and emptied after each decode, not created per read.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

# The messages the image libraries print themselves (libjpeg's are its jerror.h texts, libtiff's name the
# function, OpenCV's own logging is already silenced in bokehpipe.data.io).
LIBRARY_LINE = re.compile(
    rb"^(libpng (warning|error)|Corrupt JPEG data|Premature end of JPEG file|Invalid SOS parameters|"
    rb"Warning: unknown JFIF|Inconsistent progression sequence|Unsupported marker type|Bogus (marker|DQT|DHT)|"
    rb"TIFF\w*: |\[ ?(WARN|ERROR|INFO)\b)")

_lock = threading.Lock()
_users = 0
_saved_fd: int | None = None
_capture: IO[bytes] | None = None
_spool: tuple[int, IO[bytes]] | None = None  # (pid, unbuffered file): a forked child makes its own


def _spool_file() -> IO[bytes]:
    """This process's one capture file (made on first use; called under the lock)."""
    global _spool
    if _spool is None or _spool[0] != os.getpid():
        _spool = (os.getpid(), tempfile.TemporaryFile(prefix="bokehpipe-stderr-", buffering=0))
    return _spool[1]


def _begin() -> None:
    global _users, _saved_fd, _capture
    with _lock:
        if _users == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, ValueError, OSError):
                pass
            try:
                capture = _spool_file()
                saved = os.dup(2)
            except OSError:  # no fd 2 (a daemon) or no temporary space: decode unquieted rather than fail
                _users += 1
                return
            os.dup2(capture.fileno(), 2)
            _saved_fd, _capture = saved, capture
        _users += 1


def _end() -> None:
    global _users, _saved_fd, _capture
    with _lock:
        _users -= 1
        if _users > 0 or _saved_fd is None or _capture is None:
            return
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        capture, _saved_fd, _capture = _capture, None, None
        capture.seek(0)
        kept = keep_lines(capture.read())
        capture.seek(0)
        capture.truncate()
        if kept:
            os.write(2, kept)


def keep_lines(data: bytes) -> bytes:
    """`data` without the image libraries' own lines (everything else as written, byte for byte)."""
    if not data:
        return b""
    return b"".join(line for line in data.splitlines(keepends=True) if not LIBRARY_LINE.match(line))


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Run the body with the image libraries' stderr lines dropped (see the module docstring)."""
    _begin()
    try:
        yield
    finally:
        _end()
