"""The resolved training configuration: one dataclass, validated once, saved with the run and every checkpoint.

The paper's schedule (Ignatov et al., arXiv:2006.05698; DESIGN.md), level: batch / iterations, Adam lr 5e-5:
7: 50/5K, 6: 50/5K, 5: 40/20K, 4: 14/20K, 3: 9/30K, 2: 9/80K, 1: 5/100K, on 512x512 half-resolution crops.
Pipelines (`pipelines/*.toml`) give the per-level schedule as a `[train.schedule]` table of
`<level> = {batch = .., steps = .., crop = .., lr = ..}` (crop and lr optional); click options override it.
(The table is not named `[train.levels]` because `levels` is already the `--levels` option's default key.)
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bokehpipe.config import cli_field
from bokehpipe.errors import ConfigError

PRECISIONS = ("bf16", "fp16", "fp32")
PRECISION_CHOICES = ("auto", *PRECISIONS)
LR_SCHEDULES = ("constant", "cosine")
MIN_CROP = 64  # level 7 works at crop / 32 pixels; instance norm needs more than one


@dataclass(frozen=True)
class LevelSchedule:
    """One level's stint: global batch (images per optimiser step), optimiser steps, optional crop/lr overrides."""

    batch: int
    steps: int
    crop: int | None = None
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.batch < 1 or self.steps < 1:
            raise ConfigError(f"schedule entries need batch >= 1 and steps >= 1, got batch={self.batch}, "
                              f"steps={self.steps}")


PAPER_SCHEDULE: dict[int, LevelSchedule] = {
    7: LevelSchedule(50, 5_000), 6: LevelSchedule(50, 5_000), 5: LevelSchedule(40, 20_000),
    4: LevelSchedule(14, 20_000), 3: LevelSchedule(9, 30_000), 2: LevelSchedule(9, 80_000),
    1: LevelSchedule(5, 100_000),
}


def parse_levels(text: str | int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """`7..3` -> (7, 6, 5, 4, 3); `2` -> (2,); `[3, 2]` as given. Training always runs coarse to fine."""
    if isinstance(text, int):
        return (text,)
    if isinstance(text, (list, tuple)):
        return tuple(int(v) for v in text)
    m = re.fullmatch(r"\s*(\d)\s*(?:\.\.\s*(\d)\s*)?", str(text))
    if not m:
        raise ConfigError(f"--levels {text!r}: expected a level (1..7) or a range such as 7..3")
    hi = int(m.group(1))
    lo = int(m.group(2)) if m.group(2) else hi
    if hi < lo:
        raise ConfigError(f"--levels {text!r}: levels train coarse to fine, write the coarse level first ({lo}..{hi})")
    return tuple(range(hi, lo - 1, -1))


SCHEDULE_KEYS = {"batch": int, "steps": int, "crop": int, "lr": float}


def parse_schedule(table: dict[str, Any] | None) -> dict[int, LevelSchedule]:
    """`[train.schedule]` from a pipeline (keys "1".."7") on top of the paper's schedule; every value must have
    its type (an integer is an integer: `batch = 2.7` or `"8"` is refused, never truncated or parsed)."""
    from bokehpipe.config import closest, toml_value_is

    if table is not None and not isinstance(table, dict):
        raise ConfigError("[train.schedule] must be a table of levels, e.g. [train.schedule] "
                          "4 = {batch = 8, steps = 300}")
    out = dict(PAPER_SCHEDULE)
    for key, entry in (table or {}).items():
        if not str(key).isdigit() or int(key) not in PAPER_SCHEDULE or not isinstance(entry, dict):
            raise ConfigError(f"[train.schedule] {key!r}: expected level keys 1..7 with {{batch=, steps=}} tables")
        for name, value in entry.items():
            if name not in SCHEDULE_KEYS:
                raise ConfigError(f"[train.schedule] {key}: unknown key {name!r}; did you mean "
                                  f"{closest(name, SCHEDULE_KEYS)!r}? (use batch, steps, crop, lr)")
            want = SCHEDULE_KEYS[name]
            if not toml_value_is(value, want):
                raise ConfigError(f"[train.schedule] {key}: {name} = {value!r} must be "
                                  f"{'a number' if want is float else 'an integer'}")
        base = out[int(key)]
        out[int(key)] = LevelSchedule(entry.get("batch", base.batch), entry.get("steps", base.steps),
                                      entry.get("crop"), entry.get("lr"))
    return out


# The generators `bokehpipe train` trains and their kinds: the model registry (bokehpipe.models.REGISTRY) without
# importing torch at --help time; a test keeps them equal.
MODEL_HELP: dict[str, str] = {
    "pynet": "the paper's PyNET, ~47.5M params",
    "pynet-s": "1/2 width",
    "pynet-xs": "1/4 width",
    "pynet-res": "PyNET with an identity skip per level",
    "pynet-res-s": "identity skip, 1/2 width",
    "pynet-res-xs": "identity skip, 1/4 width: the demo's",
    "bokehnet": "scatter + a learned correction, one level: the default renderer",
}
MODEL_KINDS: dict[str, str] = {name: ("correction" if name == "bokehnet" else "pynet") for name in MODEL_HELP}


@dataclass(frozen=True)
class KindGeometry:
    """What a kind of generator asks of its crops: a multiple and a minimum side (pixels of its network input)."""

    multiple: int
    min_crop: int


GEOMETRY = {"pynet": KindGeometry(32, MIN_CROP), "correction": KindGeometry(8, 16)}

# Settings a kind of generator starts from where neither the command line nor a pipeline gives one: a correction
# of scatter is one small level trained with a cosine schedule (minutes on a CPU), not the paper's seven levels.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "correction": {"levels": "1", "schedule": {"1": {"batch": 8, "steps": 3000}}, "crop": 128, "lr": 1e-3,
                   "lr_schedule": "cosine", "val_every": 250, "log_every": 25, "checkpoint_every": 100,
                   "workers": 0},
}
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_HELP)


def _auto_precision(device: str) -> str:
    """bf16 where the GPU has it (autocast, no loss scaling needed), fp32 elsewhere."""
    if not device.startswith("cuda"):
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"


def _auto_workers(device: str) -> int:
    """Data loading keeps a GPU fed only with several decoding processes: the cores this process may use,
    shared among the GPUs of its node (torchrun's LOCAL_WORLD_SIZE), less one for the training process; two on
    a CPU, where the workers compete with training for the same cores."""
    import os

    if not device.startswith("cuda"):
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    per_gpu = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    return max(1, min(8, per_gpu - 1))


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on. Plain types only, so it round-trips through JSON and weights-only checkpoints.

    Fields made with `cli_field` are also `bokehpipe train`'s options, in this order (cli/options.py).
    """

    run: str = cli_field(decls=("--run", "--run-name"), param="run_name", cli_default=None, metavar="NAME",
                         help="Run folder name: store/runs/NAME (default: <dataset>-<model>-<time>, printed first). "
                              "Under torchrun spell it --run-name: torchrun's own parser takes --run for its "
                              "--run-path on Python < 3.12.")
    data_root: str
    dataset: str
    model: str = cli_field("pynet", choices=MODEL_NAMES, metavar="NAME",
                           help="Generator: " + "; ".join(f"{n} ({d})" for n, d in MODEL_HELP.items()) + ".")
    width: float | None = cli_field(None, help="Override the model's width multiplier.")  # None: the model's own
    levels: tuple[int, ...] = cli_field((7, 6, 5, 4, 3, 2, 1), cli_default="7..1",
                                        help="Levels to train, coarse to fine: a range such as 7..3 or one level.")
    schedule: dict[int, LevelSchedule] = field(default_factory=lambda: dict(PAPER_SCHEDULE))
    with_depth: bool = cli_field(True, flag="--no-depth",
                                 help="Feed the cached disparity as a 4th input channel (the paper's model) or RGB "
                                      "only.")
    depth_source: str | None = cli_field(None, metavar="SRC",
                                         help="Depth cache to read: gt, png or a MiDaS variant "
                                              "(store/depth/<dataset>/<SRC>/<split>.h5). Default: the dataset's only "
                                              "cache for the training split.")
    train_split: str = cli_field("train", help="Training split.")
    val_split: str | None = cli_field("val294", cli_default=None,
                                      help="Validation split (default: the dataset's own: val for synthetic sets, "
                                           "val294 for EBB!).")
    crop: int = cli_field(512, help="Training crop side at half resolution (multiple of 32); the level-1 target is "
                                    "twice this. A default crop larger than the photos is lowered to the largest "
                                    "that fits.")
    lr: float = cli_field(5e-5, help="Adam learning rate.")
    lr_schedule: str = cli_field("constant", choices=LR_SCHEDULES,
                                 help="constant (the paper's), or cosine decay to 0 over each level's steps.")
    accumulate: int = cli_field(1, min=1, help="Micro-batches per step, so the paper's batch sizes fit a smaller GPU.")
    precision: str = cli_field("auto", choices=PRECISION_CHOICES,
                               help="Autocast precision: auto is bf16 on a CUDA device that supports it, else fp32 "
                                    "(fp16 uses a GradScaler; CUDA only).")
    channels_last: bool = cli_field(False, help="Channels-last memory format (faster convolutions on tensor-core "
                                                "GPUs).")
    compile: bool = cli_field(False, help="torch.compile each level's forward pass (CUDA; the first steps of a "
                                          "level pay for compiling).")
    device: str = cli_field("cpu", cli_default="auto", device=True, help="")  # the shared --device
    init: str | None = cli_field(None, param="init_from", metavar="PATH",
                                 help="Start the first level from another run's (or file's) weights.")
    val_every: int = cli_field(1000, min=0, help="Validate every N steps and at the end of each level (0: never).")
    plateau: int = cli_field(0, min=0, help="End a level early once N validations in a row gain less than 0.05 dB "
                                            "over the last real gain (never before half its steps; 0: never).")
    val_crop: int = cli_field(0, min=0, help="Validation centre crop at half resolution (0: whole images).")
    val_max: int = cli_field(0, min=0, help="Validate on the first N pairs only (0: all).")
    log_every: int = cli_field(50, min=1, help="metrics.csv row every N steps.")
    checkpoint_every: int = cli_field(500, min=1, help="Write checkpoints/level<L>/last.pt every N steps (and at "
                                                       "the end of each level).")
    perceptual: bool = cli_field(True, flag="--no-perceptual",
                                 help="Level 1's VGG-19 content loss; --no-perceptual trains level 1 without it "
                                      "(recorded in the run).")
    vgg_weights: str | None = cli_field(None, path=True, metavar="PATH",
                                        help="torchvision's vgg19-dcbb9e9d.pth (default: store/weights/, see "
                                             "`bokehpipe weights fetch vgg19`).")
    workers: int | None = cli_field(None, min=0, help="DataLoader worker processes per training process "
                                                       "(default: 2 on a CPU; on a GPU the cores per GPU, up to 8).")
    prepared: bool = cli_field(True, flag="--no-prepared",
                               help="Cut samples from the split's prepared half-size inputs (`bokehpipe data "
                                    "prepare`) where the store has them: the same samples, without decoding "
                                    "full-size photos; --no-prepared always decodes the photos.")
    threads: int = cli_field(0, min=0, help="torch CPU threads per process (0: torch's default).")
    seed: int = cli_field(0, help="Seed (each process uses seed + rank).")
    deterministic: bool = cli_field(False, help="Deterministic kernels only (slower on GPU).")
    tensorboard: bool | None = cli_field(None, flag="--no-tensorboard",
                                         help="TensorBoard events in the run folder (default: when tensorboard is "
                                              "installed).")
    max_minutes: float = cli_field(0.0, min=0, help="Stop cleanly after this many minutes of training (0: run all "
                                                    "steps); the run is then finished, and says so.")
    limit: int = cli_field(0, min=0, help="Train on the first N pairs of the split only (0: all).")
    f_number: float | None = cli_field(None, min=1e-3, metavar="N",
                                       help="bokehnet on a real paired set: the f-number every target was shot at "
                                            "(default 1.8, EBB!'s); the focus is `infer`'s auto-focus.")
    variants: int = cli_field(2, min=1, help="bokehnet: monocular-like depth degradations per synthetic pair.")
    clean_fraction: float = cli_field(0.25, min=0, max=1,
                                      help="bokehnet: share of examples that keep the set's clean disparity.")

    def __post_init__(self) -> None:
        for f in fields(self):  # a pipeline's TOML can say nan or inf, which no option type sees
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{f.name} = {value}: give a finite number")
        if self.model not in MODEL_NAMES:
            raise ConfigError(f"unknown model {self.model!r} for `bokehpipe train`; known: {', '.join(MODEL_NAMES)}")
        levels = parse_levels(self.levels)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "schedule", {int(k): v if isinstance(v, LevelSchedule) else LevelSchedule(**v)
                                              for k, v in self.schedule.items()})
        if not levels or any(lv not in PAPER_SCHEDULE for lv in levels):
            raise ConfigError(f"levels {levels}: each level must be 1..7")
        if any(a - b != 1 for a, b in zip(levels, levels[1:], strict=False)):
            raise ConfigError(f"levels {levels}: train consecutive levels, coarse to fine (e.g. 7..3)")
        missing = [lv for lv in levels if lv not in self.schedule]
        if missing:
            raise ConfigError(f"no schedule for levels {missing}; add them to [train.schedule]")
        if self.precision == "auto":
            object.__setattr__(self, "precision", _auto_precision(self.device))
        if self.workers is None:
            object.__setattr__(self, "workers", _auto_workers(self.device))
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
        if self.kind == "correction" and levels != (1,):
            raise ConfigError(f"{self.model} has one level: use --levels 1")
        geo = GEOMETRY[self.kind]
        for lv in levels:
            crop = self.level_crop(lv)
            if crop < geo.min_crop or crop % geo.multiple:
                raise ConfigError(f"crop {crop} (level {lv}): use a multiple of {geo.multiple} that is at least "
                                  f"{geo.min_crop}")
        if self.val_crop and (self.val_crop < geo.min_crop or self.val_crop % geo.multiple):
            raise ConfigError(f"--val-crop {self.val_crop}: use 0 (whole images) or a multiple of {geo.multiple} "
                              f">= {geo.min_crop}")
        if self.f_number is not None:
            from bokehpipe.render.calibration import aperture_for_f_number

            aperture_for_f_number(self.f_number)  # refuses an f-number no wider than the f/16 inputs, up front
        if self.kind == "correction" and not self.with_depth:
            raise ConfigError(f"{self.model} renders from depth: it cannot train with --no-depth")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"lr_schedule {self.lr_schedule!r}: use one of {', '.join(LR_SCHEDULES)}")
        for name in ("accumulate", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("val_every", "val_max", "workers", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.with_depth and not self.depth_source:
            raise ConfigError("training with depth needs --depth-source (gt, png or a MiDaS variant), "
                              "or pass --no-depth")
        if self.val_every and not self.val_split:
            raise ConfigError("validation needs --val-split, or pass --val-every 0")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.device.startswith("cpu") and self.precision == "fp16":
            raise ConfigError("fp16 needs a CUDA device; on the CPU use --precision bf16 or fp32")

    # --- derived ---------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return MODEL_KINDS[self.model]

    @property
    def in_chans(self) -> int:
        if self.kind == "correction":
            return 9  # photo, scatter, disparity, signed and absolute CoC (models/bokehnet.IN_CHANNELS)
        return 4 if self.with_depth else 3

    def level_crop(self, level: int) -> int:
        return self.schedule[level].crop or self.crop

    def level_lr(self, level: int) -> float:
        return self.schedule[level].lr or self.lr

    def lr_at(self, level: int, step: int) -> float:
        """The learning rate of `level`'s optimiser step `step` (0-based)."""
        base = self.level_lr(level)
        if self.lr_schedule == "constant":
            return base
        return base * 0.5 * (1 + math.cos(math.pi * step / self.schedule[level].steps))

    def uses_perceptual(self, level: int) -> bool:
        return level == 1 and self.perceptual and self.kind == "pynet"

    def identity(self) -> dict[str, Any]:
        """What must match for a checkpoint to continue this run (architecture and the levels it trains)."""
        return {"model": self.model, "width": self.resolved_width, "in_chans": self.in_chans,
                "levels": list(self.levels)}

    @property
    def resolved_width(self) -> float | None:
        if self.kind == "correction":
            return None  # a correction network's size is its channel widths (model_kwargs), not a multiplier
        if self.width is not None:
            return float(self.width)
        from bokehpipe.models import REGISTRY

        spec = REGISTRY.get(self.model)
        return float(spec.defaults.get("width", 1.0)) if spec else 1.0

    # --- plain-type round trip -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["levels"] = list(self.levels)
        d["schedule"] = {str(k): asdict(v) for k, v in sorted(self.schedule.items(), reverse=True)}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["schedule"] = {int(k): LevelSchedule(**v) for k, v in d.get("schedule", {}).items()}
        return cls(**kw)
