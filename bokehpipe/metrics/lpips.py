"""LPIPS v0.1 with an AlexNet trunk (Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of
Deep Features as a Perceptual Metric", CVPR 2018; richzhang/PerceptualSimilarity), rebuilt without torchvision.

Two files are needed and neither can be downloaded here, so LPIPS is optional: `load_lpips` returns the
metric when both are present and `None` with a reason otherwise, and evaluation reports it as absent.

- `alexnet`: torchvision's ImageNet AlexNet (`alexnet-owt-7be5be79.pth`); only `features.*` is used, the five
  ReLU outputs (64, 192, 384, 256, 256 channels) are the LPIPS taps.
- `lpips_alex_v0.1`: the five 1x1 linear layers (`lin{k}.model.1.weight`, shape (1, C, 1, 1), no bias).

Distance: inputs in [0, 1] go to [-1, 1], then through the v0.1 scaling layer (shift/scale per channel); each
tapped feature is unit-normalised over channels, the squared difference is weighted by its linear layer,
averaged over space and summed over the five layers. Lower is better; identical images give 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from bokehpipe.errors import BokehpipeError, WeightsMissingError
from bokehpipe.store import ArtifactStore
from bokehpipe.weights import resolve

BACKBONE_WEIGHTS = "alexnet"
LINEAR_WEIGHTS = "lpips_alex_v0.1"
CHANNELS = (64, 192, 384, 256, 256)
TAPS = (1, 4, 7, 9, 11)  # indices in `features` whose outputs (after ReLU) are compared
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10


def alexnet_features() -> nn.Sequential:
    """AlexNet's convolutional trunk with torchvision's layer indices, so `features.<i>.weight` keys load as-is."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
    )


class LPIPS(nn.Module):
    """LPIPS distance per image, (N,), on (N, 3, H, W) tensors in [0, 1]. Frozen; build with `load_lpips`."""

    def __init__(self) -> None:
        super().__init__()
        self.features = alexnet_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x)
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
            raise BokehpipeError(f"lpips: expected two (N, 3, H, W) tensors of one shape, got {tuple(pred.shape)} "
                                 f"and {tuple(target.shape)}")
        if min(pred.shape[-2:]) < 32:
            raise BokehpipeError(f"lpips: a {pred.shape[-1]}x{pred.shape[-2]} image is too small for AlexNet "
                                 "(needs at least 32 px per side)")
        x = torch.cat([pred, target]).to(self.shift.dtype)
        x = ((2 * x - 1) - self.shift) / self.scale
        total = torch.zeros(pred.shape[0], dtype=x.dtype, device=x.device)
        for feat, lin in zip(self.taps(x), self.lins, strict=True):
            feat = feat / (feat.pow(2).sum(1, keepdim=True).sqrt() + _EPS)
            f0, f1 = feat.chunk(2)
            total = total + lin((f0 - f1).pow(2)).mean((1, 2, 3))
        return total


def _load_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    from bokehpipe.torch_files import load_weights_only

    state = load_weights_only(path, what=f"{what} weights file", fix="download the file again")
    if not isinstance(state, dict):
        raise BokehpipeError(f"{path}: {what} weights are not a state dict; download the file again")
    return state


def checkpoint_filter(backbone: dict[str, torch.Tensor], linear: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the two official files onto `LPIPS` keys: torchvision's `features.*` (the classifier is dropped) and
    LPIPS' `lin{k}.model.1.weight` (index 1 because a Dropout precedes the conv in the original)."""
    state = {k: v for k, v in backbone.items() if k.startswith("features.")}
    for k in range(len(CHANNELS)):
        for key in (f"lin{k}.model.1.weight", f"lin{k}.model.0.weight"):  # the latter: saved without dropout
            if key in linear:
                state[f"lins.{k}.weight"] = linear[key]
                break
    return state


def build_lpips(backbone_path: str | os.PathLike[str], linear_path: str | os.PathLike[str],
                device: torch.device | str = "cpu") -> LPIPS:
    """LPIPS from the two weight files; a file that does not fit (wrong keys or shapes) raises naming it."""
    backbone_path, linear_path = Path(backbone_path), Path(linear_path)
    model = LPIPS()
    state = checkpoint_filter(_load_state(backbone_path, "AlexNet"), _load_state(linear_path, "LPIPS linear"))
    for key, ref in model.state_dict().items():
        got = state.get(key)
        if got is None or got.shape != ref.shape:
            culprit = linear_path if key.startswith("lins.") else backbone_path
            found = "missing" if got is None else f"shape {tuple(got.shape)}, expected {tuple(ref.shape)}"
            raise BokehpipeError(f"{culprit}: not an AlexNet / LPIPS v0.1 checkpoint ({key}: {found}); check which "
                                 "file was given where")
    model.load_state_dict(state, strict=True)
    return model.to(device)


def load_lpips(store: ArtifactStore, device: torch.device | str = "cpu", *,
               backbone: str | os.PathLike[str] | None = None,
               linear: str | os.PathLike[str] | None = None) -> tuple[LPIPS | None, str]:
    """(model, "") when both weight files are found (explicit paths win over the store), else (None, why).

    Weights absent from the store are a normal outcome (nothing can be downloaded here) and give (None, reason);
    an explicit path that does not exist, or a file that is present but broken, raises.
    """
    found = []
    for name, explicit, flag in ((BACKBONE_WEIGHTS, backbone, "--lpips-backbone PATH"),
                                 (LINEAR_WEIGHTS, linear, "--lpips-weights PATH")):
        try:
            found.append(resolve(name, store, explicit, flag=flag))
        except WeightsMissingError as exc:
            if explicit is not None:
                raise
            return None, str(exc)
    return build_lpips(found[0], found[1], device), ""
