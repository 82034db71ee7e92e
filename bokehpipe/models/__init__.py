"""Model registry: a table of named generators and `create_model(name, **kw)` (timm's pattern).

Every generator is called the same way, `model(x, level) -> image`, and declares what differs as data in its
`ModelSpec`: its `kind` (which inputs it takes and how a training example is made: `pynet`, the paper's
photo + disparity at half resolution, level by level; `correction`, a correction of the classical scatter
render at a working size, one level) and the training settings it starts from. `create_model` drops keyword
arguments that are None, so an unset CLI option means "the model's default".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from bokehpipe.errors import ConfigError
from bokehpipe.models.bokehnet import BokehNet
from bokehpipe.models.pynet import PyNETBokeh, count_parameters
from bokehpipe.models.pynet_residual import PyNETResidual


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[..., nn.Module]
    defaults: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    kind: str = "pynet"  # "pynet": photo (+ disparity) at half size, 7 levels; "correction": scatter corrected


KINDS = ("pynet", "correction")


_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("pynet", PyNETBokeh, {"width": 1.0}, "PyNET-Bokeh at the paper's width (~47.5M parameters)"),
    ModelSpec("pynet-s", PyNETBokeh, {"width": 0.5}, "half width (~11.9M parameters), for small GPUs and CPUs"),
    ModelSpec("pynet-xs", PyNETBokeh, {"width": 0.25}, "quarter width (~3M parameters), CPU demos and tests"),
    # the same networks with an identity skip at every level (models/pynet_residual.py)
    ModelSpec("pynet-res", PyNETResidual, {"width": 1.0}, "PyNET-Bokeh + identity skip per level (paper width)"),
    ModelSpec("pynet-res-s", PyNETResidual, {"width": 0.5}, "half width + identity skip"),
    ModelSpec("pynet-res-xs", PyNETResidual, {"width": 0.25}, "quarter width + identity skip, CPU demos"),
    # the controllable learned renderer, a correction of `scatter` (models/bokehnet.py; the default)
    ModelSpec("bokehnet", BokehNet, {}, "scatter render + a small U-Net correction (~0.39M params), focus/aperture",
              kind="correction"),
)
REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def list_models() -> list[str]:
    return list(REGISTRY)


def model_kind(name: str) -> str:
    """The generator kind of a registered model (`pynet` or `correction`)."""
    try:
        return REGISTRY[name].kind
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}") from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model; None-valued kwargs fall back to the model's own defaults."""
    try:
        spec = REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}") from None
    kw = {**spec.defaults, **{k: v for k, v in kwargs.items() if v is not None}}
    return spec.builder(**kw)


__all__ = ["BokehNet", "ModelSpec", "PyNETBokeh", "PyNETResidual", "REGISTRY", "count_parameters", "create_model",
           "list_models",
           "model_kind"]
