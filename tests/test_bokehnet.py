"""BokehNet (issue 12): untrained == scatter, the controls move the output the right way (shipped weights, on a
tiny synthetic scene and on a real photo), the shipped file, the training data, `infer`'s default."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bokehpipe.data.io import read_image, read_map, resize, write_jpeg, write_png
from bokehpipe.models import create_model
from bokehpipe.render import render
from bokehpipe.render.learned import SHIPPED_WEIGHTS, load_bokehnet, render_bokehnet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scene(w: int = 192, h: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Textured background (disparity 0) behind a textured near square (disparity 1); returns image, disparity
    and the square's mask."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.1, 0.9, (h, w, 3)).astype(np.float32)
    disp = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), bool)
    mask[h // 4:3 * h // 4, w // 3:2 * w // 3] = True
    disp[mask] = 1.0
    return image, disp, mask


def _detail(out: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute Laplacian inside `region` (eroded, so edges do not count): high = sharp."""
    lap = np.abs(cv2.Laplacian(out.mean(2).astype(np.float32), cv2.CV_32F))
    inner = cv2.erode(region.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    return float(lap[inner].mean())


@pytest.fixture(scope="module")
def shipped():
    return load_bokehnet()[0]


def test_untrained_bokehnet_returns_scatter_exactly():
    torch.manual_seed(0)
    model = create_model("bokehnet").eval()
    image, disp, _ = _scene()
    for focus, aperture in ((1.0, 0.5), (0.0, 1.2), (0.4, 0.1)):
        out = render_bokehnet(image, disp, model, focus=focus, aperture=aperture)
        ref = render(image, disp, "scatter", focus=focus, aperture=aperture)
        np.testing.assert_allclose(out, ref, atol=1e-6)


def test_shipped_weights_load_with_weights_only_and_carry_provenance():
    assert SHIPPED_WEIGHTS.is_file() and SHIPPED_WEIGHTS.stat().st_size < 8e6
    payload = torch.load(SHIPPED_WEIGHTS, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values() if v.is_floating_point())
    prov = payload["provenance"]
    for key in ("pipeline", "git_commit", "dataset", "step", "seed", "train_config"):
        assert key in prov
    model, info = load_bokehnet()
    assert not any(torch.equal(p, torch.zeros_like(p)) for p in model.head.parameters())  # trained, not zero-init
    assert info["path"] == str(SHIPPED_WEIGHTS)


def test_shipped_controls_on_a_synthetic_scene(shipped):
    image, disp, subject = _scene()
    background = ~cv2.dilate(subject.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    sharp = _detail(image, subject)
    near = render_bokehnet(image, disp, shipped, focus=1.0, aperture=0.5)
    # in-focus subject stays sharp, background is blurred
    assert _detail(near, subject) > 0.8 * sharp
    assert _detail(near, background) < 0.3 * _detail(image, background)
    # a larger aperture blurs the background more
    wide = render_bokehnet(image, disp, shipped, focus=1.0, aperture=1.2)
    assert _detail(wide, background) < _detail(near, background)
    # moving the focus to the background moves the sharp region there
    far = render_bokehnet(image, disp, shipped, focus=0.0, aperture=0.5)
    assert _detail(far, background) > 0.8 * _detail(image, background)
    assert _detail(far, subject) < 0.3 * sharp


def test_shipped_controls_on_a_real_photo(shipped, realdata):
    """EBB! train pair 2977 at 768x512 with its disparity: the focus point decides which depth stays sharp."""
    image = resize(read_image(realdata / "ebb" / "Training" / "original" / "2977.jpg"), (768, 512))
    disp = resize(read_map(realdata / "ebb" / "Training" / "depth" / "2977.png"), (768, 512))
    disp = (disp - disp.min()) / (disp.max() - disp.min())
    near, far = disp > np.quantile(disp, 0.9), disp < np.quantile(disp, 0.1)
    yn, xn = np.argwhere(near)[len(np.argwhere(near)) // 2]
    yf, xf = np.argwhere(far)[len(np.argwhere(far)) // 2]
    from bokehpipe.render import focus_at

    f_near, f_far = focus_at(disp, int(xn), int(yn)).disparity, focus_at(disp, int(xf), int(yf)).disparity
    on_near = render_bokehnet(image, disp, shipped, focus=f_near, aperture=0.5)
    on_far = render_bokehnet(image, disp, shipped, focus=f_far, aperture=0.5)
    assert _detail(on_near, near) > _detail(on_far, near)
    assert _detail(on_far, far) > _detail(on_near, far)
    wide = render_bokehnet(image, disp, shipped, focus=f_near, aperture=1.0)
    assert _detail(wide, far) < _detail(on_near, far)
    assert np.isfinite(on_near).all() and on_near.min() >= 0 and on_near.max() <= 1


def test_monocular_like_depth_is_normalised_deterministic_and_degraded():
    from bokehpipe.depth.degrade import monocular_like

    _, disp, _ = _scene(384, 256)
    disp = 0.2 + 0.6 * disp
    a = monocular_like(disp, np.random.default_rng(3))
    b = monocular_like(disp, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.min() == 0.0 and a.max() == pytest.approx(1.0)
    clean = (disp - disp.min()) / (disp.max() - disp.min())
    assert np.abs(a - clean).mean() > 0.01
    np.testing.assert_allclose(monocular_like(disp, np.random.default_rng(3), strength=0), clean, atol=1e-6)


def test_training_examples_hold_each_photo_once_and_read_each_file_once(tmp_path, monkeypatch):
    """Examples of 3 pairs x 3 variants keep 3 photos (not 9) with a per-example index into them, and each
    dataset file is decoded once; a cache from the old layout (a photo per variant) is rebuilt, not misread."""
    import bokehpipe.data.io as io
    from bokehpipe.data.synthetic import write_synthetic_set
    from bokehpipe.train.correction_examples import ExampleRecipe, build_examples, load_or_build

    root = write_synthetic_set(tmp_path / "set", count=4, width=64, height=48, seed=0, val_fraction=0.25,
                               workers=1, aperture_range=(0.1, 1.2))
    reads: list[str] = []
    real_read = io.read_image
    monkeypatch.setattr(io, "read_image", lambda path, *a, **k: reads.append(str(path)) or real_read(path, *a, **k))
    ex = build_examples(root, "train", ExampleRecipe(variants=3))
    assert len(reads) == len(set(reads)) == 6  # 3 inputs + 3 targets, each once
    assert ex.image.shape[0] == ex.target.shape[0] == 3 and len(ex) == ex.scatter.shape[0] == 9
    assert ex.pair.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and ex.ids[::3] == ["0", "1", "2"]
    np.testing.assert_array_equal(ex.image[0], np.round(read_image(root / "Training/original/0.jpg") * 255))
    cache = tmp_path / "train.npz"
    np.savez(cache, key=np.asarray("layout 1"), ids=np.asarray(ex.ids), image=ex.image[ex.pair],
             target=ex.target[ex.pair], scatter=ex.scatter, disparity=ex.disparity, focus=ex.focus,
             aperture=ex.aperture)
    again = load_or_build(cache, root, "train", ExampleRecipe(variants=3))
    assert again.image.shape[0] == 3
    np.testing.assert_array_equal(again.scatter, ex.scatter)
    assert load_or_build(cache, root, "train", ExampleRecipe(variants=3)).pair.tolist() == ex.pair.tolist()


def test_synth_aperture_range_draws_target_apertures_in_range():
    from bokehpipe.data.synthetic import generate_pair

    apertures = [generate_pair(1, i, 96, 64, defects=False, aperture_range=(0.1, 0.6)).meta["aperture"]
                 for i in range(4)]
    assert all(0.1 - 1e-6 <= a <= 0.6 + 1e-6 for a in apertures)
    assert len(set(apertures)) == 4


def test_infer_default_is_bokehnet_with_focus_and_aperture_controls(run_cli, tmp_path):
    image, disp, _ = _scene(160, 96)
    photos, depth = tmp_path / "photos", tmp_path / "depth"
    write_jpeg(photos / "a.jpg", image)
    write_png(depth / "a.png", disp, bits=16)
    res = run_cli("infer", photos, "--depth", depth, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "packaged default bokehnet" in res.output and (tmp_path / "out" / "a.jpg").is_file()
    res = run_cli("infer", photos, "--depth", depth, "--out", tmp_path / "out2", "--focus-at", "80,48",
                  "--aperture", "f/2.8")
    assert res.exit_code == 0, res.output
    res = run_cli("infer", photos, "--depth", depth, "--out", tmp_path / "out3", "--method", "scatter",
                  "--focus-at", "5,5", "--aperture", "0.8")
    assert res.exit_code == 0, res.output
    a, b = read_image(tmp_path / "out2" / "a.jpg"), read_image(tmp_path / "out3" / "a.jpg")
    assert not np.allclose(a, b, atol=0.02)  # focus on the square vs on the background
    res = run_cli("infer", photos, "--depth", depth, "--out", tmp_path / "out4", "--focus", "0.5",
                  "--focus-at", "1,1")
    assert res.exit_code != 0 and "not both" in res.output


@pytest.mark.slow
def test_bokehnet_pipeline_runs_end_to_end_on_a_tiny_budget(run_cli, store_root, tmp_path):
    """pipelines/bokehnet.toml's steps with tiny numbers: synth -> train -> export -> the file renders, and the
    test-set steps score it on a set drawn with another seed."""
    import tomllib

    repo = Path(__file__).resolve().parent.parent
    text = (repo / "pipelines" / "bokehnet.toml").read_text()
    data = tomllib.loads(text)
    tiny = {"count": 6, "size": "96x64", "val-fraction": 0.34, "workers": 1}
    for key, value in tiny.items():
        assert key in data["synth"]
        old = f"{key} = {data['synth'][key]!r}".replace("'", '"')
        text = text.replace(old, f"{key} = {value!r}".replace("'", '"'), 1)
    data_train = data["bokehnet"]["train"]
    for key, value in {"steps": 4, "batch": 2, "crop": 48, "val-every": 2, "log-every": 2, "threads": 1}.items():
        old = f"{key} = {data_train[key]!r}".replace("'", '"')
        text = text.replace(old, f"{key} = {value!r}".replace("'", '"'), 1)
    assert '"--count", "200"' in text
    text = text.replace('"--count", "200"', '"--count", "6"', 1)
    text = text.replace('script = "../studies/', f'script = "{repo / "studies"}/')  # the copy lives elsewhere
    tiny_file = tmp_path / "bokehnet.toml"
    tiny_file.write_text(text)
    assert tomllib.loads(text)["synth"]["count"] == 6 and tomllib.loads(text)["bokehnet"]["train"]["steps"] == 4
    res = run_cli("experiment", tiny_file)
    assert res.exit_code == 0, res.output
    out = store_root / "exports" / "bokehnet.pt"
    model, info = load_bokehnet(out)
    assert info["step"] == 4 and (store_root / "runs" / "bokehnet" / "metrics.csv").is_file()
    rows = (store_root / "runs" / "bokehnet" / "metrics.csv").read_text().splitlines()
    # from scatter, not --init: nothing to score at step 0
    assert rows[0].startswith("level,step,") and not any(r.split(",")[1] == "0" for r in rows[1:])
    summary = json.loads((store_root / "reports" / "eval" / "bn-test" / "summary.json").read_text())
    assert summary["n_images"] == 3 and {"scatter", "bokehnet"} <= set(summary["methods"])
    mono = json.loads((store_root / "reports" / "eval" / "bn-test-mono" / "summary.json").read_text())
    assert mono["depth_source"] == "gt-mono" and mono["focus"] == "metadata, moved onto the estimated maps"
    assert {"scatter", "bokehnet"} <= set(mono["methods"])
    image, disp, _ = _scene(96, 64)
    assert render_bokehnet(image, disp, model, focus=1.0, aperture=0.5).shape == (64, 96, 3)


def test_bokehnet_renderer_tiles_scatter_like_the_classical_renderer(shipped):
    """Large photos: scatter goes through tiles (bounded memory), the network runs at working scale anyway."""
    from bokehpipe.render.learned import BokehNetRenderer
    from bokehpipe.render.tiling import TilePolicy

    image, disp, _ = _scene(192, 128)
    whole = BokehNetRenderer(shipped, focus=1.0, aperture=0.5).render_one(image, disp)
    tiled_r = BokehNetRenderer(shipped, focus=1.0, aperture=0.5, tiles=TilePolicy(max_pixels=80 * 80))
    tiled = tiled_r.render_one(image, disp)
    assert tiled_r.tiled_count == 1
    assert np.abs(tiled - whole).max() < 0.02


def test_bokehnet_renderer_takes_a_half_size_map_like_the_classical_renderer(shipped):
    """Maps arrive at their stored size (a PyNET-Bokeh map is half the photo's size): the default renderer brings
    them to the photo's size the one way (`fit_to_photo`), with auto-focus and with a focus point."""
    from bokehpipe.data.disparity import fit_to_photo
    from bokehpipe.render.learned import BokehNetRenderer

    image, disp, _ = _scene(192, 128)
    half = disp[::2, ::2].copy()
    for kw in ({}, {"focus_point": (96, 64)}):
        r = BokehNetRenderer(shipped, aperture=0.5, **kw)
        out = r.render_one(image, half)
        assert out.shape == image.shape
        np.testing.assert_array_equal(out, r.render_one(image, fit_to_photo(half, image.shape)))


def test_a_bokehnet_photo_fits_its_half_size_map_once_for_the_render_and_the_saved_map(shipped, tmp_path,
                                                                                     monkeypatch):
    """The job runner fits a stored-size map to the photo once; scatter, the focus rule, the network's view and the
    saved depth PNG all use that one fit, and the runner reports the focus the renderer chose."""
    import bokehpipe.data.disparity as disparity
    from bokehpipe.infer.depth_inputs import DirDepth
    from bokehpipe.infer.engine import run_jobs
    from bokehpipe.infer.files import find_inputs, plan_jobs
    from bokehpipe.render.learned import BokehNetRenderer

    image, disp, _ = _scene(192, 128)
    write_png(tmp_path / "in" / "a.png", image)
    write_png(tmp_path / "depth" / "a.png", disp[::2, ::2].copy(), bits=16)
    fits: list[tuple[int, ...]] = []
    real = disparity.resize

    def counting(arr, size, *args, **kwargs):
        fits.append(np.shape(arr))
        return real(arr, size, *args, **kwargs)

    monkeypatch.setattr(disparity, "resize", counting)  # the resize inside fit_to_photo, wherever it is called
    jobs = plan_jobs(find_inputs(tmp_path / "in"), tmp_path / "in", tmp_path / "out")
    [done] = run_jobs(jobs, BokehNetRenderer(shipped, focus_point=(96, 64)), DirDepth(tmp_path / "depth"))
    assert done.ok and fits == [(64, 96)]
    assert done.focus is not None and done.focus.reason == "the point (96, 64)" and done.focus.disparity > 0.9
    assert read_map(tmp_path / "out" / "a.depth.png").shape == (128, 192)


def test_classical_focus_point_reads_a_half_size_map_at_photo_coordinates():
    """`--focus-at X,Y` is in photo pixels: with a half-size map the classical renderer must look the point up
    after bringing the map to the photo's size (a point in the photo's right half lies outside the half map)."""
    from bokehpipe.data.disparity import fit_to_photo
    from bokehpipe.render.classical import ClassicalRenderer

    image, disp, _ = _scene(192, 128)
    half = disp[::2, ::2].copy()
    r = ClassicalRenderer("scatter", aperture=0.5, focus_point=(150, 100))
    out = r.render_one(image, half)
    np.testing.assert_array_equal(out, r.render_one(image, fit_to_photo(half, image.shape)))


def test_a_run_checkpoint_is_not_taken_for_the_weights_file(tmp_path):
    """Run checkpoints (model + optimizer, for resuming) and exported weights (fp16 state_dict + provenance) are
    different layouts with different format tags: loading one as the other is one clear error, not a KeyError."""
    from bokehpipe.errors import BokehpipeError
    from bokehpipe.models.bokehnet import BokehNet
    from bokehpipe.models.checkpoint import FORMAT

    run_ck = tmp_path / "last.pt"
    torch.save({"format": FORMAT, "model": BokehNet().state_dict(), "step": 1}, run_ck)
    with pytest.raises(BokehpipeError, match="last.pt"):
        load_bokehnet(run_ck)


def _zero_head_export(path: Path) -> Path:
    """A 'retrained' BokehNet file: the shipped one with its last layer zeroed, i.e. exactly scatter."""
    import torch

    from bokehpipe.render.learned import SHIPPED_WEIGHTS

    payload = torch.load(SHIPPED_WEIGHTS, weights_only=True)
    payload["state_dict"] = {k: (torch.zeros_like(v) if k.startswith("head.") else v)
                             for k, v in payload["state_dict"].items()}
    payload["provenance"] = {**payload["provenance"], "run": "zero-head", "step": 0}
    torch.save(payload, path)
    return path


def test_infer_and_eval_take_a_retrained_bokehnet_file(run_cli, tmp_path, store_root):
    """`infer --checkpoint F` and `eval --bokehnet-weights F` use an exported BokehNet instead of the shipped
    one: a zero-head file renders exactly what scatter renders, and eval records which file it scored."""
    weights = _zero_head_export(tmp_path / "zero.pt")
    image, disp, _ = _scene(160, 96)
    photos, depth = tmp_path / "photos", tmp_path / "depth"
    write_jpeg(photos / "a.jpg", image)
    write_png(depth / "a.png", disp, bits=16)
    outs = {}
    models = (("retrained", ["--checkpoint", weights]), ("scatter", ["--method", "scatter"]), ("default", []))
    for name, extra in models:
        res = run_cli("infer", photos, "--depth", depth, "--out", tmp_path / name, "--focus", "0.9", *extra)
        assert res.exit_code == 0, res.output
        outs[name] = read_image(tmp_path / name / "a.jpg")
    assert "BokehNet weights" in run_cli("infer", photos, "--depth", depth, "--out", tmp_path / "again",
                                         "--checkpoint", weights).output
    np.testing.assert_allclose(outs["retrained"], outs["scatter"], atol=1.5 / 255)
    assert np.abs(outs["default"] - outs["scatter"]).max() > 2 / 255  # the shipped correction is not zero

    for argv in (["synth", "t", "--count", "4", "--size", "96x64", "--seed", "2", "--val-fraction", "0.5",
                  "--workers", "1"], ["depth", "--dataset", "t", "--split", "val", "--source", "gt"],
                 ["eval", "--dataset", "t", "--split", "val", "--depth-source", "gt", "--baselines",
                  "scatter,bokehnet", "--bokehnet-weights", str(weights), "--tag", "zero"]):
        res = run_cli(*argv)
        assert res.exit_code == 0, res.output
    summary = json.loads((store_root / "reports" / "eval" / "zero" / "summary.json").read_text())
    assert summary["methods"]["bokehnet"]["info"]["path"] == str(weights)
    assert summary["methods"]["bokehnet"]["metrics"]["psnr"] == pytest.approx(
        summary["methods"]["scatter"]["metrics"]["psnr"], abs=1e-6)
    bad = run_cli("eval", "--dataset", "t", "--split", "val", "--depth-source", "gt", "--baselines", "scatter",
                  "--bokehnet-weights", str(weights))
    assert bad.exit_code != 0 and "needs bokehnet among --baselines" in bad.output
