"""One writer per artefact (issue 13): the lock primitive, and `train` refusing a second process on one run."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bokehpipe.errors import BokehpipeError
from bokehpipe.locks import LockedError, exclusive, is_locked, lock_beside
from bokehpipe.store import ArtifactStore

HOLD = ("import sys, time\nfrom bokehpipe.locks import exclusive\n"
        "with exclusive(sys.argv[1], what='the test folder'):\n    print('held', flush=True)\n    time.sleep(600)\n")


def _holder(lock: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_is_refused_naming_the_first(tmp_path: Path):
    lock = tmp_path / ".x.lock"
    proc = _holder(lock)
    try:
        with pytest.raises(LockedError, match=rf"pid {proc.pid} on {socket.gethostname()}.*is writing the test folder"):
            with exclusive(lock, what="the test folder"):
                pass
        assert is_locked(lock)
    finally:
        proc.kill()
        proc.wait()


def test_kill_9_leaves_a_stale_lock_that_the_next_taker_breaks(tmp_path: Path):
    lock = tmp_path / ".x.lock"
    proc = _holder(lock)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock.exists() and not is_locked(lock)  # the file stays, the kernel dropped its flock
    with exclusive(lock, what="the test folder"):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()  # released on exit


def test_a_dead_pid_on_this_host_is_stale_even_without_its_flock(tmp_path: Path):
    lock = tmp_path / ".x.lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "command": "old"}))
    with exclusive(lock, what="x"):
        pass
    assert not lock.exists()


def test_another_hosts_lock_is_never_broken(tmp_path: Path):
    lock = tmp_path / ".x.lock"
    lock.write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "command": "bokehpipe train"}))
    with pytest.raises(LockedError, match=f"pid 1 on elsewhere.example.*delete {lock}"):
        with exclusive(lock, what="x"):
            pass
    assert lock.exists()


def test_lock_released_on_exception(tmp_path: Path):
    lock = lock_beside(tmp_path / "out")
    with pytest.raises(RuntimeError), exclusive(lock, what="x"):
        raise RuntimeError("boom")
    assert not lock.exists()


def test_over_long_run_name_is_one_line(tmp_path: Path):
    with pytest.raises(BokehpipeError, match="300 bytes long; use at most 100"):
        ArtifactStore(tmp_path).run("r" * 300)


# --- train ---------------------------------------------------------------------------------------------

def _train_args(store: Path, data: Path, run: str, lr: str, steps: int) -> list[str]:
    return [sys.executable, "-m", "bokehpipe", "--store", str(store), "train", "--data", str(data), "--run", run,
            "--no-depth", "--model", "pynet-xs", "--levels", "7", "--crop", "64", "--batch", "2", "--steps",
            str(steps), "--lr", lr, "--val-every", "0", "--log-every", "1", "--checkpoint-every", "5",
            "--workers", "0", "--threads", "1"]


def _rows(run: Path) -> list[dict[str, str]]:
    path = run / "metrics.csv"
    return list(csv.DictReader(path.open())) if path.is_file() else []


@pytest.mark.slow
def test_two_trains_on_one_run_second_stops_at_once(tmp_path: Path):
    from toy_data import write_toy_dataset

    data = write_toy_dataset(tmp_path / "toy", n_train=4, n_val=1, size=(128, 128))
    store = tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = store / "runs" / "r"
    long = 100_000  # the first is still training whenever the second starts; it is stopped by the test
    first = subprocess.Popen(_train_args(store, data, "r", "5e-5", long), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 300
        while len(_rows(run)) < 6 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None and _rows(run), "the first train must be mid-run"
        second = subprocess.run(_train_args(store, data, "r", "0.01", 40), capture_output=True, text=True, env=env,
                                timeout=300)
        assert first.poll() is None, "the second must be refused while the first still runs"
    finally:
        first.kill()
        first.wait()
    assert second.returncode != 0
    lines = [line for line in second.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0] and "is writing the run 'r'" in lines[0], second.stderr
    assert "Traceback" not in second.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["lr"] == 5e-5 and len(config["history"]) == 1  # the second never wrote
    rows = [r for r in _rows(run) if r["kind"] == "train"]
    assert [int(r["step"]) for r in rows] == list(range(1, len(rows) + 1)) and {r["lr"] for r in rows} == {"5e-05"}
    import torch

    ck = torch.load(run / "checkpoints/level7/last.pt", weights_only=True)
    assert ck["step"] % 5 == 0 and 5 <= ck["step"] <= len(rows)  # the first's own checkpoint, whole


def test_train_failing_before_its_first_step_leaves_no_run(tmp_path: Path, run_cli):
    from toy_data import write_toy_dataset

    data = write_toy_dataset(tmp_path / "toy", n_train=2, n_val=1, size=(128, 128))
    for photo in (data / "Training" / "original").glob("*"):  # every training photo unreadable: fails in the loader
        photo.write_bytes(b"not an image")
    store = tmp_path / "store"
    result = run_cli("train", "--data", data, "--run", "bad", "--no-depth", "--model", "pynet-xs", "--levels", "7",
                     "--crop", "64", "--batch", "1", "--steps", "2", "--val-every", "0", "--workers", "0",
                     store=store)
    assert result.exit_code != 0 and "not a readable image" in result.output
    assert not (store / "runs" / "bad").exists()
    assert ArtifactStore(store).list_runs() == []
