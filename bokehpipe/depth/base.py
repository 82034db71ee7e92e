"""The common surface of every depth network (MiDaS and Depth Anything V2 alike)."""

from __future__ import annotations

from torch import nn

from bokehpipe.depth.hierarchical import adapters
from bokehpipe.depth.variants import DepthVariant


class DepthModel(nn.Module):
    """Common surface: `forward(x) -> (B, h, w)` at the network's resolution, in the variant's units
    (relative inverse depth, or metres for a metric variant); `pretrained` is the backbone adapter."""

    variant: DepthVariant

    def __init__(self, variant: DepthVariant) -> None:
        super().__init__()
        self.variant = variant
        self.pretrained = adapters()[variant.backbone](variant)
