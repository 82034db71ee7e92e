"""Tiny generators for rendering tests: the shape of PyNET's interface (`model(x, level)`, `multiple`) without
its size, so tiling and geometry can be checked exactly and fast."""

from __future__ import annotations

import torch
from torch import nn


class LocalNet(nn.Module):
    """Fully convolutional, no global statistics, a 4x pooling and a x2 output like PyNET level 1.

    Receptive field radius at its input: 1 + 2 * (1 + 1) + a bit = under 8 px, so a 32-px overlap (8 px
    clean margin) must reproduce the untiled output exactly."""

    multiple = 8

    def __init__(self, in_chans: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(in_chans, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Conv2d(8 + in_chans, 3, 3, padding=1)

    def forward(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        y = torch.relu(self.a(x))
        y = nn.functional.interpolate(torch.relu(self.b(nn.functional.avg_pool2d(y, 4))), scale_factor=4)
        y = self.head(torch.cat([y, x], 1))
        return nn.functional.interpolate(torch.sigmoid(y), scale_factor=2, mode="nearest")
