"""Run-folder checkpoints: `runs/<run>/checkpoints/level<L>/{last,best}.pt`, written atomically.

A checkpoint holds plain Python types and tensors only (model, optimiser and scaler state, step, level, RNG
states, the resolved config, the model's identity), so `torch.load(weights_only=True)` reads it and no
pickled class can break a later version. `last` is rewritten every `checkpoint_every` steps and at the end
of a level; `best` whenever validation PSNR improves. A kill at any moment leaves the previous file whole
(temp file + `os.replace`, as timm's checkpoint saver does).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bokehpipe.errors import BokehpipeError
from bokehpipe.store import atomic_path

FORMAT = "bokehpipe-pynet/1"
LEVELS_FINE_TO_COARSE = (1, 2, 3, 4, 5, 6, 7)


def checkpoint_path(run_dir: str | os.PathLike[str], level: int, which: str) -> Path:
    return Path(run_dir) / "checkpoints" / f"level{level}" / f"{which}.pt"


def rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and Python RNG states as plain types (the numpy array becomes a list)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": [name, keys.tolist(), pos, has_gauss, cached],
                             "python": _to_lists(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """`torch.save` into a temp file beside `path`, then `os.replace`; never a half-written `path`."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise BokehpipeError(f"{path}: checkpoint not found")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated file, foreign pickle, not a zip: same advice
        raise BokehpipeError(f"{path}: not a readable bokehpipe checkpoint ({type(exc).__name__}); "
                             "pick another file or delete it") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise BokehpipeError(f"{path}: not a bokehpipe PyNET checkpoint (format {ck.get('format')!r} "
                             f"if isinstance(ck, dict) else 'unknown'; expected {FORMAT})")
    return ck


def find_checkpoint(run_dir: str | os.PathLike[str], which: str = "best") -> Path:
    """The `which` checkpoint of the finest level trained so far (lowest level number) in a run folder."""
    run_dir = Path(run_dir)
    for level in LEVELS_FINE_TO_COARSE:
        path = checkpoint_path(run_dir, level, which)
        if path.is_file():
            return path
    raise BokehpipeError(f"{run_dir}: no {which}.pt checkpoint under checkpoints/level*/; train with "
                         f"`bokehpipe train --run {run_dir.name}` first")


def model_info(ck: dict[str, Any]) -> dict[str, Any]:
    cfg = ck.get("config", {})
    info = dict(ck["info"])
    info.update(level=ck["level"], step=ck["step"], config=cfg)
    return info


def build_model(info: dict[str, Any]) -> nn.Module:
    from bokehpipe.models import create_model

    return create_model(info["model"], in_chans=info["in_chans"], width=info["width"])


def load_model_for_inference(path: str | os.PathLike[str],
                             device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Model in eval mode plus info: model, width, in_chans, with_depth, depth_source, level, step, config.

    `path` is a checkpoint file or a run folder (then its finest level's `best.pt`). Run the model at
    `info["level"]` (`model(x, info["level"])`) on inputs from `make_network_input`.
    """
    path = Path(path)
    if path.is_dir():
        path = find_checkpoint(path, "best")
    ck = load_checkpoint(path, map_location="cpu")
    info = model_info(ck)
    model = build_model(info)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError:
        raise BokehpipeError(f"{path}: weights do not fit model {info['model']} (width {info['width']}, "
                             f"{info['in_chans']} input channels); the checkpoint is damaged") from None
    info["path"] = str(path)
    return model.to(device).eval(), info
