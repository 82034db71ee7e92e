"""The resolved training configuration: one dataclass, validated once, saved with the run and every checkpoint.

The paper's schedule (Ignatov et al., arXiv:2006.05698; DESIGN.md), level: batch / iterations, Adam lr 5e-5:
7: 50/5K, 6: 50/5K, 5: 40/20K, 4: 14/20K, 3: 9/30K, 2: 9/80K, 1: 5/100K, on 512x512 half-resolution crops.
Pipelines (`pipelines/*.toml`) give the per-level schedule as a `[train.schedule]` table of
`<level> = {batch = .., steps = .., crop = .., lr = ..}` (crop and lr optional); click options override it.
(The table is not named `[train.levels]` because `levels` is already the `--levels` option's default key.)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bokehpipe.errors import ConfigError

PRECISIONS = ("bf16", "fp16", "fp32")
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
    from bokehpipe.pipeline_check import closest

    out = dict(PAPER_SCHEDULE)
    for key, entry in (table or {}).items():
        if not str(key).isdigit() or int(key) not in PAPER_SCHEDULE or not isinstance(entry, dict):
            raise ConfigError(f"[train.schedule] {key!r}: expected level keys 1..7 with {{batch=, steps=}} tables")
        for name, value in entry.items():
            if name not in SCHEDULE_KEYS:
                raise ConfigError(f"[train.schedule] {key}: unknown key {name!r}; did you mean "
                                  f"{closest(name, SCHEDULE_KEYS)!r}? (use batch, steps, crop, lr)")
            want = SCHEDULE_KEYS[name]
            ok = isinstance(value, (int, float) if want is float else int) and not isinstance(value, bool)
            if not ok:
                raise ConfigError(f"[train.schedule] {key}: {name} = {value!r} must be "
                                  f"{'a number' if want is float else 'an integer'}")
        base = out[int(key)]
        out[int(key)] = LevelSchedule(entry.get("batch", base.batch), entry.get("steps", base.steps),
                                      entry.get("crop"), entry.get("lr"))
    return out


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run depends on. Plain types only, so it round-trips through JSON and weights-only checkpoints."""

    run: str
    data_root: str
    dataset: str
    model: str = "pynet"
    width: float | None = None  # None: the model's own width
    levels: tuple[int, ...] = (7, 6, 5, 4, 3, 2, 1)
    schedule: dict[int, LevelSchedule] = field(default_factory=lambda: dict(PAPER_SCHEDULE))
    with_depth: bool = True
    depth_source: str | None = None
    train_split: str = "train"
    val_split: str | None = "val294"
    crop: int = 512  # half-resolution training crop side (target: 2 * crop at level 1)
    val_crop: int = 0  # 0: whole validation images (centre-cropped to a multiple of 32)
    val_max: int = 0  # 0: every validation pair
    val_every: int = 1000
    log_every: int = 50
    checkpoint_every: int = 500
    lr: float = 5e-5
    precision: str = "fp32"
    device: str = "cpu"
    accumulate: int = 1
    workers: int = 2
    seed: int = 0
    perceptual: bool = True
    vgg_weights: str | None = None
    init: str | None = None
    tensorboard: bool | None = None  # None: on when tensorboard is installed
    deterministic: bool = False
    threads: int = 0  # torch intra-op threads per process; 0: torch's default

    def __post_init__(self) -> None:
        from bokehpipe.models import REGISTRY

        if self.model not in REGISTRY:
            raise ConfigError(f"unknown model {self.model!r}; known: {', '.join(REGISTRY)}")
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
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
        for lv in levels:
            crop = self.level_crop(lv)
            if crop < MIN_CROP or crop % 32:
                raise ConfigError(f"crop {crop} (level {lv}): use a multiple of 32 that is at least {MIN_CROP}")
        if self.val_crop and (self.val_crop < MIN_CROP or self.val_crop % 32):
            raise ConfigError(f"--val-crop {self.val_crop}: use 0 (whole images) or a multiple of 32 >= {MIN_CROP}")
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
    def in_chans(self) -> int:
        return 4 if self.with_depth else 3

    def level_crop(self, level: int) -> int:
        return self.schedule[level].crop or self.crop

    def level_lr(self, level: int) -> float:
        return self.schedule[level].lr or self.lr

    def uses_perceptual(self, level: int) -> bool:
        return level == 1 and self.perceptual

    def identity(self) -> dict[str, Any]:
        """What must match for a checkpoint to continue this run (architecture and the levels it trains)."""
        return {"model": self.model, "width": self.resolved_width, "in_chans": self.in_chans,
                "levels": list(self.levels)}

    @property
    def resolved_width(self) -> float:
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
