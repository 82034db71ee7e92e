"""Depth Anything V2 on current timm: DINOv2 ViT-S/B/L/14 (`vit_*_patch14_dinov2`) and its DPT head.

Yang et al., "Depth Anything V2" (NeurIPS 2024) on Oquab et al., "DINOv2" (2023). Structure and attribute
names follow DepthAnything/Depth-Anything-V2 (`depth_anything_v2/dpt.py`, `dinov2.py`, `util/blocks.py`;
`metric_depth/depth_anything_v2/dpt.py` for the metric head), so each released `.pth` file loads with
`strict=True` after `checkpoint_filter_fn` (bokehpipe.depth.model) applies `DinoV2.remap`:

- `pretrained.<key>` -> `pretrained.model.<key>`: timm's VisionTransformer names every DINOv2 weight the
  way DINOv2 does (cls_token, pos_embed, patch_embed.proj, blocks.N.{norm1, attn.qkv, attn.proj,
  ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}, norm), so the rule is a prefix.
- `pretrained.mask_token` is dropped: DINOv2 swaps it in for masked patches while it trains (iBOT); the
  depth network never passes masks, and timm's ViT has no such parameter.
- `depth_head.*` loads as it is (this module builds the head under the official names).

Position embeddings for inputs other than 518x518: the official DINOv2 resizes its 37x37 grid bicubically
with `scale_factor = (grid + 0.1) / 37` (interpolate_offset 0.1, no antialias), which samples the grid at
other points than timm's `dynamic_img_size` (an exact `size`, antialiased). The adapter computes the
official one in its own forward, as the MiDaS adapters do, and timm's modules stay untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bokehpipe.depth.base import DepthModel
from bokehpipe.depth.blocks import FeatureFusionBlockCustom, fuse_levels, make_scratch
from bokehpipe.depth.dinov2 import PATCH
from bokehpipe.depth.variants import DepthVariant

HEAD_HIDDEN = 32  # width of output_conv2's first conv (head_features_2 in the official code)


def _output_conv2(features: int, metric: bool) -> nn.Sequential:
    """`scratch.output_conv2`: conv 3x3, ReLU, conv 1x1, then ReLU (relative) or Sigmoid (metric)."""
    layers: list[nn.Module] = [nn.Conv2d(features, HEAD_HIDDEN, 3, padding=1), nn.ReLU(True),
                               nn.Conv2d(HEAD_HIDDEN, 1, 1)]
    layers += [nn.Sigmoid()] if metric else [nn.ReLU(True), nn.Identity()]
    return nn.Sequential(*layers)


class DepthAnythingHead(nn.Module):
    """The official `DPTHead` without class-token readout (use_clstoken=False in every release).

    Each tapped grid (1/14) gets a 1x1 projection to `out_channels[i]` and a resize to 4x, 2x, 1x, 1/2x (the
    DPT pyramid), then `scratch.layer{i}_rn` to `features`, RefineNet fusion, `output_conv1`, a bilinear
    (align_corners=True) resize to the patch grid times 14, and `output_conv2`."""

    def __init__(self, in_channels: int, features: int, out_channels: tuple[int, ...], *, metric: bool) -> None:
        super().__init__()
        c = out_channels
        self.projects = nn.ModuleList([nn.Conv2d(in_channels, ch, 1) for ch in c])
        self.resize_layers = nn.ModuleList([nn.ConvTranspose2d(c[0], c[0], 4, stride=4),
                                            nn.ConvTranspose2d(c[1], c[1], 2, stride=2), nn.Identity(),
                                            nn.Conv2d(c[3], c[3], 3, stride=2, padding=1)])
        self.scratch = make_scratch(c, features)
        for i in range(1, len(c) + 1):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlockCustom(features))
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        self.scratch.output_conv2 = _output_conv2(features // 2, metric)

    def forward(self, grids: list[torch.Tensor]) -> torch.Tensor:
        s = self.scratch
        levels = []
        for i, grid in enumerate(grids):
            x = self.resize_layers[i](self.projects[i](grid))
            levels.append(getattr(s, f"layer{i + 1}_rn")(x))
        out = s.output_conv1(fuse_levels(s, levels))
        gh, gw = grids[0].shape[2:]
        out = F.interpolate(out, (gh * PATCH, gw * PATCH), mode="bilinear", align_corners=True)
        return s.output_conv2(out)


class DepthAnythingV2(DepthModel):
    """`forward(x) -> (B, 14*gh, 14*gw)`: relative inverse depth (ReLU, near = large) or, for a metric
    variant, depth in metres (`sigmoid * max_depth`, near = small)."""

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__(variant)
        self.depth_head = DepthAnythingHead(variant.vit_features, variant.features, variant.feature_channels,
                                            metric=variant.metric)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        depth = self.depth_head(self.pretrained(x))
        if self.variant.max_depth is not None:
            return (depth * self.variant.max_depth).squeeze(1)
        return F.relu(depth).squeeze(1)
