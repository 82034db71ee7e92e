"""The one training loop for every generator: level-wise, as PyNET-Bokeh is trained (Ignatov et al.,
arXiv:2006.05698; official train_model.py per level). A generator with one level (BokehNet) is the special case.
What differs per generator (its examples and loss) comes from `bokehpipe.train.generators`.

Levels run coarse to fine; each starts from the previous level's final weights and trains, with a fresh
Adam, only the parameters its forward pass uses (the others get no gradient and stay frozen; DDP would
otherwise wait for their gradients). One optimiser step consumes one global batch of the schedule, split
into `world_size * accumulate` micro-batches whose losses are weighted by their share of the batch, so the
gradient is the global-batch mean whatever the number of processes or accumulation steps. Only the float
summation order differs: two gloo ranks on CPU train bit-identically to one process with `--accumulate 2`;
a plain batch drifts from both, since each level's fresh Adam turns rounding into sign flips (test_train_ddp).

The loop reads like nanoGPT's train.py: torchrun detection, seeds = seed + rank, autocast (bf16/fp16 with a
GradScaler only for fp16), rank 0 alone writes, DDP unwrapped before saving. Library code: progress goes to
a callback, errors are `BokehpipeError`s. A run that has trained all its steps (or stopped at `max_minutes`)
gets `done.json`, the one "finished" rule (`ArtifactStore.run_finished`).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from bokehpipe import distributed
from bokehpipe.data.datasets import StepSampler, batch_to_device, collate, prepare_workers, worker_init
from bokehpipe.device import env_world
from bokehpipe.distributed import DistInfo
from bokehpipe.errors import BokehpipeError
from bokehpipe.locks import exclusive
from bokehpipe.losses import VGGContent, load_vgg19
from bokehpipe.models import REGISTRY, count_parameters, create_model
from bokehpipe.models.checkpoint import checkpoint_path
from bokehpipe.store import RUN_DONE, ArtifactStore, atomic_write_json, read_json, remove_stale_temporaries
from bokehpipe.threads import configure as configure_threads
from bokehpipe.train.checkpoint import rng_state, save_checkpoint, set_rng_state
from bokehpipe.train.config import TrainConfig
from bokehpipe.train.generators import GeneratorTraining, training_for
from bokehpipe.train.logging import MetricsLog
from bokehpipe.train.plan import Plan, check_batches, env_summary, make_plan

Callback = Callable[..., None]
SSIM_MIN_SIDE = 11
PSNR_CAP = 100.0  # dB; a pixel-identical image would otherwise put +inf into a mean
PLATEAU_DB = 0.05  # a validation gain smaller than this does not reset --plateau's count


def _quiet(event: str, **info: Any) -> None:
    """Default callback: library code stays silent."""


class LevelForward(nn.Module):
    """`model(x, level)` as a one-argument module, so DDP can wrap one level's forward pass."""

    def __init__(self, model: nn.Module, level: int) -> None:
        super().__init__()
        self.model, self.level = model, level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, self.level)


def train(cfg: TrainConfig, store: ArtifactStore, *, resume: str = "auto", sources: dict[str, Any] | None = None,
          pipeline: str | None = None, callback: Callback | None = None) -> Path:
    """Train `cfg.levels` into `store/runs/<cfg.run>/`; returns the run folder. Works alone or under torchrun."""
    batch_notes = check_batches(cfg, env_world()[1])  # refuses a too-small batch before any process group
    # one writer per run (rank 0 writes; the other ranks of its torchrun follow it)
    lock = (exclusive(store.run_lock(cfg.run), what=f"the run {cfg.run!r}") if env_world()[0] == 0
            else contextlib.nullcontext())
    with lock:
        dist = distributed.setup(cfg.device)
        try:
            return _train(cfg, store, dist, resume, sources, pipeline, callback or _quiet, batch_notes)
        finally:
            distributed.cleanup()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class _Clock:
    """The run's training time in this process, for `max_minutes` (examples and validation included)."""

    def __init__(self, max_minutes: float) -> None:
        self.start, self.limit = time.perf_counter(), 60.0 * max_minutes

    def out_of_time(self) -> bool:
        return self.limit > 0 and time.perf_counter() - self.start > self.limit


def _train(cfg: TrainConfig, store: ArtifactStore, dist: DistInfo, resume: str, sources: dict[str, Any] | None,
           pipeline: str | None, callback: Callback, batch_notes: list[str]) -> Path:
    configure_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif dist.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels once
    seed_everything(cfg.seed + dist.rank)
    plan = make_plan(cfg, store, resume)
    plan.notes.extend(batch_notes)
    say = callback if dist.is_main else _quiet
    for note in plan.notes:
        say("note", text=note)
    if not plan.levels_todo:
        if dist.is_main and plan.run_dir.is_dir() and not (plan.run_dir / RUN_DONE).is_file():
            _write_done(plan, stopped_early=False)  # a run finished before the marker existed
        return plan.run_dir
    model = create_model(cfg.model, **plan.model_kwargs)
    source = plan.resume_state["model"] if plan.resume_state else plan.init_model
    if source is not None:
        model.load_state_dict(source)
    model.to(dist.device, memory_format=_memory_format(cfg))
    say("model", name=cfg.model, params=count_parameters(model), in_chans=cfg.in_chans)
    vgg = None
    if plan.vgg_path is not None and any(cfg.uses_perceptual(lv) for lv in plan.levels_todo):
        vgg = load_vgg19(plan.vgg_path).to(dist.device)
    created = dist.is_main and not plan.run_dir.exists()
    log = _open_run(plan, sources, pipeline, resume, dist, model) if dist.is_main else None
    distributed.barrier(dist)
    gen = training_for(cfg.kind)
    stepped = [False]

    def watch(event: str, **info: Any) -> None:
        stepped[0] = stepped[0] or event == "tick"
        say(event, **info)

    try:
        gen.prepare(plan, dist, say)
        clock, stopped = _Clock(cfg.max_minutes), False
        for level in plan.levels_todo:
            state = plan.resume_state if level == plan.start_level else None
            stopped = _train_level(model, level, plan, state, dist, vgg, log, watch, gen, clock)
            if stopped:
                break
        if dist.is_main:
            _write_done(plan, stopped_early=stopped)
    except BaseException:
        if created and not stepped[0]:  # nothing trained: leave no folder that looks like a run
            if log is not None:
                log.close()
                log = None
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise
    finally:
        if log is not None:
            log.close()
    return plan.run_dir


def _open_run(plan: Plan, sources: dict[str, Any] | None, pipeline: str | None, resume: str, dist: DistInfo,
              model: nn.Module) -> MetricsLog:
    """Create or reopen the run folder (rank 0): config.json, and metrics.csv cut back to the resume point."""
    cfg = plan.cfg
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(plan.run_dir)  # left by a killed write; the finished files are whole
    (plan.run_dir / RUN_DONE).unlink(missing_ok=True)  # training more: not finished until it is
    _write_run_config(plan, sources, pipeline, resume, dist, model)
    log = MetricsLog(plan.run_dir / "metrics.csv", tensorboard_dir=plan.run_dir / "tensorboard",
                     tensorboard=cfg.tensorboard)
    done_levels = {lv for lv in range(plan.start_level + 1, 8)}
    log.truncate(done_levels, plan.start_level, plan.start_step)
    return log


def _write_done(plan: Plan, *, stopped_early: bool) -> None:
    """Mark the run finished: every planned step trained, or stopped cleanly at `max_minutes` (said here)."""
    best = {}
    for level in plan.cfg.levels:
        path = checkpoint_path(plan.run_dir, level, "last")
        if path.is_file():
            best[str(level)] = _peek_best(path)
    atomic_write_json(plan.run_dir / RUN_DONE, {"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                                "stopped_early": stopped_early, "best_val_psnr": best})


def _peek_best(path: Path) -> float | None:
    from bokehpipe.models.checkpoint import read_checkpoint

    value = read_checkpoint(path).get("best_psnr")
    return None if value is None or value == float("-inf") else float(value)


def _write_run_config(plan: Plan, sources: dict[str, Any] | None, pipeline: str | None, resume: str,
                      dist: DistInfo, model: nn.Module) -> None:
    path = plan.run_dir / "config.json"
    history: list[Any] = []
    init_info = plan.init_info
    if path.is_file():
        with contextlib.suppress(BokehpipeError):
            earlier = read_json(path)
            history = list(earlier.get("history", []))
            init_info = init_info or earlier.get("init_weights")  # a resumed run keeps where it started from
    history.append({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "resume": resume, "start_level": plan.start_level,
                    "start_step": plan.start_step, "world_size": dist.world, "threads": torch.get_num_threads(),
                    "notes": plan.notes, **env_summary()})
    examples = None
    if plan.cfg.kind == "correction":
        from dataclasses import asdict

        examples = {"real": asdict(plan.real)} if plan.real is not None else {"recipe": asdict(plan.recipe)}
    atomic_write_json(path, {"config": plan.cfg.to_dict(), "sources": sources or {}, "pipeline": pipeline,
                             "identity": plan.cfg.identity(), "model_kwargs": _model_kwargs(plan.cfg, model),
                             "examples": examples, "init_weights": init_info, "history": history})


def _model_kwargs(cfg: TrainConfig, model: nn.Module) -> dict[str, Any]:
    """The registry kwargs that rebuild `model`: its spec's defaults under what this run chose, as plain types."""
    kw = dict(REGISTRY[cfg.model].defaults)
    if cfg.kind == "pynet":
        kw.update({"in_chans": cfg.in_chans, "width": cfg.resolved_width})
    elif hasattr(model, "channels"):
        kw["channels"] = list(model.channels)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}


def _memory_format(cfg: TrainConfig) -> torch.memory_format:
    return torch.channels_last if cfg.channels_last else torch.preserve_format


def _autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    if cfg.precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _one_line(exc: BaseException) -> str:
    """A DataLoader worker re-raises with the worker's whole traceback: keep the original message only."""
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else type(exc).__name__
    head, sep, rest = last.partition(": ")
    return rest if sep and head.startswith(("bokehpipe.", "BokehpipeError", "ImageReadError")) else last


def _next(batches: Iterator[dict[str, Any]]) -> dict[str, Any]:
    try:
        return next(batches)
    except BokehpipeError as exc:
        raise BokehpipeError(_one_line(exc)) from None


def _loader(ds: Any, cfg: TrainConfig, dist: DistInfo, **kw: Any) -> DataLoader:
    workers = cfg.workers
    prepare_workers(workers)
    return DataLoader(ds, num_workers=workers, collate_fn=collate, worker_init_fn=worker_init if workers else None,
                      pin_memory=dist.device.type == "cuda", prefetch_factor=2 if workers else None,
                      persistent_workers=bool(workers) and "batch_sampler" not in kw, **kw)


def _val_loader(plan: Plan, level: int, dist: DistInfo, gen: GeneratorTraining) -> DataLoader | None:
    """This rank's shard of the validation split at `level`, built once per level: its worker processes
    persist between validations instead of starting anew each time."""
    cfg = plan.cfg
    if not cfg.val_every:
        return None
    ds = gen.val_set(plan, level)
    shard = Subset(ds, list(range(dist.rank, len(ds), dist.world)))
    batch = 1 if not cfg.val_crop else max(1, cfg.schedule[level].batch // (dist.world * cfg.accumulate))
    return _loader(shard, cfg, dist, batch_size=batch)


@dataclass
class _LevelState:
    """One level's training state: what a checkpoint saves and a resume restores."""

    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    start: int = 0
    best: float = float("-inf")
    last_val: dict[str, float] = field(default_factory=dict)
    plateau_ref: float = float("-inf")  # val PSNR at the last gain of at least PLATEAU_DB
    stale: int = 0  # validations since then


def _level_state(model: nn.Module, level: int, cfg: TrainConfig, state: dict[str, Any] | None,
                 dist: DistInfo) -> _LevelState:
    """A fresh Adam over the parameters `level` uses (the others frozen), restored from `state` on resume."""
    used = {name for name, _ in _level_parameters(model, level)}
    for name, p in model.named_parameters():
        p.requires_grad_(name in used)
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if n in used], lr=cfg.lr_at(level, 0))
    ls = _LevelState(opt, torch.amp.GradScaler(dist.device.type, enabled=cfg.precision == "fp16"))
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            ls.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        ls.start, ls.best = int(state["step"]), float(state.get("best_psnr", float("-inf")))
        plateau = state.get("plateau") or {}
        ls.plateau_ref, ls.stale = float(plateau.get("ref", float("-inf"))), int(plateau.get("stale", 0))
    return ls


def _plateaued(ls: _LevelState, cfg: TrainConfig, done: int, steps: int) -> bool:
    """Whether `--plateau N` ends the level here: N validations in a row without a gain of PLATEAU_DB over the
    last such gain, and at least half the level's scheduled steps trained."""
    psnr = ls.last_val["val_psnr"]
    if psnr >= ls.plateau_ref + PLATEAU_DB:
        ls.plateau_ref, ls.stale = psnr, 0
    else:
        ls.stale += 1
    return bool(cfg.plateau) and ls.stale >= cfg.plateau and 2 * done >= steps


def _level_parameters(model: nn.Module, level: int) -> list[tuple[str, nn.Parameter]]:
    """The parameters `model(x, level)` uses: a level-wise generator says which; a one-level one uses all."""
    if hasattr(model, "level_parameters"):
        return list(model.level_parameters(level))
    return list(model.named_parameters())


def _train_level(model: nn.Module, level: int, plan: Plan, state: dict[str, Any] | None, dist: DistInfo,
                 vgg: VGGContent | None, log: MetricsLog | None, say: Callback, gen: GeneratorTraining,
                 clock: _Clock) -> bool:
    """Train one level to its last step; True when `max_minutes` stopped it first (saved, validated)."""
    cfg = plan.cfg
    sched, crop = cfg.schedule[level], cfg.level_crop(level)
    ls = _level_state(model, level, cfg, state, dist)
    net: nn.Module = LevelForward(model, level)
    if dist.enabled:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[dist.device] if dist.device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)  # the checkpoints keep saving `model` itself, never the compiled wrapper
    val_loader = _val_loader(plan, level, dist, gen)
    sampler = StepSampler(len(gen.train_set(plan, level, crop)), batch=sched.batch, steps=sched.steps, seed=cfg.seed,
                          level=level, start_step=ls.start, rank=dist.rank, world=dist.world,
                          accumulate=cfg.accumulate)
    batches = iter(_loader(gen.train_set(plan, level, crop), cfg, dist, batch_sampler=sampler))
    say("level_start", level=level, start=ls.start, steps=sched.steps, batch=sched.batch, crop=crop,
        lr=cfg.level_lr(level), params=sum(p.numel() for _, p in _level_parameters(model, level)))
    if state is None and plan.init_info is not None and level == plan.levels_todo[0] and cfg.val_every:
        _score_start(model, level, plan, dist, log, say, ls, val_loader)  # best.pt must beat the --init weights
    meter = _Meter()
    stopped = False
    for step in range(ls.start, sched.steps):
        net.train()
        for group in ls.opt.param_groups:
            group["lr"] = cfg.lr_at(level, step)
        _optimiser_step(net, batches, level, cfg, dist, vgg, ls, meter, sched.batch, gen)
        done = step + 1
        say("tick", level=level, step=done)
        stopped = clock.out_of_time() and done < sched.steps
        final = done == sched.steps or stopped
        if done % cfg.log_every == 0 or final:
            _log_train(level, done, cfg.lr_at(level, step), meter, dist, log, say)
        is_best = flat = False
        if cfg.val_every and (done % cfg.val_every == 0 or final):
            is_best = _validate_and_log(model, level, done, plan, dist, log, say, ls, val_loader)
            meter.t_interval = time.perf_counter()  # validation time is not training speed
            flat = not final and _plateaued(ls, cfg, done, sched.steps)
        if flat:
            if done % cfg.log_every:
                _log_train(level, done, cfg.lr_at(level, step), meter, dist, log, say)
            say("note", text=f"level {level} ends at step {done} of {sched.steps}: val PSNR gained less than "
                             f"{PLATEAU_DB} dB over the last {cfg.plateau} validations (--plateau)")
            final = True
        divergence = distributed.max_param_divergence(dist, list(model.parameters())) if final else None
        if dist.is_main and (done % cfg.checkpoint_every == 0 or final or is_best):
            _save(model, level, done, plan, ls, dist, divergence, final=final, is_best=is_best, level_done=flat)
        if stopped:
            say("note", text=f"stopped at level {level} step {done}: --max-minutes {cfg.max_minutes:g} reached")
            break
        if flat:
            break
    distributed.barrier(dist)
    say("level_end", level=level, best_psnr=ls.best, divergence=divergence if dist.enabled else None)
    return stopped


class _Meter:
    """Training losses summed over the images of a logging interval, and its speed. The sums stay on the
    training device until a log row reads them: one host-device sync per `log_every` steps, not per step."""

    def __init__(self) -> None:
        self.sums: dict[str, Any] = {}
        self.images, self.t_interval, self.t_level = 0, time.perf_counter(), time.perf_counter()
        self.cpu_level = time.process_time()  # all of this process's threads: what a CPU budget counts

    def add(self, parts: dict[str, torch.Tensor], n: int) -> None:
        for key, value in parts.items():
            value = value.detach().float() * n
            self.sums[key] = value if key not in self.sums else self.sums[key] + value
        self.sums["n"] = self.sums.get("n", 0.0) + n

    def restart(self) -> None:
        self.sums, self.images, self.t_interval = {}, 0, time.perf_counter()


def _optimiser_step(net: nn.Module, batches: Iterator[dict[str, Any]], level: int, cfg: TrainConfig,
                    dist: DistInfo, vgg: VGGContent | None, ls: _LevelState, meter: _Meter, batch: int,
                    gen: GeneratorTraining) -> None:
    """One optimiser step over `accumulate` micro-batches, each loss weighted by its share of the global batch."""
    ls.opt.zero_grad(set_to_none=True)
    content = vgg if cfg.uses_perceptual(level) else None
    amp = _autocast(cfg, dist.device)
    for micro in range(cfg.accumulate):
        item = batch_to_device(_next(batches), dist.device, _memory_format(cfg))
        x, y = item["input"], item["target"]
        n = x.shape[0]
        sync = net.no_sync() if dist.enabled and micro < cfg.accumulate - 1 else contextlib.nullcontext()
        with sync:
            with amp:
                pred = net(x)
                loss, parts = gen.loss(level, pred, y, content)
            ls.scaler.scale(loss * (n * dist.world / batch)).backward()
        meter.add({"loss": loss.detach(), **parts}, n)
    ls.scaler.step(ls.opt)
    ls.scaler.update()
    meter.images += batch


def _log_train(level: int, done: int, lr: float, meter: _Meter, dist: DistInfo, log: MetricsLog | None,
               say: Callback) -> None:
    keys = sorted(meter.sums)
    totals = dict(zip(keys, distributed.all_sum(dist, [float(meter.sums[k]) for k in keys]), strict=True))
    elapsed = time.perf_counter() - meter.t_interval
    row = {"level": level, "step": done, "kind": "train", "lr": lr,
           "images_per_s": meter.images / elapsed if elapsed > 0 else None,
           "elapsed_s": time.perf_counter() - meter.t_level, "cpu_s": time.process_time() - meter.cpu_level,
           **{k: v / totals["n"] for k, v in totals.items() if k != "n"}}
    if log is not None:
        log.add(row)
        log.flush()
    say("train", **row)
    meter.restart()


def _validate_and_log(model: nn.Module, level: int, done: int, plan: Plan, dist: DistInfo, log: MetricsLog | None,
                      say: Callback, ls: _LevelState, loader: DataLoader) -> bool:
    """Validate, log the row, and say whether this step is the level's best so far."""
    ls.last_val = validate(model, level, plan, dist, loader)
    is_best = distributed.broadcast_flag(dist, ls.last_val["val_psnr"] > ls.best)
    if is_best:
        ls.best = ls.last_val["val_psnr"]
    row = {"level": level, "step": done, "kind": "val", **ls.last_val}
    if log is not None:
        log.add(row)
        log.flush()
    say("val", **row, best=is_best)
    return is_best


def _score_start(model: nn.Module, level: int, plan: Plan, dist: DistInfo, log: MetricsLog | None, say: Callback,
                 ls: _LevelState, loader: DataLoader) -> None:
    """Score the --init weights at step 0 and keep them as best.pt, so that no step that is worse replaces them."""
    _validate_and_log(model, level, 0, plan, dist, log, say, ls, loader)
    if dist.is_main:
        _save(model, level, 0, plan, ls, dist, None, final=False, is_best=True)


def _save(model: nn.Module, level: int, done: int, plan: Plan, ls: _LevelState, dist: DistInfo,
          divergence: float | None, *, final: bool, is_best: bool, level_done: bool = False) -> None:
    cfg = plan.cfg
    ck = _checkpoint_state(model, ls, cfg, level, done)
    ck["ddp"] = {"world_size": dist.world, "max_param_divergence": divergence}
    ck["level_done"] = level_done  # ended by --plateau: a resume hands it to the next level (a longer schedule
    # given on resume continues a level that simply ran all its steps)
    if done and (done % cfg.checkpoint_every == 0 or final):
        save_checkpoint(checkpoint_path(plan.run_dir, level, "last"), ck)
    if is_best or (final and not cfg.val_every):
        save_checkpoint(checkpoint_path(plan.run_dir, level, "best"), ck)


def _checkpoint_state(model: nn.Module, ls: _LevelState, cfg: TrainConfig, level: int, step: int) -> dict[str, Any]:
    info = {**cfg.identity(), "model_kwargs": _model_kwargs(cfg, model), "with_depth": cfg.with_depth,
            "depth_source": cfg.depth_source, "multiple": int(getattr(model, "multiple", 32)),
            "dataset": cfg.dataset, "params": count_parameters(model)}
    return {"model": model.state_dict(), "optimizer": ls.opt.state_dict(),
            "scaler": ls.scaler.state_dict() if ls.scaler.is_enabled() else None, "step": step, "level": level,
            "rng": rng_state(), "config": cfg.to_dict(), "info": info, "best_psnr": ls.best,
            "plateau": {"ref": ls.plateau_ref, "stale": ls.stale},
            "val": {k: float(v) for k, v in ls.last_val.items()}}


@torch.no_grad()
def validate(model: nn.Module, level: int, plan: Plan, dist: DistInfo, loader: DataLoader) -> dict[str, float]:
    """Mean PSNR/SSIM over the validation split at `level`'s scale, sharded over ranks; SSIM is left out
    (NaN) where the level's images are smaller than its 11-px window. `identity` scores what the untrained
    generator returns (the input for PyNET, scatter for a correction)."""
    from bokehpipe.metrics import psnr, ssim

    cfg = plan.cfg
    model.eval()
    sums = [0.0] * 6  # psnr, ssim, n_ssim, identity psnr, identity ssim, n
    for item in _iter_loader(loader):  # outside autocast: a worker forked inside it would inherit it
        item = batch_to_device(item, dist.device, _memory_format(cfg))
        x, y, src = item["input"], item["target"], item["source"]
        with _autocast(cfg, dist.device):
            pred = model(x, level)
        pred = pred.float().clamp(0, 1)
        sums[0] += float(psnr(pred, y).clamp(max=PSNR_CAP).sum())
        sums[3] += float(psnr(src, y).clamp(max=PSNR_CAP).sum())
        sums[5] += y.shape[0]
        if min(y.shape[-2:]) >= SSIM_MIN_SIDE:
            sums[1] += float(ssim(pred, y).sum())
            sums[4] += float(ssim(src, y).sum())
            sums[2] += y.shape[0]
    p, s, ns, ip, is_, n = distributed.all_sum(dist, sums)
    nan = float("nan")
    return {"val_psnr": p / n, "val_ssim": s / ns if ns else nan, "val_psnr_identity": ip / n,
            "val_ssim_identity": is_ / ns if ns else nan, "val_images": n}


def _iter_loader(loader: DataLoader) -> Iterator[dict[str, Any]]:
    it = iter(loader)
    while True:
        try:
            yield _next(it)
        except StopIteration:
            return
