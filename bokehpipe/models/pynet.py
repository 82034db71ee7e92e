"""PyNET-Bokeh: the generator of Ignatov et al., "Rendering Natural Camera Bokeh Effect with Deep Learning"
(CVPR-W 2020, arXiv:2006.05698), itself PyNET (Ignatov et al., CVPR-W 2020, arXiv:2002.05509) adapted to bokeh.

Geometry (DESIGN.md): the network sees RGB at half the photo's resolution plus one disparity channel
(`in_chans` 4; 3 without depth). A space-to-depth step and four max-pools make an inverted pyramid of five
feature levels; levels are numbered as in the paper, coarse level 7 at 1/32 of the network input down to
level 3 at 1/2. Level 2 upsamples back to the network input's resolution and level 1 to twice it, i.e. the
photo's full resolution. `forward(x, level)` returns the image at that level's scale,
`x.shape[-1] * 2 ** (2 - level)` wide, so every level can be trained (and used) on its own.

Building blocks follow the paper: parallel multi-kernel blocks (3/5/7/9, two convolutions per branch,
outputs concatenated), instance normalisation on the middle levels but not on the finest feature level,
LeakyReLU(0.2), two transposed convolutions feeding each finer level, and per level an image head
`0.58 * tanh(conv) + 0.5`. The official code is TensorFlow 1 (aiff22/PyNET-Bokeh, where code level N is
paper level N+2); this is an independent PyTorch implementation of the same topology, ~47.5M parameters
at full width. `width` scales every feature count for lighter CPU variants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = (7, 6, 5, 4, 3, 2, 1)
BASE_MAPS = (32, 64, 128, 256, 512)  # feature maps at paper levels 3, 4, 5, 6, 7 (full width)
MULTIPLE = 32  # space-to-depth (2) x four 2x2 max-pools (16)
_SLOPE = 0.2


class ConvAct(nn.Sequential):
    """Conv (same padding) -> optional instance norm (affine, eps 1e-3 as the paper) -> LeakyReLU(0.2).

    A convolution followed by instance norm has no bias: the norm subtracts it again, so its gradient is
    rounding noise that Adam would amplify into a random walk (the paper's code keeps these biases).
    """

    def __init__(self, cin: int, cout: int, k: int, norm: bool) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2, bias=not norm)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, eps=1e-3, affine=True))
        layers.append(nn.LeakyReLU(_SLOPE))
        super().__init__(*layers)


class MultiConv(nn.Module):
    """Parallel branches with kernels 3..max_k (two convs each), concatenated: `maps * branches` channels."""

    def __init__(self, cin: int, maps: int, max_k: int, norm: bool) -> None:
        super().__init__()
        ks = [k for k in (3, 5, 7, 9) if k <= max_k]
        self.branches = nn.ModuleList(nn.Sequential(ConvAct(cin, maps, k, norm), ConvAct(maps, maps, k, norm))
                                      for k in ks)
        self.out_chans = maps * len(ks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        return outs[0] if len(outs) == 1 else torch.cat(outs, 1)


class UpConv(nn.Sequential):
    """Transposed 3x3 convolution, stride 2 (exactly doubles H and W), no bias, LeakyReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False),
                         nn.LeakyReLU(_SLOPE))


class UpPair(nn.Module):
    """The two independent upsamplings a level hands to the next finer one (`a` enters early, `b` late)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.a = UpConv(cin, cout)
        self.b = UpConv(cin, cout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(x), self.b(x)


def _cat(*xs: torch.Tensor) -> torch.Tensor:
    return torch.cat(xs, 1)


class Level7(nn.Module):
    """Coarsest level (1/32): four 3x3 blocks, two of them residual."""

    def __init__(self, cin: int, m: int, norm: bool) -> None:
        super().__init__()
        self.d1 = MultiConv(cin, m, 3, norm)
        self.d2 = MultiConv(m, m, 3, norm)
        self.d3 = MultiConv(m, m, 3, norm)
        self.d4 = MultiConv(m, m, 3, norm)
        self.out_chans = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.d1(x)
        d2 = self.d2(d1) + d1
        d3 = self.d3(d2) + d2
        return self.d4(d3)


class Level6(nn.Module):
    """1/16: skip + early upsampling, three residual 3x3 blocks, late upsampling joined before the last block."""

    def __init__(self, m: int, norm: bool) -> None:
        super().__init__()
        self.d3 = MultiConv(2 * m, m, 3, norm)
        self.d4 = MultiConv(m, m, 3, norm)
        self.d5 = MultiConv(m, m, 3, norm)
        self.d6 = MultiConv(m, m, 3, norm)
        self.d7 = MultiConv(2 * m, m, 3, norm)
        self.out_chans = m

    def forward(self, skip: torch.Tensor, up_a: torch.Tensor, up_b: torch.Tensor) -> torch.Tensor:
        d3 = self.d3(_cat(skip, up_a))
        d4 = self.d4(d3) + d3
        d5 = self.d5(d4) + d4
        return self.d7(_cat(self.d6(d5), up_b))


class Level5(nn.Module):
    """1/8: 3+5 blocks, three residual, the skip joined again before the late upsampling."""

    def __init__(self, m: int, norm: bool) -> None:
        super().__init__()
        self.d3 = MultiConv(2 * m, m, 5, norm)
        self.d4 = MultiConv(2 * m, m, 5, norm)
        self.d5 = MultiConv(2 * m, m, 5, norm)
        self.d6 = MultiConv(2 * m, m, 5, norm)
        self.d8 = MultiConv(4 * m, m, 3, norm)
        self.out_chans = m

    def forward(self, skip: torch.Tensor, up_a: torch.Tensor, up_b: torch.Tensor) -> torch.Tensor:
        d2 = _cat(skip, up_a)
        d3 = self.d3(d2) + d2
        d4 = self.d4(d3) + d3
        d5 = self.d5(d4) + d4
        d7 = _cat(self.d6(d5), skip, up_b)
        return self.d8(d7)


class Level4(nn.Module):
    """1/4: 3..7 blocks, three residual 3..7 blocks between skips."""

    def __init__(self, m: int, norm: bool) -> None:
        super().__init__()
        self.d3 = MultiConv(2 * m, m, 5, norm)
        self.d4 = MultiConv(3 * m, m, 7, norm)
        self.d5 = MultiConv(3 * m, m, 7, norm)
        self.d6 = MultiConv(3 * m, m, 7, norm)
        self.d7 = MultiConv(3 * m, m, 7, norm)
        self.d8 = MultiConv(4 * m, m, 5, norm)
        self.d9 = MultiConv(3 * m, m, 3, norm)
        self.out_chans = m

    def forward(self, skip: torch.Tensor, up_a: torch.Tensor, up_b: torch.Tensor) -> torch.Tensor:
        d3 = _cat(self.d3(_cat(skip, up_a)), skip)
        d4 = self.d4(d3) + d3
        d5 = self.d5(d4) + d4
        d6 = self.d6(d5) + d5
        d7 = _cat(self.d7(d6), skip)
        d8 = _cat(self.d8(d7), up_b)
        return self.d9(d8)


class Level3(nn.Module):
    """1/2, the finest feature level: 3..9 blocks; no instance norm (its middle blocks: `norm_mid`)."""

    def __init__(self, m: int, norm_mid: bool) -> None:
        super().__init__()
        self.d3 = MultiConv(2 * m, m, 5, False)
        self.d4 = MultiConv(3 * m, m, 7, False)
        self.d5 = MultiConv(3 * m, m, 9, norm_mid)
        self.d6 = MultiConv(4 * m, m, 9, norm_mid)
        self.d7 = MultiConv(4 * m, m, 9, norm_mid)
        self.d8 = MultiConv(4 * m, m, 9, norm_mid)
        self.d9 = MultiConv(4 * m, m, 7, False)
        self.d10 = MultiConv(4 * m, m, 5, False)
        self.d12 = MultiConv(4 * m, m, 3, False)
        self.out_chans = m

    def forward(self, skip: torch.Tensor, up_a: torch.Tensor, up_b: torch.Tensor) -> torch.Tensor:
        d3 = _cat(self.d3(_cat(skip, up_a)), skip)
        d5 = self.d5(self.d4(d3))
        d6 = self.d6(d5) + d5
        d7 = self.d7(d6) + d6
        d8 = self.d8(d7) + d7
        d9 = _cat(self.d9(d8), skip)
        d11 = _cat(self.d10(d9), up_b, skip)
        return self.d12(d11)


def _image(pre: torch.Tensor) -> torch.Tensor:
    """The paper's output range: tanh scaled to [-0.08, 1.08] so 0 and 1 are reachable without saturating."""
    return torch.tanh(pre) * 0.58 + 0.5


class PyNETBokeh(nn.Module):
    """The generator. `forward(x, level)`: x (N, in_chans, H, W), H and W multiples of `multiple`."""

    multiple = MULTIPLE
    levels = LEVELS

    def __init__(self, in_chans: int = 4, width: float = 1.0, instance_norm: bool = True,
                 instance_norm_level3: bool = False, up2_chans: int = 8) -> None:
        super().__init__()
        if in_chans < 1:
            raise ValueError(f"in_chans must be >= 1, got {in_chans}")
        if not 0 < width <= 4:
            raise ValueError(f"width must be in (0, 4], got {width}")
        self.in_chans, self.width = in_chans, width
        m3, m4, m5, m6, m7 = (max(1, round(c * width)) for c in BASE_MAPS)
        norm = instance_norm
        # encoder: space-to-depth then one 3x3 block per feature level (level 3 unnormalised)
        self.enc3 = MultiConv(4 * in_chans, m3, 3, False)
        self.enc4 = MultiConv(m3, m4, 3, norm)
        self.enc5 = MultiConv(m4, m5, 3, norm)
        self.enc6 = MultiConv(m5, m6, 3, norm)
        # decoder, coarse to fine; each `lN_up` feeds level N-1, each `lN_head` renders level N
        self.l7_body = Level7(m6, m7, norm)
        self.l7_up, self.l7_head = UpPair(m7, m6), nn.Conv2d(m7, 3, 3, padding=1)
        self.l6_body = Level6(m6, norm)
        self.l6_up, self.l6_head = UpPair(m6, m5), nn.Conv2d(m6, 3, 3, padding=1)
        self.l5_body = Level5(m5, norm)
        self.l5_up, self.l5_head = UpPair(m5, m4), nn.Conv2d(m5, 3, 3, padding=1)
        self.l4_body = Level4(m4, norm)
        self.l4_up, self.l4_head = UpPair(m4, m3), nn.Conv2d(m4, 3, 3, padding=1)
        self.l3_body = Level3(m3, instance_norm_level3)
        self.l3_head = nn.Conv2d(m3, 3, 3, padding=1)
        # level 2: back to the network input's resolution; level 1: to the photo's full resolution
        self.l2_up, self.l2_head = UpConv(m3, up2_chans), nn.Conv2d(up2_chans, 3, 3, padding=1)
        self.l1_up, self.l1_head = UpConv(3, 3), nn.Conv2d(3, 3, 3, padding=1)
        self._init_weights()

    def _init_weights(self) -> None:
        """He init for LeakyReLU(0.2) (keeps the unnormalised level-3 path alive); small heads start near grey."""
        heads = {self.l7_head, self.l6_head, self.l5_head, self.l4_head, self.l3_head, self.l2_head, self.l1_head}
        for mod in self.modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(mod.weight, a=_SLOPE, nonlinearity="leaky_relu")
                if mod in heads:
                    mod.weight.data.mul_(0.1)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)

    # --- levels --------------------------------------------------------------------------------------
    @staticmethod
    def scale(level: int) -> float:
        """Output size over network input size at `level`: 2 at level 1, 1 at level 2, 1/32 at level 7."""
        return 2.0 ** (2 - level)

    def level_modules(self, level: int) -> list[str]:
        """Names of the submodules a level's forward pass runs (and so trains)."""
        _check_level(level)
        names = ["enc3", "enc4", "enc5", "enc6", "l7_body"]
        for n in (6, 5, 4, 3):
            if level <= n:
                names += [f"l{n + 1}_up", f"l{n}_body"]
        names.append(f"l{max(level, 3)}_head" if level >= 3 else "l2_up")
        if level <= 2:
            names.append("l2_head")
        if level == 1:
            names += ["l1_up", "l1_head"]
        return names

    def level_parameters(self, level: int) -> list[tuple[str, nn.Parameter]]:
        keep = tuple(f"{n}." for n in self.level_modules(level))
        return [(n, p) for n, p in self.named_parameters() if n.startswith(keep)]

    def forward(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        _check_level(level)
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"expected input (N, {self.in_chans}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(f"input H and W must be multiples of {self.multiple}, got {tuple(x.shape[-2:])}; "
                             "pad or crop first")
        e3 = self.enc3(F.pixel_unshuffle(x, 2))
        e4 = self.enc4(F.max_pool2d(e3, 2))
        e5 = self.enc5(F.max_pool2d(e4, 2))
        e6 = self.enc6(F.max_pool2d(e5, 2))
        f = self.l7_body(F.max_pool2d(e6, 2))
        if level == 7:
            return self.level_image(self.l7_head(f), x, 7)
        for n, skip in ((6, e6), (5, e5), (4, e4), (3, e3)):
            a, b = getattr(self, f"l{n + 1}_up")(f)
            f = getattr(self, f"l{n}_body")(skip, a, b)
            if level == n:
                return self.level_image(getattr(self, f"l{n}_head")(f), x, n)
        pre2 = self.l2_head(self.l2_up(f))
        if level == 2:
            return self.level_image(pre2, x, 2)
        # level 1 upsamples level 2's pre-activation image, as the paper's top level does
        return self.level_image(self.l1_head(self.l1_up(pre2)), x, 1)

    def level_image(self, pre: torch.Tensor, x: torch.Tensor, level: int) -> torch.Tensor:
        """A level's image from its head's pre-activation (the paper: scaled tanh; subclasses may add a skip)."""
        return _image(pre)


def _check_level(level: int) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of 1..7, got {level}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
