"""Reading a trained generator back: run-folder checkpoint paths, the file format, and a typed record.

Training writes `runs/<run>/checkpoints/level<L>/{last,best}.pt` (`bokehpipe.train.checkpoint` saves and
resumes); everything that only *uses* a trained model (`infer`, `eval`, the report) reads it here, so it never
imports the training package. A checkpoint holds plain Python types and tensors only, read with
`torch.load(weights_only=True)` (timm's habit): no pickled class can break a later version.

The model is rebuilt from the registry (`bokehpipe.models.create_model`) by name and keyword arguments stored
in the file (`info["model_kwargs"]`; files written before it existed give `in_chans` and `width`), so a new
registered model loads with no change here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bokehpipe.errors import BokehpipeError
from bokehpipe.pretrained import BOKEHNET_WEIGHTS
from bokehpipe.torch_files import load_checkpoint

FORMAT = "bokehpipe-pynet/1"
"""A training run's checkpoint, for every generator (the name predates the others)."""
WEIGHTS_FORMAT = "bokehpipe-bokehnet/1"
"""An exported weights file (fp16 `state_dict`, `model`, `config` = its registry kwargs, `provenance`), for every
generator (the name predates the others): what `export` writes and `infer` loads."""
LEVELS_FINE_TO_COARSE = (1, 2, 3, 4, 5, 6, 7)
SHIPPED_WEIGHTS = {"bokehnet": BOKEHNET_WEIGHTS}
"""The weights the package ships per model (`--init default`, infer's default renderer)."""


def checkpoint_path(run_dir: str | os.PathLike[str], level: int, which: str) -> Path:
    return Path(run_dir) / "checkpoints" / f"level{level}" / f"{which}.pt"


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict, or one clear error for a missing, unreadable or foreign file."""
    return load_checkpoint(path, format=FORMAT, what="bokehpipe PyNET checkpoint",
                           fix="pick another file (or delete a damaged one)", map_location=map_location)


def read_weights_file(path: str | os.PathLike[str] | None, model: str = "bokehnet") -> dict[str, Any]:
    """An exported weights file (default: the weights the package ships for `model`), or one clear error."""
    if path is None:
        if model not in SHIPPED_WEIGHTS:
            raise BokehpipeError(f"bokehpipe ships no weights for {model!r}; pass a weights file")
        return load_checkpoint(SHIPPED_WEIGHTS[model], format=WEIGHTS_FORMAT, what="weights file",
                               fix="reinstall bokehpipe or rebuild them with `bokehpipe experiment bokehnet`")
    return load_checkpoint(path, format=WEIGHTS_FORMAT, what="weights file",
                           fix="give a file made by `bokehpipe export --run NAME` (a run's checkpoints resume "
                               "training; they are not weights files)")


def is_weights_file(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is an exported weights file rather than a run checkpoint, told apart by its format tag
    (its tensors are mapped, not read)."""
    from bokehpipe.torch_files import load_weights_only

    path = Path(path)
    if not path.is_file():
        return False
    payload = load_weights_only(path, what="checkpoint", fix="pass a bokehpipe checkpoint or weights file", mmap=True)
    return isinstance(payload, dict) and payload.get("format") == WEIGHTS_FORMAT


def weights_state(payload: dict[str, Any]) -> dict[str, Any]:
    """A weights file's fp16 tensors back in float32, ready for `load_state_dict`."""
    return {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}


def find_checkpoint(run_dir: str | os.PathLike[str], which: str = "best") -> Path:
    """The `which` checkpoint of the finest level trained so far (lowest level number) in a run folder."""
    run_dir = Path(run_dir)
    for level in LEVELS_FINE_TO_COARSE:
        path = checkpoint_path(run_dir, level, which)
        if path.is_file():
            return path
    raise BokehpipeError(f"{run_dir}: no {which}.pt checkpoint under checkpoints/level*/; train with "
                         f"`bokehpipe train --run {run_dir.name}` first")


@dataclass(frozen=True)
class CheckpointRecord:
    """What a trained model is and how to run it: `model(x, level)` on `make_network_input(..., with_depth)`."""

    model: str  # registry name
    level: int  # the finest level trained: run the model at it
    with_depth: bool
    in_chans: int
    model_kwargs: dict[str, Any]  # create_model(model, **model_kwargs) rebuilds the architecture
    config: dict[str, Any] = field(default_factory=dict)  # the training run's resolved config
    step: int = 0
    depth_source: str | None = None  # the maps it was trained on (gt, png, a MiDaS variant)
    path: Path | None = None
    provenance: dict[str, Any] = field(default_factory=dict)  # an exported weights file's: data, run, step, ...

    @classmethod
    def from_checkpoint(cls, ck: dict[str, Any], path: Path | None = None) -> CheckpointRecord:
        info = dict(ck.get("info", {}))
        if "model" not in info or "in_chans" not in info:
            raise BokehpipeError(f"{path}: checkpoint lacks the model's name or input channels; it was not "
                                 "written by `bokehpipe train`")
        in_chans = int(info["in_chans"])
        kwargs = dict(info.get("model_kwargs") or {"in_chans": in_chans, "width": info.get("width")})
        return cls(model=str(info["model"]), level=int(ck.get("level", 1)),
                   with_depth=bool(info.get("with_depth", in_chans == 4)), in_chans=in_chans, model_kwargs=kwargs,
                   config=dict(ck.get("config", {})), step=int(ck.get("step", 0)),
                   depth_source=info.get("depth_source"), path=path)

    @property
    def kind(self) -> str:
        """The generator kind (`pynet` or `correction`): which renderer runs it on a photo."""
        from bokehpipe.models import model_kind

        return model_kind(self.model)

    @classmethod
    def from_weights_file(cls, payload: dict[str, Any], path: Path | None = None) -> CheckpointRecord:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.get("config", {}).items()}
        model = str(payload.get("model", "bokehnet"))
        in_chans = int(kwargs.get("in_chans", 9 if model == "bokehnet" else 4))
        provenance = payload.get("provenance", {})
        return cls(model=model, level=int(payload.get("level", 1)), with_depth=bool(payload.get("with_depth", True)),
                   in_chans=in_chans, model_kwargs=kwargs, config=dict(provenance.get("train_config") or {}),
                   step=int(provenance.get("step", 0)), depth_source=None, path=path,
                   provenance=dict(provenance))

    def summary(self) -> dict[str, Any]:
        """The plain fields eval records beside a learned method's scores."""
        return {"model": self.model, **{k: v for k, v in self.model_kwargs.items() if k != "in_chans"},
                "in_chans": self.in_chans, "with_depth": self.with_depth, "depth_source": self.depth_source,
                "level": self.level, "step": self.step, "path": str(self.path)}


def build_model(record: CheckpointRecord) -> nn.Module:
    from bokehpipe.models import create_model

    return create_model(record.model, **record.model_kwargs)


def load_for_inference(path: str | os.PathLike[str],
                       device: str | torch.device = "cpu") -> tuple[nn.Module, CheckpointRecord]:
    """Any generator in eval mode plus its record, from a run folder (its finest level's `best.pt`), a run
    checkpoint, or an exported weights file (`export`, the shipped default): the one place that loads them."""
    path = Path(path)
    if path.is_dir():
        path = find_checkpoint(path, "best")
    if is_weights_file(path):
        payload = read_weights_file(path)
        record = CheckpointRecord.from_weights_file(payload, path)
        state = weights_state(payload)
    else:
        ck = read_checkpoint(path, map_location="cpu")
        record = CheckpointRecord.from_checkpoint(ck, path)
        state = ck["model"]
    model = build_model(record)
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise BokehpipeError(f"{path}: weights do not fit model {record.model} ({record.model_kwargs}); "
                             "the checkpoint is damaged") from None
    return model.to(device).eval(), record
