"""Resume after SIGKILL: a run killed mid-level and resumed with `--resume auto` ends with bit-identical
weights, optimiser state and training losses to an uninterrupted run (deterministic CPU settings)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from toy_data import write_toy_dataset

STEPS = 10
KILL_AT = 3  # level-6 step after which the run is killed


def _args(exe: list[str], store: Path, data: Path, run: str) -> list[str]:
    return [*exe, "--store", str(store), "train", "--data", str(data), "--run", run, "--no-depth",
            "--model", "pynet-xs", "--levels", "7..6", "--crop", "64", "--batch", "2", "--steps", str(STEPS),
            "--val-split", "val", "--val-every", "4", "--log-every", "1", "--checkpoint-every", "1",
            "--workers", "0", "--threads", "1", "--deterministic"]


def _rows(run: Path) -> list[dict[str, str]]:
    path = run / "metrics.csv"
    return list(csv.DictReader(path.open())) if path.is_file() else []


def _losses(run: Path) -> list[tuple[str, str, str, str]]:
    return [(r["level"], r["step"], r["kind"], r["loss"] or r["val_psnr"]) for r in _rows(run)]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path: Path, bokehpipe_exe: list[str]):
    data = write_toy_dataset(tmp_path / "toy", n_train=6, n_val=2, size=(128, 128))
    store = tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = subprocess.run(_args(bokehpipe_exe, store, data, "full"), capture_output=True, text=True, env=env,
                          timeout=600)
    assert full.returncode == 0, full.stderr[-2000:]

    killed_run = store / "runs" / "killed"
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(_args(bokehpipe_exe, store, data, "killed"), stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if any(r["level"] == "6" and r["step"] == str(KILL_AT) for r in _rows(killed_run)):
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    last6 = killed_run / "checkpoints" / "level6" / "last.pt"
    step_at_kill = torch.load(last6, weights_only=True)["step"]
    assert 1 <= step_at_kill < STEPS, "the kill must land in the middle of level 6"

    resumed = subprocess.run(_args(bokehpipe_exe, store, data, "killed") + ["--resume", "auto"],
                             capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming level 6 at step {step_at_kill}" in resumed.stderr

    a = torch.load(store / "runs" / "full" / "checkpoints" / "level6" / "last.pt", weights_only=True)
    b = torch.load(last6, weights_only=True)
    assert a["step"] == b["step"] == STEPS
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for pid, state in a["optimizer"]["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(state[name], b["optimizer"]["state"][pid][name])
    assert _losses(store / "runs" / "full") == _losses(killed_run)  # metrics.csv describes the same run
    assert not list(killed_run.rglob(".*tmp*"))  # temp files of the write the kill cut short are gone
