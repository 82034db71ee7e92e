"""MiDaS encoders on current timm: CNNs (v2.1), ViT / hybrid ViT (DPT v3) and BEiT (v3.1).

Each adapter wraps a `timm.create_model(..., pretrained=False)` network under the attribute names of the
official checkpoints (`pretrained.layer1..4` for v2.1; `pretrained.model` + `pretrained.act_postprocess*`
for DPT) and returns the encoder levels the decoder fuses. Where timm >= 0.9 renamed or dropped a key,
`remap(key)` turns the official key (relative to `pretrained.`) into ours, or drops it (None), like timm's
own `checkpoint_filter_fn` does for foreign checkpoints. Facts: isl-org/MiDaS `midas/blocks.py`,
`midas/backbones/{utils,vit,beit}.py`; the key and shape lists of the released files.

The official code patched timm modules at run time (`types.MethodType`) to accept other input sizes;
here the same computation lives in each adapter's `forward`, and timm's modules stay untouched:

- ViT: the position embedding grid is resized bilinearly (align_corners=False) to (H/16, W/16).
- BEiT: the relative position bias table is resized bilinearly per (H/16, W/16) window.
"""

from __future__ import annotations

import math

import timm
import torch
import torch.nn.functional as F
from torch import nn

from bokehpipe.depth.variants import DepthVariant


class Backbone(nn.Module):
    """An encoder that returns the feature maps (NCHW) for `scratch.layer{i}_rn`, in level order."""

    def remap(self, key: str) -> str | None:
        """Official key (after `pretrained.`) -> this module's key; None drops a non-persistent buffer."""
        return key

    def filter_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Apply `remap` to every key; a state_dict of this module itself passes through unchanged."""
        out = {}
        for key, value in state.items():
            new = self.remap(key)
            if new is not None:
                out[new] = value
        return out


def _timm(variant: DepthVariant) -> nn.Module:
    return timm.create_model(variant.timm_name, pretrained=False)


# --- MiDaS v2.1 CNN encoders ----------------------------------------------------------------------------

class EfficientNetLite3(Backbone):
    """`pretrained.layer1..4` over timm's tf_efficientnet_lite3 (gen-efficientnet in the original).

    timm fuses the stem ReLU6 into `bn1` (BatchNormAct2d), so index 2 of layer1 is an Identity where the
    original had `act1`; keys and shapes are otherwise identical.
    """

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        net = _timm(variant)
        self.layer1 = nn.Sequential(net.conv_stem, net.bn1, nn.Identity(), *net.blocks[0:2])
        self.layer2 = nn.Sequential(*net.blocks[2:3])
        self.layer3 = nn.Sequential(*net.blocks[3:5])
        self.layer4 = nn.Sequential(*net.blocks[5:9])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        l1 = self.layer1(x)
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        return [l1, l2, l3, self.layer4(l3)]


class ResNeXt101(Backbone):
    """`pretrained.layer1..4` over timm's resnext101_32x8d (torch.hub WSL-Images in the original)."""

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        net = _timm(variant)
        self.layer1 = nn.Sequential(net.conv1, net.bn1, net.act1, net.maxpool, net.layer1)
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.layer4 = net.layer4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        l1 = self.layer1(x)
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        return [l1, l2, l3, self.layer4(l3)]


# --- DPT reassemble (shared by ViT and BEiT) ------------------------------------------------------------

class ProjectReadout(nn.Module):
    """DPT readout 'project': concatenate each patch token with the class token, Linear(2C -> C) + GELU."""

    def __init__(self, dim: int, start_index: int = 1) -> None:
        super().__init__()
        self.start_index = start_index
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x[:, self.start_index:]
        readout = x[:, 0:1].expand_as(tokens)
        return self.project(torch.cat((tokens, readout), -1))


class Transpose(nn.Module):
    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.dim0, self.dim1)


class GridPlaceholder(nn.Identity):
    """Index 2 of `act_postprocess*` (nn.Unflatten in the original): the grid is set per input in forward."""


def _reassemble(vit_features: int, out: int, level: int) -> nn.Sequential:
    """`act_postprocess{level}`: readout, transpose, (unflatten), 1x1 conv, then x4 / x2 / - / /2."""
    layers: list[nn.Module] = [ProjectReadout(vit_features), Transpose(1, 2), GridPlaceholder(),
                               nn.Conv2d(vit_features, out, 1)]
    if level == 1:
        layers.append(nn.ConvTranspose2d(out, out, 4, stride=4))
    elif level == 2:
        layers.append(nn.ConvTranspose2d(out, out, 2, stride=2))
    elif level == 4:
        layers.append(nn.Conv2d(out, out, 3, stride=2, padding=1))
    return nn.Sequential(*layers)


def _apply_reassemble(post: nn.Sequential, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    x = post[0:2](tokens)  # (B, C, N)
    x = x.reshape(x.shape[0], x.shape[1], grid[0], grid[1])
    return post[3:](x)


def resize_pos_embed(pos_embed: torch.Tensor, grid: tuple[int, int], start_index: int = 1) -> torch.Tensor:
    """Bilinear (align_corners=False) resize of the square patch-position grid to `grid` (official recipe)."""
    tok, pos = pos_embed[:, :start_index], pos_embed[0, start_index:]
    old = int(math.sqrt(len(pos)))
    if (old, old) == tuple(grid):
        return pos_embed
    pos = pos.reshape(1, old, old, -1).permute(0, 3, 1, 2)
    pos = F.interpolate(pos, size=grid, mode="bilinear", align_corners=False)
    pos = pos.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)
    return torch.cat([tok, pos], dim=1)


class _TokenBackbone(Backbone):
    """Shared tail of ViT and BEiT: tap blocks at `hooks`, reassemble tokens into four NCHW levels."""

    patch = 16
    token_levels = (1, 2, 3, 4)  # levels taken from transformer blocks (the hybrid takes 1-2 from its CNN)

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        self.hooks = variant.hooks
        self.model = _timm(variant)
        for level in self.token_levels:
            setattr(self, f"act_postprocess{level}",
                    _reassemble(variant.vit_features, variant.feature_channels[level - 1], level))

    def _taps(self, x: torch.Tensor, block_fn) -> list[torch.Tensor]:
        wanted = {self.hooks[level - 1]: level for level in self.token_levels}
        taps: dict[int, torch.Tensor] = {}
        for i, blk in enumerate(self.model.blocks):
            x = block_fn(blk, x)
            if i in wanted:
                taps[wanted[i]] = x
            if len(taps) == len(wanted):
                break  # later blocks (and the final norm) do not reach the decoder
        return [taps[level] for level in self.token_levels]


class ViT(_TokenBackbone):
    """DPT-Large: ViT-L/16; blocks 5, 11, 17, 23 reassembled at 1/4, 1/8, 1/16, 1/32."""

    def _embed(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.model.patch_embed.proj(x), []

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        grid = (x.shape[2] // self.patch, x.shape[3] // self.patch)
        m = self.model
        x, cnn_levels = self._embed(x)
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat((m.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = m.pos_drop(x + resize_pos_embed(m.pos_embed, grid))
        x = m.norm_pre(x)
        taps = self._taps(x, lambda blk, t: blk(t))
        out = [_apply_reassemble(getattr(self, f"act_postprocess{level}"), t, grid)
               for level, t in zip(self.token_levels, taps, strict=True)]
        return cnn_levels + out


class HybridViT(ViT):
    """DPT-Hybrid: ResNet-50 (BiT) stages 0 and 1 give levels 1-2 as they are, ViT-B blocks 8/11 levels 3-4."""

    token_levels = (3, 4)

    def _embed(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        cnn = self.model.patch_embed.backbone
        x = cnn.stem(x)
        levels = []
        for i, stage in enumerate(cnn.stages):
            x = stage(x)
            if i < 2:
                levels.append(x)
        x = cnn.norm(x)
        return self.model.patch_embed.proj(x), levels


class BEiT(_TokenBackbone):
    """BEiT-B/L: relative position bias resized to the input's window; no absolute position embedding.

    The official 512/384 checkpoints store `relative_position_index` buffers, which timm >= 0.9 makes
    non-persistent (recomputed); `remap` drops them.
    """

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__(variant)
        self._index_cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def remap(self, key: str) -> str | None:
        return None if key.endswith("attn.relative_position_index") else key

    def _rel_pos_bias(self, attn: nn.Module, window: tuple[int, int]) -> torch.Tensor:
        from timm.models.beit import gen_relative_position_index

        table = attn.relative_position_bias_table
        old_h, old_w = 2 * attn.window_size[0] - 1, 2 * attn.window_size[1] - 1
        new_h, new_w = 2 * window[0] - 1, 2 * window[1] - 1
        n_old = old_h * old_w
        sub = table[:n_old]
        if (new_h, new_w) != (old_h, old_w):
            # The official code reshapes (1, old_w, old_h, C); windows are square in every checkpoint.
            sub = sub.reshape(1, old_w, old_h, -1).permute(0, 3, 1, 2)
            sub = F.interpolate(sub, size=(new_h, new_w), mode="bilinear", align_corners=False)
            sub = sub.permute(0, 2, 3, 1).reshape(new_h * new_w, -1)
        table = torch.cat([sub, table[n_old:]])
        key = (window[0], window[1], str(table.device))
        if key not in self._index_cache:
            self._index_cache[key] = gen_relative_position_index(window).to(table.device)
        n = window[0] * window[1] + 1
        bias = table[self._index_cache[key].view(-1)].view(n, n, -1)
        return bias.permute(2, 0, 1).unsqueeze(0)

    def _attention(self, attn: nn.Module, x: torch.Tensor, window: tuple[int, int],
                   shared_bias: torch.Tensor | None) -> torch.Tensor:
        b, n, _ = x.shape
        bias = None
        if attn.q_bias is not None:
            bias = torch.cat((attn.q_bias, torch.zeros_like(attn.v_bias), attn.v_bias))
        qkv = F.linear(x, attn.qkv.weight, bias).reshape(b, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        mask = self._rel_pos_bias(attn, window) if attn.relative_position_bias_table is not None else None
        if shared_bias is not None:
            mask = shared_bias if mask is None else mask + shared_bias
        if mask is not None:
            mask = mask.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.scale)
        return attn.proj_drop(attn.proj(out.transpose(1, 2).reshape(b, n, -1)))

    def _block(self, blk: nn.Module, x: torch.Tensor, window: tuple[int, int],
               shared_bias: torch.Tensor | None) -> torch.Tensor:
        a = self._attention(blk.attn, blk.norm1(x), window, shared_bias)
        x = x + blk.drop_path1(a if blk.gamma_1 is None else blk.gamma_1 * a)
        m = blk.mlp(blk.norm2(x))
        return x + blk.drop_path2(m if blk.gamma_2 is None else blk.gamma_2 * m)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        grid = (x.shape[2] // self.patch, x.shape[3] // self.patch)
        m = self.model
        x = m.patch_embed.norm(m.patch_embed.proj(x).flatten(2).transpose(1, 2))
        x = torch.cat((m.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if m.pos_embed is not None:
            x = x + m.pos_embed
        x = m.pos_drop(x)
        shared = m.rel_pos_bias() if m.rel_pos_bias is not None else None
        taps = self._taps(x, lambda blk, t: self._block(blk, t, grid, shared))
        return [_apply_reassemble(getattr(self, f"act_postprocess{level}"), t, grid)
                for level, t in zip(self.token_levels, taps, strict=True)]
