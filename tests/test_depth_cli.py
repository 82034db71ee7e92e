"""`bokehpipe depth` and `bokehpipe weights` from the command line: runs, resumes, identity, offline message,
kill -9 midway, torchrun shards, verify, export."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from bokehpipe.data.io import write_jpeg, write_png
from bokehpipe.depth.cache import DepthCache

REPO = Path(__file__).resolve().parent.parent


def make_synth(root: Path, n: int = 5) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        w, h = ((64, 48), (60, 40), (50, 70))[i % 3]
        write_jpeg(root / "Training" / "original" / f"{i}.jpg", rng.random((h, w, 3)))
        write_jpeg(root / "Training" / "bokeh" / f"{i}.jpg", rng.random((h, w, 3)))
        write_png(root / "Training" / "depth" / f"{i}.png", np.tile(np.linspace(0.1, 0.9, w), (h, 1)) * (1 - i / 20),
                  bits=16)
    return root


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)
    env.pop("BOKEHPIPE_STORE", None)
    return env


def _contents(path: Path) -> dict[str, tuple[bytes, dict]]:
    with h5py.File(path, "r") as h5:
        return {k: (h5[k][()].tobytes(), {a: str(v) for a, v in h5[k].attrs.items()}) for k in h5}


def test_help_stays_torch_free():
    code = ("import sys; from click.testing import CliRunner; from bokehpipe.cli import cli\n"
            "for args in (['depth', '--help'], ['depth', 'verify', '--help'], ['depth', 'export', '--help'],"
            " ['weights', 'list', '--help'], ['weights', 'fetch', '--help']):\n"
            "    r = CliRunner().invoke(cli, args); assert r.exit_code == 0, r.output\n"
            "bad = [m for m in ('torch', 'numpy', 'h5py', 'cv2', 'timm') if m in sys.modules]\n"
            "assert not bad, bad\n"
            "print(CliRunner().invoke(cli, ['depth', '--help']).output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert out.returncode == 0, out.stderr
    assert "dpt_hybrid_384 on a GPU, midas_v21_small_256 on a CPU" in " ".join(out.stdout.split())


def test_gt_run_verify_export(run_cli, store_root, tmp_path):
    data = make_synth(tmp_path / "synth")
    r = run_cli("depth", "--data", data, "--split", "train", "--source", "gt")
    assert r.exit_code == 0, r.output
    assert "5 computed, 0 already cached" in r.output and "verify   ok: 5/5" in r.output
    r = run_cli("depth", "--data", data, "--split", "train", "--source", "gt", "--json")
    assert json.loads(r.output)["computed"] == 0 and json.loads(r.output)["skipped"] == 5
    r = run_cli("depth", "verify", "--data", data, "--split", "train", "--source", "gt", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["ok"] is True
    write_png(data / "Training" / "depth" / "2.png", np.zeros((3, 3)), bits=16)
    r = run_cli("depth", "verify", "--data", data, "--split", "train", "--source", "gt")
    assert r.exit_code == 1 and "1 stale" in r.output and "stale: 2" in r.output
    r = run_cli("depth", "export", "--data", data, "--split", "train", "--source", "gt", "--out", tmp_path / "px")
    assert r.exit_code == 0 and sorted(p.name for p in (tmp_path / "px" / "original_depth").iterdir()) == [
        f"{i}.png" for i in range(5)]


def test_png_source_on_a_photo_folder(run_cli, synthetic_photos):
    r = run_cli("depth", "--data", synthetic_photos.root, "--split", "all", "--source", "png")
    assert r.exit_code == 0, r.output
    r = run_cli("depth", "verify", "--data", synthetic_photos.root, "--split", "all", "--source", "png")
    assert r.exit_code == 0 and "verify   ok: 4/4" in r.output


@pytest.fixture(scope="module")
def small_checkpoints(tmp_path_factory):
    """Two random-weights midas_v21_small_256 files in the official format (different sha256)."""
    import torch

    from bokehpipe.depth.model import create_midas

    folder = tmp_path_factory.mktemp("ckpt")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(folder / f"small{seed}.pt")
        torch.save(create_midas("midas_v21_small_256").state_dict(), paths[-1])
    return paths


def test_midas_run_resume_and_identity(run_cli, store_root, tmp_path, small_checkpoints):
    data = make_synth(tmp_path / "synth", n=3)
    first, second = small_checkpoints
    base = ["depth", "--data", data, "--split", "train", "--model", "midas_v21_small_256", "--device", "cpu"]
    r = run_cli(*base, "--weights", first, "--workers", "1", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # progress lines go to stderr
    assert out["computed"] == 3 and out["verify"]["ok"]
    with DepthCache(out["path"]) as cache:
        assert cache.attrs["weights_sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
        assert cache.attrs["model"] == "midas_v21_small_256" and "256x256 upper_bound" in cache.attrs["input_rule"]
        for id_ in cache.ids():  # MiDaS maps are stored at the photo's full decoded size
            w, h = cache.entry_attrs(id_)["image_size"]
            assert cache.read(id_).shape == (h, w)
    r = run_cli(*base, "--weights", first)
    assert r.exit_code == 0 and "0 computed, 3 already cached" in r.output
    r = run_cli(*base, "--weights", second)
    assert r.exit_code == 1
    assert "made by a different depth model/source (weights_sha256" in r.output and "--overwrite" in r.output
    r = run_cli(*base, "--weights", second, "--overwrite")
    assert r.exit_code == 0 and "3 computed" in r.output
    assert DepthCache(out["path"]).attrs["weights_sha256"] == hashlib.sha256(second.read_bytes()).hexdigest()


def test_missing_weights_offline_message_and_nothing_written(run_cli, store_root, tmp_path):
    data = make_synth(tmp_path / "synth", n=2)
    r = run_cli("depth", "--data", data, "--split", "train", "--model", "midas_v21_small_256")
    assert r.exit_code != 0
    expected = store_root / "weights" / "midas_v21_small_256.pt"
    assert "https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21_small_256.pt" in r.output
    assert str(expected) in r.output and "--weights PATH" in r.output
    assert not (store_root / "depth").exists() and not expected.exists()


def _finished_parts(parts: Path) -> list[Path]:
    """Parts moved into place; pathlib's glob also matches a writer's hidden `.<name>.<random>.tmp.h5`."""
    return sorted(p for p in parts.glob("*.h5") if not p.name.startswith("."))


def test_kill_9_midway_then_rerun_completes(bokehpipe_exe, store_root, tmp_path):
    data = make_synth(tmp_path / "synth", n=8)
    args = ["--store", str(store_root), "depth", "--data", str(data), "--split", "train", "--source", "gt",
            "--batch-size", "1"]
    cmd = [*bokehpipe_exe, *args]
    parts = store_root / "depth" / "synth" / "gt" / "train.parts"
    slow = [sys.executable, str(Path(__file__).with_name("slow_depth_cli.py")), "0.3", *args]  # 0.3 s per map
    proc = subprocess.Popen(slow, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(_finished_parts(parts)) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    done = _finished_parts(parts)
    assert 2 <= len(done) < 8 and not (parts.parent / "train.h5").exists()
    for part in done:  # what finished before the kill is a readable cache file
        with DepthCache(part) as cache:
            assert len(cache) == 1 and np.isfinite(cache.read(cache.ids()[0])).all()
    rerun = subprocess.run(cmd + ["--json"], env=_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["skipped"] == len(done) and out["computed"] == 8 - len(done)  # nothing computed twice
    assert out["verify"]["ok"] and out["cached"] == 8 and not parts.exists()
    with DepthCache(out["path"]) as cache:
        assert cache.ids() == [str(i) for i in range(8)]


@pytest.mark.slow
def test_torchrun_two_ranks_equal_one_process(run_cli, store_root, tmp_path):
    data = make_synth(tmp_path / "synth", n=5)
    one = run_cli("depth", "--data", data, "--split", "train", "--source", "gt", "--json")
    single = _contents(Path(json.loads(one.output)["path"]))
    other = tmp_path / "store2"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "bokehpipe",
           "--store", str(other), "depth", "--data", str(data), "--split", "train", "--source", "gt",
           "--batch-size", "1", "--json"]
    res = subprocess.run(cmd, env=_env(OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout[res.stdout.index("{"):])
    assert out["world_size"] == 2 and out["computed"] == 5 and out["verify"]["ok"]
    assert _contents(Path(out["path"])) == single


def test_weights_list_and_fetch(run_cli, store_root, monkeypatch):
    r = run_cli("weights", "list", "--json")
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert rows["dpt_hybrid_384"]["url"].endswith("/v3/dpt_hybrid_384.pt") and not rows["dpt_hybrid_384"]["present"]
    payload = b"not really a checkpoint" * 100

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(payload))}

    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response(payload))
    monkeypatch.delenv("BOKEHPIPE_OFFLINE")  # conftest's default; urlopen is stubbed above
    r = run_cli("weights", "fetch", "dpt_levit_224")
    assert r.exit_code == 0, r.output
    assert hashlib.sha256(payload).hexdigest() in r.output
    assert (store_root / "weights" / "dpt_levit_224.pt").read_bytes() == payload
    rows = {row["name"]: row for row in json.loads(run_cli("weights", "list", "--json", "--hash").output)}
    assert rows["dpt_levit_224"]["present"] and rows["dpt_levit_224"]["measured_sha256"] == hashlib.sha256(
        payload).hexdigest()
    assert run_cli("weights", "fetch", "midas_v99").exit_code != 0
