"""MiDaS on current timm: every variant's state_dict equals the official checkpoint format after the filter,
official-format files load with strict=True, forward passes give finite maps of the photo's size, and the
preprocessing is the official recipe number for number."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from bokehpipe import weights as registry
from bokehpipe.data.disparity import normalise
from bokehpipe.depth.model import (
    checkpoint_filter_fn,
    create_midas,
    load_midas,
    load_state,
    predict,
    read_checkpoint,
)
from bokehpipe.depth.transforms import network_size, prepare, resize_prediction
from bokehpipe.depth.variants import VARIANTS, default_variant, get_variant, variant_names
from bokehpipe.errors import BokehpipeError

DTYPES = {"float32": torch.float32, "int64": torch.int64}
# Real builds + official files + forward in the default run; the rest (100M-345M params) are `slow`.
FAST = ("midas_v21_small_256", "dpt_levit_224", "dpt_swin2_tiny_256")
MIDAS = [n for n in variant_names() if VARIANTS[n].arch != "depth_anything"]  # DA-V2: test_depth_anything.py


def _spec(specs: Path, name: str) -> dict:
    return json.loads((specs / f"{name}.json").read_text())


def _official_tensors(spec: dict, device: str = "cpu", seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict exactly in the official format (names, shapes, dtypes), with harmless random values."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in spec["state_dict"]:
        dtype = DTYPES[spec["non_float32_entries"].get(key, "float32")]
        if device == "meta":
            out[key] = torch.empty(shape, dtype=dtype, device="meta")
        elif dtype == torch.int64:
            out[key] = torch.zeros(shape, dtype=dtype)
        elif key.endswith("running_var"):
            out[key] = torch.ones(shape)
        else:
            out[key] = torch.randn(shape, generator=gen) * 0.02
    return out


def test_table_matches_official_index(midas_specs):
    index = json.loads((midas_specs / "index.json").read_text())["variants"]
    assert set(index) == set(MIDAS)
    for name, info in index.items():
        spec = registry.get_spec(get_variant(name).weights_name)
        assert spec.url == info["checkpoint_url"] == _spec(midas_specs, name)["checkpoint"]["url"]
        assert spec.filename == f"{name}.pt"
        assert get_variant(name).net_size == _spec(midas_specs, name)["input"]["net_w"]
        assert get_variant(name).keep_aspect == _spec(midas_specs, name)["input"]["keep_aspect_ratio"]
        assert list(get_variant(name).mean) == _spec(midas_specs, name)["input"]["mean"]
    assert default_variant("cuda") == "dpt_hybrid_384" and default_variant("cpu") == "midas_v21_small_256"
    with pytest.raises(BokehpipeError, match="unknown depth model"):
        get_variant("midas_v4")


@pytest.mark.parametrize("name", MIDAS)
def test_state_dict_equals_official_format(name, midas_specs):
    """Meta device: no memory, so every variant (up to 345M params) is checked in the default run."""
    spec = _spec(midas_specs, name)
    official = _official_tensors(spec, device="meta")
    model = create_midas(name, device="meta")
    own = model.state_dict()
    filtered = checkpoint_filter_fn(official, model)
    assert list(filtered) == list(own)  # same keys, same order
    for key, tensor in own.items():
        assert tuple(filtered[key].shape) == tuple(tensor.shape), key
        assert filtered[key].dtype == tensor.dtype, key
    assert sum(p.numel() for p in model.parameters()) == spec["num_params"]
    load_state(model, official)  # strict=True, meta tensors assigned
    # our own state_dict is a valid checkpoint too (the filter is idempotent)
    assert list(checkpoint_filter_fn(own, model)) == list(own)


def _check_variant_end_to_end(name: str, specs: Path, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.pt"
    official = _official_tensors(_spec(specs, name))
    torch.save(official, path)
    model = load_midas(name, path)  # torch.load(weights_only=True) + filter + strict load
    key = next(k for k, v in official.items() if v.is_floating_point() and k.startswith("scratch.layer1_rn"))
    assert torch.equal(model.state_dict()[key], official[key])
    variant = model.variant
    image = np.random.default_rng(1).random((30, 45, 3)).astype(np.float32)  # non-square, W != H
    depth = predict(model, image, net_size=None if variant.fixed_size else 64)
    assert depth.shape == (30, 45) and depth.dtype == np.float32
    assert np.all(np.isfinite(depth))


@pytest.mark.parametrize("name", FAST)
def test_official_file_loads_strict_and_predicts(name, midas_specs, tmp_path):
    _check_variant_end_to_end(name, midas_specs, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in MIDAS if n not in FAST])
def test_official_file_loads_strict_and_predicts_large(name, midas_specs, tmp_path):
    _check_variant_end_to_end(name, midas_specs, tmp_path)


def test_wrong_checkpoint_is_refused_with_names(midas_specs, tmp_path):
    model = create_midas("midas_v21_small_256", device="meta")
    other = _official_tensors(_spec(midas_specs, "dpt_levit_224"), device="meta")
    with pytest.raises(BokehpipeError, match=r"x.pt: not a midas_v21_small_256 checkpoint: missing 443 .*unexp"):
        load_state(model, other, source="x.pt")
    partial = dict(_official_tensors(_spec(midas_specs, "midas_v21_small_256"), device="meta"))
    partial.pop("scratch.output_conv.4.weight")
    with pytest.raises(BokehpipeError, match=r"missing 1 \(e.g. scratch.output_conv.4.weight\)"):
        load_state(model, partial)


def test_checkpoint_reader_is_weights_only(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    bad = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, bad)
    with pytest.raises(BokehpipeError, match="evil.pt: not a plain checkpoint .*torch.save") as refused:
        read_checkpoint(bad)
    assert "weights_only" not in str(refused.value)  # never the advice to unpickle it anyway
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(BokehpipeError, match="trunc.pt"):
        read_checkpoint(tmp_path / "trunc.pt")
    training = tmp_path / "train.pt"
    torch.save({"model": {"a": torch.ones(1)}, "optimizer": {"state": {}}}, training)
    assert list(read_checkpoint(training)) == ["a"]  # the official BaseModel.load accepts this form


# --- preprocessing: the official recipe, re-derived independently ----------------------------------------

def _official_input(image_rgb: np.ndarray, net: int, method: str, keep_aspect: bool, mean, std) -> np.ndarray:
    """midas/transforms.py Resize(upper_bound|minimal, multiple 32, INTER_CUBIC) + Normalize + PrepareForNet,
    in float64 as the official run.py feeds it (image read as float64 / 255)."""
    h, w = image_rgb.shape[:2]
    sh, sw = net / h, net / w
    if keep_aspect:
        if method == "upper_bound":
            sh = sw = sw if sw < sh else sh
        elif abs(1 - sw) < abs(1 - sh):
            sh = sw
        else:
            sw = sh

    def constrain(x, max_val=None):
        y = (np.round(x / 32) * 32).astype(int)
        if max_val is not None and y > max_val:
            y = (np.floor(x / 32) * 32).astype(int)
        return int(y)

    mx = net if method == "upper_bound" else None
    nw, nh = constrain(sw * w, mx), constrain(sh * h, mx)
    resized = cv2.resize(image_rgb.astype(np.float64), (nw, nh), interpolation=cv2.INTER_CUBIC)
    return np.transpose((resized - np.asarray(mean)) / np.asarray(std), (2, 0, 1)).astype(np.float32)


@pytest.mark.parametrize("name,size,expected", [
    ("midas_v21_small_256", (1536, 1024), (256, 160)),
    ("midas_v21_small_256", (1024, 1536), (160, 256)),
    ("dpt_hybrid_384", (1536, 1024), (576, 384)),
    ("dpt_hybrid_384", (1600, 1024), (608, 384)),
    ("dpt_hybrid_384", (976, 1050), (384, 416)),
    ("dpt_beit_large_512", (1536, 1024), (768, 512)),
    ("dpt_swin2_base_384", (1536, 1024), (384, 384)),
    ("dpt_levit_224", (1080, 1350), (224, 224)),
])
def test_network_input_is_the_official_recipe(name, size, expected):
    v = get_variant(name)
    assert network_size(*size, v) == expected
    assert expected[0] % 32 == 0 and expected[1] % 32 == 0
    w, h = size[0] // 8, size[1] // 8  # same aspect, small: the numerics do not depend on the scale
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3)).astype(np.float64) / 255.0
    ours = prepare(img.astype(np.float32), v, net_size=v.net_size // 8 if v.keep_aspect else None)
    ref = _official_input(img, v.net_size // 8 if v.keep_aspect else v.net_size, v.resize_method, v.keep_aspect,
                          v.mean, v.std)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def test_prediction_resize_and_normalisation():
    pred = torch.arange(12, dtype=torch.float32).reshape(1, 3, 4)
    out = resize_prediction(pred, (8, 6), get_variant("dpt_hybrid_384"))
    ref = torch.nn.functional.interpolate(pred[:, None], size=(6, 8), mode="bicubic", align_corners=False)[:, 0]
    assert out.shape == (1, 6, 8) and torch.equal(out, ref)
    data, lo, hi = normalise(np.array([[2.0, 4.0], [6.0, 10.0]]))
    assert (lo, hi) == (2.0, 10.0) and data.max() == 1.0 and data.min() == 0.0 and data[1, 1] == 1.0
    assert not normalise(np.full((2, 2), 3.0))[0].any()  # a flat map: all far, raw range kept
    with pytest.raises(BokehpipeError, match="non-finite"):
        normalise(np.array([[np.nan, 1.0]]))
    with pytest.raises(BokehpipeError, match="only accepts 384x384"):
        network_size(100, 50, get_variant("dpt_swin2_base_384"), net_size=64)


# --- our forward equals timm's own modules where the official code had patched them --------------------

def test_beit_attention_equals_timm_at_native_window(monkeypatch):
    """The BEiT adapter re-implements attention to resize the relative position bias; at the native window it
    must equal timm's Block exactly (a tiny BEiT keeps this fast)."""
    import timm

    from bokehpipe.depth import backbones

    monkeypatch.setattr(backbones, "_timm", lambda v: timm.create_model(
        "beit_base_patch16_224", pretrained=False, img_size=64, embed_dim=32, depth=4, num_heads=2))
    v = dataclasses.replace(get_variant("dpt_beit_base_384"), hooks=(0, 1, 2, 3), vit_features=32,
                            feature_channels=(8, 8, 16, 16))
    torch.manual_seed(0)
    enc = backbones.BEiT(v).eval()
    for blk in enc.model.blocks:  # non-zero bias tables and layer scales, so the test can fail
        torch.nn.init.normal_(blk.attn.relative_position_bias_table, std=0.5)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = enc(x)
        other = enc(torch.randn(1, 3, 64, 96))  # a non-native window goes through the resized table
        monkeypatch.setattr(enc, "_block", lambda blk, t, grid, shared: blk(t, shared_rel_pos_bias=shared))
        ref = enc(x)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert [tuple(t.shape[2:]) for t in other] == [(16, 24), (8, 12), (4, 6), (2, 3)]


SMALL_TIMM = {  # same families, tiny widths: the check is about wiring, not about size
    "dpt_swin2_tiny_256": ("swinv2_tiny_window16_256", dict(img_size=64, window_size=4, embed_dim=16,
                                                            depths=(2, 2, 6, 2), num_heads=(1, 1, 2, 2))),
    "dpt_swin_large_384": ("swin_large_patch4_window12_384", dict(img_size=64, window_size=4, embed_dim=16,
                                                                  depths=(2, 2, 18, 2), num_heads=(1, 1, 2, 2))),
    "dpt_levit_224": ("levit_128s", dict(img_size=64)),
    "dpt_next_vit_large_384": ("nextvit_large", dict()),
}


@pytest.mark.parametrize("name", list(SMALL_TIMM))
def test_hierarchical_taps_equal_timm_blocks(name, monkeypatch):
    """Taps are the outputs of the timm blocks the official hooks named (checked with forward hooks while
    timm's own forward_features runs), on tiny members of each family."""
    import timm

    from bokehpipe.depth import backbones, hierarchical

    timm_name, kwargs = SMALL_TIMM[name]
    monkeypatch.setattr(hierarchical, "_timm", lambda v: timm.create_model(timm_name, pretrained=False, **kwargs))
    v = get_variant(name)
    torch.manual_seed(0)
    enc = hierarchical.adapters()[v.backbone](v).eval()
    assert isinstance(enc, backbones.Backbone)
    if v.backbone == "swin":
        mods = [enc.model.layers[i].blocks[h] for i, h in enumerate(v.hooks)]
    else:
        mods = [enc.model.stages[s].blocks[j] for s, j in enc.taps]
    seen: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda mod, inp, out: seen.append(out)) for m in mods]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        enc.model.forward_features(x)
        ref = list(seen)
        seen.clear()
        ours = enc(x)
    for h in handles:
        h.remove()
    assert len(ours) == len(ref) == len(v.feature_channels)
    for a, b in zip(ours, ref, strict=True):
        if v.backbone == "swin":
            b = b.permute(0, 3, 1, 2)
        elif v.backbone == "levit":
            b = b.transpose(1, 2).reshape(a.shape)
        torch.testing.assert_close(a, b)
    assert [t.shape[2] for t in ours] == sorted((t.shape[2] for t in ours), reverse=True)
