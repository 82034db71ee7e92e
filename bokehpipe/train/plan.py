"""Everything checked before a run folder is touched: data, depth caches, VGG-19, and where to (re)start.

A bad dataset, a depth cache that lacks ids, missing VGG-19 weights at level 1, or a checkpoint from an
incompatible run stops here with one line, so a failed start never leaves a half-made run folder behind.

Resume (`--resume auto`, litgpt's semantics): the finest level with a `last.pt` is the newest state; an
unfinished level continues from its step, a finished one hands its weights to the next finer level; no
checkpoint means a fresh start. A checkpoint is compatible when its model, width and input channels match
and its level is one of `--levels` or the level just coarser than the first of them.

`--init` starts the first level from other weights: a run folder or checkpoint, an exported weights file, or
`default` (the weights the package ships for the model). The architecture's keyword arguments come from the
checkpoint being continued, else from the `--init` weights, else from the registry's defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bokehpipe.data.ebb import Pair, load_index, load_metadata
from bokehpipe.errors import BokehpipeError, WeightsMissingError
from bokehpipe.models.checkpoint import (
    LEVELS_FINE_TO_COARSE,
    checkpoint_path,
    is_weights_file,
    read_checkpoint,
    read_weights_file,
    weights_state,
)
from bokehpipe.store import ArtifactStore, run_of_checkpoint
from bokehpipe.train.config import TrainConfig

RESUME_MODES = ("auto", "never")


@dataclass
class Plan:
    cfg: TrainConfig
    run_dir: Path
    train_pairs: list[Pair]
    val_pairs: list[Pair]
    train_depth: Any = None
    val_depth: Any = None
    train_prepared: Any = None  # data.prepared.PreparedInputs of the training split, when the store has them
    val_prepared: Any = None
    vgg_path: Path | None = None
    start_level: int | None = None  # None: nothing left to train
    start_step: int = 0
    resume_state: dict[str, Any] | None = None  # full checkpoint to continue `start_level` from
    init_model: dict[str, Any] | None = None  # weights the first trained level starts from
    init_info: dict[str, Any] | None = None  # where explicit --init weights came from (recorded in config.json)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # create_model(cfg.model, **model_kwargs)
    data_root: Path = Path()
    real: Any = None  # a correction on a real paired set: correction_examples.RealSet
    recipe: Any = None  # a correction on a synthetic set: its ExampleRecipe (train; val draws with seed + 1000)
    val_recipe: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def levels_todo(self) -> list[int]:
        if self.start_level is None:
            return []
        return [lv for lv in self.cfg.levels if lv <= self.start_level]


def _model_identity(info: dict[str, Any]) -> dict[str, Any]:
    return {"model": info.get("model"), "width": info.get("width"), "in_chans": info.get("in_chans")}


def _describe(ident: dict[str, Any]) -> str:
    width = "" if ident["width"] is None else f" width {ident['width']:g}"
    return f"model {ident['model']}{width} with {ident['in_chans']} input channels"


def check_compatible(ck: dict[str, Any], cfg: TrainConfig, where: Path) -> None:
    """Same architecture and a level this run can continue or follow; else one line naming both sides."""
    have, want = _model_identity(ck["info"]), _model_identity(cfg.identity())
    if have != want:
        raise BokehpipeError(f"{where}: checkpoint is {_describe(have)} but this run asks for {_describe(want)}; "
                             "use matching --model/--depth settings or a new --run name")
    level = int(ck["level"])
    if level not in cfg.levels and level != cfg.levels[0] + 1:
        span = f"{cfg.levels[0]}..{cfg.levels[-1]}"
        raise BokehpipeError(f"{where}: checkpoint is at level {level}, which --levels {span} can neither continue "
                             f"nor follow; use --levels {level}..{min(level, cfg.levels[-1])} or a new --run name")


def _finest_last(run_dir: Path) -> Path | None:
    for level in LEVELS_FINE_TO_COARSE:
        path = checkpoint_path(run_dir, level, "last")
        if path.is_file():
            return path
    return None


def _open_depth(store: ArtifactStore, cfg: TrainConfig, split: str) -> Any:
    try:
        from bokehpipe.depth.cache import open_depth_cache
    except ImportError:
        raise BokehpipeError("depth caches need bokehpipe.depth (not installed in this checkout); "
                             "train with --no-depth") from None
    return open_depth_cache(store, cfg.dataset, cfg.depth_source, split)


def _vgg_path(store: ArtifactStore, cfg: TrainConfig) -> Path | None:
    if not any(cfg.uses_perceptual(level) for level in cfg.levels):
        return None
    from bokehpipe.weights import resolve

    try:
        return resolve("vgg19", store, cfg.vgg_weights, flag="--vgg-weights PATH")
    except WeightsMissingError as exc:
        raise WeightsMissingError(f"{exc}; or train level 1 without the VGG-19 content loss: --no-perceptual"
                                  ) from None


def _place(plan: Plan, ck: dict[str, Any], path: Path) -> None:
    """Decide where training goes on from checkpoint `ck` (already checked compatible)."""
    cfg, level, step = plan.cfg, int(ck["level"]), int(ck["step"])
    if level in cfg.levels and step < cfg.schedule[level].steps and not ck.get("level_done"):
        plan.start_level, plan.start_step, plan.resume_state = level, step, ck
        plan.notes.append(f"resuming level {level} at step {step} from {path}")
        return
    finer = [lv for lv in cfg.levels if lv < level]
    plan.init_model = ck["model"]
    planned = cfg.schedule[level].steps
    state = (f"finished ({step} steps)" if step >= planned else
             f"ended at step {step} of {planned} (--plateau)" if ck.get("level_done") else
             f"stopped at step {step} of {planned}")
    if finer:
        plan.start_level = finer[0]
        plan.notes.append(f"level {level} {state}; level {finer[0]} starts from {path}")
    else:
        plan.start_level = None
        plan.notes.append(f"level {level} finished ({step} steps): nothing left to train for --levels "
                          f"{cfg.levels[0]}..{cfg.levels[-1]}")


def make_plan(cfg: TrainConfig, store: ArtifactStore, resume: str = "auto") -> Plan:
    """Validate inputs and decide the starting level/step; raises before anything is written."""
    index = load_index(cfg.data_root)
    train_pairs = index.split(cfg.train_split, require_targets=True)
    if not train_pairs:
        raise BokehpipeError(f"{index.root}: split {cfg.train_split!r} has no pairs; check --train-split")
    val_pairs: list[Pair] = []
    if cfg.val_every:
        val_pairs = index.split(cfg.val_split, require_targets=True)
        if cfg.val_max:
            val_pairs = val_pairs[:cfg.val_max]
        if not val_pairs:
            raise BokehpipeError(f"{index.root}: validation split {cfg.val_split!r} is empty; pick another "
                                 "--val-split or pass --val-every 0")
    plan = Plan(cfg, store.run(cfg.run), train_pairs, val_pairs, data_root=Path(cfg.data_root))
    synthetic_correction = cfg.kind == "correction" and load_metadata(Path(cfg.data_root)) is not None
    if cfg.with_depth and not synthetic_correction:  # a synthetic set's correction examples read its own maps
        plan.train_depth = _covered(store, cfg, train_pairs, cfg.train_split)
        if val_pairs:
            plan.val_depth = _covered(store, cfg, val_pairs, cfg.val_split)
    if cfg.kind == "correction":
        _plan_examples(plan, synthetic_correction)
    elif cfg.prepared:
        plan.train_prepared = _prepared(store, plan, train_pairs, cfg.train_split, plan.train_depth)
        if val_pairs:
            plan.val_prepared = _prepared(store, plan, val_pairs, cfg.val_split, plan.val_depth)
    plan.vgg_path = _vgg_path(store, cfg)
    _plan_start(plan, resume)
    return plan


def check_batches(cfg: TrainConfig, world: int) -> list[str]:
    """Every level of `--levels` must split its global batch over world size x accumulation: checked before
    the process group starts (not when a fine level starts, hours in). Rule: a level's batch is never changed
    behind the user's back; one too small for the processes is refused up front; one that leaves fewer than
    two images per micro-batch is said (returned as notes): it trains, but the processes idle."""
    parts = world * cfg.accumulate
    todo = cfg.levels
    small = [lv for lv in todo if cfg.schedule[lv].batch < parts]
    if small:
        worst = min(cfg.schedule[lv].batch for lv in small)
        levels = ", ".join(f"level {lv} (batch {cfg.schedule[lv].batch})" for lv in small)
        raise BokehpipeError(f"{levels}: a global batch must hold at least one image per process and "
                             f"micro-step ({world} process(es) x --accumulate {cfg.accumulate} = {parts}); run "
                             f"at most {worst // cfg.accumulate} process(es), lower --accumulate, or raise "
                             "those levels' batch in [train.schedule]")
    thin = [lv for lv in todo if parts > 1 and cfg.schedule[lv].batch < 2 * parts]
    if not thin:
        return []
    return ["levels " + ", ".join(map(str, thin)) + f": fewer than 2 images per micro-batch over {world} "
            f"process(es) x {cfg.accumulate} micro-step(s); fewer processes would use them better"]


def _covered(store: ArtifactStore, cfg: TrainConfig, pairs: list[Pair], split: str) -> Any:
    """The split's depth cache, checked to hold a map for every pair."""
    from bokehpipe.data.datasets import check_depth_coverage

    depth = _open_depth(store, cfg, split)
    try:
        check_depth_coverage(pairs, depth, where=f"depth cache for split {split}")
    except BokehpipeError as exc:
        raise BokehpipeError(f"{exc}, or train with --no-depth") from None
    return depth


def _prepared(store: ArtifactStore, plan: Plan, pairs: list[Pair], split: str, depth: Any) -> Any:
    """The split's prepared half-size inputs when the store has them for this depth source, serving every pair
    they still match (the others are decoded); said in a note either way."""
    from bokehpipe.data.prepared import PreparedInputs, stale_ids

    cfg = plan.cfg
    path = store.prepared_inputs(cfg.dataset, cfg.depth_source if cfg.with_depth else None, split)
    if not path.is_file():
        return None
    prepared = PreparedInputs(path)
    try:
        stale, why = stale_ids(prepared, pairs, depth if cfg.with_depth else None)
    finally:
        prepared.close()
    if len(stale) == len(pairs):
        depth_option = f"--depth-source {cfg.depth_source}" if cfg.with_depth else "--no-depth"
        plan.notes.append(f"{path}: not used ({why}); decoding the photos of split {split!r} (run `bokehpipe data "
                          f"prepare --dataset {cfg.dataset} --split {split} {depth_option}` to refresh it)")
        return None
    decoded = f"; {len(stale)} pairs decoded ({why})" if stale else ""
    plan.notes.append(f"split {split!r}: samples cut from prepared inputs {path}{decoded}")
    return PreparedInputs(path, exclude=stale)


def _plan_examples(plan: Plan, synthetic: bool) -> None:
    """How a correction's examples are made: a synthetic set's recipe, or a real set's caches and f-number."""
    from dataclasses import replace

    from bokehpipe.train.correction_examples import REAL_F_NUMBER, ExampleRecipe, RealSet

    cfg = plan.cfg
    if synthetic:
        if cfg.f_number is not None:
            raise BokehpipeError("--f-number is for real sets; a synthetic set carries each pair's exact focus and "
                                 "aperture")
        plan.recipe = ExampleRecipe(variants=cfg.variants, clean_fraction=cfg.clean_fraction, seed=cfg.seed)
        plan.val_recipe = replace(plan.recipe, seed=cfg.seed + 1000)
        return
    from bokehpipe.render.calibration import aperture_for_f_number

    f_number = cfg.f_number or REAL_F_NUMBER
    aperture = aperture_for_f_number(f_number)  # refuses an f-number no wider than the f/16 inputs
    caches = [(cfg.train_split, str(plan.train_depth.path))]
    if plan.val_depth is not None and cfg.val_split != cfg.train_split:
        caches.append((cfg.val_split, str(plan.val_depth.path)))
    plan.real = RealSet(f_number=float(f_number), caches=tuple(caches))
    plan.notes.append(f"real pairs: {cfg.dataset!r} has no per-image focus/aperture, so each example uses its "
                      f"{cfg.depth_source} map, the auto-focus and f/{f_number:g} (aperture {aperture:.3f})")


def _plan_start(plan: Plan, resume: str) -> None:
    _plan_resume(plan, resume)
    _plan_init(plan)
    _plan_model_kwargs(plan)


def _plan_resume(plan: Plan, resume: str) -> None:
    cfg, run_dir = plan.cfg, plan.run_dir
    plan.start_level = cfg.levels[0]
    existing = _finest_last(run_dir)
    if resume == "never":
        if existing is not None:
            raise BokehpipeError(f"{run_dir}: run already holds checkpoints; continue it with --resume auto or "
                                 "choose a new --run name")
    elif resume == "auto":
        if existing is not None:
            ck = read_checkpoint(existing)
            check_compatible(ck, cfg, existing)
            _place(plan, ck, existing)
    else:
        path = Path(resume).expanduser()
        if path.is_dir():
            found = _finest_last(path)
            if found is None:
                raise BokehpipeError(f"{path}: --resume folder holds no checkpoints/level*/last.pt")
            path = found
        ck = read_checkpoint(path)
        check_compatible(ck, cfg, path)
        _place(plan, ck, path)


def _plan_init(plan: Plan) -> None:
    cfg = plan.cfg
    if plan.resume_state is None and plan.init_model is None and cfg.init:
        if cfg.init == "default" or is_weights_file(Path(cfg.init).expanduser()):
            _init_from_weights(plan)
            return
        init = _init_checkpoint(Path(cfg.init))
        ck = read_checkpoint(init)
        have, want = _model_identity(ck["info"]), _model_identity(cfg.identity())
        if have != want:
            raise BokehpipeError(f"{init}: --init checkpoint is {_describe(have)} but this run asks for "
                                 f"{_describe(want)}")
        plan.init_model = ck["model"]
        plan.model_kwargs = dict(ck["info"].get("model_kwargs") or {})
        plan.init_info = {"path": str(init), "run": run_of_checkpoint(init), "level": int(ck["level"])}
        plan.notes.append(f"level {plan.start_level} starts from --init {init} (level {ck['level']})")
    elif plan.resume_state is None and plan.init_model is None and plan.start_level is not None \
            and plan.start_level < 7 and cfg.kind == "pynet":
        plan.notes.append(f"level {plan.start_level} starts from random weights (no level {plan.start_level + 1} "
                          "checkpoint in this run; pass --init RUN_OR_FILE to start from one)")


def _init_from_weights(plan: Plan) -> None:
    """`--init default|FILE`: start from exported weights (the file's architecture, its provenance recorded)."""
    cfg = plan.cfg
    path = None if cfg.init == "default" else Path(cfg.init).expanduser()
    payload = read_weights_file(path, cfg.model)
    if payload.get("model", "bokehnet") != cfg.model:
        raise BokehpipeError(f"{cfg.init}: weights of model {payload.get('model')!r}, but this run trains "
                             f"{cfg.model!r}; pass --model {payload.get('model')} or other weights")
    plan.init_model = weights_state(payload)
    plan.model_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()}
    provenance = dict(payload.get("provenance", {}))
    provenance.pop("train_config", None)
    from bokehpipe.models.checkpoint import SHIPPED_WEIGHTS

    plan.init_info = {"path": str(path or SHIPPED_WEIGHTS[cfg.model]), **provenance}
    plan.notes.append(f"level {plan.start_level} starts from --init {cfg.init} ({plan.init_info['path']})")


def _plan_model_kwargs(plan: Plan) -> None:
    """The architecture: the continued checkpoint's, else --init's (already set), else the registry default."""
    if plan.resume_state is not None:
        info = plan.resume_state.get("info", {})
        plan.model_kwargs = dict(info.get("model_kwargs") or {"in_chans": info.get("in_chans"),
                                                               "width": info.get("width")})
    elif plan.init_model is None or not plan.model_kwargs:
        cfg = plan.cfg
        plan.model_kwargs = {"in_chans": cfg.in_chans, "width": cfg.width} if cfg.kind == "pynet" else {}
    plan.model_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in plan.model_kwargs.items()}


def _init_checkpoint(path: Path) -> Path:
    if path.is_dir():
        found = _finest_last(path)
        if found is None:
            raise BokehpipeError(f"{path}: --init folder holds no checkpoints/level*/last.pt")
        return found
    if not path.is_file():
        raise BokehpipeError(f"{path}: --init checkpoint not found")
    return path


def env_summary() -> dict[str, Any]:
    import platform

    import torch

    from bokehpipe import __version__

    return {"bokehpipe": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "cuda": torch.version.cuda, "host": platform.node(), "pid": os.getpid()}
