"""The identity-skip variant (bokehpipe's change): same parameters as PyNET, starts at the identity."""

from __future__ import annotations

import pytest
import torch

from bokehpipe.models import count_parameters, create_model
from bokehpipe.models.pynet_residual import input_at_level

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_same_parameters_as_the_paper_model():
    plain, res = create_model("pynet-xs", in_chans=4), create_model("pynet-res-xs", in_chans=4)
    assert count_parameters(plain) == count_parameters(res)
    assert plain.state_dict().keys() == res.state_dict().keys()


@pytest.mark.parametrize("level", [1, 2, 3, 5, 7])
def test_fresh_model_starts_near_the_input_at_every_level(level):
    torch.manual_seed(0)
    model = create_model("pynet-res-xs", in_chans=4, width=0.125).eval()
    x = torch.rand(1, 4, 64, 96)
    x[:, :3] = torch.linspace(0, 1, 96).expand(3, 64, 96)  # a photo-like ramp that survives pooling
    with torch.no_grad():
        out = model(x, level)
        plain = create_model("pynet-xs", in_chans=4, width=0.125).eval()(x, level)
    skip = input_at_level(x, level)
    assert out.shape == skip.shape == plain.shape
    res_err, plain_err = (out - skip).abs().mean(), (plain - skip).abs().mean()
    assert res_err < 0.08  # identity plus a small correction (heads are scaled down, not zeroed: a zero
    #                        level-2 head would cut level 1's gradient path)
    assert plain_err > 3 * res_err  # the paper's heads start at grey, far from the photo


def test_skip_is_exact_pooling_below_and_bicubic_above_input_resolution():
    x = torch.rand(2, 4, 32, 64)
    assert torch.equal(input_at_level(x, 2), x[:, :3])
    assert torch.allclose(input_at_level(x, 3)[0, :, 0, 0], x[0, :3, :2, :2].mean(dim=(1, 2)))
    assert input_at_level(x, 1).shape == (2, 3, 64, 128)


def test_gradients_reach_every_parameter_of_the_level():
    torch.manual_seed(1)
    model = create_model("pynet-res-xs", in_chans=3, width=0.125)
    x = torch.rand(1, 3, 64, 64)
    model(x, 3).sum().backward()
    used = dict(model.level_parameters(3))
    assert used and all(p.grad is not None and p.grad.abs().sum() > 0 for p in used.values())
