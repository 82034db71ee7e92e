"""BokehNet: a small U-Net that corrects the classical `scatter` render where it fails (BokehMe's idea).

BokehMe (Peng et al., CVPR 2022) renders bokeh classically and lets a network fix what the classical
renderer gets wrong: depth edges, where a monocular disparity map is soft and misplaced, and what
a single image cannot show. BokehNet keeps that split and keeps it small. It sees, at a fixed working scale
(`NET_WIDTH` px wide, the width at which the synthetic training sets are drawn):

- the sharp photo I and the scatter render S (sRGB),
- the disparity map (normalised, near = 1),
- the signed circle of confusion at working scale, `aperture * K_REF * (NET_WIDTH / 1536) * (d - focus)`
  divided by `COC_UNIT`, and its magnitude.

Focus and aperture reach the network only through the CoC map, which is the same for a photo at any
resolution, so one trained model serves every size and every focus/aperture a user asks for.

It predicts a blend mask m in [0, 1] and an sRGB residual r, at working scale; both are upsampled to the
photo and the output is `S + m * (I - S) + r`. The mask can restore sharp detail where scatter blurred
what is in focus (misplaced depth edges), the residual fixes colour and halo errors. The last layer starts
at zero, so an untrained BokehNet returns S exactly: it cannot start below the classical renderer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NET_WIDTH = 384
"""Working width in pixels: the network sees every photo resized to this width (CoC in these pixels)."""
COC_UNIT = 4.0
"""Working-scale CoC radius (px) that maps to 1.0 on the network's CoC channel."""
COC_CLIP = 6.0
"""The CoC channel is clipped to +-COC_CLIP units: beyond 24 px of blur the correction is the same."""
IN_CHANNELS = 9  # I (3), S (3), disparity, signed CoC, |CoC|
MULTIPLE = 8  # three stride-2 stages


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.2, inplace=True))


class BokehNet(nn.Module):
    """U-Net with three stride-2 stages over the 9-channel `network_input`.

    Like every generator, `model(x, level)` returns the rendered image at the input's scale (here `S + m (I - S)
    + r` with I and S taken from x's first six channels; any h and w, reflect-padded inside), so the one
    training loop and evaluation treat it as they treat PyNET. `correction(x)` returns the mask and residual
    themselves, for a renderer that upsamples them to a full-size photo; there h and w must be multiples of
    `MULTIPLE`. `channels` sets the widths of the four scales; `max_residual` bounds r (tanh).
    """

    multiple = MULTIPLE
    levels = (1,)  # one scale: trained and run at its working size

    def __init__(self, channels: tuple[int, int, int, int] = (16, 32, 64, 96), max_residual: float = 0.25) -> None:
        super().__init__()
        c0, c1, c2, c3 = (int(c) for c in channels)
        self.channels = (c0, c1, c2, c3)
        self.max_residual = float(max_residual)
        self.enc0 = _block(IN_CHANNELS, c0)
        self.enc1 = _block(c0, c1)
        self.enc2 = _block(c1, c2)
        self.enc3 = _block(c2, c3)
        self.dec2 = _block(c3 + c2, c2)
        self.dec1 = _block(c2 + c1, c1)
        self.dec0 = _block(c1 + c0, c0)
        self.head = nn.Conv2d(c0, 4, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # untrained == scatter
        nn.init.zeros_(self.head.bias)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        """(B, 9, h, w) network input -> (B, 3, h, w) render; `level` exists for the generator interface."""
        if level != 1:
            raise ValueError(f"BokehNet has one level (1), not {level}")
        h, w = x.shape[-2:]
        ph, pw = -h % MULTIPLE, -w % MULTIPLE
        padded = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        mask, residual = self.correction(padded)
        return compose(x[:, :3], x[:, 3:6], mask[..., :h, :w], residual[..., :h, :w])

    def correction(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 9, h, w) -> (mask (B, 1, h, w) in [0, 1], residual (B, 3, h, w)); h, w multiples of MULTIPLE."""
        e0 = self.enc0(x)
        e1 = self.enc1(F.avg_pool2d(e0, 2))
        e2 = self.enc2(F.avg_pool2d(e1, 2))
        e3 = self.enc3(F.avg_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self._up(e3, e2), e2], 1))
        d1 = self.dec1(torch.cat([self._up(d2, e1), e1], 1))
        d0 = self.dec0(torch.cat([self._up(d1, e0), e0], 1))
        out = self.head(d0)
        mask = out[:, :1].clamp(0.0, 1.0)  # exactly 0 at init, and still a gradient there
        residual = self.max_residual * torch.tanh(out[:, 1:])
        return mask, residual


def coc_channels(disparity: torch.Tensor, focus: torch.Tensor, aperture: torch.Tensor) -> torch.Tensor:
    """Signed and absolute working-scale CoC in `COC_UNIT`s: (B, 1, h, w) disparity, (B,) focus/aperture -> (B, 2).

    Working scale means the CoC a `NET_WIDTH`-wide version of the photo has, whatever the photo's size.
    """
    from bokehpipe.physics import coc_scale

    k = coc_scale(NET_WIDTH, 1.0) / COC_UNIT
    signed = (aperture.view(-1, 1, 1, 1) * k * (disparity - focus.view(-1, 1, 1, 1))).clamp(-COC_CLIP, COC_CLIP)
    return torch.cat([signed, signed.abs()], 1)


def network_input(image: torch.Tensor, scatter: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor,
                  aperture: torch.Tensor) -> torch.Tensor:
    """(B, 3, h, w) image and scatter render, (B, 1, h, w) disparity at working scale -> (B, 9, h, w)."""
    return torch.cat([image, scatter, disparity, coc_channels(disparity, focus, aperture)], 1)


def compose(image: torch.Tensor, scatter: torch.Tensor, mask: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """`S + m (I - S) + r`, clipped to [0, 1]; all tensors at the same size (upsample m and r first)."""
    return (scatter + mask * (image - scatter) + residual).clamp(0.0, 1.0)
