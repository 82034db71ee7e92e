"""The rehearsal benchmark (studies/rehearsal.py) at a tiny size: every phase runs, is measured, and the paper's
schedule is projected onto one GPU from counted FLOPs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_tiny_rehearsal_measures_every_phase(tmp_path: Path):
    out = tmp_path / "rehearsal.json"
    cmd = [sys.executable, str(REPO / "studies" / "rehearsal.py"), "--store", str(tmp_path / "store"),
           "--dataset", "tiny", "--count", "10", "--size", "256x192", "--model", "pynet-xs", "--crop", "64",
           "--batch", "2", "--steps", "1", "--levels", "2..1", "--val-max", "1", "--loader-samples", "3",
           "--workers", "1", "--threads", "1", "--json", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "paper schedule on one GPU" in done.stdout
    r = json.loads(out.read_text())
    phases = r["phases"]
    for name in ("synth", "depth-train", "depth-val", "midas", "prepare-train", "loader-rate-L1", "train-L2",
                 "train-L1", "resume-killed", "resume-again", "ddp", "loader-memory-7s-7i"):
        assert phases[name]["wall_s"] > 0 and phases[name]["peak_rss_mb"] > 50, name
    assert phases["resume-killed"]["killed"] and r["resume"]["final_step"] == r["resume"]["planned_steps"] == 3
    # killed once its first checkpoint exists: on a loaded machine a second step may land before the kill
    resumed_at = re.search(r"resuming level 7 at step (\d+)", r["resume"]["said"][0])
    assert resumed_at and 1 <= int(resumed_at.group(1)) < r["resume"]["planned_steps"], r["resume"]["said"]
    assert phases["ddp"]["ddp"] == {"world_size": 2, "max_param_divergence": 0.0}
    assert r["train"]["1"]["checkpoint_mb"] > 1 and r["train"]["1"]["step_images_per_s"] > 0
    loader = r["loader"]["1"]
    assert loader["decoded_per_s"] > 0 and loader["prepared_per_s"] > 0
    assert loader["decoded_bytes_per_sample"] == 64 * 64 * 3 + 64 * 64 * 2 + 128 * 128 * 3  # uint8 + float16
    levels = r["projection"]["levels"]
    assert levels["1"]["tflop_per_image"] > levels["2"]["tflop_per_image"] > 0  # the VGG-19 term at level 1
    projection = r["projection"]
    assert 0 < projection["gpu_hours"] <= projection["hours_prepared"] and "MFU" in projection["assumptions"]
    assert projection["hours_decoding"] >= projection["gpu_hours"]
    assert r["depth_cache"]["read"]["maps_per_s"] > 0
    assert not out.with_name(out.name + ".partial").exists()
