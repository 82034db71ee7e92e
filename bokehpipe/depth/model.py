"""Depth networks assembled from a variant row: MidasNet_small, MidasNet (v2.1), DPTDepthModel and
Depth Anything V2 (bokehpipe.depth.depth_anything); one builder, one filter, one loader for all of them.

Module names (`pretrained.*`, `scratch.*`, `depth_head.*`) follow the official code (isl-org/MiDaS
`midas/midas_net_custom.py`, `midas/midas_net.py`, `midas/dpt_depth.py`; DepthAnything/Depth-Anything-V2
`depth_anything_v2/dpt.py`), so the released files load with `strict=True` after `checkpoint_filter_fn`
(timm's convention for foreign checkpoints) has renamed what current timm renamed. Checkpoints are read
with `torch.load(weights_only=True)`: a checkpoint is data, never code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from bokehpipe.depth.base import DepthModel
from bokehpipe.depth.blocks import (
    FeatureFusionBlock,
    FeatureFusionBlockCustom,
    dpt_head,
    fuse_levels,
    make_scratch,
    midas_head,
    stem_transpose,
)
from bokehpipe.depth.variants import DepthVariant, get_variant
from bokehpipe.errors import BokehpipeError


class _RefineNetModel(DepthModel):
    """MiDaS v2.1's decoder order (both sizes): four encoder levels fused coarse to fine by RefineNet blocks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        l1, l2, l3, l4 = self.pretrained(x)
        s = self.scratch
        p = s.refinenet4(s.layer4_rn(l4))
        p = s.refinenet3(p, s.layer3_rn(l3))
        p = s.refinenet2(p, s.layer2_rn(l2))
        p = s.refinenet1(p, s.layer1_rn(l1))
        return s.output_conv(p).squeeze(1)


class MidasNetSmall(_RefineNetModel):
    """MiDaS v2.1 small: EfficientNet-Lite3, decoder widths 64/128/256/512 (`expand`), align_corners=True."""

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__(variant)
        f = variant.features
        self.scratch = make_scratch(variant.feature_channels, f, expand=True)
        self.scratch.activation = nn.ReLU(False)
        self.scratch.refinenet4 = FeatureFusionBlockCustom(f * 8, expand=True)
        self.scratch.refinenet3 = FeatureFusionBlockCustom(f * 4, expand=True)
        self.scratch.refinenet2 = FeatureFusionBlockCustom(f * 2, expand=True)
        self.scratch.refinenet1 = FeatureFusionBlockCustom(f)
        self.scratch.output_conv = midas_head(f, f // 2, identity_tail=True)


class MidasNet(_RefineNetModel):
    """MiDaS v2.1 (ResNeXt-101): plain RefineNet fusion without `out_conv`."""

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__(variant)
        f = variant.features
        self.scratch = make_scratch(variant.feature_channels, f)
        for i in (4, 3, 2, 1):
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlock(f))
        self.scratch.output_conv = midas_head(f, f // 2, identity_tail=False)


class DPTDepthModel(DepthModel):
    """DPT: encoder levels -> 3x3 convs to 256 -> fusion from coarse to fine -> head. LeViT has 3 levels
    and a transposed-conv stem (x4) before the head."""

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__(variant)
        f = variant.features
        self.levels = len(variant.feature_channels)
        self.scratch = make_scratch(variant.feature_channels, f)
        if variant.backbone == "levit":
            self.scratch.stem_transpose = stem_transpose(f, f // 2)
        else:
            self.scratch.stem_transpose = None
        for i in range(1, self.levels + 1):
            size = 7 if (variant.backbone == "levit" and i == 3) else None
            setattr(self.scratch, f"refinenet{i}", FeatureFusionBlockCustom(f, size=size))
        self.scratch.output_conv = dpt_head(*variant.head_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scratch
        rn = [getattr(s, f"layer{i}_rn")(t) for i, t in enumerate(self.pretrained(x), start=1)]
        p = fuse_levels(s, rn)
        if s.stem_transpose is not None:
            p = s.stem_transpose(p)
        return s.output_conv(p).squeeze(1)


def _archs() -> dict[str, type[DepthModel]]:
    """`DepthVariant.arch` -> model class (Depth Anything V2 imported here: its module builds on this one)."""
    from bokehpipe.depth.depth_anything import DepthAnythingV2

    return {"midas_small": MidasNetSmall, "midas": MidasNet, "dpt": DPTDepthModel, "depth_anything": DepthAnythingV2}


def create_midas(name: str, *, device: str | torch.device | None = None) -> DepthModel:
    """Build any variant of the table (MiDaS or Depth Anything V2) with random weights (timm
    `pretrained=False`); `device="meta"` allocates nothing."""
    variant = get_variant(name)
    with torch.device(device) if device is not None else contextlib.nullcontext():
        model = _archs()[variant.arch](variant)
    return model.eval()


def checkpoint_filter_fn(state_dict: Mapping[str, torch.Tensor], model: DepthModel) -> dict[str, torch.Tensor]:
    """Official keys -> this model's keys: `pretrained.*` through the backbone's filter, the rest as is.

    Idempotent: this model's own `state_dict()` passes unchanged, so `torch.save(model.state_dict())` is a
    loadable checkpoint too."""
    prefix = "pretrained."
    encoder = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    out = {prefix + k: v for k, v in model.pretrained.filter_state(encoder).items()}
    out.update({k: v for k, v in state_dict.items() if not k.startswith(prefix)})
    return out


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """`torch.load(weights_only=True)` of a depth network's file: a plain state_dict, or
    {'model': ..., 'optimizer': ...}."""
    from bokehpipe.torch_files import load_weights_only

    path = Path(path)
    obj = load_weights_only(path, what="depth network weights file",
                            fix="use the official release file (`bokehpipe weights list` names it and its URL), or "
                                "save a plain state_dict with torch.save(model.state_dict(), PATH) and pass that")
    if isinstance(obj, Mapping) and "optimizer" in obj and "model" in obj:
        obj = obj["model"]  # the official BaseModel.load accepts training checkpoints too
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BokehpipeError(f"{path}: expected a state_dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def load_state(model: DepthModel, state_dict: Mapping[str, torch.Tensor], *, source: str = "checkpoint") -> None:
    """Filter, then `load_state_dict(strict=True)`; a mismatch names the variant and the first odd keys."""
    filtered = checkpoint_filter_fn(state_dict, model)
    own = model.state_dict()
    missing = [k for k in own if k not in filtered]
    unexpected = [k for k in filtered if k not in own]
    shapes = [f"{k} {tuple(filtered[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in filtered and tuple(filtered[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        detail = "; ".join(part for part in (
            f"missing {len(missing)} (e.g. {', '.join(missing[:3])})" if missing else "",
            f"unexpected {len(unexpected)} (e.g. {', '.join(unexpected[:3])})" if unexpected else "",
            f"shape mismatch {len(shapes)} (e.g. {shapes[0]})" if shapes else "") if part)
        raise BokehpipeError(f"{source}: not a {model.variant.name} checkpoint: {detail}; "
                             "check --model / --weights")
    model.load_state_dict(filtered, strict=True, assign=any(t.is_meta for t in own.values()))


def load_midas(name: str, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> DepthModel:
    """Build `name` and load an official checkpoint file into it (strict), in eval mode on `device`."""
    model = create_midas(name)
    load_state(model, read_checkpoint(path), source=str(path))
    return model.to(device).eval()


def predict_raw(model: DepthModel, image, *, net_size: int | None = None):
    """The network's output (H, W) float32 at the photo's size, in the variant's units, for one RGB image
    (H, W, 3) in [0, 1]: relative inverse depth, or metres for a metric variant. No normalisation.

    The official recipe end to end: the variant's keep-aspect bicubic resize (bokehpipe.depth.transforms),
    normalise, forward, and the variant's resize back to the photo's size.
    """
    from bokehpipe.depth.transforms import prepare, resize_prediction

    param = next(model.parameters())
    x = torch.from_numpy(prepare(image, model.variant, net_size))[None].to(param.device)
    with torch.inference_mode():
        pred = model(x)
        size = (image.shape[1], image.shape[0])
        return resize_prediction(pred, size, model.variant)[0].float().cpu().numpy()


def predict(model: DepthModel, image, *, net_size: int | None = None):
    """Inverse depth (H, W) float32 for one RGB image (H, W, 3) in [0, 1], what the cache normalises: a
    relative variant's raw output, a metric variant's 1/metres (bokehpipe.depth.transforms.to_inverse_depth)."""
    from bokehpipe.depth.transforms import to_inverse_depth

    return to_inverse_depth(predict_raw(model, image, net_size=net_size), model.variant)
