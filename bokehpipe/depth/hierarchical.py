"""MiDaS v3.1 hierarchical encoders on current timm: Swin / SwinV2, LeViT and Next-ViT.

Birkl et al., "MiDaS v3.1 - A Model Zoo for Robust Monocular Relative Depth Estimation" (2023); facts
from isl-org/MiDaS `midas/backbones/{swin_common,swin2,levit,next_vit}.py` and the key lists of the released
files. The official taps (`hooks`) count blocks the way timm 0.6 (and the Next-ViT repo) laid them out; timm
>= 0.9 regrouped the same blocks into `stages[i].blocks[j]` and renamed keys. The adapters translate both:
taps by position, keys by `remap` (rules, not key order, so a re-saved checkpoint still maps).
"""

from __future__ import annotations

import re

import torch
from torch import nn

from bokehpipe.depth.backbones import Backbone, _timm
from bokehpipe.depth.variants import DepthVariant


class Swin(Backbone):
    """Swin-L and SwinV2-T/B/L: the output of block `hooks[i]` of stage i, NHWC -> NCHW, no reassemble.

    timm 0.6 put the patch-merging downsample at the end of a stage, timm >= 0.9 at the start of the next
    one: `layers.N.downsample` becomes `layers.N+1.downsample`; the classifier `head` becomes `head.fc`;
    `attn_mask`, `relative_position_index` (and SwinV2's `relative_coords_table`) are recomputed buffers.
    """

    _DROP = ("attn_mask", "relative_position_index", "relative_coords_table")

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        self.hooks = variant.hooks
        self.model = _timm(variant)

    def filter_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # Only checkpoints in the timm 0.6 layout (stage 0 owns a downsample) get the stage shift.
        self._old_layout = "model.layers.0.downsample.reduction.weight" in state
        return super().filter_state(state)

    def remap(self, key: str) -> str | None:
        if not key.startswith("model."):
            return key
        rest = key[len("model."):]
        if any(rest.endswith(name) for name in self._DROP):
            return None
        if getattr(self, "_old_layout", True):
            rest = re.sub(r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) + 1}.downsample.",
                          rest)
            rest = re.sub(r"^head\.(weight|bias)$", r"head.fc.\1", rest)
        return "model." + rest

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.model.patch_embed(x)
        levels = []
        for stage, hook in zip(self.model.layers, self.hooks, strict=True):
            x = stage.downsample(x)
            for j, blk in enumerate(stage.blocks):
                x = blk(x)
                if j == hook:
                    levels.append(x.permute(0, 3, 1, 2).contiguous())
        return levels


def _flat_to_stage(index: int, depths: list[int], per_block: int, stage_prefix: int) -> tuple[int, int, int]:
    """Flat timm-0.6 index -> (stage, block, part). LeViT: 2 entries per block and 2 per downsample
    (stage_prefix=2, parts: 0 = attention, 1 = MLP; block -1 = downsample); Next-ViT: 1 per block."""
    start = 0
    for s, depth in enumerate(depths):
        prefix = stage_prefix if s > 0 else 0
        size = prefix + depth * per_block
        if index < start + size:
            offset = index - start - prefix
            if offset < 0:
                return s, -1, offset + prefix
            return s, offset // per_block, offset % per_block
        start += size
    raise ValueError(f"block index {index} beyond the model's {start} blocks")


class LeViT(Backbone):
    """LeViT-384 at 224x224: three levels (1/16, 1/32, 1/64 grids of 14, 7, 4), tokens -> NCHW.

    Official flat blocks 3, 11, 21 are the outputs of timm's stages[0].blocks[1], stages[1].blocks[0] and
    stages[2].blocks[0]. Key rules (`remap`): `patch_embed.{0,2,4,6}` -> `stem.conv{1..4}`; flat
    `blocks.i` -> `stages.s.blocks.j.{attn,mlp}` or `stages.s.downsample.{attn_downsample,mlp}` with the
    Residual wrapper `.m.` removed; `.c.` -> `.linear.`; `proj.1`/`q.1` -> `.ln`; MLP `0`/`2` -> `ln1`/`ln2`;
    `head(_dist).l` -> `.linear`; `attention_bias_idxs` buffers are recomputed by timm.
    """

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        self.model = _timm(variant)
        self.depths = [len(stage.blocks) for stage in self.model.stages]
        self.taps = []
        for hook in variant.hooks:
            s, j, part = _flat_to_stage(hook, self.depths, 2, 2)
            if j < 0 or part != 1:
                raise ValueError(f"LeViT hook {hook} is not the end of a block")
            self.taps.append((s, j))

    def remap(self, key: str) -> str | None:
        if not key.startswith("model."):
            return key
        rest = key[len("model."):]
        if rest.endswith("attention_bias_idxs"):
            return None
        m = re.match(r"^patch_embed\.(\d+)\.(c|bn)\.(.*)$", rest)
        if m:
            conv = int(m.group(1)) // 2 + 1
            return f"model.stem.conv{conv}.{'linear' if m.group(2) == 'c' else 'bn'}.{m.group(3)}"
        m = re.match(r"^blocks\.(\d+)\.(.*)$", rest)
        if m:
            s, j, part = _flat_to_stage(int(m.group(1)), self.depths, 2, 2)
            inner = m.group(2)
            if inner.startswith("m."):
                inner = inner[2:]  # the Residual wrapper of timm 0.6
            if part == 1:  # MLP: Sequential(ConvNorm, act, ConvNorm) -> ln1 / ln2
                inner = re.sub(r"^0\.", "ln1.", re.sub(r"^2\.", "ln2.", inner))
            inner = re.sub(r"^(proj|q)\.1\.", r"\1.ln.", inner)
            inner = re.sub(r"(^|\.)c\.", r"\1linear.", inner)
            if j < 0:
                where = f"stages.{s}.downsample.{'attn_downsample' if part == 0 else 'mlp'}"
            else:
                where = f"stages.{s}.blocks.{j}.{'attn' if part == 0 else 'mlp'}"
            return f"model.{where}.{inner}"
        rest = re.sub(r"^(head|head_dist)\.l\.", r"\1.linear.", rest)
        return "model." + rest

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.model.stem(x)
        grid = x.shape[2:]
        x = x.flatten(2).transpose(1, 2)
        levels = []
        for s, stage in enumerate(self.model.stages):
            if s > 0:
                grid = tuple((g - 1) // 2 + 1 for g in grid)
            x = stage.downsample(x)
            for j, blk in enumerate(stage.blocks):
                x = blk(x)
                if (s, j) in self.taps:
                    levels.append(x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid))
            if len(levels) == len(self.taps):
                break
        return levels


class NextViT(Backbone):
    """Next-ViT-L: outputs of flat blocks 2, 6, 36, 39 (the last block of each stage), already NCHW.

    The original repo numbers blocks `features.N` (depths 3, 4, 30, 3); timm names them
    `stages.s.blocks.j`, calls the MLP convs `fc1`/`fc2` and the classifier `head.fc` (`proj_head.0`).
    """

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        self.model = _timm(variant)
        self.depths = [len(stage.blocks) for stage in self.model.stages]
        self.taps = [_flat_to_stage(hook, self.depths, 1, 0)[:2] for hook in variant.hooks]

    def remap(self, key: str) -> str | None:
        if not key.startswith("model."):
            return key
        rest = key[len("model."):]
        m = re.match(r"^features\.(\d+)\.(.*)$", rest)
        if m:
            s, j, _ = _flat_to_stage(int(m.group(1)), self.depths, 1, 0)
            inner = re.sub(r"^mlp\.conv(\d)\.", r"mlp.fc\1.", m.group(2))
            return f"model.stages.{s}.blocks.{j}.{inner}"
        return "model." + re.sub(r"^proj_head\.0\.", "head.fc.", rest)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.model.stem(x)
        levels = []
        for s, stage in enumerate(self.model.stages):
            for j, blk in enumerate(stage.blocks):
                x = blk(x)
                if (s, j) in self.taps:
                    levels.append(x)
        return levels


def adapters() -> dict[str, type[nn.Module]]:
    """Backbone key of `DepthVariant.backbone` -> adapter class."""
    from bokehpipe.depth import backbones as b
    from bokehpipe.depth.dinov2 import DinoV2

    return {"efficientnet_lite3": b.EfficientNetLite3, "resnext101": b.ResNeXt101, "vit": b.ViT,
            "vit_hybrid": b.HybridViT, "beit": b.BEiT, "swin": Swin, "levit": LeViT, "next_vit": NextViT,
            "dinov2": DinoV2}
