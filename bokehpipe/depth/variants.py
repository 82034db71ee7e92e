"""The depth networks bokehpipe can build (MiDaS, Depth Anything V2): one row per official checkpoint.

A table, no if/elif chain. MiDaS facts from the official code (isl-org/MiDaS `midas/model_loader.py`,
`midas/dpt_depth.py`, `midas/backbones/*.py`): Ranftl et al., "Towards Robust Monocular Depth Estimation"
(TPAMI 2020) for v2.1; Ranftl et al., "Vision Transformers for Dense Prediction" (ICCV 2021) for DPT;
Birkl et al., "MiDaS v3.1" (2023) for the BEiT/Swin/LeViT/Next-ViT family. Depth Anything V2 facts from
DepthAnything/Depth-Anything-V2 (`depth_anything_v2/dpt.py`, `metric_depth/depth_anything_v2/dpt.py`,
`run.py`): Yang et al., "Depth Anything V2" (NeurIPS 2024). Each row's keys and shapes were checked against
a listing of the released file.

This module imports no torch: the CLI lists variants in `--help` without loading a framework. The URL and
file name of each checkpoint live in `bokehpipe.weights` (one table for every downloadable file).
"""

from __future__ import annotations

from dataclasses import dataclass

from bokehpipe.errors import BokehpipeError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

DEFAULT_GPU = "dpt_hybrid_384"
DEFAULT_CPU = "midas_v21_small_256"
"""Phase one's defaults on a dataset (`bokehpipe depth`): MiDaS, the paper's path."""
PHOTO_DEFAULT = "depth_anything_v2_vits"
"""The depth network for a user's photo when no map is given (`infer`, `render`): Depth Anything V2 small, the
field's current depth (Apache-2.0), on any device."""


@dataclass(frozen=True)
class DepthVariant:
    """How to build, feed and load one official depth network (MiDaS or Depth Anything V2)."""

    name: str
    arch: str  # "midas_small", "midas" (MidasNet v2.1), "dpt" (DPTDepthModel), "depth_anything" (DA-V2)
    backbone: str  # adapter key in bokehpipe.depth.hierarchical.adapters
    timm_name: str  # the model timm builds (pretrained=False; the official checkpoint holds every weight)
    feature_channels: tuple[int, ...]  # encoder levels fed to scratch.layer{i}_rn (DA-V2: `out_channels`)
    hooks: tuple[int, ...] = ()  # official tap indices (flat block numbering of timm 0.6 / DINOv2)
    features: int = 256  # decoder width
    vit_features: int = 0  # token width (ViT/BEiT readout projection; DINOv2 embed_dim)
    head_features: tuple[int, int] = (256, 32)  # DPT output head widths (LeViT uses 64, 8)
    net_size: int = 384  # net_w = net_h of the official transform
    resize_method: str = "minimal"  # "minimal" (DPT), "upper_bound" (v2.1), "lower_bound" (DA-V2)
    keep_aspect: bool = True  # False: the network only accepts net_size x net_size (Swin, LeViT)
    mean: tuple[float, float, float] = HALF
    std: tuple[float, float, float] = HALF
    multiple: int = 32  # each side of the network input is a multiple of this (DA-V2: the 14-px patch)
    output_resize: str = "bicubic"  # back to the photo's size: "bicubic" (MiDaS) or "bilinear_corners" (DA-V2)
    max_depth: float | None = None  # metric head: sigmoid * max_depth metres; None: relative inverse depth
    release: str = "v3_1"
    description: str = ""

    @property
    def metric(self) -> bool:
        """True when the network predicts depth in metres (near = small) rather than relative inverse depth."""
        return self.max_depth is not None

    @property
    def fixed_size(self) -> bool:
        """Swin and LeViT carry position tables for one input size; they get a square input."""
        return not self.keep_aspect

    @property
    def weights_name(self) -> str:
        """The row of `bokehpipe.weights` that holds this checkpoint (same name as the variant)."""
        return self.name

    def input_rule(self) -> str:
        """One line that states the preprocessing, recorded in every cache made with this variant."""
        aspect = "keep aspect" if self.keep_aspect else "square"
        return (f"{self.net_size}x{self.net_size} {self.resize_method} ({aspect}), multiple of {self.multiple}, "
                f"bicubic; mean={list(self.mean)} std={list(self.std)}")


# encoder -> (timm model, embed_dim, intermediate_layer_idx, features, out_channels), as in the official code
_DA_ENCODERS = {
    "vits": ("vit_small_patch14_dinov2", 384, (2, 5, 8, 11), 64, (48, 96, 192, 384)),
    "vitb": ("vit_base_patch14_dinov2", 768, (2, 5, 8, 11), 128, (96, 192, 384, 768)),
    "vitl": ("vit_large_patch14_dinov2", 1024, (4, 11, 17, 23), 256, (256, 512, 1024, 1024)),
}
HYPERSIM_MAX_DEPTH = 20.0  # metres: the indoor (Hypersim) fine-tunes
VKITTI_MAX_DEPTH = 80.0  # metres: the outdoor (Virtual KITTI 2) fine-tunes


def _depth_anything(name: str, encoder: str, *, max_depth: float | None = None, description: str) -> DepthVariant:
    """A Depth Anything V2 row: encoder size -> DINOv2 on timm, tap blocks and head widths (official run.py)."""
    timm_name, width, hooks, features, out_channels = _DA_ENCODERS[encoder]
    return DepthVariant(name, "depth_anything", "dinov2", timm_name, out_channels, hooks=hooks, features=features,
                        vit_features=width, net_size=518, resize_method="lower_bound", mean=IMAGENET_MEAN,
                        std=IMAGENET_STD, multiple=14, output_resize="bilinear_corners", max_depth=max_depth,
                        release="depth_anything_v2", description=description)


_VARIANTS: tuple[DepthVariant, ...] = (
    DepthVariant("midas_v21_small_256", "midas_small", "efficientnet_lite3", "tf_efficientnet_lite3",
                 (32, 48, 136, 384), features=64, net_size=256, resize_method="upper_bound",
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, release="v2_1",
                 description="MiDaS v2.1 small, EfficientNet-Lite3 (21M params); the CPU default"),
    DepthVariant("midas_v21_384", "midas", "resnext101", "resnext101_32x8d", (256, 512, 1024, 2048),
                 net_size=384, resize_method="upper_bound", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 release="v2_1", description="MiDaS v2.1, ResNeXt-101 32x8d WSL (105M)"),
    DepthVariant("dpt_hybrid_384", "dpt", "vit_hybrid", "vit_base_r50_s16_384", (256, 512, 768, 768),
                 hooks=(0, 1, 8, 11), vit_features=768, release="v3",
                 description="DPT-Hybrid, ViT-B/16 + ResNet-50 (123M); the GPU default"),
    DepthVariant("dpt_large_384", "dpt", "vit", "vit_large_patch16_384", (256, 512, 1024, 1024),
                 hooks=(5, 11, 17, 23), vit_features=1024, release="v3", description="DPT-Large, ViT-L/16 (344M)"),
    DepthVariant("dpt_beit_large_512", "dpt", "beit", "beit_large_patch16_512", (256, 512, 1024, 1024),
                 hooks=(5, 11, 17, 23), vit_features=1024, net_size=512, description="BEiT-L/16 at 512 (345M)"),
    DepthVariant("dpt_beit_large_384", "dpt", "beit", "beit_large_patch16_384", (256, 512, 1024, 1024),
                 hooks=(5, 11, 17, 23), vit_features=1024, description="BEiT-L/16 at 384 (344M)"),
    DepthVariant("dpt_beit_base_384", "dpt", "beit", "beit_base_patch16_384", (96, 192, 384, 768),
                 hooks=(2, 5, 8, 11), vit_features=768, description="BEiT-B/16 at 384 (112M)"),
    DepthVariant("dpt_swin2_large_384", "dpt", "swin", "swinv2_large_window12to24_192to384",
                 (192, 384, 768, 1536), hooks=(1, 1, 17, 1), keep_aspect=False,
                 description="SwinV2-L, window 24 (213M)"),
    DepthVariant("dpt_swin2_base_384", "dpt", "swin", "swinv2_base_window12to24_192to384",
                 (128, 256, 512, 1024), hooks=(1, 1, 17, 1), keep_aspect=False,
                 description="SwinV2-B, window 24 (102M)"),
    DepthVariant("dpt_swin2_tiny_256", "dpt", "swin", "swinv2_tiny_window16_256", (96, 192, 384, 768),
                 hooks=(1, 1, 5, 1), net_size=256, keep_aspect=False, description="SwinV2-T, window 16 (42M)"),
    DepthVariant("dpt_swin_large_384", "dpt", "swin", "swin_large_patch4_window12_384", (192, 384, 768, 1536),
                 hooks=(1, 1, 17, 1), keep_aspect=False, description="Swin-L, window 12 (213M)"),
    DepthVariant("dpt_levit_224", "dpt", "levit", "levit_384", (384, 512, 768), hooks=(3, 11, 21),
                 head_features=(64, 8), net_size=224, keep_aspect=False, description="LeViT-384 (51M), 3 levels"),
    DepthVariant("dpt_next_vit_large_384", "dpt", "next_vit", "nextvit_large", (96, 256, 512, 1024),
                 hooks=(2, 6, 36, 39), description="Next-ViT-L, ImageNet-1K-6M (72M)"),
    _depth_anything("depth_anything_v2_vits", "vits",
                    description="Depth Anything V2 Small, DINOv2 ViT-S/14 (25M); relative inverse depth"),
    _depth_anything("depth_anything_v2_vitb", "vitb",
                    description="Depth Anything V2 Base, DINOv2 ViT-B/14 (97M); relative inverse depth"),
    _depth_anything("depth_anything_v2_vitl", "vitl",
                    description="Depth Anything V2 Large, DINOv2 ViT-L/14 (335M); relative inverse depth"),
    _depth_anything("depth_anything_v2_metric_hypersim_vits", "vits", max_depth=HYPERSIM_MAX_DEPTH,
                    description="Depth Anything V2 Small fine-tuned on Hypersim (indoor): metres, up to 20"),
    _depth_anything("depth_anything_v2_metric_vkitti_vits", "vits", max_depth=VKITTI_MAX_DEPTH,
                    description="Depth Anything V2 Small fine-tuned on Virtual KITTI 2 (outdoor): metres, up to 80"),
    _depth_anything("depth_anything_v2_metric_hypersim_vitb", "vitb", max_depth=HYPERSIM_MAX_DEPTH,
                    description="Depth Anything V2 Base fine-tuned on Hypersim (indoor): metres, up to 20"),
    _depth_anything("depth_anything_v2_metric_vkitti_vitl", "vitl", max_depth=VKITTI_MAX_DEPTH,
                    description="Depth Anything V2 Large fine-tuned on Virtual KITTI 2 (outdoor): metres, up to 80"),
)

VARIANTS: dict[str, DepthVariant] = {v.name: v for v in _VARIANTS}


def variant_names() -> list[str]:
    return list(VARIANTS)


def get_variant(name: str) -> DepthVariant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise BokehpipeError(f"unknown depth model {name!r}; known: {', '.join(VARIANTS)}") from None


def default_variant(device_type: str) -> str:
    """DPT-Hybrid where there is a GPU (quality), MiDaS v2.1 small on a CPU (about 30x cheaper)."""
    return DEFAULT_GPU if device_type == "cuda" else DEFAULT_CPU
