"""Decoder blocks of MiDaS v2.1 and DPT (RefineNet-style fusion), written to the official module layout.

Ranftl et al. 2020 (MiDaS) and Ranftl et al. 2021 (DPT); structure and attribute names follow
isl-org/MiDaS `midas/blocks.py`, so that `scratch.*` keys of the released checkpoints load unchanged.
Two behaviours of the original are kept on purpose because the released weights were trained with them:

- v2.1 `ResidualConvUnit` uses an in-place ReLU on its input, so its skip connection adds `relu(x)`, not `x`.
- LeViT's transposed-conv stem passes `dilation=1` positionally into `output_padding`, so each layer
  exactly doubles the spatial size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Interpolate(nn.Module):
    """Fixed-factor resize inside `output_conv` (no parameters; index kept for checkpoint keys)."""

    def __init__(self, scale_factor: float, mode: str = "bilinear", align_corners: bool = False) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode, align_corners=self.align_corners)


class ResidualConvUnit(nn.Module):
    """MiDaS v2.1 residual unit: relu -> conv3x3 -> relu -> conv3x3, skip from relu(x) (in-place quirk)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return self.conv2(F.relu(self.conv1(x))) + x


class FeatureFusionBlock(nn.Module):
    """MiDaS v2.1 fusion: add the refined skip, refine, upsample x2 (bilinear, align_corners=True)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        if len(xs) == 2:
            out = out + self.resConfUnit1(xs[1])
        out = self.resConfUnit2(out)
        return F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=True)


class ResidualConvUnitCustom(nn.Module):
    """DPT / MidasNet_small residual unit with a non-in-place activation (skip from x), optional BN."""

    def __init__(self, features: int, bn: bool = False) -> None:
        super().__init__()
        self.bn = bn
        self.conv1 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, bias=True)
        if bn:
            self.bn1 = nn.BatchNorm2d(features)
            self.bn2 = nn.BatchNorm2d(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(x))
        if self.bn:
            out = self.bn1(out)
        out = self.conv2(F.relu(out))
        if self.bn:
            out = self.bn2(out)
        return out + x


class FeatureFusionBlockCustom(nn.Module):
    """DPT fusion: skip + refine, resize (to the next level's size, else x2), then a 1x1 `out_conv`.

    `expand=True` (MidasNet_small) halves the channels in `out_conv`.
    """

    def __init__(self, features: int, *, bn: bool = False, expand: bool = False, align_corners: bool = True,
                 size: tuple[int, int] | int | None = None) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.size = size
        self.out_conv = nn.Conv2d(features, features // 2 if expand else features, 1, bias=True)
        self.resConfUnit1 = ResidualConvUnitCustom(features, bn)
        self.resConfUnit2 = ResidualConvUnitCustom(features, bn)

    def forward(self, *xs: torch.Tensor, size: torch.Size | tuple[int, int] | None = None) -> torch.Tensor:
        out = xs[0]
        if len(xs) == 2:
            out = out + self.resConfUnit1(xs[1])
        out = self.resConfUnit2(out)
        size = size if size is not None else self.size
        if size is None:
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=self.align_corners)
        else:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=self.align_corners)
        return self.out_conv(out)


def fuse_levels(scratch: nn.Module, levels: list[torch.Tensor]) -> torch.Tensor:
    """DPT's coarse-to-fine fusion of the `layer{i}_rn` outputs (3 or 4 levels): each `refinenet` resizes to
    the next finer level's size; the finest one doubles its input (DPT, LeViT DPT, Depth Anything V2)."""
    if len(levels) == 3:
        p = scratch.refinenet3(levels[2], size=levels[1].shape[2:])
    else:
        p = scratch.refinenet4(levels[3], size=levels[2].shape[2:])
        p = scratch.refinenet3(p, levels[2], size=levels[1].shape[2:])
    p = scratch.refinenet2(p, levels[1], size=levels[0].shape[2:])
    return scratch.refinenet1(p, levels[0])


def make_scratch(in_channels: tuple[int, ...], features: int, *, expand: bool = False) -> nn.Module:
    """`scratch.layer{i}_rn`: 3x3 convs (no bias) bringing every encoder level to the decoder width."""
    scratch = nn.Module()
    for i, ch in enumerate(in_channels, start=1):
        out = features * (2 ** (i - 1)) if expand else features
        setattr(scratch, f"layer{i}_rn", nn.Conv2d(ch, out, 3, padding=1, bias=False))
    return scratch


class ConvTransposeNorm(nn.Sequential):
    """LeViT decoder stem layer: transposed conv (no bias) + BN, keys `c` and `bn` as in the original."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        # kernel 3, stride 2, padding 1, output_padding 1: exactly x2 (see the module docstring).
        self.add_module("c", nn.ConvTranspose2d(in_chs, out_chs, 3, stride=2, padding=1, output_padding=1,
                                                bias=False))
        self.add_module("bn", nn.BatchNorm2d(out_chs))


def stem_transpose(in_chs: int = 256, out_chs: int = 128) -> nn.Sequential:
    """Upsample x4 after LeViT's 1/16 features (the official `stem_b4_transpose`)."""
    return nn.Sequential(ConvTransposeNorm(in_chs, out_chs), nn.Hardswish(),
                         ConvTransposeNorm(out_chs, out_chs // 2), nn.Hardswish())


def dpt_head(features: int, hidden: int, non_negative: bool = True) -> nn.Sequential:
    """DPT `scratch.output_conv`: conv, x2 (align_corners=True), conv, relu, 1x1 conv, relu."""
    return nn.Sequential(
        nn.Conv2d(features, features // 2, 3, padding=1),
        Interpolate(2, "bilinear", align_corners=True),
        nn.Conv2d(features // 2, hidden, 3, padding=1),
        nn.ReLU(True),
        nn.Conv2d(hidden, 1, 1),
        nn.ReLU(True) if non_negative else nn.Identity(),
        nn.Identity(),
    )


def midas_head(features: int, mid: int, *, identity_tail: bool, non_negative: bool = True) -> nn.Sequential:
    """MiDaS v2.1 `scratch.output_conv`: conv, x2 (align_corners=False), conv, relu, 1x1 conv, relu."""
    layers: list[nn.Module] = [
        nn.Conv2d(features, mid, 3, padding=1),
        Interpolate(2, "bilinear", align_corners=False),
        nn.Conv2d(mid, 32, 3, padding=1),
        nn.ReLU(True),
        nn.Conv2d(32, 1, 1),
        nn.ReLU(True) if non_negative else nn.Identity(),
    ]
    if identity_tail:
        layers.append(nn.Identity())
    return nn.Sequential(*layers)
