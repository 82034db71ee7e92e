"""The PyNET-Bokeh training losses (Ignatov et al., arXiv:2006.05698, Sec. 4 and the official train_model.py).

Levels 2..7: `100 * L1`. Level 1 (full resolution): `10 * L1 + 0.1 * content + 10 * (1 - SSIM)`, where
content is the mean squared difference of VGG-19 relu5_4 features. The paper's VGG is the MatConvNet
ImageNet model on mean-subtracted 0..255 input; here it is torchvision's VGG-19 (`bokehpipe weights fetch
vgg19`) on ImageNet-normalised input, the weights everyone can get. The feature scale differs between the
two networks, so the 0.1 weight is the paper's value, not a calibrated equivalent.

SSIM comes from `bokehpipe.metrics` (11-px Gaussian, sigma 1.5), the same definition validation reports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bokehpipe.errors import BokehpipeError

VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
RELU5_4 = 35  # index of relu5_4 in torchvision's vgg19().features
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def vgg19_features() -> nn.Sequential:
    """VGG-19's convolutional trunk with torchvision's indices, so `features.<i>.*` keys load strictly."""
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            cin = int(v)
    return nn.Sequential(*layers)


class VGGContent(nn.Module):
    """Frozen VGG-19 up to relu5_4; `forward(pred, target)` is the mean squared feature difference."""

    def __init__(self) -> None:
        super().__init__()
        self.features = vgg19_features()
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGContent:  # always frozen, whatever the caller's mode
        return super().train(False)

    def relu5_4(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return self.features[:RELU5_4 + 1](x)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            ft = self.relu5_4(target)
        fp = self.relu5_4(pred)
        return F.mse_loss(fp.float(), ft.float())


def load_vgg19(path: str | os.PathLike[str]) -> VGGContent:
    """Load torchvision's `vgg19-dcbb9e9d.pth` (only `features.*` is used) with `weights_only=True`."""
    model = VGGContent()
    from bokehpipe.torch_files import load_weights_only

    state = load_weights_only(path, what="VGG-19 weights file",
                              fix="re-download it with `bokehpipe weights fetch vgg19`")
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    try:
        model.features.load_state_dict(feats, strict=True)
    except RuntimeError:
        raise BokehpipeError(f"{path}: not torchvision's VGG-19 (features.* keys or shapes differ); use "
                             "vgg19-dcbb9e9d.pth from `bokehpipe weights fetch vgg19`") from None
    return model


@dataclass(frozen=True)
class LossWeights:
    """Weights of the level-1 loss terms (levels 2..7 use `l1_coarse` * L1 only)."""

    l1_coarse: float = 100.0
    l1: float = 10.0
    content: float = 0.1
    ssim: float = 10.0


def level_loss(level: int, pred: torch.Tensor, target: torch.Tensor, *, vgg: VGGContent | None = None,
               weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The paper's loss at `level`; returns (loss, its parts for logging as detached 0-d tensors: reading them
    is left to the logger, so a training step does not wait for the GPU). `vgg=None` drops the content term."""
    if pred.shape != target.shape:
        raise ValueError(f"level {level}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    pred32, target32 = pred.float(), target.float()
    l1 = F.l1_loss(pred32, target32)
    if level > 1:
        return weights.l1_coarse * l1, {"l1": l1.detach()}
    from bokehpipe.metrics import ssim

    s = ssim(pred32, target32).mean()
    total = weights.l1 * l1 + weights.ssim * (1 - s)
    parts = {"l1": l1.detach(), "ssim": s.detach()}
    if vgg is not None:
        content = vgg(pred, target)
        total = total + weights.content * content
        parts["content"] = content.detach()
    return total, parts
