"""The MiDaS variants bokehpipe can build: one row per official checkpoint, no if/elif chain.

Facts from the official code (isl-org/MiDaS `midas/model_loader.py`, `midas/dpt_depth.py`,
`midas/backbones/*.py`) and from the key and shape lists of each released file. Ranftl et al., "Towards
Robust Monocular Depth Estimation" (TPAMI 2020) for v2.1; Ranftl et al., "Vision Transformers for Dense
Prediction" (ICCV 2021) for DPT; Birkl et al., "MiDaS v3.1" (2023) for the BEiT/Swin/LeViT/Next-ViT family.

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


@dataclass(frozen=True)
class MidasVariant:
    """How to build, feed and load one official MiDaS model."""

    name: str
    arch: str  # "midas_small" (MidasNet_small), "midas" (MidasNet v2.1), "dpt" (DPTDepthModel)
    backbone: str  # adapter key in bokehpipe.depth.backbones
    timm_name: str  # the model timm builds (pretrained=False; the MiDaS checkpoint holds every weight)
    feature_channels: tuple[int, ...]  # encoder outputs fed to scratch.layer{i}_rn
    hooks: tuple[int, ...] = ()  # official tap indices (flat block numbering of timm 0.6)
    features: int = 256  # decoder width
    vit_features: int = 0  # token width for the readout projection (ViT/BEiT)
    head_features: tuple[int, int] = (256, 32)  # DPT output head widths (LeViT uses 64, 8)
    net_size: int = 384  # net_w = net_h of the official transform
    resize_method: str = "minimal"  # "minimal" (DPT family) or "upper_bound" (v2.1)
    keep_aspect: bool = True  # False: the network only accepts net_size x net_size (Swin, LeViT)
    mean: tuple[float, float, float] = HALF
    std: tuple[float, float, float] = HALF
    release: str = "v3_1"
    description: str = ""

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
        return (f"{self.net_size}x{self.net_size} {self.resize_method} ({aspect}), multiple of 32, bicubic; "
                f"mean={list(self.mean)} std={list(self.std)}")


_VARIANTS: tuple[MidasVariant, ...] = (
    MidasVariant("midas_v21_small_256", "midas_small", "efficientnet_lite3", "tf_efficientnet_lite3",
                 (32, 48, 136, 384), features=64, net_size=256, resize_method="upper_bound",
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, release="v2_1",
                 description="MiDaS v2.1 small, EfficientNet-Lite3 (21M params); the CPU default"),
    MidasVariant("midas_v21_384", "midas", "resnext101", "resnext101_32x8d", (256, 512, 1024, 2048),
                 net_size=384, resize_method="upper_bound", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 release="v2_1", description="MiDaS v2.1, ResNeXt-101 32x8d WSL (105M)"),
    MidasVariant("dpt_hybrid_384", "dpt", "vit_hybrid", "vit_base_r50_s16_384", (256, 512, 768, 768),
                 hooks=(0, 1, 8, 11), vit_features=768, release="v3",
                 description="DPT-Hybrid, ViT-B/16 + ResNet-50 (123M); the GPU default"),
    MidasVariant("dpt_large_384", "dpt", "vit", "vit_large_patch16_384", (256, 512, 1024, 1024),
                 hooks=(5, 11, 17, 23), vit_features=1024, release="v3", description="DPT-Large, ViT-L/16 (344M)"),
    MidasVariant("dpt_beit_large_512", "dpt", "beit", "beit_large_patch16_512", (256, 512, 1024, 1024),
                 hooks=(5, 11, 17, 23), vit_features=1024, net_size=512, description="BEiT-L/16 at 512 (345M)"),
    MidasVariant("dpt_beit_large_384", "dpt", "beit", "beit_large_patch16_384", (256, 512, 1024, 1024),
                 hooks=(5, 11, 17, 23), vit_features=1024, description="BEiT-L/16 at 384 (344M)"),
    MidasVariant("dpt_beit_base_384", "dpt", "beit", "beit_base_patch16_384", (96, 192, 384, 768),
                 hooks=(2, 5, 8, 11), vit_features=768, description="BEiT-B/16 at 384 (112M)"),
    MidasVariant("dpt_swin2_large_384", "dpt", "swin", "swinv2_large_window12to24_192to384",
                 (192, 384, 768, 1536), hooks=(1, 1, 17, 1), keep_aspect=False,
                 description="SwinV2-L, window 24 (213M)"),
    MidasVariant("dpt_swin2_base_384", "dpt", "swin", "swinv2_base_window12to24_192to384",
                 (128, 256, 512, 1024), hooks=(1, 1, 17, 1), keep_aspect=False,
                 description="SwinV2-B, window 24 (102M)"),
    MidasVariant("dpt_swin2_tiny_256", "dpt", "swin", "swinv2_tiny_window16_256", (96, 192, 384, 768),
                 hooks=(1, 1, 5, 1), net_size=256, keep_aspect=False, description="SwinV2-T, window 16 (42M)"),
    MidasVariant("dpt_swin_large_384", "dpt", "swin", "swin_large_patch4_window12_384", (192, 384, 768, 1536),
                 hooks=(1, 1, 17, 1), keep_aspect=False, description="Swin-L, window 12 (213M)"),
    MidasVariant("dpt_levit_224", "dpt", "levit", "levit_384", (384, 512, 768), hooks=(3, 11, 21),
                 head_features=(64, 8), net_size=224, keep_aspect=False, description="LeViT-384 (51M), 3 levels"),
    MidasVariant("dpt_next_vit_large_384", "dpt", "next_vit", "nextvit_large", (96, 256, 512, 1024),
                 hooks=(2, 6, 36, 39), description="Next-ViT-L, ImageNet-1K-6M (72M)"),
)

VARIANTS: dict[str, MidasVariant] = {v.name: v for v in _VARIANTS}


def variant_names() -> list[str]:
    return list(VARIANTS)


def get_variant(name: str) -> MidasVariant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise BokehpipeError(f"unknown MiDaS variant {name!r}; known: {', '.join(VARIANTS)}") from None


def default_variant(device_type: str) -> str:
    """DPT-Hybrid where there is a GPU (quality), MiDaS v2.1 small on a CPU (about 30x cheaper)."""
    return DEFAULT_GPU if device_type == "cuda" else DEFAULT_CPU
