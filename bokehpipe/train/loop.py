"""Level-wise PyNET-Bokeh training (Ignatov et al., arXiv:2006.05698; official train_model.py per level).

Levels run coarse to fine; each starts from the previous level's final weights and trains, with a fresh
Adam, only the parameters its forward pass uses (the others get no gradient and stay frozen; DDP would
otherwise wait for their gradients). One optimiser step consumes one global batch of the schedule, split
into `world_size * accumulate` micro-batches whose losses are weighted by their share of the batch, so the
gradient is the global-batch mean whatever the number of processes or accumulation steps. Only the float
summation order differs: two gloo ranks on CPU train bit-identically to one process with `--accumulate 2`;
a plain batch drifts from both, since each level's fresh Adam turns rounding into sign flips (test_train_ddp).

The loop reads like nanoGPT's train.py: torchrun detection, seeds = seed + rank, autocast (bf16/fp16 with a
GradScaler only for fp16), rank 0 alone writes, DDP unwrapped before saving. Library code: progress goes to
a callback, errors are `BokehpipeError`s.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from bokehpipe import distributed
from bokehpipe.data.datasets import BokehPairs, StepSampler, collate, prepare_workers, worker_init
from bokehpipe.device import env_world
from bokehpipe.distributed import DistInfo
from bokehpipe.errors import BokehpipeError
from bokehpipe.locks import exclusive
from bokehpipe.losses import VGGContent, level_loss, load_vgg19
from bokehpipe.models import count_parameters, create_model
from bokehpipe.models.checkpoint import checkpoint_path
from bokehpipe.store import ArtifactStore, atomic_write_json, read_json, remove_stale_temporaries
from bokehpipe.threads import configure as configure_threads
from bokehpipe.train.checkpoint import rng_state, save_checkpoint, set_rng_state
from bokehpipe.train.config import TrainConfig
from bokehpipe.train.logging import MetricsLog
from bokehpipe.train.plan import Plan, env_summary, make_plan

Callback = Callable[..., None]
SSIM_MIN_SIDE = 11
PSNR_CAP = 100.0  # dB; a pixel-identical image would otherwise put +inf into a mean


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
    # one writer per run (rank 0 writes; the other ranks of its torchrun follow it)
    lock = (exclusive(store.run_lock(cfg.run), what=f"the run {cfg.run!r}") if env_world()[0] == 0
            else contextlib.nullcontext())
    with lock:
        dist = distributed.setup(cfg.device)
        try:
            return _train(cfg, store, dist, resume, sources, pipeline, callback or _quiet)
        finally:
            distributed.cleanup()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _train(cfg: TrainConfig, store: ArtifactStore, dist: DistInfo, resume: str, sources: dict[str, Any] | None,
           pipeline: str | None, callback: Callback) -> Path:
    configure_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif dist.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels once
    seed_everything(cfg.seed + dist.rank)
    plan = make_plan(cfg, store, resume)
    say = callback if dist.is_main else _quiet
    for note in plan.notes:
        say("note", text=note)
    if not plan.levels_todo:
        return plan.run_dir
    model = create_model(cfg.model, in_chans=cfg.in_chans, width=cfg.width)
    source = plan.resume_state["model"] if plan.resume_state else plan.init_model
    if source is not None:
        model.load_state_dict(source)
    model.to(dist.device)
    say("model", name=cfg.model, params=count_parameters(model), in_chans=cfg.in_chans)
    vgg = None
    if plan.vgg_path is not None and any(cfg.uses_perceptual(lv) for lv in plan.levels_todo):
        vgg = load_vgg19(plan.vgg_path).to(dist.device)
    log = None
    created = dist.is_main and not plan.run_dir.exists()
    stepped = False

    def watch(event: str, **info: Any) -> None:
        nonlocal stepped
        stepped = stepped or event == "tick"
        say(event, **info)

    if dist.is_main:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(plan.run_dir)  # left by a killed write; the finished files are whole
        _write_run_config(plan, sources, pipeline, resume, dist)
        log = MetricsLog(plan.run_dir / "metrics.csv", tensorboard_dir=plan.run_dir / "tensorboard",
                         tensorboard=cfg.tensorboard)
        done_levels = {lv for lv in range(plan.start_level + 1, 8)}
        log.truncate(done_levels, plan.start_level, plan.start_step)
    distributed.barrier(dist)
    try:
        for level in plan.levels_todo:
            state = plan.resume_state if level == plan.start_level else None
            _train_level(model, level, plan, state, dist, vgg, log, watch)
    except BaseException:
        if log is not None:
            log.close()
            log = None
        if created and not stepped:  # nothing trained: leave no folder that looks like a run
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise
    finally:
        if log is not None:
            log.close()
    return plan.run_dir


def _write_run_config(plan: Plan, sources: dict[str, Any] | None, pipeline: str | None, resume: str,
                      dist: DistInfo) -> None:
    path = plan.run_dir / "config.json"
    history: list[Any] = []
    if path.is_file():
        with contextlib.suppress(BokehpipeError):
            history = list(read_json(path).get("history", []))
    history.append({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "resume": resume, "start_level": plan.start_level,
                    "start_step": plan.start_step, "world_size": dist.world, "notes": plan.notes, **env_summary()})
    atomic_write_json(path, {"config": plan.cfg.to_dict(), "sources": sources or {}, "pipeline": pipeline,
                             "identity": plan.cfg.identity(), "history": history})


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
                      pin_memory=dist.device.type == "cuda", prefetch_factor=2 if workers else None, **kw)


def _train_level(model: nn.Module, level: int, plan: Plan, state: dict[str, Any] | None, dist: DistInfo,
                 vgg: VGGContent | None, log: MetricsLog | None, say: Callback) -> None:
    cfg = plan.cfg
    sched, crop, lr = cfg.schedule[level], cfg.level_crop(level), cfg.level_lr(level)
    used = {name for name, _ in model.level_parameters(level)}
    for name, p in model.named_parameters():
        p.requires_grad_(name in used)
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if n in used], lr=lr)
    scaler = torch.amp.GradScaler(dist.device.type, enabled=cfg.precision == "fp16")
    start, best = 0, float("-inf")
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        start, best = int(state["step"]), float(state.get("best_psnr", float("-inf")))
    net: nn.Module = LevelForward(model, level)
    if dist.enabled:
        net = nn.parallel.DistributedDataParallel(net, device_ids=[dist.device] if dist.device.type == "cuda" else None)
    ds = BokehPairs(plan.train_pairs, level=level, crop=crop, with_depth=cfg.with_depth, depth=plan.train_depth,
                    augment=True)
    sampler = StepSampler(len(ds), batch=sched.batch, steps=sched.steps, seed=cfg.seed, level=level, start_step=start,
                          rank=dist.rank, world=dist.world, accumulate=cfg.accumulate)
    batches = iter(_loader(ds, cfg, dist, batch_sampler=sampler))
    amp = _autocast(cfg, dist.device)
    content = vgg if cfg.uses_perceptual(level) else None
    say("level_start", level=level, start=start, steps=sched.steps, batch=sched.batch, crop=crop, lr=lr,
        params=sum(p.numel() for n, p in model.named_parameters() if n in used))
    sums: dict[str, float] = {}
    t_interval, images, t_level = time.perf_counter(), 0, time.perf_counter()
    last_val: dict[str, float] = {}
    divergence: float | None = None
    for step in range(start, sched.steps):
        net.train()
        opt.zero_grad(set_to_none=True)
        for micro in range(cfg.accumulate):
            batch = _next(batches)
            x = batch["input"].to(dist.device, non_blocking=True)
            y = batch["target"].to(dist.device, non_blocking=True)
            n = x.shape[0]
            sync = net.no_sync() if dist.enabled and micro < cfg.accumulate - 1 else contextlib.nullcontext()
            with sync:
                with amp:
                    pred = net(x)
                    loss, parts = level_loss(level, pred, y, vgg=content)
                scaler.scale(loss * (n * dist.world / sched.batch)).backward()
            for key, value in {"loss": float(loss.detach()), **parts}.items():
                sums[key] = sums.get(key, 0.0) + value * n
            sums["n"] = sums.get("n", 0.0) + n
        scaler.step(opt)
        scaler.update()
        done = step + 1
        images += sched.batch
        say("tick", level=level, step=done)
        final = done == sched.steps
        if done % cfg.log_every == 0 or final:
            keys = sorted(sums)
            totals = dict(zip(keys, distributed.all_sum(dist, [sums[k] for k in keys]), strict=True))
            elapsed = time.perf_counter() - t_interval
            row = {"level": level, "step": done, "kind": "train", "lr": lr,
                   "images_per_s": images / elapsed if elapsed > 0 else None,
                   "elapsed_s": time.perf_counter() - t_level,
                   **{k: v / totals["n"] for k, v in totals.items() if k != "n"}}
            if log is not None:
                log.add(row)
                log.flush()
            say("train", **row)
            sums, images, t_interval = {}, 0, time.perf_counter()
        is_best = False
        if cfg.val_every and (done % cfg.val_every == 0 or final):
            last_val = validate(model, level, plan, dist)
            is_best = distributed.broadcast_flag(dist, last_val["val_psnr"] > best)
            if is_best:
                best = last_val["val_psnr"]
            row = {"level": level, "step": done, "kind": "val", **last_val}
            if log is not None:
                log.add(row)
                log.flush()
            say("val", **row, best=is_best)
            t_interval = time.perf_counter()
        divergence = distributed.max_param_divergence(dist, list(model.parameters())) if final else None
        if dist.is_main and (done % cfg.checkpoint_every == 0 or final or is_best):
            ck = _checkpoint_state(model, opt, scaler, cfg, level, done, best, last_val)
            ck["ddp"] = {"world_size": dist.world, "max_param_divergence": divergence}
            if done % cfg.checkpoint_every == 0 or final:
                save_checkpoint(checkpoint_path(plan.run_dir, level, "last"), ck)
            if is_best or (final and not cfg.val_every):
                save_checkpoint(checkpoint_path(plan.run_dir, level, "best"), ck)
    distributed.barrier(dist)
    say("level_end", level=level, best_psnr=best, divergence=divergence if dist.enabled else None)


def _checkpoint_state(model: nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, cfg: TrainConfig,
                      level: int, step: int, best: float, val: dict[str, float]) -> dict[str, Any]:
    info = {**cfg.identity(), "model_kwargs": {"in_chans": cfg.in_chans, "width": cfg.resolved_width},
            "with_depth": cfg.with_depth, "depth_source": cfg.depth_source,
            "multiple": int(getattr(model, "multiple", 32)), "dataset": cfg.dataset, "params": count_parameters(model)}
    return {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None, "step": step, "level": level,
            "rng": rng_state(), "config": cfg.to_dict(), "info": info, "best_psnr": best,
            "val": {k: float(v) for k, v in val.items()}}


@torch.no_grad()
def validate(model: nn.Module, level: int, plan: Plan, dist: DistInfo) -> dict[str, float]:
    """Mean PSNR/SSIM over the validation split at `level`'s scale, sharded over ranks; SSIM is left out
    (NaN) where the level's images are smaller than its 11-px window. `identity` scores the input itself."""
    from bokehpipe.metrics import psnr, ssim

    cfg = plan.cfg
    ds = BokehPairs(plan.val_pairs, level=level, crop=cfg.val_crop or None, with_depth=cfg.with_depth,
                    depth=plan.val_depth, with_source=True)
    shard = Subset(ds, list(range(dist.rank, len(ds), dist.world)))
    batch = 1 if not cfg.val_crop else max(1, cfg.schedule[level].batch // (dist.world * cfg.accumulate))
    model.eval()
    sums = [0.0] * 6  # psnr, ssim, n_ssim, identity psnr, identity ssim, n
    with _autocast(cfg, dist.device):
        for item in _iter_loader(_loader(shard, cfg, dist, batch_size=batch)):
            x, y = item["input"].to(dist.device), item["target"].to(dist.device)
            src = item["source"].to(dist.device)
            pred = model(x, level).float().clamp(0, 1)
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
