"""PyNET-Bokeh generator: shapes and finiteness per level, gradients reach exactly the level's parameters,
3/4-channel inputs, the paper's parameter count, the registry, and the VGG-19 trunk layout."""

from __future__ import annotations

import pytest
import torch

from bokehpipe.errors import BokehpipeError, ConfigError
from bokehpipe.losses import RELU5_4, load_vgg19, vgg19_features
from bokehpipe.models import REGISTRY, count_parameters, create_model, list_models
from bokehpipe.models.pynet import LEVELS, PyNETBokeh

PAPER_PARAMS = 47.5e6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def xs() -> PyNETBokeh:
    torch.manual_seed(0)
    return create_model("pynet-xs", in_chans=4)


def test_full_width_parameter_count_matches_paper():
    with torch.device("meta"):  # no memory for weights, no activations
        model = create_model("pynet")
    n = count_parameters(model)
    print(f"pynet full width: {n:,} parameters (paper: about 47.5M)")
    assert abs(n - PAPER_PARAMS) / PAPER_PARAMS < 0.02
    with torch.device("meta"):
        n3 = count_parameters(create_model("pynet", in_chans=3))
    # only the first convolutions see the input: 4 space-to-depth channels per input channel, 32 maps, 3x3
    assert n - n3 == 4 * 32 * 9


def test_width_variants_shrink_quadratically():
    with torch.device("meta"):
        counts = {name: count_parameters(create_model(name)) for name in list_models()}
    assert 0.23 < counts["pynet-s"] / counts["pynet"] < 0.27
    assert 0.055 < counts["pynet-xs"] / counts["pynet"] < 0.07


@pytest.mark.parametrize("level", LEVELS)
def test_forward_shape_and_finite_per_level(xs: PyNETBokeh, level: int):
    x = torch.rand(2, 4, 64, 96)
    with torch.no_grad():
        y = xs(x, level)
    scale = PyNETBokeh.scale(level)
    assert y.shape == (2, 3, int(64 * scale), int(96 * scale))
    assert torch.isfinite(y).all()
    assert -0.08 - 1e-6 <= float(y.min()) and float(y.max()) <= 1.08 + 1e-6  # 0.58 * tanh + 0.5


@pytest.mark.parametrize("level", LEVELS)
def test_gradients_reach_exactly_the_levels_parameters(xs: PyNETBokeh, level: int):
    xs.zero_grad(set_to_none=True)
    x = torch.rand(2, 4, 64, 64)
    target = torch.rand(2, 3, *(int(64 * PyNETBokeh.scale(level)),) * 2)
    torch.nn.functional.l1_loss(xs(x, level), target).backward()
    used = {n for n, _ in xs.level_parameters(level)}
    assert used, "a level must train something"
    for name, p in xs.named_parameters():
        if name in used:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, f"level {level}: no gradient for {name}"
        else:
            assert p.grad is None, f"level {level}: {name} is not used by the level but got a gradient"
    xs.zero_grad(set_to_none=True)


def test_finer_levels_use_more_parameters(xs: PyNETBokeh):
    sizes = [sum(p.numel() for _, p in xs.level_parameters(lv)) for lv in LEVELS]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert len(xs.level_parameters(1)) == len(list(xs.parameters())) - 2 * 5  # all but the heads of levels 3..7


@pytest.mark.parametrize("in_chans", [3, 4])
def test_three_and_four_channel_inputs(in_chans: int):
    torch.manual_seed(0)
    model = create_model("pynet-xs", in_chans=in_chans)
    with torch.no_grad():
        assert model(torch.rand(1, in_chans, 64, 64), 2).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.rand(1, 7 - in_chans, 64, 64), 2)


def test_full_width_forward_at_level_one():
    torch.manual_seed(0)
    model = create_model("pynet", in_chans=4)
    with torch.no_grad():
        y = model(torch.rand(1, 4, 64, 64), 1)
    assert y.shape == (1, 3, 128, 128) and torch.isfinite(y).all()


def test_input_must_be_a_multiple_of_32(xs: PyNETBokeh):
    assert xs.multiple == 32
    with pytest.raises(ValueError, match="multiples of 32"):
        xs(torch.rand(1, 4, 64, 80), 3)
    with pytest.raises(ValueError, match="level must be"):
        xs(torch.rand(1, 4, 64, 64), 8)


def test_registry_drops_none_kwargs_and_rejects_unknown_names():
    model = create_model("pynet-xs", width=None, in_chans=None)
    assert model.width == REGISTRY["pynet-xs"].defaults["width"] and model.in_chans == 4
    assert create_model("pynet-xs", width=0.125).width == 0.125
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        create_model("resnet")


def test_vgg19_trunk_matches_torchvision_layout(tmp_path):
    tv = pytest.importorskip("torchvision")
    reference = tv.models.vgg19(weights=None)  # random init, nothing downloaded
    ours = vgg19_features()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in reference.features.state_dict().items()}
    assert isinstance(ours[RELU5_4], torch.nn.ReLU) and isinstance(ours[RELU5_4 - 1], torch.nn.Conv2d)
    assert ours[RELU5_4 - 1].out_channels == 512
    path = tmp_path / "vgg19.pth"
    torch.save(reference.state_dict(), path)  # the layout of torchvision's official vgg19-dcbb9e9d.pth
    vgg = load_vgg19(path)
    assert torch.equal(vgg.features[0].weight, reference.features[0].weight)
    assert not any(p.requires_grad for p in vgg.parameters())
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(BokehpipeError, match="not torchvision's VGG-19"):
        load_vgg19(tmp_path / "bad.pth")
