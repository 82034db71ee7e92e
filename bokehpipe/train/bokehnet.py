"""Training BokehNet (`bokehpipe bokehnet train`) and exporting the shipped weights (`bokehpipe bokehnet export`).

Examples come from `bokehpipe.train.bokehnet_data` (synthetic pairs, monocular-like depth, scatter renders);
the network only learns the correction of scatter (`bokehpipe.models.bokehnet`). One plain loop: random
crops with horizontal flips, Adam with a cosine learning rate, loss `L1 + ssim_weight * (1 - SSIM)`
(`bokehpipe.metrics.ssim`, the protocol's SSIM). The run folder holds config.json, metrics.csv (train loss
every `log_every` steps; validation PSNR of scatter and of the model on the held-out split), and
`checkpoints/{last,best}.pt` written atomically; a killed run resumes from last.pt.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bokehpipe.errors import BokehpipeError
from bokehpipe.models.bokehnet import RUN_CHECKPOINT_FORMAT, WEIGHTS_FORMAT
from bokehpipe.store import atomic_path, atomic_write_json, read_json
from bokehpipe.torch_files import load_checkpoint
from bokehpipe.train.bokehnet_config import ExampleRecipe, TrainConfig
from bokehpipe.train.bokehnet_data import Examples, RealSet, load_or_build

METRICS_FIELDS = ("step", "kind", "loss", "l1", "ssim", "psnr_scatter", "psnr_model", "lr", "seconds")


def _tensors(ex: Examples, idx: np.ndarray, crop: tuple[int, int] | None, rng: np.random.Generator | None
             ) -> tuple[torch.Tensor, ...]:
    """Batch `idx` as float tensors (image, scatter, disparity, target, focus, aperture), cropped and flipped."""
    h, w = ex.image.shape[1:3]
    cw, ch = crop if crop is not None else (w, h)
    cw, ch = min(cw, w), min(ch, h)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("image", "scatter", "disparity", "target")}
    for i in idx:
        y = int(rng.integers(0, h - ch + 1)) if rng is not None else (h - ch) // 2
        x = int(rng.integers(0, w - cw + 1)) if rng is not None else (w - cw) // 2
        flip = rng is not None and rng.random() < 0.5
        for k in out:
            row = ex.pair[i] if k in ("image", "target") else i  # photos are held once per pair
            a = getattr(ex, k)[row, y:y + ch, x:x + cw]
            out[k].append(a[:, ::-1] if flip else a)

    def img(k: str) -> torch.Tensor:
        return torch.from_numpy(np.stack(out[k]).astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()

    disp = torch.from_numpy(np.stack(out["disparity"]).astype(np.float32))[:, None]
    return (img("image"), img("scatter"), disp, img("target"), torch.from_numpy(ex.focus[idx]),
            torch.from_numpy(ex.aperture[idx]))


def predict(model: torch.nn.Module, image: torch.Tensor, scatter: torch.Tensor, disp: torch.Tensor,
            focus: torch.Tensor, aperture: torch.Tensor) -> torch.Tensor:
    """Model output at working scale (sizes multiples of 8 or reflect-padded to them, then cropped back)."""
    from bokehpipe.models.bokehnet import MULTIPLE, compose, network_input

    h, w = image.shape[-2:]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    x = network_input(image, scatter, disp, focus, aperture)
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    mask, residual = model(x)
    return compose(image, scatter, mask[..., :h, :w], residual[..., :h, :w])


def _loss(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float) -> tuple[torch.Tensor, float, float]:
    from bokehpipe.metrics import ssim

    l1 = F.l1_loss(pred, target)
    s = ssim(pred, target).mean()
    return l1 + ssim_weight * (1 - s), float(l1.detach()), float(s.detach())


def _psnr(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).tolist()


def validate(model: torch.nn.Module, ex: Examples, batch: int = 4) -> tuple[float, float]:
    """Mean PSNR of scatter and of the model over whole held-out examples."""
    model.eval()
    ps, pm = [], []
    with torch.inference_mode():
        for start in range(0, len(ex), batch):
            idx = np.arange(start, min(start + batch, len(ex)))
            image, scatter, disp, target, focus, aperture = _tensors(ex, idx, None, None)
            ps += _psnr(scatter, target)
            pm += _psnr(predict(model, image, scatter, disp, focus, aperture), target)
    model.train()
    return float(np.mean(ps)), float(np.mean(pm))


def _save(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int, best: float,
          cfg: TrainConfig) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": RUN_CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "step": step, "best_psnr": best, "config": _plain(asdict(cfg)),
                    "torch_rng": torch.get_rng_state()}, tmp)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def load_run_checkpoint(path: Path) -> dict[str, Any]:
    return load_checkpoint(path, format=RUN_CHECKPOINT_FORMAT, what="BokehNet run checkpoint",
                           fix="delete it or pick another run")


def train(cfg: TrainConfig, dataset_root: Path, run_dir: Path, *, log: Callable[[str], None] = lambda s: None,
          real: RealSet | None = None) -> dict[str, Any]:
    """Train (or resume) a BokehNet run; returns a summary with the final validation PSNRs.

    `real` trains on a real paired set (`bokehnet_data.RealSet`) instead of a synthetic one; `cfg.init` starts
    from exported weights (the network's widths are then the file's) instead of from scatter.
    """
    from bokehpipe.models.bokehnet import BokehNet
    from bokehpipe.render.learned import load_bokehnet
    from bokehpipe.train.defaults import own_val_split

    torch.manual_seed(cfg.seed)
    last, best_path = run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "best.pt"
    resumed = load_run_checkpoint(last) if last.is_file() else None
    init_model, init_info = None, None
    if resumed is not None:  # last.pt holds the weights and their widths; config.json where a fine-tune began
        cfg = replace(cfg, channels=tuple(resumed["config"]["channels"]))
        init_info = read_json(run_dir / "config.json").get("init_weights") if cfg.init else None
    elif cfg.init:
        init_model, init_info = load_bokehnet(None if cfg.init == "default" else Path(cfg.init).expanduser())
        init_info.pop("train_config", None)
        cfg = replace(cfg, channels=tuple(init_model.channels))
    val_split = cfg.val_split or own_val_split(str(dataset_root))
    if val_split is None:
        raise BokehpipeError(f"{dataset_root} has no val or val294 split to validate on; pass --val-split NAME")
    cfg = replace(cfg, val_split=val_split, f_number=real.f_number if real else cfg.f_number)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "config.json", {"model": "bokehnet", "dataset_root": str(dataset_root),
                                                **_plain(asdict(cfg)),
                                                "depth_caches": dict(real.caches) if real else None,
                                                "init_weights": init_info})
    t0 = time.time()
    built = [0]

    def progress(n: int) -> None:
        built[0] += n
        if built[0] % 100 == 0:
            log(f"examples: {built[0]} pairs rendered ({time.time() - t0:.0f} s)")

    train_ex = load_or_build(run_dir / "examples" / "train.npz", dataset_root, "train", cfg.recipe, limit=cfg.limit,
                             progress=progress, real=real)
    val_recipe = ExampleRecipe(**{**asdict(cfg.recipe), "seed": cfg.recipe.seed + 1000})
    val_ex = load_or_build(run_dir / "examples" / "val.npz", dataset_root, val_split, val_recipe, limit=cfg.val_max,
                           real=real)
    log(f"examples: {len(train_ex)} train, {len(val_ex)} {val_split} ({time.time() - t0:.0f} s)")
    for split, ex in (("train", train_ex), (val_split, val_ex)):
        if ex.left_out:
            log(f"examples: {len(ex.left_out)} {split} pair(s) of another aspect ratio left out (ids "
                f"{', '.join(ex.left_out[:5])}{'...' if len(ex.left_out) > 5 else ''})")
    model = init_model if init_model is not None else BokehNet(channels=cfg.channels)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, best = 0, -math.inf
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        opt.load_state_dict(resumed["optimizer"])
        step, best = int(resumed["step"]), float(resumed["best_psnr"])
        torch.set_rng_state(resumed["torch_rng"])
        log(f"resumed {last} at step {step}")
    metrics_path = run_dir / "metrics.csv"
    new_file = not metrics_path.is_file()
    rng = np.random.default_rng([cfg.seed, step])
    start = time.time()
    psnr_s = psnr_m = float("nan")
    with open(metrics_path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRICS_FIELDS)
        if new_file:
            writer.writeheader()
        if init_model is not None:  # a fresh fine-tune: the starting weights are the checkpoint to beat
            psnr_s, psnr_m = validate(model, val_ex)
            writer.writerow({"step": 0, "kind": "val", "psnr_scatter": f"{psnr_s:.3f}", "psnr_model": f"{psnr_m:.3f}",
                             "seconds": "0"})
            log(f"val step 0 (--init {cfg.init}): scatter {psnr_s:.2f} dB, bokehnet {psnr_m:.2f} dB")
            best = psnr_m
            _save(best_path, model, opt, step, best, cfg)
        model.train()
        stopped_early = False
        while step < cfg.steps:
            lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
            for group in opt.param_groups:
                group["lr"] = lr
            idx = rng.integers(0, len(train_ex), cfg.batch)
            image, scatter, disp, target, focus, aperture = _tensors(train_ex, idx, cfg.crop, rng)
            loss, l1, s = _loss(predict(model, image, scatter, disp, focus, aperture), target, cfg.ssim_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % cfg.log_every == 0:
                writer.writerow({"step": step, "kind": "train", "loss": f"{float(loss.detach()):.5f}",
                                 "l1": f"{l1:.5f}", "ssim": f"{s:.4f}", "lr": f"{lr:.2e}",
                                 "seconds": f"{time.time() - start:.0f}"})
                fh.flush()
                log(f"step {step}/{cfg.steps} loss {float(loss.detach()):.4f} l1 {l1:.4f} ssim {s:.4f}")
            out_of_time = cfg.max_minutes > 0 and time.time() - start > 60 * cfg.max_minutes
            if step % cfg.val_every == 0 or step == cfg.steps or out_of_time:
                psnr_s, psnr_m = validate(model, val_ex)
                writer.writerow({"step": step, "kind": "val", "psnr_scatter": f"{psnr_s:.3f}",
                                 "psnr_model": f"{psnr_m:.3f}", "seconds": f"{time.time() - start:.0f}"})
                fh.flush()
                log(f"val step {step}: scatter {psnr_s:.2f} dB, bokehnet {psnr_m:.2f} dB")
                if psnr_m > best:
                    best = psnr_m
                    _save(best_path, model, opt, step, best, cfg)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or out_of_time:
                _save(last, model, opt, step, best, cfg)
            if out_of_time and step < cfg.steps:
                log(f"stopped at step {step}: --max-minutes {cfg.max_minutes} reached")
                stopped_early = True
                break
    summary = {"step": step, "best_psnr": best, "val_psnr_scatter": psnr_s, "val_psnr_model": psnr_m,
               "stopped_early": stopped_early}
    if step >= cfg.steps or stopped_early:  # marks the run finished for `bokehpipe experiment`
        atomic_write_json(run_dir / "done.json", summary)
    return summary


def export_weights(run_dir: Path, out: Path, *, provenance: dict[str, Any], which: str = "best") -> Path:
    """Write the shipped file: fp16 state_dict + architecture + provenance (the caller's, plus the dataset, seed
    and what the weights have seen, from the run's config.json), loadable with weights_only=True."""
    path = run_dir / "checkpoints" / f"{which}.pt"
    if not path.is_file():
        raise BokehpipeError(f"{path}: no checkpoint; train with `bokehpipe bokehnet train` first")
    ck = load_run_checkpoint(path)
    state = {k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}
    cfg = ck["config"]
    run_cfg = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    payload = {"format": WEIGHTS_FORMAT, "model": "bokehnet", "state_dict": state,
               "config": {"channels": list(cfg["channels"])},
               "provenance": {"dataset": run_cfg.get("dataset"), "seed": run_cfg.get("seed"),
                              "data": describe_data(run_cfg, which, int(ck["step"])), **provenance,
                              "step": int(ck["step"]),
                              ("val_psnr" if which == "best" else "best_val_psnr_of_run"): float(ck["best_psnr"]),
                              "train_config": cfg}}
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return out


def describe_data(cfg: dict[str, Any], which: str, step: int) -> str:
    """What exported weights have seen (from the run's config.json) and how their checkpoint was picked."""
    init = cfg.get("init_weights") or {}
    if init and step == 0:  # no step beat the starting weights: they are what is exported
        return (f"the --init weights unchanged ({init.get('path')}; data: {init.get('data', 'unknown')}): no step of "
                f"the run on {cfg.get('dataset')} beat them on split {cfg.get('val_split')}")
    start = (f"; started from {init.get('path')} (run {init.get('run')}, data: {init.get('data', 'unknown')})"
             if init else "")
    picked = (f"checkpoint chosen on split {cfg.get('val_split')}" if which == "best" else
              f"last step, no selection (split {cfg.get('val_split')} only monitored)")
    if cfg.get("depth_caches"):  # a real set
        return (f"real pairs: {cfg.get('dataset')} split train (maps {cfg.get('depth_source')}, auto-focus, "
                f"f/{cfg['f_number']:g}); {picked}" + start)
    return "synthetic only (bokehpipe synth); no real photo seen" + start
