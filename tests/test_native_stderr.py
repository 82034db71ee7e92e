"""The image libraries' own stderr lines are dropped during a decode, everything else written meanwhile is kept,
and the capture costs no new temporary file per decode (every image read passes through it)."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from bokehpipe.data import native_stderr
from bokehpipe.data.io import read_image, write_png
from bokehpipe.data.native_stderr import quiet_native_stderr


def test_library_lines_are_dropped_and_other_text_is_kept_in_order(capfd):
    for _ in range(3):  # the capture file is reused: nothing of an earlier decode comes back
        with quiet_native_stderr():
            os.write(2, b"libpng warning: iCCP: known incorrect sRGB profile\n")
            os.write(2, b"progress 1\n")
            with quiet_native_stderr():  # nested: one redirection
                os.write(2, b"Corrupt JPEG data: 3 extraneous bytes\n")
            os.write(2, b"progress 2\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "progress 1\nprogress 2\n" * 3 + "after\n"


def test_one_capture_file_per_process_not_one_per_decode(tmp_path, monkeypatch):
    made: list[object] = []
    real = tempfile.TemporaryFile

    def counting(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(native_stderr, "_spool", None)
    monkeypatch.setattr(tempfile, "TemporaryFile", counting)
    write_png(tmp_path / "a.png", np.full((8, 8, 3), 0.5, np.float32))
    for _ in range(5):
        read_image(tmp_path / "a.png")
    assert len(made) == 1


def test_a_forked_child_captures_in_its_own_file(capfd):
    with quiet_native_stderr():
        pass  # the parent's capture file exists
    pid = os.fork()
    if pid == 0:  # child: its decode must not write into, or empty, the parent's file
        try:
            with quiet_native_stderr():
                os.write(2, b"libpng error: bad\n")
                os.write(2, b"child text\n")
        finally:
            os._exit(0 if native_stderr._spool is not None and native_stderr._spool[0] == os.getpid() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with quiet_native_stderr():
        os.write(2, b"parent text\n")
    assert capfd.readouterr().err == "child text\nparent text\n"
