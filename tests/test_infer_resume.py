"""An interrupted `bokehpipe infer` (a real process, SIGKILL mid-folder) is finished by a rerun that renders
exactly the photos whose render is missing; `--overwrite` redoes all (issue 13)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bokehpipe.data.io import write_png

N = 12
# Test-only slowdown, loaded into the child through PYTHONPATH (sitecustomize): each render takes 0.4 s, so
# the kill lands mid-folder whatever the machine's speed. Library code has no such hook.
SLOW = """
import time
from bokehpipe.render import classical
_render_batch = classical.ClassicalRenderer.render_batch
def render_batch(self, rgbs, disps):
    time.sleep(0.4)
    return _render_batch(self, rgbs, disps)
classical.ClassicalRenderer.render_batch = render_batch
"""


def _renders(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg") if not p.name.startswith(".")}


@pytest.mark.slow
def test_killed_infer_rerun_renders_exactly_the_missing_photos(tmp_path: Path):
    rng = np.random.default_rng(0)
    for i in range(N):
        write_png(tmp_path / f"photos/p{i:02d}.png", rng.random((24, 32, 3)).astype(np.float32))
        write_png(tmp_path / f"maps/p{i:02d}.png", rng.random((24, 32)).astype(np.float32))
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow/sitecustomize.py").write_text(SLOW)
    repo = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-m", "bokehpipe", "--store", str(tmp_path / "store"), "infer", str(tmp_path / "photos"),
            "--method", "scatter", "--depth", str(tmp_path / "maps"), "--out", str(tmp_path / "out")]
    base = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out"
    slow_env = {**base, "PYTHONPATH": os.pathsep.join([str(tmp_path / "slow"), str(repo)])}
    proc = subprocess.Popen(argv, env=slow_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(_renders(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _renders(out)
    assert 3 <= len(kept) < N, "the kill must land mid-folder"
    assert (out / ".bokehpipe-infer.lock").exists()  # the killed run's lock: stale, broken by the rerun

    env = {**base, "PYTHONPATH": str(repo)}
    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"kept {len(kept)} finished render(s)" in rerun.stderr
    assert f"rendered {N - len(kept)} of {N} photo(s)" in rerun.stdout
    after = _renders(out)
    assert sorted(after) == [f"p{i:02d}.jpg" for i in range(N)]
    assert {k: after[k] for k in kept} == kept  # the finished renders were not redone
    assert not [p for p in out.iterdir() if ".tmp" in p.name or p.name.endswith(".lock")]
    import json

    assert len(json.loads((out / "gallery.json").read_text())["entries"]) == N  # kept ones joined the gallery

    again = subprocess.run([*argv, "--overwrite"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and f"rendered {N} of {N} photo(s)" in again.stdout
    assert all(_renders(out)[k] != kept[k] for k in kept)
