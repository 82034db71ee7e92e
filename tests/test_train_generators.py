"""One training loop for every generator: BokehNet (`train --model bokehnet`) gets PyNET's run lock, resume
and truncate-on-resume metrics log, and the one finished rule."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch


def _train_args(store: Path, run: str, steps: int) -> list[str]:
    return [sys.executable, "-m", "bokehpipe", "--store", str(store), "train", "--model", "bokehnet", "--dataset",
            "s", "--run", run, "--steps", str(steps), "--batch", "2", "--crop", "32", "--val-every", "1000",
            "--log-every", "1", "--checkpoint-every", "1", "--threads", "1"]


def _train_steps(run: Path) -> list[int]:
    with (run / "metrics.csv").open() as fh:
        return [int(r["step"]) for r in csv.DictReader(fh) if r["kind"] == "train"]


@pytest.mark.slow
def test_bokehnet_run_is_locked_killed_and_resumed_like_pynet(tmp_path: Path, run_cli, store_root: Path):
    """A second `train --model bokehnet` on a run being trained is refused in one line; after kill -9 the run
    resumes at its last checkpoint's step with metrics.csv cut back to it (one row per step, none twice), and
    only a run that trained all its steps is finished (done.json)."""
    res = run_cli("synth", "s", "--count", "6", "--size", "96x64", "--val-fraction", "0.34", "--workers", "1",
                  "--aperture-range", "0.1,1.2")
    assert res.exit_code == 0, res.output
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = store_root / "runs" / "k"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(_train_args(store_root, "k", 100000), stdout=log, stderr=log, env=env)
        try:
            deadline = time.time() + 300
            while not ((run / "metrics.csv").is_file() and len(_train_steps(run)) >= 3):
                assert first.poll() is None and time.time() < deadline, (tmp_path / "first.log").read_text()
                time.sleep(0.2)
            second = subprocess.run(_train_args(store_root, "k", 100000), capture_output=True, text=True, env=env,
                                    timeout=300)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
    assert second.returncode != 0
    refusal = [line for line in second.stderr.splitlines() if "is writing the run 'k'" in line]
    assert len(refusal) == 1 and refusal[0].startswith("Error: ") and "Traceback" not in second.stderr
    assert not (run / "done.json").exists()

    at_kill = int(torch.load(run / "checkpoints" / "level1" / "last.pt", weights_only=True)["step"])
    assert at_kill >= 3
    resumed = subprocess.run(_train_args(store_root, "k", at_kill + 3), capture_output=True, text=True, env=env,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming level 1 at step {at_kill}" in resumed.stderr
    assert _train_steps(run) == list(range(1, at_kill + 4))  # rows past the checkpoint were dropped, then redone
    assert (run / "done.json").is_file()
    assert torch.load(run / "checkpoints" / "level1" / "last.pt", weights_only=True)["step"] == at_kill + 3


def test_export_writes_into_the_store_and_renders_like_the_run(run_cli, store_root: Path, tmp_path: Path):
    """`bokehnet export` (an alias of `export`) writes <store>/exports/<run>.pt unless --out says otherwise, never
    into the installed package; the file rebuilds the same network the run's checkpoint holds."""
    from bokehpipe.models.checkpoint import SHIPPED_WEIGHTS, read_weights_file, weights_state

    shipped_before = SHIPPED_WEIGHTS["bokehnet"].read_bytes()
    assert run_cli("synth", "s", "--count", "4", "--size", "96x64", "--val-fraction", "0.5", "--workers", "1",
                   "--aperture-range", "0.1,1.2").exit_code == 0
    res = run_cli("bokehnet", "train", "--dataset", "s", "--run", "e", "--steps", "2", "--batch", "2", "--crop", "32",
                  "--val-every", "1", "--threads", "1")
    assert res.exit_code == 0, res.output
    res = run_cli("bokehnet", "export", "--run", "e")
    assert res.exit_code == 0, res.output
    out = store_root / "exports" / "e.pt"
    assert str(out) in res.output and SHIPPED_WEIGHTS["bokehnet"].read_bytes() == shipped_before
    payload = read_weights_file(out)
    best = torch.load(store_root / "runs" / "e" / "checkpoints" / "level1" / "best.pt", weights_only=True)
    assert payload["model"] == "bokehnet" and payload["config"] == {"channels": [16, 32, 64, 96]}
    for key, value in weights_state(payload).items():
        torch.testing.assert_close(value, best["model"][key].half().float())
    assert "synthetic only" in payload["provenance"]["data"]
    missing = run_cli("export", "--run", "nosuch")
    assert missing.exit_code != 0 and "no run 'nosuch'" in missing.output and "e" in missing.output


def test_plateau_ends_a_flat_level_early_and_a_resume_moves_on(run_cli, store_root: Path, monkeypatch):
    """`--plateau N` ends a level whose val PSNR stopped gaining (never before half its steps); its checkpoint
    says the level is done, so a resumed run goes on to the next level instead of re-entering it."""
    import bokehpipe.train.loop as loop

    assert run_cli("synth", "s", "--count", "4", "--size", "96x64", "--val-fraction", "0.5", "--workers", "1",
                   "--aperture-range", "0.1,1.2").exit_code == 0
    monkeypatch.setattr(loop, "PLATEAU_DB", 1e9)  # every validation counts as flat
    args = ["bokehnet", "train", "--dataset", "s", "--run", "p", "--steps", "20", "--batch", "2", "--crop", "32",
            "--val-every", "2", "--log-every", "2", "--threads", "1", "--plateau", "2"]
    res = run_cli(*args)
    assert res.exit_code == 0, res.output
    assert "level 1 ends at step 10 of 20" in res.output  # flat from the 2nd validation on, but half the steps first
    ck = torch.load(store_root / "runs" / "p" / "checkpoints" / "level1" / "last.pt", weights_only=True)
    assert ck["step"] == 10 and ck["level_done"]
    again = run_cli(*args)
    assert again.exit_code == 0 and "nothing left to train" in again.output
    assert (store_root / "runs" / "p" / "done.json").is_file()


def test_a_batch_too_small_for_the_processes_is_refused_before_training(tmp_path: Path, monkeypatch):
    """The paper's schedule on 8 processes: level 1's batch of 5 cannot give each process an image, refused up
    front (not after levels 7..2 trained); levels 4-2 (batches 14, 9, 9) get a note: mostly one image per process."""
    from bokehpipe.errors import BokehpipeError
    from bokehpipe.train.config import TrainConfig
    from bokehpipe.train.plan import check_batches

    cfg = TrainConfig(run="r", data_root="d", dataset="x", depth_source="gt")  # the paper's schedule, 7..1
    with pytest.raises(BokehpipeError, match=r"level 1 \(batch 5\).*at most 5 process"):
        check_batches(cfg, 8)
    assert check_batches(cfg, 1) == []
    notes = check_batches(TrainConfig(run="r", data_root="d", dataset="x", depth_source="gt", levels="7..2"), 8)
    assert len(notes) == 1 and notes[0].startswith("levels 4, 3, 2:")  # batches 14, 9, 9 over 8
    with pytest.raises(BokehpipeError, match="level 4 \\(batch 14\\)"):
        check_batches(TrainConfig(run="r", data_root="d", dataset="x", depth_source="gt", levels="7..4"), 16)
