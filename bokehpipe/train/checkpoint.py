"""Run-folder checkpoints: `runs/<run>/checkpoints/level<L>/{last,best}.pt`, written atomically.

A checkpoint holds plain Python types and tensors only (model, optimiser and scaler state, step, level, RNG
states, the resolved config, the model's identity), so `torch.load(weights_only=True)` reads it and no
pickled class can break a later version. `last` is rewritten every `checkpoint_every` steps and at the end
of a level; `best` whenever validation PSNR improves. A kill at any moment leaves the previous file whole
(temp file + `os.replace`, as timm's checkpoint saver does). Paths, the format and reading a model back for
inference live with the models (`bokehpipe.models.checkpoint`); this module saves and restores training state.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bokehpipe.errors import BokehpipeError
from bokehpipe.models.checkpoint import FORMAT
from bokehpipe.store import atomic_path


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
    """`torch.save` into a temp file beside `path`, then `os.replace`; never a half-written `path`. A write that
    fails (a full disk ends in torch's "enforce fail" RuntimeError) is one line: what failed, that the earlier
    checkpoints are whole, and that the same command resumes."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            torch.save({"format": FORMAT, **state}, tmp)
    except (OSError, RuntimeError) as exc:
        free = shutil.disk_usage(path.parent).free if path.parent.is_dir() else 0
        why = "no space left on the device" if free < (64 << 20) or "No space" in str(exc) else \
            str(exc).strip().splitlines()[0][:120]
        raise BokehpipeError(f"{path}: could not write the checkpoint ({why}); the earlier checkpoints are intact: "
                             "free space and run the same command again to resume") from None
    return path
