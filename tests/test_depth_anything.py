"""Depth Anything V2 on timm: every variant's state_dict equals the released format after the filter, a file in
that format loads strictly and predicts, the preprocessing is the official recipe, the heads end as the official
ones do, metric maps keep their scale in the cache, and (where the official code is importable) the output equals
the official implementation's for the same weights and photo."""

from __future__ import annotations

import functools
import gzip
import json
import os
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from bokehpipe import weights as registry
from bokehpipe.data.disparity import normalise
from bokehpipe.depth.model import checkpoint_filter_fn, create_midas, load_midas, load_state, predict, predict_raw
from bokehpipe.depth.transforms import (
    METRIC_NORMALISATION,
    depth_metres,
    network_size,
    prepare,
    resize_prediction,
    to_inverse_depth,
)
from bokehpipe.depth.variants import VARIANTS, get_variant

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parent.parent
FORMATS = Path(__file__).resolve().parent / "data" / "depth_anything_formats.json.gz"  # see tests/data/README.md
NAMES = [n for n, v in VARIANTS.items() if v.arch == "depth_anything"]
SMALL = ("depth_anything_v2_vits", "depth_anything_v2_metric_hypersim_vits")  # same keys, other head
OUTPUT_BIAS = "depth_head.scratch.output_conv2.2.bias"


@functools.lru_cache(maxsize=1)
def _formats() -> dict[str, dict]:
    return json.loads(gzip.decompress(FORMATS.read_bytes()))


@pytest.fixture
def da_specs() -> dict[str, dict]:
    return _formats()


def _spec(name: str) -> dict:
    return _formats()[name]


def _official_tensors(spec: dict, device: str = "cpu", seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict exactly in the released format (names, order, shapes, dtypes) with small random values."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape, dtype in spec["state_dict"]:
        assert dtype == "float32", key
        out[key] = (torch.empty(shape, device="meta") if device == "meta"
                    else torch.randn(shape, generator=gen) * 0.02)
    return out


@pytest.fixture(scope="module")
def vits_file(tmp_path_factory) -> Path:
    """One random file in the official ViT-S format (relative and metric ViT-S share every key and shape)."""
    path = tmp_path_factory.mktemp("dav2") / "depth_anything_v2_vits.pth"
    torch.save(_official_tensors(_spec("depth_anything_v2_vits")), path)
    return path


def test_table_matches_the_released_files(da_specs):
    assert sorted(NAMES) == sorted(da_specs)
    for name in NAMES:
        spec, v, w = _spec(name), get_variant(name), registry.get_spec(name)
        assert w.url == spec["checkpoint"]["url"] and w.filename == f"{name}.pth"
        licence = spec["checkpoint"]["license"]
        assert w.licence == (registry.NON_COMMERCIAL if licence.startswith("CC-BY-NC") else registry.APACHE_2)
        assert v.max_depth == spec["model"]["max_depth"] and v.metric == (spec["model"]["max_depth"] is not None)
        assert v.timm_name in spec["model"]["backbone"] or "vit_" not in spec["model"]["backbone"]
        assert (v.net_size, v.multiple, v.resize_method) == (518, 14, "lower_bound")
        assert v.mean == (0.485, 0.456, 0.406) and v.std == (0.229, 0.224, 0.225)
    assert registry.get_spec("depth_anything_v2_vits").licence == "Apache-2.0"
    assert "non-commercial" in registry.get_spec("depth_anything_v2_vitl").licence


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_equals_official_format(name, da_specs):
    """Meta device: every variant (up to 335M params) in the default run, no memory used."""
    spec = _spec(name)
    official = _official_tensors(spec, device="meta")
    model = create_midas(name, device="meta")
    own = model.state_dict()
    filtered = checkpoint_filter_fn(official, model)
    assert list(filtered) == list(own)  # same keys, same order
    for key, tensor in own.items():
        assert tuple(filtered[key].shape) == tuple(tensor.shape) and filtered[key].dtype == tensor.dtype, key
    back = {k.replace("pretrained.model.", "pretrained.", 1) for k in filtered}
    assert set(official) - back == {"pretrained.mask_token"}  # DINOv2's training-only token, nothing else
    embed_dim = dict((k, s) for k, s, _ in spec["state_dict"])["pretrained.mask_token"][1]
    assert sum(p.numel() for p in model.parameters()) == spec["num_params"] - embed_dim
    load_state(model, official)  # strict=True, meta tensors assigned
    assert list(checkpoint_filter_fn(own, model)) == list(own)  # our own state_dict is a checkpoint too


@pytest.mark.parametrize("name", SMALL)
def test_official_file_loads_strict_and_predicts(name, vits_file):
    official = torch.load(vits_file, weights_only=True)
    model = load_midas(name, vits_file)  # the one opener (weights_only) + filter + strict load
    key = "pretrained.blocks.3.ls1.gamma"
    assert torch.equal(model.state_dict()["pretrained.model.blocks.3.ls1.gamma"], official[key])
    image = np.random.default_rng(1).random((70, 98, 3)).astype(np.float32)
    raw = predict_raw(model, image, net_size=28)
    assert raw.shape == (70, 98) and raw.dtype == np.float32 and np.all(np.isfinite(raw))
    assert np.array_equal(raw, predict_raw(model, image, net_size=28))  # deterministic
    assert np.array_equal(predict(model, image, net_size=28), to_inverse_depth(raw, model.variant))
    if model.variant.metric:
        assert np.all((raw > 0) & (raw <= 20.0))
        np.testing.assert_allclose(predict(model, image, net_size=28), 1.0 / raw, rtol=1e-6)
    else:
        assert np.all(raw >= 0)


@pytest.mark.parametrize("name", SMALL)
def test_heads_end_like_the_official_ones(name, vits_file):
    """Relative: a final ReLU (a very negative last bias gives exactly 0). Metric: sigmoid * max_depth (the map
    saturates at 0 and at exactly max_depth metres)."""
    model = load_midas(name, vits_file)
    x = torch.randn(1, 3, 28, 42)
    bias = model.state_dict()[OUTPUT_BIAS]
    with torch.no_grad():
        bias.fill_(-100.0)
        low = model(x)
        bias.fill_(100.0)
        high = model(x)
    assert low.shape == high.shape == (1, 28, 42)  # the head resizes to 14 x the patch grid
    if model.variant.metric:
        assert float(low.max()) < 1e-30 and torch.all(high == 20.0)
    else:
        assert torch.all(low == 0) and float(high.min()) > 50


@pytest.mark.parametrize("size,expected", [
    ((1536, 1024), (784, 518)), ((1024, 1536), (518, 784)), ((1920, 1080), (924, 518)), ((640, 480), (686, 518)),
    ((500, 500), (518, 518)), ((6000, 4000), (784, 518)), ((4032, 3024), (686, 518)), ((98, 70), (728, 518)),
])
def test_network_input_is_the_official_rule(size, expected):
    """Official Resize(518, lower_bound, keep aspect, multiple of 14): the shorter side becomes 518, the other
    the nearest multiple of 14 (round half to even: 1536x1024 -> 777 -> 784)."""
    assert network_size(*size, get_variant("depth_anything_v2_vits")) == expected


def test_prepare_equals_the_official_transform():
    """Resize (cubic, at an override size) + NormalizeImage + PrepareForNet, re-derived in float64 as the
    official image2tensor feeds it (uint8 / 255)."""
    v = get_variant("depth_anything_v2_metric_vkitti_vits")
    img = np.random.default_rng(0).integers(0, 256, (64, 96, 3)).astype(np.float64) / 255.0
    net = 70  # shorter side 64 -> 70, longer 96 * 70 / 64 = 105 -> 7.5 patches -> 8 (half to even) -> 112
    ref = cv2.resize(img, (112, 70), interpolation=cv2.INTER_CUBIC)
    ref = np.transpose((ref - np.asarray(v.mean)) / np.asarray(v.std), (2, 0, 1)).astype(np.float32)
    ours = prepare(img.astype(np.float32), v, net_size=net)
    assert ours.shape == ref.shape == (3, 70, 112) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=5e-5)  # float32 vs float64 cubic resize, / std 0.225


def test_prediction_resize_is_bilinear_align_corners():
    pred = torch.arange(12, dtype=torch.float32).reshape(1, 3, 4)
    out = resize_prediction(pred, (7, 5), get_variant("depth_anything_v2_vits"))
    ref = torch.nn.functional.interpolate(pred[:, None], size=(5, 7), mode="bilinear", align_corners=True)[:, 0]
    assert torch.equal(out, ref) and out[0, 0, 0] == 0 and out[0, -1, -1] == 11  # corners kept exactly


def test_backbone_taps_equal_timm_intermediates(monkeypatch):
    """At the native grid the adapter's taps are timm's own normalised intermediates (a tiny DINOv2 keeps it
    fast); at another size the position table is resized and the grids follow the input."""
    import timm

    from bokehpipe.depth import dinov2 as depth_anything

    monkeypatch.setattr(depth_anything, "_timm", lambda v: timm.create_model(
        "vit_small_patch14_dinov2", pretrained=False, img_size=42, embed_dim=32, depth=4, num_heads=2))
    v = get_variant("depth_anything_v2_vits")
    torch.manual_seed(0)
    enc = depth_anything.DinoV2(v).eval()
    enc.hooks = (0, 1, 3)
    x = torch.randn(2, 3, 42, 42)
    with torch.no_grad():
        for blk in enc.model.blocks:  # layer scales of 1e-5 would hide a wrong block order
            blk.ls1.gamma.normal_(0, 1.0)
            blk.ls2.gamma.normal_(0, 1.0)
        ours = enc(x)
        ref = enc.model.forward_intermediates(x, indices=[0, 1, 3], norm=True, intermediates_only=True)
        other = enc(torch.randn(1, 3, 56, 70))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)
    assert [tuple(t.shape) for t in other] == [(1, 32, 4, 5)] * 3


def test_position_table_is_the_official_resize():
    """Native grid and square input: the stored table as it is. Otherwise bicubic with scale (grid + 0.1) / 37
    (not an exact-size resize): the class position is kept and the grid follows the input."""
    from bokehpipe.depth.dinov2 import dinov2_pos_embed

    table = torch.randn(1, 1 + 37 * 37, 8)
    assert dinov2_pos_embed(table, (37, 37), (518, 518), torch.float32) is table
    out = dinov2_pos_embed(table, (37, 56), (518, 784), torch.float16)
    assert out.shape == (1, 1 + 37 * 56, 8) and out.dtype == torch.float16
    assert torch.equal(out[:, 0], table[:, 0].half())
    grid = table[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    exact = torch.nn.functional.interpolate(grid, size=(37, 56), mode="bicubic").permute(0, 2, 3, 1).reshape(1, -1, 8)
    assert not torch.allclose(out[:, 1:].float(), exact, atol=1e-3)  # the offset moves the sampling points


def test_metric_maps_keep_their_scale_in_the_cache(store_root, tmp_path, vits_file):
    """`depth --model <metric>`: the cache stores normalised 1/depth, says so, and gives the metres back."""
    from test_depth_cache import make_synth

    from bokehpipe.data.io import read_image
    from bokehpipe.depth.cache import DepthCache
    from bokehpipe.depth.run import run_depth
    from bokehpipe.store import ArtifactStore

    name = "depth_anything_v2_metric_hypersim_vits"
    data = make_synth(tmp_path / "synth", n=2)
    result = run_depth(ArtifactStore(store_root), data=str(data), split="train", source="midas", model=name,
                       weights=str(vits_file), device="cpu", workers=0, net_size=28)
    assert result.computed == 2 and result.report.ok
    model = load_midas(name, vits_file)
    with DepthCache(result.path) as cache:
        assert cache.attrs["depth_units"] == "metres" and cache.attrs["normalisation"] == METRIC_NORMALISATION
        attrs = cache.entry_attrs("1")
        metres = depth_metres(cache.read("1"), attrs["raw_min"], attrs["raw_max"])
        from bokehpipe.data.disparity import Photo

        photo = Photo("1", data / "Training" / "original" / "1.jpg")
        assert cache.metric_range(photo) == (attrs["raw_min"], attrs["raw_max"])  # what a lens-true render reads
    with h5py.File(result.path, "r") as h5:
        assert h5["1"].dtype == np.float16
    truth = predict_raw(model, read_image(data / "Training" / "original" / "1.jpg"), net_size=28)
    np.testing.assert_allclose(metres, truth, rtol=1e-3)
    assert 1.0 / attrs["raw_max"] == pytest.approx(float(truth.min()), rel=1e-5)  # nearest point, metres


def test_metric_round_trip_precision():
    depth = np.geomspace(0.3, 80.0, 4096, dtype=np.float32).reshape(64, 64)
    v = get_variant("depth_anything_v2_metric_vkitti_vits")
    stored, lo, hi = normalise(to_inverse_depth(depth, v))
    assert stored.max() == 1.0 and stored.flat[0] == 1.0  # near = 1
    np.testing.assert_allclose(depth_metres(stored, lo, hi), depth, rtol=1e-3)  # float16 storage
    with pytest.raises(Exception, match="not from a metric network"):
        depth_metres(stored, 0.0, 1.0)


def test_cli_lists_and_offline_names_the_file(run_cli, store_root, tmp_path):
    rows = {row["name"]: row for row in json.loads(run_cli("weights", "list", "--json").output)}
    assert rows["depth_anything_v2_vitb"]["licence"].startswith("CC BY-NC 4.0")
    text = run_cli("weights", "list").output
    assert "depth_anything_v2_metric_vkitti_vitl" in text and "licence CC BY-NC 4.0" in text
    from test_depth_cache import make_synth

    data = make_synth(tmp_path / "synth", n=1)
    r = run_cli("depth", "--data", data, "--split", "train", "--model", "depth_anything_v2_vits", "--device", "cpu")
    assert r.exit_code != 0
    assert "depth_anything_v2_vits.pth" in r.output and registry.get_spec("depth_anything_v2_vits").url in r.output


# --- against the official implementation (DepthAnything/Depth-Anything-V2), where it can be imported ---------

def _official_module():
    """The official `depth_anything_v2` package: from BOKEHPIPE_DAV2_OFFICIAL (a checkout of the official
    repository, or its code unpacked from the `depth-anything-v2` wheel), else from the environment."""
    where = os.environ.get("BOKEHPIPE_DAV2_OFFICIAL")
    if where and where not in sys.path:
        sys.path.insert(0, where)
    return pytest.importorskip("depth_anything_v2.dpt", reason="official Depth Anything V2 code not importable "
                               "(set BOKEHPIPE_DAV2_OFFICIAL to a checkout)")


def _check_against_official(name: str) -> None:
    official_dpt = _official_module()
    v = get_variant(name)
    torch.manual_seed(0)
    ref = official_dpt.DepthAnythingV2(encoder=name.rsplit("_", 1)[1], features=v.features,
                                       out_channels=list(v.feature_channels)).eval()
    with torch.no_grad():  # layer scales away from 1 and a map the ReLU does not flatten, so a slip shows
        for blk in ref.pretrained.blocks:
            blk.ls1.gamma.normal_(0, 0.3)
            blk.ls2.gamma.normal_(0, 0.3)
        ref.depth_head.scratch.output_conv2[2].bias.fill_(0.5)
    if v.metric:  # metric_depth/depth_anything_v2/dpt.py: the same network, head Sigmoid, times max_depth
        ref.depth_head.scratch.output_conv2[3] = torch.nn.Sigmoid()
        ref.depth_head.scratch.output_conv2[4] = torch.nn.Identity()

        def metric_forward(x, m=ref):
            layers = m.pretrained.get_intermediate_layers(x, m.intermediate_layer_idx[m.encoder],
                                                          return_class_token=True)
            return (m.depth_head(layers, x.shape[-2] // 14, x.shape[-1] // 14) * v.max_depth).squeeze(1)

        ref.forward = metric_forward
    ours = create_midas(name)
    load_state(ours, ref.state_dict())  # the official module's own state_dict: the released format
    rng = np.random.default_rng(0)
    for h, w in ((70, 98), (98, 70), (64, 64)):
        bgr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        expected = ref.infer_image(bgr, input_size=70)
        got = predict_raw(ours, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0, net_size=70)
        assert got.shape == expected.shape == (h, w)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))
        assert float(expected.max() - expected.min()) > 1e-3 * float(np.abs(expected).max())  # not flat
    x = torch.randn(1, 3, 518, 518)  # the native grid: no position interpolation
    with torch.no_grad():
        expected = ref(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


@pytest.mark.slow
def test_equals_official_code_for_every_variant():
    """Every variant, relative and metric, against the official implementation (one test: where the official
    code is not importable it is one skip, not seven)."""
    _official_module()
    for name in NAMES:
        _check_against_official(name)


def test_infer_and_render_without_depth_run_depth_anything_small(run_cli, store_root, tmp_path, vits_file):
    """A photo with no map: with the small checkpoint in the store, infer and render run Depth Anything V2 small
    and say so first; offline without it, one line names the file and the URL."""
    import shutil

    from bokehpipe.data.io import write_jpeg

    photos = tmp_path / "photos"
    write_jpeg(photos / "a.jpg", np.random.default_rng(0).random((56, 84, 3)).astype(np.float32))
    missing = run_cli("--offline", "infer", photos, "--out", tmp_path / "none")
    assert missing.exit_code != 0
    lines = [ln for ln in missing.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and "depth_anything_v2_vits.pth" in lines[0]
    assert registry.get_spec("depth_anything_v2_vits").url in lines[0]
    (store_root / "weights").mkdir(parents=True, exist_ok=True)
    shutil.copy(vits_file, store_root / "weights" / "depth_anything_v2_vits.pth")
    res = run_cli("--offline", "infer", photos, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("depth: depth_anything_v2_vits on every photo")
    assert (tmp_path / "out" / "a.jpg").is_file() and (tmp_path / "out" / "a.depth.png").is_file()
    res = run_cli("--offline", "render", photos, "--out", tmp_path / "render")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("depth: depth_anything_v2_vits on every photo")
