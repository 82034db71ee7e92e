"""One setup table for every learned model in the report, read from what each model records about itself.

PyNET runs: their `config.json` (the settings the loop used) and `metrics.csv` (CPU hours). The shipped BokehNet: its
weights file's provenance (the training config it was exported with) and the pipeline that made its data.
Attributes are rows and models columns, so the table stays narrow however long a value is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bokehpipe.report import tables
from bokehpipe.report.sources import ABLATION, MAIN_RUN, Results
from bokehpipe.report.stats import pm
from bokehpipe.report.training import run_time

ROWS = ("Model", "Parameters", "Input", "Levels", "Steps per level", "Batch", "Crop (px)", "Optimiser", "Loss",
        "Training pairs", "Checkpoint chosen on", "Seeds", "CPU hours")


def _params(model: str, **kwargs: Any) -> int:
    """Parameter count of a registry model, built on the meta device (no memory, no weights)."""
    import torch

    from bokehpipe.models import create_model

    with torch.device("meta"):
        net = create_model(model, **kwargs)
    return sum(p.numel() for p in net.parameters())


def _per_level(cfg: dict[str, Any], key: str) -> str:
    """'16 (7-5), 8 (4-3), 4 (2-1)': a per-level setting, runs of equal values merged."""
    values = [(lv, cfg["schedule"][str(lv)].get(key) or cfg.get(key)) for lv in cfg["levels"]]
    groups: list[tuple[Any, list[int]]] = []
    for lv, v in values:
        if groups and groups[-1][0] == v:
            groups[-1][1].append(lv)
        else:
            groups.append((v, [lv]))
    if len(groups) == 1:
        return f"{groups[0][0]:,}" if isinstance(groups[0][0], int) else str(groups[0][0])
    return ", ".join(f"{v:,} ({ls[0]}" + (f"--{ls[-1]})" if len(ls) > 1 else ")") for v, ls in groups)


def _pynet_column(res: Results, runs: Sequence[str], pairs: dict[str, int]) -> list[str] | None:
    configs = [c for c in (res.run_config(r) for r in runs) if c]
    if not configs:
        return None
    record, cfg = configs[0], configs[0]["config"]
    hours = [run_time(rows).cpu / 3600 for rows in (res.metrics(r) for r in runs) if rows]
    levels = cfg["levels"]
    loss = "100 L1" if min(levels) > 1 else "100 L1 (7--2); 10 L1 + 10 (1$-$SSIM)" + (
        " + VGG" if cfg.get("perceptual") else " (1), no VGG")
    seeds = sorted({c["config"]["seed"] for c in configs})
    return [tables.esc(cfg["model"]) + f" (width {record['model_kwargs'].get('width', 1):g})",
            f"{_params(cfg['model'], **record['model_kwargs']) / 1e6:.1f}M",
            "RGB + disparity" if cfg["with_depth"] else "RGB",
            f"{levels[0]}$\\to${levels[-1]}",
            _per_level(cfg, "steps") + (" (at most; plateau)" if cfg.get("plateau") else ""),
            _per_level(cfg, "batch"), _per_level(cfg, "crop"),
            f"Adam, lr {cfg['lr']:g}", loss,
            f"{pairs.get('train', 0):,} synthetic",
            f"val ({cfg['val_max']} of {pairs.get('val', 0)})",
            ", ".join(str(s) for s in seeds), pm("hours", hours)]


def _bokehnet_column() -> list[str]:
    """The shipped BokehNet, from its weights file's provenance and the pipeline that made its training set."""
    from bokehpipe.config import load_pipeline
    from bokehpipe.models.checkpoint import read_weights_file

    payload = read_weights_file(None, "bokehnet")
    prov, cfg = payload["provenance"], payload["provenance"]["train_config"]
    _, pipeline = load_pipeline("bokehnet")
    synth = pipeline.get("synth", {})
    stopped = prov.get("step", 0)
    threads = pipeline.get("bokehnet", {}).get("train", {}).get("threads")
    return [f"BokehNet (channels {'/'.join(str(c) for c in cfg['channels'])})",
            f"{_params('bokehnet', **payload['config']) / 1e6:.2f}M",
            "photo, scatter render, disparity, CoC", "one (full size)",
            f"{stopped:,} of {cfg['steps']:,} (time cap)", str(cfg["batch"]),
            "x".join(str(c) for c in cfg["crop"]), f"Adam, lr {cfg['lr']:g}",
            f"L1 + {cfg['ssim_weight']:g} (1$-$SSIM)",
            f"{synth.get('count', 0):,} synthetic ({cfg['recipe']['variants']} depth variants)",
            "its own val", str(cfg["seed"]), _capped_cpu_hours(cfg["max_minutes"], threads)]


def _capped_cpu_hours(max_minutes: float, threads: int | None) -> str:
    """A run stopped by its wall-clock cap recorded no CPU time: at most the cap times its threads."""
    if not threads:
        return f"{max_minutes / 60:.2f} wall (cap)"
    return f"$\\le${max_minutes / 60 * threads:.2f} ({max_minutes / 60:.2f} wall cap $\\times$ {threads} threads)"


def setup_table(res: Results, numbers: dict[str, str]) -> str | None:
    splits = res.dataset_json("paper", "splits.json") or {}
    pairs = {k: len(v) for k, v in splits.items()}
    columns = [("PyNET, main", _pynet_column(res, [MAIN_RUN], pairs)),
               ("Ablation, + depth", _pynet_column(res, ABLATION["depth"], pairs)),
               ("Ablation, RGB", _pynet_column(res, ABLATION["rgb"], pairs)),
               ("BokehNet (shipped)", _bokehnet_column())]
    columns = [(name, col) for name, col in columns if col is not None]
    if len(columns) < 2:
        return None
    numbers["PaperTrainPairs"] = f"{pairs.get('train', 0):,}"
    numbers["PaperValPairs"] = str(pairs.get("val", 0))
    body = [[label, *(col[i] for _, col in columns)] for i, label in enumerate(ROWS)]
    width = f"{0.74 / len(columns):.3f}"
    align = "@{}l" + f">{{\\raggedright\\arraybackslash}}p{{{width}\\linewidth}}" * len(columns) + "@{}"
    return tables.tabular(["", *(name for name, _ in columns)], body, align=align)
