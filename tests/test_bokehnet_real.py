"""BokehNet on real pairs (issue 12): a set without per-image focus/aperture (EBB!, VABD) becomes training examples
exactly as the shipped renderer meets a photo, and `bokehnet train --init default` fine-tunes the shipped weights
on it, choosing the checkpoint (the starting weights included) on the held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bokehpipe.data.io import write_jpeg, write_png

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _real_set(root: Path, sizes: dict[str, tuple[int, int]], splits: dict[str, list[str]]) -> Path:
    """A plain-layout paired set ({input,target,depth}/ + splits.json) of textured scenes: a near square
    (disparity 1) in front of a far background (0); the target is the input slightly brightened and
    blurred, like a real f/1.8 shot, so there is something to learn."""
    for i, (name, (w, h)) in enumerate(sizes.items()):
        rng = np.random.default_rng(i)
        image = rng.uniform(0.1, 0.9, (h, w, 3)).astype(np.float32)
        disp = np.zeros((h, w), np.float32)
        disp[h // 4:3 * h // 4, w // 3:2 * w // 3] = 1.0
        target = np.clip(cv2.GaussianBlur(image, (0, 0), 2.0) * 1.05, 0, 1)
        write_jpeg(root / "input" / f"{name}.jpg", image)
        write_jpeg(root / "target" / f"{name}.jpg", target)
        write_png(root / "depth" / f"{name}.png", disp, bits=16)
    (root / "splits.json").write_text(json.dumps(splits))
    return root


def _depth_caches(run_cli, root: Path, splits) -> None:
    for split in splits:
        res = run_cli("depth", "--data", root, "--split", split, "--source", "gt")
        assert res.exit_code == 0, res.output


def test_real_examples_are_what_the_renderer_meets_at_inference(tmp_path, run_cli, store_root):
    """Each example holds what `render.learned.correct` hands the network for the whole photo (to the uint8 /
    float16 rounding of the cache): the fitted map, the auto-focus, f/1.8's aperture, scatter at full size, then
    the working-size shrink. Pairs of a less common working size (portrait, another aspect ratio) are left out
    and named, whatever their place in the split."""
    from bokehpipe.render import choose_focus, render
    from bokehpipe.render.calibration import aperture_for_f_number
    from bokehpipe.render.learned import working_size
    from bokehpipe.report.photos import load_photo
    from bokehpipe.store import ArtifactStore
    from bokehpipe.train.correction_examples import RealSet, build_real_examples

    root = _real_set(tmp_path / "real", {"tall": (320, 480), "a": (480, 320), "wide": (512, 256), "b": (480, 320)},
                     {"train": ["tall", "a", "wide", "b"], "val": ["a"]})
    _depth_caches(run_cli, root, ["train"])
    cache = ArtifactStore(store_root).depth_cache("real", "gt", "train")
    ex = build_real_examples(root, "train", RealSet(f_number=1.8, caches=(("train", str(cache)),)))
    assert ex.ids == ["a", "b"] and ex.left_out == ["tall", "wide"]
    wn, hn = working_size(480, 320)
    assert ex.image.shape == (2, hn, wn, 3) and ex.disparity.shape == (2, hn, wn)
    np.testing.assert_allclose(ex.aperture, aperture_for_f_number(1.8))
    for i, name in enumerate(ex.ids):
        image, disp = load_photo(root / "input" / f"{name}.jpg", root / "depth" / f"{name}.png")
        focus = choose_focus(image, disp).disparity
        scatter = render(image, disp, "scatter", focus=focus, aperture=aperture_for_f_number(1.8))
        size = working_size(image.shape[1], image.shape[0])
        assert ex.focus[i] == pytest.approx(focus, abs=1e-6)
        # what inference computes, with cv2 directly (area when shrinking, as correct() does)
        for got, full in ((ex.image[i], image), (ex.scatter[i], scatter)):
            want = cv2.resize(full, size, interpolation=cv2.INTER_AREA)
            assert np.abs(got / 255.0 - want).max() <= 0.5 / 255 + 1e-6
        want = cv2.resize(disp, size, interpolation=cv2.INTER_AREA)
        assert np.abs(ex.disparity[i].astype(np.float32) - want).max() < 1e-3


def test_bokehnet_fine_tunes_the_shipped_weights_on_a_real_set(tmp_path, run_cli, store_root):
    """`bokehnet train --data REAL --init default`: scored at step 0 (the starting weights are the checkpoint to
    beat), trained from them (not from scatter), its config and export say which real pairs it has seen."""
    from bokehpipe.render.learned import SHIPPED_WEIGHTS, load_bokehnet

    root = _real_set(tmp_path / "real", {str(i): (256, 160) for i in range(4)}, {"train": ["0", "1", "2"],
                                                                                    "val": ["3"]})
    bad = run_cli("bokehnet", "train", "--data", root, "--run", "ft", "--init", "default", "--steps", "2")
    assert bad.exit_code != 0 and "bokehpipe depth" in bad.output  # no depth cache yet: says how to make one
    assert "--no-depth" not in bad.output  # PyNET's `train` option, not this command's
    _depth_caches(run_cli, root, ["train"])
    too_narrow = run_cli("bokehnet", "train", "--data", root, "--run", "ft", "--f-number", "16", "--steps", "2")
    assert too_narrow.exit_code != 0 and "f/16" in too_narrow.output
    args = ["bokehnet", "train", "--data", root, "--run", "ft", "--init", "default", "--batch", "2", "--crop",
            "48", "--val-every", "3", "--log-every", "1", "--threads", "1", "--lr", "0.01"]
    res = run_cli(*args, "--steps", "3")
    assert res.exit_code == 0, res.output
    assert "auto-focus and f/1.8" in res.output and "level 1 step 0: val PSNR" in res.output
    assert "depth cache for validation split 'val' was missing: made it" in res.output
    run = store_root / "runs" / "ft"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["examples"]["real"]["f_number"] == 1.8 and cfg["config"]["depth_source"] == "gt"
    assert cfg["config"]["val_split"] == "val"
    assert {split for split, _ in cfg["examples"]["real"]["caches"]} == {"train", "val"}
    assert cfg["init_weights"]["path"] == str(SHIPPED_WEIGHTS)
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[1].startswith("1,0,val,")
    shipped = load_bokehnet()[0].state_dict()
    last = torch.load(run / "checkpoints" / "level1" / "last.pt", weights_only=True)["model"]
    changed = [k for k in shipped if not torch.allclose(shipped[k], last[k])]
    assert changed and set(shipped) == set(last)  # started from the shipped weights, then trained

    resumed = run_cli(*args, "--steps", "4")  # continues last.pt: the init file is neither reloaded nor rescored
    assert resumed.exit_code == 0, resumed.output
    assert "resuming level 1 at step 3" in resumed.output and "step 0:" not in resumed.output
    assert json.loads((run / "config.json").read_text())["init_weights"] == cfg["init_weights"]
    assert sum(r.startswith("1,0,val,") for r in (run / "metrics.csv").read_text().splitlines()) == 1

    out = tmp_path / "ft.pt"
    assert run_cli("bokehnet", "export", "--run", "ft", "--out", out).exit_code == 0
    info = load_bokehnet(out)[1]
    if info["step"] == 0:  # no step beat the shipped weights on val: the export says it is them, unchanged
        assert info["data"].startswith("the --init weights unchanged")
    else:
        assert info["data"].startswith("real pairs: real split train") and "started from" in info["data"]
        assert "checkpoint chosen on split val" in info["data"]
    assert run_cli("bokehnet", "export", "--run", "ft", "--out", out, "--which", "last").exit_code == 0
    info = load_bokehnet(out)[1]
    assert info["step"] == 4 and info["checkpoint"] == "last" and "no selection" in info["data"]
    assert info["dataset"] == "real" and "best_val_psnr_of_run" in info


def test_real_only_options_are_refused_on_a_synthetic_set(run_cli):
    for argv in (["synth", "s", "--count", "4", "--size", "96x64", "--val-fraction", "0.5", "--workers", "1",
                  "--aperture-range", "0.1,1.2"],):
        assert run_cli(*argv).exit_code == 0
    res = run_cli("bokehnet", "train", "--dataset", "s", "--run", "x", "--f-number", "2.8", "--steps", "1")
    assert res.exit_code != 0 and "for real sets" in res.output


@pytest.mark.slow
def test_bokehnet_ebb_pipeline_runs_end_to_end_on_a_tiny_real_set(tmp_path, run_cli, store_root, monkeypatch):
    """pipelines/bokehnet_ebb.toml's steps on a tiny set laid out as EBB/ (its own maps in place of MiDaS, tiny
    numbers): depth -> fine-tune from the shipped weights -> export of the last step -> eval on val294."""
    import tomllib

    from bokehpipe.render.learned import load_bokehnet

    repo = Path(__file__).resolve().parent.parent
    text = (repo / "pipelines" / "bokehnet_ebb.toml").read_text()
    root = _real_set(tmp_path / "EBB", {str(i): (256, 160) for i in range(5)},
                     {"train": ["0", "1", "2"], "val294": ["3", "4"]})
    swaps = {'"--model", "dpt_hybrid_384"': '"--source", "gt"', "/dpt_hybrid_384/": "/gt/",
             '"dpt_hybrid_384"': '"gt"', '"--data", "EBB"': f'"--data", "{root}"', "steps = 6000": "steps = 3",
             "batch = 16": "batch = 2", 'crop = 128': 'crop = 48', "val-every = 500": "val-every = 3",
             "log-every = 50": "log-every = 1"}
    for old, new in swaps.items():
        assert old in text, old
        text = text.replace(old, new)
    tiny = tmp_path / "bokehnet_ebb.toml"
    tiny.write_text(text)
    assert tomllib.loads(text)["bokehnet"]["train"]["init"] == "default"
    monkeypatch.chdir(tmp_path)
    res = run_cli("experiment", tiny)
    assert res.exit_code == 0, res.output
    info = load_bokehnet(store_root / "exports" / "bokehnet-ebb.pt")[1]
    assert info["step"] == 3 and info["checkpoint"] == "last" and info["dataset"] == "EBB"
    assert "bokehnet_ebb" in info["pipeline"] and "no selection (split val294" in info["data"]
    summary = json.loads((store_root / "reports" / "eval" / "bn-ebb-val294" / "summary.json").read_text())
    assert summary["n_images"] == 2 and {"identity", "scatter", "bokehnet"} <= set(summary["methods"])
    assert summary["methods"]["bokehnet"]["info"]["path"].endswith("bokehnet-ebb.pt")
