"""A run's weights as one small file (`bokehpipe export`): what `infer --checkpoint`, `--init` and the package's
shipped default load.

Any generator: the finest level's best (or last) checkpoint, its tensors in fp16, the registry name and the
keyword arguments that rebuild it, and a provenance that says what data the weights saw and how the checkpoint
was picked. Loaded with `torch.load(weights_only=True)` (`models.checkpoint.read_weights_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bokehpipe.models.checkpoint import WEIGHTS_FORMAT, find_checkpoint, read_checkpoint
from bokehpipe.store import atomic_path, read_json


def export_weights(run_dir: Path, out: Path, *, provenance: dict[str, Any], which: str = "best") -> Path:
    """Write `out` from the run's `which` checkpoint (its finest level); the caller's provenance is kept."""
    import torch

    ck = read_checkpoint(find_checkpoint(run_dir, which))
    info = ck["info"]
    state = {k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}
    run_cfg = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    cfg = run_cfg.get("config", ck.get("config", {}))
    kwargs = {k: v for k, v in (info.get("model_kwargs") or {}).items() if v is not None}
    payload = {"format": WEIGHTS_FORMAT, "model": info["model"], "state_dict": state, "config": kwargs,
               "level": int(ck["level"]), "with_depth": bool(info.get("with_depth", True)),
               "provenance": {"dataset": cfg.get("dataset"), "seed": cfg.get("seed"),
                              "data": describe_data(run_cfg, which, int(ck["step"])), **provenance,
                              "step": int(ck["step"]), "level": int(ck["level"]),
                              ("val_psnr" if which == "best" else "best_val_psnr_of_run"): float(ck["best_psnr"]),
                              "train_config": cfg}}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return out


def describe_data(run_cfg: dict[str, Any], which: str, step: int) -> str:
    """What exported weights have seen (from the run's config.json) and how their checkpoint was picked."""
    cfg = run_cfg.get("config", {})
    init = run_cfg.get("init_weights") or {}
    split = cfg.get("val_split")
    if init and step == 0:  # no step beat the starting weights: they are what is exported
        return (f"the --init weights unchanged ({init.get('path')}; data: {init.get('data', 'unknown')}): no step of "
                f"the run on {cfg.get('dataset')} beat them on split {split}")
    start = (f"; started from {init.get('path')} (run {init.get('run')}, data: {init.get('data', 'unknown')})"
             if init else "")
    picked = (f"checkpoint chosen on split {split}" if which == "best" else
              f"last step, no selection (split {split} only monitored)")
    real = (run_cfg.get("examples") or {}).get("real")
    if real:
        return (f"real pairs: {cfg.get('dataset')} split {cfg.get('train_split')} (maps {cfg.get('depth_source')}, "
                f"auto-focus, f/{real['f_number']:g}); {picked}" + start)
    if (run_cfg.get("examples") or {}).get("recipe") is not None:
        return f"synthetic only (bokehpipe synth); no real photo seen; {picked}" + start
    return f"{cfg.get('dataset')} split {cfg.get('train_split')}; {picked}" + start
