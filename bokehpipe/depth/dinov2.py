"""DINOv2 (Oquab et al., "DINOv2: Learning Robust Visual Features without Supervision", 2023) as the backbone
adapter of Depth Anything V2: timm's `vit_*_patch14_dinov2` with the official position-embedding resize."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bokehpipe.depth.backbones import Backbone, _timm
from bokehpipe.depth.variants import DepthVariant

PATCH = 14
POS_OFFSET = 0.1  # DINOv2's interpolate_offset in the Depth Anything V2 code


def dinov2_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int], pixels: tuple[int, int],
                     dtype: torch.dtype) -> torch.Tensor:
    """The official `interpolate_pos_encoding`: the stored table when the grid and the (square) input are the
    native ones, else the patch grid resized bicubically by `(grid + 0.1) / side` in float32, cast to `dtype`."""
    n = pos_embed.shape[1] - 1
    if grid[0] * grid[1] == n and pixels[0] == pixels[1]:
        return pos_embed
    side = math.sqrt(n)
    table = pos_embed.float()
    patch = table[:, 1:].reshape(1, int(side), int(side), -1).permute(0, 3, 1, 2)
    scale = ((grid[0] + POS_OFFSET) / side, (grid[1] + POS_OFFSET) / side)
    patch = F.interpolate(patch, scale_factor=scale, mode="bicubic", antialias=False)
    if tuple(patch.shape[-2:]) != tuple(grid):  # cannot happen for grids the offset was chosen for
        raise ValueError(f"position grid {tuple(patch.shape[-2:])} != patch grid {tuple(grid)}")
    patch = patch.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)
    return torch.cat((table[:, :1], patch), dim=1).to(dtype)


class DinoV2(Backbone):
    """DINOv2 on timm: the normalised patch tokens of blocks `hooks` as NCHW grids (class token unused)."""

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        self.hooks = variant.hooks
        self.model = _timm(variant)

    def remap(self, key: str) -> str | None:
        if key == "mask_token":
            return None  # training-only (masked patches); see the module docstring
        return key if key.startswith("model.") else f"model.{key}"  # DINOv2 has no top-level `model`

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        tokens = m.patch_embed.proj(x)
        b, c, gh, gw = tokens.shape
        tokens = tokens.flatten(2).transpose(1, 2)
        tokens = torch.cat((m.cls_token.expand(b, -1, -1), tokens), dim=1)
        tokens = tokens + dinov2_pos_embed(m.pos_embed, (gh, gw), (x.shape[2], x.shape[3]), tokens.dtype)
        taps = []
        for i, blk in enumerate(m.blocks):
            tokens = blk(tokens)
            if i in self.hooks:
                taps.append(tokens)
                if len(taps) == len(self.hooks):
                    break  # later blocks do not reach the head
        return [m.norm(t)[:, 1:].transpose(1, 2).reshape(b, c, gh, gw) for t in taps]
