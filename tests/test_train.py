"""`bokehpipe train`: a run folder with sourced config, metrics and loadable checkpoints; level chaining;
resume/compatibility rules; one-line errors that leave the run folder as it was; loss falls on a tiny batch."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import h5py
import pytest
import torch
from toy_data import write_toy_dataset

from bokehpipe.losses import level_loss
from bokehpipe.models import create_model
from bokehpipe.models.checkpoint import find_checkpoint, load_for_inference, read_checkpoint
from bokehpipe.train.config import TrainConfig, parse_levels

BASE = ("--model", "pynet-xs", "--crop", "64", "--val-split", "val", "--val-every", "2", "--log-every", "1",
        "--workers", "0", "--threads", "1")
FAST = (*BASE, "--batch", "2", "--steps", "2")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "toy", n_train=4, n_val=2, size=(192, 192))


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def error_lines(output: str) -> list[str]:
    assert "Traceback" not in output
    return [ln for ln in output.splitlines() if ln.startswith("Error:")]


def test_loss_falls_on_a_fixed_tiny_batch():
    torch.manual_seed(0)
    model = create_model("pynet-xs", in_chans=4)
    x = torch.rand(2, 4, 64, 64)
    target = torch.nn.functional.avg_pool2d(x[:, :3], 4) * 0.8 + 0.1  # level 4: a quarter of the input size
    opt = torch.optim.Adam([p for _, p in model.level_parameters(4)], lr=1e-3)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss, _ = level_loss(4, model(x, 4), target)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_config_validation():
    assert parse_levels("7..3") == (7, 6, 5, 4, 3) and parse_levels("2") == (2,)
    base = dict(run="r", data_root="d", dataset="d", depth_source="gt")
    with pytest.raises(Exception, match="coarse level first"):
        parse_levels("3..7")
    with pytest.raises(Exception, match="multiple of 32"):
        TrainConfig(**base, crop=100)
    with pytest.raises(Exception, match="needs --depth-source"):
        TrainConfig(run="r", data_root="d", dataset="d")
    with pytest.raises(Exception, match="fp16 needs a CUDA device"):
        TrainConfig(**base, precision="fp16")
    cfg = TrainConfig(**base, levels="3..1")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_run_folder_config_metrics_and_checkpoints(toy: Path, run_cli, store_root: Path, tmp_path: Path):
    pipeline = tmp_path / "p.toml"
    pipeline.write_text('[train]\nlr = 2e-4\nlevels = "7..6"\n'
                        '[train.schedule]\n7 = { batch = 2, steps = 3 }\n6 = { batch = 3, steps = 2, crop = 96 }\n')
    res = run_cli("--pipeline", pipeline, "train", "--data", toy, "--run", "r1", "--no-depth", *BASE)
    assert res.exit_code == 0, res.output
    run = store_root / "runs" / "r1"
    config = json.loads((run / "config.json").read_text())
    assert config["sources"]["lr"] == {"value": 2e-4, "source": "pipeline"}
    assert config["sources"]["levels"]["source"] == "pipeline"
    assert config["sources"]["crop"] == {"value": 64, "source": "commandline"}
    assert config["sources"]["precision"]["source"] == "default"
    assert config["config"]["schedule"]["7"]["steps"] == 3 and config["config"]["lr"] == 2e-4
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [(r["level"], r["step"], r["kind"]) for r in rows if r["kind"] == "train"] == [
        ("7", "1", "train"), ("7", "2", "train"), ("7", "3", "train"), ("6", "1", "train"), ("6", "2", "train")]
    val = [r for r in rows if r["kind"] == "val"]
    assert {r["level"] for r in val} == {"7", "6"} and all(float(r["val_psnr"]) > 5 for r in val)
    assert all(float(r["val_psnr_identity"]) > 10 for r in val) and rows[0]["lr"] == "0.0002"
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert all(float(r["cpu_s"]) > 0 and float(r["elapsed_s"]) > 0 for r in train_rows)
    assert config["history"][-1]["threads"] == 1  # BASE asks for one
    ck = torch.load(run / "checkpoints" / "level6" / "last.pt", weights_only=True)
    assert ck["level"] == 6 and ck["step"] == 2 and ck["config"]["with_depth"] is False
    assert ck["config"]["schedule"]["6"] == {"batch": 3, "steps": 2, "crop": 96, "lr": None}
    assert set(ck) >= {"model", "optimizer", "scaler", "rng", "config", "info", "step", "level"}
    assert find_checkpoint(run) == run / "checkpoints" / "level6" / "best.pt"
    model, record = load_for_inference(run)
    assert (record.model, record.in_chans, record.with_depth, record.level) == ("pynet-xs", 3, False, 6)
    assert record.model_kwargs == {"in_chans": 3, "width": 0.25}
    assert not model.training and model(torch.rand(1, 3, 64, 64), 6).shape == (1, 3, 4, 4)


def _train(run_cli, toy: Path, run: str, *extra: str, depth: bool = False):
    depth_args = ("--depth-source", "gt") if depth else ("--no-depth",)
    return run_cli("train", "--data", toy, "--run", run, *depth_args, *FAST, *extra)


def test_resume_rules_leave_the_run_folder_untouched(toy: Path, run_cli, store_root: Path):
    assert _train(run_cli, toy, "r", "--levels", "7..6").exit_code == 0
    run = store_root / "runs" / "r"
    before = snapshot(run)
    res = _train(run_cli, toy, "r", "--levels", "7..6")  # --resume auto on a finished run
    assert res.exit_code == 0 and "nothing left to train" in res.output and snapshot(run) == before
    wrong_model = "checkpoint is model pynet-xs width 0.25 with 3 input channels but this run asks for model pynet-s"
    for extra, message in ((("--model", "pynet-s", "--levels", "7..6"), wrong_model),
                           (("--levels", "4..3"), "checkpoint is at level 6, which --levels 4..3 can neither "
                                                  "continue nor follow"),
                           (("--levels", "7..6", "--resume", "never"), "run already holds checkpoints")):
        res = _train(run_cli, toy, "r", *extra)
        assert res.exit_code == 1
        assert len(error_lines(res.output)) == 1 and message in res.output, res.output
        assert snapshot(run) == before
    # the next level follows the finished one, in the same run
    res = _train(run_cli, toy, "r", "--levels", "5")
    assert res.exit_code == 0 and "level 6 finished (2 steps); level 5 starts from" in res.output
    ck5 = read_checkpoint(run / "checkpoints" / "level5" / "last.pt")
    ck6 = read_checkpoint(run / "checkpoints" / "level6" / "last.pt")
    assert torch.equal(ck5["model"]["l7_head.weight"], ck6["model"]["l7_head.weight"])  # unused by level 5
    assert not torch.equal(ck5["model"]["enc3.branches.0.0.0.weight"], ck6["model"]["enc3.branches.0.0.0.weight"])
    levels = [r["level"] for r in csv.DictReader((run / "metrics.csv").open())]
    assert levels.index("5") > levels.index("6") > levels.index("7")


def test_level_one_needs_vgg_weights_or_no_perceptual(toy: Path, run_cli, store_root: Path):
    res = _train(run_cli, toy, "v", "--levels", "1", "--perceptual")  # on a CPU the default is the demo's: off
    assert res.exit_code == 1
    [line] = error_lines(res.output)
    assert "vgg19-dcbb9e9d.pth" in line and "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in line
    assert "bokehpipe weights fetch vgg19" in line and "--no-perceptual" in line
    assert not (store_root / "runs" / "v").exists()
    res = _train(run_cli, toy, "v", "--levels", "1", "--no-perceptual")
    assert res.exit_code == 0, res.output
    config = json.loads((store_root / "runs" / "v" / "config.json").read_text())
    assert config["config"]["perceptual"] is False
    assert config["sources"]["perceptual"] == {"value": False, "source": "commandline"}
    rows = [r for r in csv.DictReader((store_root / "runs" / "v" / "metrics.csv").open()) if r["kind"] == "train"]
    assert rows and all(r["content"] == "" and 0 < float(r["ssim"]) < 1 for r in rows)


def test_depth_cache_training_and_missing_ids(toy: Path, run_cli, store_root: Path):
    for split in ("train", "val"):
        assert run_cli("depth", "--data", toy, "--split", split, "--source", "gt").exit_code == 0
    res = _train(run_cli, toy, "d", "--levels", "7", depth=True)
    assert res.exit_code == 0, res.output
    _, record = load_for_inference(store_root / "runs" / "d")
    assert record.in_chans == 4 and record.with_depth and record.depth_source == "gt"
    cache = store_root / "depth" / toy.name / "gt" / "train.h5"
    with h5py.File(cache, "a") as h5:
        del h5["1"]
    res = _train(run_cli, toy, "d2", "--levels", "7", depth=True)
    assert res.exit_code == 1
    [line] = error_lines(res.output)
    assert f"{cache}: depth cache lacks 1 of 4 ids (1)" in line
    res = _train(run_cli, toy, "d2", "--levels", "7", "--depth-source", "midas_v21_small_256", depth=True)
    assert res.exit_code == 1 and len(error_lines(res.output)) == 1 and "bokehpipe depth" in res.output
    assert not (store_root / "runs" / "d2").exists()


def test_unreadable_file_stops_with_one_line_and_a_sound_run_folder(tmp_path: Path, run_cli, store_root: Path):
    root = write_toy_dataset(tmp_path / "bad", n_train=2, n_val=1, size=(128, 128))
    bad = root / "Training" / "bokeh" / "1.png"
    bad.write_bytes(b"")
    res = run_cli("train", "--data", root, "--run", "b", "--no-depth", *FAST, "--levels", "7", "--workers", "1")
    assert res.exit_code == 1
    [line] = error_lines(res.output)
    assert line == f"Error: {bad}: empty file (0 bytes); re-copy or re-download it"
    run = store_root / "runs" / "b"
    # failed before its first step: no run folder is left for later commands to list (issue 13)
    assert not run.exists() and not list((store_root / "runs").glob(".*tmp*"))
