"""What a BokehNet run depends on (`bokehpipe bokehnet train`): the run's settings and the recipe of its examples.

Torch-free and numpy-free on purpose: the fields marked with `cli_field` are the command's options
(`bokehpipe.cli.options.options_from_dataclass`), so a default and its help live here only, and `--help`
stays light. The training loop is `bokehpipe.train.bokehnet`, the examples `bokehpipe.train.bokehnet_data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bokehpipe.config import cli_field

RECIPE_VERSION = 1
REAL_F_NUMBER = 1.8
"""A real set's targets (no per-image metadata) are taken as shot at this f-number unless --f-number says."""


@dataclass(frozen=True)
class ExampleRecipe:
    """How examples are drawn from a set; recorded with the cache and in the run's config."""

    variants: int = cli_field(2, min=1, help="Monocular-like depth degradations per training pair.")
    clean_fraction: float = cli_field(0.25, min=0, max=1,
                                      help="Share of examples that keep the set's clean disparity.")
    strength: float = 1.0  # monocular_like strength
    seed: int = 0  # the run's --seed
    version: int = RECIPE_VERSION


@dataclass
class TrainConfig:
    dataset: str = ""  # the set's name (--dataset NAME, or the folder name of --data PATH): keys its depth caches
    steps: int = cli_field(3000, min=1, help="Optimiser steps.")
    batch: int = cli_field(8, min=1, help="Crops per step.")
    crop: tuple[int, int] = cli_field((192, 128), size={"minimum": 16, "multiple": 8},
                                      help="Training crop (multiples of 8).")  # width, height at working scale
    lr: float = cli_field(1e-3, help="Adam learning rate (cosine decay).")
    ssim_weight: float = 0.2
    channels: tuple[int, int, int, int] = (16, 32, 64, 96)
    val_every: int = cli_field(250, min=1, help="Validate every N steps.")
    log_every: int = cli_field(25, min=1, help="metrics.csv row every N.")
    checkpoint_every: int = 100  # the command takes min(100, --val-every)
    val_max: int = cli_field(0, min=0, help="Validate on the first N held-out pairs (0: all).")
    limit: int = cli_field(0, min=0, help="Use only the first N training pairs (0: all).")
    max_minutes: float = cli_field(0.0, min=0, help="Stop cleanly after this many minutes of training (0: run "
                                                    "all steps); recorded.")
    seed: int = cli_field(0, help="")
    init: str | None = cli_field(None, metavar="FILE|default",
                                 help="Start from these BokehNet weights (a `bokehnet export` file, or `default`: the "
                                      "shipped one) instead of from scatter: fine-tuning, e.g. on real EBB! pairs.")
    val_split: str | None = cli_field(None, metavar="NAME", help="Held-out split (default: the set's val, else "
                                                                 "val294).")
    depth_source: str | None = cli_field(None, metavar="SRC",
                                         help="Real sets only: the phase-one depth cache to read (`bokehpipe depth "
                                              "--source gt|png` or a MiDaS variant; default: the set's only one).")
    f_number: float | None = cli_field(None, min=1e-3, metavar="N",
                                       help=f"Real sets only: the f-number every target was shot at (default "
                                            f"{REAL_F_NUMBER:g}, EBB!'s); the focus is the auto-focus of `infer`.")
    recipe: ExampleRecipe = field(default_factory=ExampleRecipe)
