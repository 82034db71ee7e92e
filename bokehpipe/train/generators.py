"""What differs between generators in training, and nothing else: how examples are made, and the loss.

The one loop (`bokehpipe.train.loop`) trains every registered generator the same way (levels, the step
sampler, accumulation, DDP, validation, best/last checkpoints, the metrics log, the run lock, the finished
marker, export). A generator kind supplies:

- `prepare`: whatever its examples need before the first step (a correction network renders its examples
  once and caches them in the run folder),
- `train_set` / `val_set`: datasets whose items are `{"input", "target", "source"}`; `source` is what the
  untrained generator would return (the photo for PyNET's identity baseline, scatter for a correction),
- `loss`: the loss at a level, with its float parts for logging.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from bokehpipe.errors import BokehpipeError

SSIM_WEIGHT = 0.2  # a correction's loss: L1 + SSIM_WEIGHT * (1 - SSIM)


class GeneratorTraining(Protocol):
    def prepare(self, plan: Any, dist: Any, say: Callable[..., None]) -> None: ...

    def train_set(self, plan: Any, level: int, crop: int) -> Any: ...

    def val_set(self, plan: Any, level: int) -> Any: ...

    def loss(self, level: int, pred: torch.Tensor, target: torch.Tensor, vgg: Any) -> tuple[torch.Tensor,
                                                                                          dict[str, torch.Tensor]]: ...


class PyNETTraining:
    """The paper's generator: the photo at half size (+ its cached disparity), level by level."""

    def prepare(self, plan: Any, dist: Any, say: Callable[..., None]) -> None:
        """Nothing to build: samples stream from the dataset and its depth cache."""

    def train_set(self, plan: Any, level: int, crop: int) -> Any:
        from bokehpipe.data.datasets import BokehPairs

        cfg = plan.cfg
        return BokehPairs(plan.train_pairs, level=level, crop=crop, with_depth=cfg.with_depth,
                          depth=plan.train_depth, augment=True, prepared=plan.train_prepared)

    def val_set(self, plan: Any, level: int) -> Any:
        from bokehpipe.data.datasets import BokehPairs

        cfg = plan.cfg
        return BokehPairs(plan.val_pairs, level=level, crop=cfg.val_crop or None, with_depth=cfg.with_depth,
                          depth=plan.val_depth, with_source=True, prepared=plan.val_prepared)

    def loss(self, level: int, pred: torch.Tensor, target: torch.Tensor, vgg: Any) -> tuple[torch.Tensor,
                                                                                          dict[str, torch.Tensor]]:
        from bokehpipe.losses import level_loss

        return level_loss(level, pred, target, vgg=vgg)


class CorrectionTraining:
    """A correction of the classical scatter render (BokehNet): examples rendered once into the run folder
    (`correction_examples`), from a synthetic set's exact focus and aperture or a real set's depth cache."""

    def __init__(self) -> None:
        self.examples: dict[str, Any] = {}

    def prepare(self, plan: Any, dist: Any, say: Callable[..., None]) -> None:
        from bokehpipe import distributed
        from bokehpipe.train.correction_examples import load_or_build

        cfg, t0, built = plan.cfg, time.time(), [0]

        def progress(n: int) -> None:
            built[0] += n
            if built[0] % 100 == 0:
                say("note", text=f"examples: {built[0]} pairs rendered ({time.time() - t0:.0f} s)")

        splits = (("train", cfg.train_split, plan.recipe, cfg.limit),
                  ("val", cfg.val_split, plan.val_recipe, cfg.val_max))

        def build(report: Callable[[int], None] | None) -> None:
            for name, split, recipe, limit in splits:
                if split:
                    self.examples[name] = load_or_build(plan.run_dir / "examples" / f"{name}.npz", plan.data_root,
                                                        split, recipe, limit=limit, progress=report, real=plan.real)

        if dist.is_main:  # the main process renders the examples and caches them in the run folder ...
            build(progress)
        distributed.barrier(dist)
        if not dist.is_main:  # ... and the other ranks read that cache
            build(None)
        counts = ", ".join(f"{len(ex)} {name}" for name, ex in self.examples.items())
        say("note", text=f"examples: {counts} ({time.time() - t0:.0f} s)")
        for name, ex in self.examples.items():
            if ex.left_out:
                ids = ", ".join(ex.left_out[:5]) + ("..." if len(ex.left_out) > 5 else "")
                say("note", text=f"examples: {len(ex.left_out)} {name} pair(s) of another aspect ratio left out "
                                 f"(ids {ids})")

    def train_set(self, plan: Any, level: int, crop: int) -> Any:
        from bokehpipe.train.correction_examples import CorrectionCrops

        return CorrectionCrops(self._examples("train"), crop=crop, augment=True)

    def val_set(self, plan: Any, level: int) -> Any:
        from bokehpipe.train.correction_examples import CorrectionCrops

        return CorrectionCrops(self._examples("val"), crop=plan.cfg.val_crop or None)

    def _examples(self, name: str) -> Any:
        if name not in self.examples:
            raise BokehpipeError(f"no {name} examples were prepared")
        return self.examples[name]

    def loss(self, level: int, pred: torch.Tensor, target: torch.Tensor, vgg: Any) -> tuple[torch.Tensor,
                                                                                          dict[str, torch.Tensor]]:
        from bokehpipe.metrics import ssim

        pred32, target32 = pred.float(), target.float()
        l1 = F.l1_loss(pred32, target32)
        s = ssim(pred32, target32).mean()
        return l1 + SSIM_WEIGHT * (1 - s), {"l1": l1.detach(), "ssim": s.detach()}


def training_for(kind: str) -> GeneratorTraining:
    """The training side of a generator kind (`bokehpipe.models.ModelSpec.kind`)."""
    if kind == "pynet":
        return PyNETTraining()
    if kind == "correction":
        return CorrectionTraining()
    raise BokehpipeError(f"no training for generator kind {kind!r}")
