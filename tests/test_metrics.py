"""The metrics protocol, pinned against independent implementations (scikit-image, hand-computed values,
a numpy MS-SSIM written from the paper) and checked on the real EBB! pairs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bokehpipe.errors import BokehpipeError, WeightsMissingError
from bokehpipe.metrics import (
    MS_SSIM_MIN_SIDE,
    MS_SSIM_WEIGHTS,
    PROTOCOL,
    Protocol,
    fit_color_gain,
    ms_ssim,
    ms_ssim_min_side,
    psnr,
    score_pair,
    ssim,
)


def _pair(seed: int, h: int, w: int, noise: float = 0.1, n: int = 1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    # smooth-ish content plus noise, so SSIM is neither ~0 nor ~1
    base = torch.nn.functional.interpolate(torch.rand(n, 3, h // 4 + 1, w // 4 + 1, generator=g), size=(h, w),
                                           mode="bilinear", align_corners=False)
    target = base.to(dtype)
    pred = (target + noise * torch.randn(n, 3, h, w, generator=g).to(dtype)).clamp(0, 1)
    return pred, target


def _np(x: torch.Tensor, i: int = 0) -> np.ndarray:
    return x[i].permute(1, 2, 0).double().numpy()


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=-1)


# --- PSNR ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("h", "w", "border"), [(48, 64, 0), (37, 53, 0), (96, 80, 8)])
def test_psnr_matches_scikit_image(h: int, w: int, border: int) -> None:
    pred, target = _pair(h * w, h, w, n=2)
    got = psnr(pred, target, border=border)
    assert got.shape == (2,) and got.dtype == torch.float32
    for i in range(2):
        p, t = _np(pred, i), _np(target, i)
        if border:
            p, t = p[border:-border, border:-border], t[border:-border, border:-border]
        assert abs(float(got[i]) - peak_signal_noise_ratio(t, p, data_range=1.0)) < 1e-4


def test_psnr_hand_computed() -> None:
    target = torch.zeros(1, 3, 4, 4)
    assert float(psnr(target + 0.1, target)) == pytest.approx(20.0, abs=1e-5)  # MSE 0.01
    pred = target.clone()
    pred[0, 1, 2, 3] = 1.0  # one of 48 values off by 1: MSE 1/48
    assert float(psnr(pred, target)) == pytest.approx(10 * math.log10(48), abs=1e-5)  # 16.8124 dB
    assert float(psnr(pred * 0.5, target, data_range=0.5)) == pytest.approx(10 * math.log10(48), abs=1e-5)


# --- SSIM ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("h", "w", "noise"), [(48, 64, 0.1), (33, 71, 0.3), (64, 64, 0.02)])
def test_ssim_matches_scikit_image(h: int, w: int, noise: float) -> None:
    pred, target = _pair(h + w, h, w, noise=noise, n=2)
    got32 = ssim(pred, target)
    got64 = ssim(pred.double(), target.double())
    for i in range(2):
        ref = _sk_ssim(_np(pred, i), _np(target, i))
        assert abs(float(got32[i]) - ref) < 1e-3  # the tolerance
        assert abs(float(got64[i]) - ref) < 1e-6  # same definition, not just close: window, constants, valid region


def test_ssim_border_matches_scikit_on_cropped_image() -> None:
    pred, target = _pair(5, 80, 90, n=1, dtype=torch.float64)
    ref = _sk_ssim(_np(pred)[16:-16, 16:-16], _np(target)[16:-16, 16:-16])
    assert float(ssim(pred, target, border=16)) == pytest.approx(ref, abs=1e-6)


def test_identity_scores_inf_and_one() -> None:
    _, target = _pair(1, 200, 176, n=2)
    assert torch.isinf(psnr(target, target)).all() and (psnr(target, target) > 0).all()
    assert torch.allclose(ssim(target, target), torch.ones(2), atol=1e-6)
    assert torch.allclose(ms_ssim(target, target), torch.ones(2), atol=1e-6)
    scores = score_pair(_np(target).astype(np.float32), _np(target).astype(np.float32))
    assert scores["psnr"] == math.inf and scores["psnr_crop32"] == math.inf
    assert scores["ssim"] == pytest.approx(1.0, abs=1e-6) and scores["ms_ssim"] == pytest.approx(1.0, abs=1e-6)


def test_border_crop_changes_numbers_when_border_differs() -> None:
    _, target = _pair(2, 128, 160)
    pred = target.clone()
    pred[..., :32, :] = 1 - pred[..., :32, :]  # only the top 32 rows differ
    full, cropped = float(psnr(pred, target)), float(psnr(pred, target, border=32))
    assert math.isfinite(full) and cropped == math.inf
    assert float(ssim(pred, target)) < 0.9 and float(ssim(pred, target, border=32)) == pytest.approx(1.0, abs=1e-6)
    s = score_pair(_np(pred).astype(np.float32), _np(target).astype(np.float32))
    assert s["psnr"] == pytest.approx(full, abs=1e-4) and s["psnr_crop32"] == math.inf
    assert s["ssim"] < 0.9 and s["ssim_crop32"] == pytest.approx(1.0, abs=1e-6)


def test_ssim_is_differentiable_and_batch_independent() -> None:
    pred, target = _pair(3, 40, 48, n=2)
    pred = pred.clone().requires_grad_(True)
    loss = (1 - ssim(pred, target)).mean()
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # a gradient step on 1 - SSIM raises SSIM
    stepped = (pred - 50.0 * pred.grad).detach()
    assert (ssim(stepped, target) > ssim(pred.detach(), target)).all()
    single = torch.cat([ssim(pred[i:i + 1].detach(), target[i:i + 1]) for i in range(2)])
    assert torch.allclose(single, ssim(pred.detach(), target), atol=1e-7)


def test_ssim_under_autocast_keeps_float32_accuracy() -> None:
    pred, target = _pair(4, 40, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = ssim(pred, target)
    assert value.dtype == torch.float32
    assert float(value) == pytest.approx(_sk_ssim(_np(pred), _np(target)), abs=1e-5)


def test_too_small_or_mismatched_inputs_raise() -> None:
    a = torch.rand(1, 3, 20, 20)
    with pytest.raises(BokehpipeError, match="minimum side"):
        ssim(a[..., :10, :], a[..., :10, :])
    with pytest.raises(BokehpipeError, match="border crop"):
        psnr(a, a, border=10)
    with pytest.raises(BokehpipeError, match="differ in shape"):
        ssim(a, a[..., :19])
    with pytest.raises(BokehpipeError, match="161-px minimum"):
        ms_ssim(torch.rand(1, 3, 160, 300), torch.rand(1, 3, 160, 300))


# --- MS-SSIM -------------------------------------------------------------------------------------------------
def _np_ms_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """MS-SSIM written independently from Wang et al. 2003 with scipy: (H, W, 3) float64 arrays."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    per_channel = []
    for c in range(3):
        a, b = x[..., c], y[..., c]
        value = 1.0
        for level, weight in enumerate(MS_SSIM_WEIGHTS):
            def blur(m):
                return gaussian_filter(m, 1.5, truncate=3.5)[5:-5, 5:-5]  # 11 taps, valid region
            mu_a, mu_b = blur(a), blur(b)
            va, vb, cov = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2, blur(a * b) - mu_a * mu_b
            cs = (2 * cov + c2) / (va + vb + c2)
            if level == len(MS_SSIM_WEIGHTS) - 1:
                term = (((2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)) * cs).mean()
            else:
                term = cs.mean()
                pads = ((0, a.shape[0] % 2), (0, a.shape[1] % 2))
                a, b = np.pad(a, pads, mode="edge"), np.pad(b, pads, mode="edge")
                a = a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2).mean((1, 3))
                b = b.reshape(b.shape[0] // 2, 2, b.shape[1] // 2, 2).mean((1, 3))
            value *= max(term, 0.0) ** weight
        per_channel.append(value)
    return float(np.mean(per_channel))


@pytest.mark.parametrize(("h", "w"), [(176, 192), (161, 203)])
def test_ms_ssim_matches_numpy_reference(h: int, w: int) -> None:
    pred, target = _pair(h, h, w, noise=0.15, dtype=torch.float64)
    got = float(ms_ssim(pred, target))
    assert got == pytest.approx(_np_ms_ssim(_np(pred), _np(target)), abs=1e-6)
    assert float(ms_ssim(pred.float(), target.float())) == pytest.approx(got, abs=1e-4)
    assert got != pytest.approx(float(ssim(pred, target)), abs=1e-3)  # really a different number


def test_ms_ssim_single_scale_is_ssim_and_min_side() -> None:
    pred, target = _pair(9, 40, 44)
    assert float(ms_ssim(pred, target, weights=(1.0,))) == pytest.approx(float(ssim(pred, target)), abs=1e-6)
    assert MS_SSIM_MIN_SIDE == ms_ssim_min_side() == 161
    grad_in = pred.clone().requires_grad_(True)
    ms_ssim(grad_in, target, weights=(0.5, 0.5)).sum().backward()
    assert torch.isfinite(grad_in.grad).all() and grad_in.grad.abs().sum() > 0


# --- protocol, score_pair, colour gain -----------------------------------------------------------------------
def test_score_pair_keys_and_values_follow_protocol() -> None:
    pred, target = _pair(11, 232, 240)
    p, t = _np(pred).astype(np.float32), _np(target).astype(np.float32)
    s = score_pair(p, t)
    assert list(s) == PROTOCOL.columns(lpips=False)  # no LPIPS model given: absent, not faked
    assert "lpips" not in s
    assert s["ms_ssim_crop32"] == pytest.approx(float(ms_ssim(pred, target, border=32)), abs=1e-5)
    assert s["psnr_crop32"] == pytest.approx(float(psnr(pred, target, border=32)), abs=1e-4)
    assert s["ssim_crop32"] == pytest.approx(float(ssim(pred, target, border=32)), abs=1e-5)
    assert s["ms_ssim"] == pytest.approx(float(ms_ssim(pred, target)), abs=1e-5)
    s = score_pair(p[:200], t[:200])
    assert "ms_ssim" in s and "ms_ssim_crop32" not in s  # 200 - 64 = 136 px < 161: left out, not made up
    small = score_pair(p[:60, :60], t[:60, :60])
    assert set(small) == {"psnr", "ssim"}  # a 32-px crop of 60 px leaves less than one SSIM window
    json.dumps(PROTOCOL.describe())


def test_score_pair_clips_prediction_and_checks_input() -> None:
    t = np.full((32, 32, 3), 0.5, np.float32)
    over = t.copy()
    over[0, 0, 0] = 5.0  # clipped to 1.0 -> error 0.5 in one of 3072 values
    expected = 10 * math.log10(3072 / 0.25)
    assert score_pair(over, t)["psnr"] == pytest.approx(expected, abs=1e-4)
    with pytest.raises(BokehpipeError, match="differ in size"):
        score_pair(t[:30], t)
    with pytest.raises(BokehpipeError, match="float"):
        score_pair((t * 255).astype(np.uint8), (t * 255).astype(np.uint8))


def test_protocol_rejects_bad_settings() -> None:
    with pytest.raises(BokehpipeError, match="unknown metrics"):
        Protocol(metrics=("psnr", "fid"))
    with pytest.raises(BokehpipeError, match="data_range"):
        Protocol(data_range=255.0)
    only = Protocol(metrics=("psnr",), borders=(0, 4))
    assert only.columns(lpips=True) == ["psnr", "psnr_crop4"]


def test_fit_shift_undoes_a_known_shift_and_the_shift_oracle_scores_it() -> None:
    from bokehpipe.metrics import fit_shift

    rng = np.random.default_rng(3)
    target = gaussian_filter(rng.random((96, 128, 3), dtype=np.float32), (2, 2, 0))
    pred = np.roll(target, (2, -1), axis=(0, 1)) * np.float32(0.9)
    assert fit_shift(pred, target) == (-2, 1)
    plain, gain, shift = (score_pair(pred, target, align=a) for a in (False, True, "shift"))
    assert shift["psnr_crop32"] > 60 > gain["psnr_crop32"] > plain["psnr_crop32"]


def test_fit_color_gain_recovers_gain_and_helps_alignment() -> None:
    rng = np.random.default_rng(0)
    target = rng.uniform(0.05, 0.8, (64, 48, 3)).astype(np.float32)
    gain = np.array([0.8, 0.9, 1.1], np.float32)
    pred = target / gain
    np.testing.assert_allclose(fit_color_gain(pred, target), gain, rtol=1e-5)
    # hand case: pred = 1, target = 0.5 everywhere in red -> gain 0.5
    ones = np.ones((4, 4, 3), np.float32)
    np.testing.assert_allclose(fit_color_gain(ones, ones * [0.5, 1.0, 2.0]), [0.5, 1.0, 2.0], rtol=1e-6)
    plain, aligned = score_pair(pred, target), score_pair(pred, target, align=True)
    assert plain["psnr"] < 25 and aligned["psnr"] > 60


# --- LPIPS ---------------------------------------------------------------------------------------------------
def test_lpips_absent_without_weights(store_root) -> None:
    from bokehpipe.metrics.lpips import load_lpips
    from bokehpipe.store import ArtifactStore
    from bokehpipe.weights import get_spec

    model, why = load_lpips(ArtifactStore.open(store_root))
    assert model is None and "alexnet" in why and "download" in why.lower()
    spec = get_spec("lpips_alex_v0.1")
    assert spec.url.endswith("lpips/weights/v0.1/alex.pth") and spec.size == 6009
    with pytest.raises(WeightsMissingError):  # an explicit path that does not exist is an error, not "absent"
        load_lpips(ArtifactStore.open(store_root), backbone=store_root / "nope.pth")


def _fake_official_files(tmp_path, seed: int = 0):
    """State dicts in the official files' key layouts, randomly initialised (real weights cannot be downloaded)."""
    from bokehpipe.metrics.lpips import CHANNELS, alexnet_features

    torch.manual_seed(seed)
    features = alexnet_features()
    backbone = {f"features.{k}": v for k, v in features.state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(4, 9216)  # torchvision's file has a classifier: ignored
    linear = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(CHANNELS)}
    torch.save(backbone, tmp_path / "alexnet.pth")
    torch.save(linear, tmp_path / "alex.pth")
    return tmp_path / "alexnet.pth", tmp_path / "alex.pth", linear


def test_alexnet_trunk_matches_torchvision_layout() -> None:
    from bokehpipe.metrics.lpips import LPIPS

    model = LPIPS()
    convs = {k: tuple(v.shape) for k, v in model.features.state_dict().items() if k.endswith("weight")}
    assert convs == {"0.weight": (64, 3, 11, 11), "3.weight": (192, 64, 5, 5), "6.weight": (384, 192, 3, 3),
                     "8.weight": (256, 384, 3, 3), "10.weight": (256, 256, 3, 3)}
    assert sum(p.numel() for p in model.features.parameters()) == 2_469_696  # torchvision alexnet().features
    shapes = [tuple(t.shape[1:]) for t in model.taps(torch.zeros(1, 3, 224, 224))]
    assert shapes == [(64, 55, 55), (192, 27, 27), (384, 13, 13), (256, 13, 13), (256, 13, 13)]


def test_lpips_loads_official_layout_and_scores(tmp_path, store_root) -> None:
    from bokehpipe.metrics.lpips import build_lpips, load_lpips
    from bokehpipe.store import ArtifactStore
    from bokehpipe.weights import get_spec

    backbone, linear, lin_state = _fake_official_files(tmp_path)
    model = build_lpips(backbone, linear)
    assert torch.equal(model.lins[2].weight, lin_state["lin2.model.1.weight"])
    pred, target = _pair(21, 64, 72, noise=0.2, n=2)
    d = model(pred, target)
    assert d.shape == (2,) and (d > 0).all()
    assert torch.allclose(model(target, target), torch.zeros(2), atol=1e-6)
    assert float(model(*_pair(21, 64, 72, noise=0.4, n=1))) > float(d[0])  # more noise, larger distance
    # the same files found in the store, and score_pair reports lpips for both crops
    store = ArtifactStore.open(store_root)
    store.weights_dir.mkdir(parents=True)
    backbone.rename(store.weights(get_spec("alexnet").filename))
    linear.rename(store.weights(get_spec("lpips_alex_v0.1").filename))
    found, why = load_lpips(store)
    assert found is not None and why == ""
    p, t = _pair(22, 100, 120)
    s = score_pair(_np(p).astype(np.float32), _np(t).astype(np.float32), lpips=found)
    assert s["lpips"] > 0 and s["lpips_crop32"] > 0
    assert list(s) == ["psnr", "psnr_crop32", "ssim", "ssim_crop32", "lpips", "lpips_crop32"]  # 100 px: no MS-SSIM


def test_lpips_rejects_swapped_or_corrupt_files(tmp_path) -> None:
    from bokehpipe.metrics.lpips import build_lpips

    backbone, linear, _ = _fake_official_files(tmp_path)
    with pytest.raises(BokehpipeError, match=r"alex.pth: not an AlexNet .*features.0.weight: missing"):
        build_lpips(linear, linear)  # the linear file given as the backbone
    with pytest.raises(BokehpipeError, match=r"alexnet.pth: not an AlexNet .*lins.0.weight: missing"):
        build_lpips(backbone, backbone)  # the backbone given as the linear file
    wrong = tmp_path / "vgg_lin.pth"
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate((64, 128, 256, 512, 512))},
               wrong)  # LPIPS-VGG linear layers: right keys, wrong shapes
    with pytest.raises(BokehpipeError, match=r"vgg_lin.pth: .*lins.1.weight: shape \(1, 128, 1, 1\)"):
        build_lpips(backbone, wrong)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(BokehpipeError, match="broken.pth: not a"):
        build_lpips(backbone, broken)


# --- real EBB! pairs -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_identity_baseline_on_real_ebb_pairs(realdata) -> None:
    """Input-vs-target scores of the real pairs (the identity baseline), printed for the report."""
    from bokehpipe.data.ebb import load_index
    from bokehpipe.data.io import read_image

    torch.set_num_threads(1)
    pairs = load_index(realdata / "ebb").split("all")
    assert pairs, "no pairs in the EBB! sample"
    print("\nid     psnr  psnr32  ssim   ssim32 msssim ms32  | aligned: psnr  psnr32  ssim   ssim32  gain")
    for pair in pairs:
        x, y = read_image(pair.input), read_image(pair.target)
        s, a = score_pair(x, y), score_pair(x, y, align=True)
        gain = fit_color_gain(x, y)
        print(f"{pair.id:6s} {s['psnr']:6.2f} {s['psnr_crop32']:6.2f} {s['ssim']:.4f} {s['ssim_crop32']:.4f} "
              f"{s['ms_ssim']:.4f} {s['ms_ssim_crop32']:.4f} | {a['psnr']:6.2f} {a['psnr_crop32']:6.2f} "
              f"{a['ssim']:.4f} {a['ssim_crop32']:.4f}  {np.round(gain, 3)}")
        assert 10 < s["psnr"] < 40 and 0.2 < s["ssim"] < 1 and 0.2 < s["ms_ssim"] < 1
        assert s["psnr"] != s["psnr_crop32"] and s["ssim"] != s["ssim_crop32"]
        assert a["psnr"] >= s["psnr"] - 1e-6  # the least-squares gain cannot increase the (clipped) MSE
    # one real pair against scikit-image, full size: float32 protocol vs float64 reference
    x, y = read_image(pairs[0].input), read_image(pairs[0].target)
    s = score_pair(x, y)
    assert s["ssim"] == pytest.approx(_sk_ssim(x.astype(np.float64), y.astype(np.float64)), abs=1e-4)
    assert s["psnr"] == pytest.approx(peak_signal_noise_ratio(y.astype(np.float64), x.astype(np.float64),
                                                              data_range=1.0), abs=1e-4)
