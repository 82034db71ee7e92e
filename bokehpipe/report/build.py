"""`bokehpipe report`: results in the store -> report/figures, report/tables -> report.pdf.

Two passes: first read every result (recording what is missing, with the command that makes it), then,
only if nothing is missing (or `allow_missing` asked for placeholders that name the commands), write the
figures and tables and compile report.tex.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.ebb import target_beside
from bokehpipe.data.io import read_image, read_map
from bokehpipe.errors import BokehpipeError
from bokehpipe.report import figures, tables
from bokehpipe.report.sources import RUNS, Results
from bokehpipe.store import ArtifactStore, atomic_write_text

MAIN_ROWS = (  # (label, eval tag, method)
    ("Identity (input as output)", "exp-val-gt", "identity"),
    ("Gaussian background blur, GT depth", "exp-val-gt", "gaussian"),
    ("Scatter, GT depth", "exp-val-gt", "scatter"),
    ("Scatter, degraded depth", "exp-val-lowq", "scatter"),
    ("PyNET-res-xs, RGB only", "exp-val-gt", "exp-nodepth"),
    ("PyNET-res-xs + degraded depth", "exp-val-lowq", "exp-lowdepth"),
    ("PyNET-res-xs + GT depth", "exp-val-gt", "exp-depth"),
)
MIN_LISTED_S = 5.0  # the timings table lists steps that took at least this long
MACRO_KEYS = {"identity": "Identity", "gaussian": "Gaussian", "scatter": "Scatter", "exp-nodepth": "NoDepth",
              "exp-lowdepth": "LowDepth", "exp-depth": "Depth", "exp-finest": "Finest"}


@dataclass
class Outputs:
    tables: dict[str, str] = field(default_factory=dict)  # name -> tex
    numbers: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # name -> callable(path)


def _method(summary: dict | None, name: str) -> dict | None:
    return (summary or {}).get("methods", {}).get(name)


def _main(res: Results, out: Outputs) -> None:
    summaries = {tag: res.eval_summary(tag) for tag in ("exp-val-gt", "exp-val-lowq")}
    entries = [(label, _method(summaries[tag], m)) for label, tag, m in MAIN_ROWS]
    out.tables["main"] = tables.methods_table(entries)
    for _, tag, m in MAIN_ROWS:
        entry = _method(summaries[tag], m)
        if entry is None:
            continue
        key = MACRO_KEYS[m] + ("Lowq" if tag == "exp-val-lowq" and m == "scatter" else "")
        for metric, prefix in (("psnr", "Psnr"), ("ssim", "Ssim")):
            out.numbers[prefix + key] = tables.fmt(metric, entry["metrics"].get(metric))
    gt = summaries["exp-val-gt"]
    if gt:
        out.numbers["NumValImages"] = str(gt["n_images"])
        bars = {label: e["metrics"] for label, e in entries if e}
        out.figures["bars.pdf"] = lambda p: figures.metric_bars(bars, p)
        out.figures["synth_grid.jpg"] = _synth_grid(res, gt)
    depth, nodepth = _method(gt, "exp-depth"), _method(gt, "exp-nodepth")
    if depth and nodepth:
        out.numbers["DepthGain"] = f"{depth['metrics']['psnr'] - nodepth['metrics']['psnr']:.2f}"


def _synth_grid(res: Results, summary: dict) -> Any:
    pred_dir = res.eval_dir("exp-val-gt") / "predictions"
    methods = [("gaussian", "Gaussian"), ("scatter", "Scatter"), ("exp-nodepth", "RGB only"),
               ("exp-depth", "+ GT depth")]
    ids = sorted(p.stem for p in (pred_dir / "exp-depth").glob("*.png"))[:2] if pred_dir.is_dir() else []
    if not ids:
        res._miss("eval predictions", pred_dir, "bokehpipe experiment exp_depth")
        return None
    root = Path(summary["dataset_root"])

    def draw(path: Path) -> Path:
        rows = []
        for id_ in ids:
            imgs = [read_image(root / "Training" / "original" / f"{id_}.jpg")]
            imgs += [read_image(pred_dir / m / f"{id_}.png") for m, _ in methods]
            imgs.append(read_image(root / "Training" / "bokeh" / f"{id_}.jpg"))
            rows.append((f"val {id_}", imgs))
        return figures.image_grid(rows, ["Input (f/16)"] + [t for _, t in methods] + ["Target (f/1.8)"], path)

    return draw


def _levels(res: Results, out: Outputs) -> None:
    summary = res.eval_summary("exp-levels-val-gt")
    log = res.experiment_log("exp_levels")
    rows = []
    for run, label in (("exp-depth", "Level-wise {levels} (paper)"), ("exp-finest", "Level 1 only")):
        entry = _method(summary, run)
        levels = ((res.run_config(run) or {}).get("config") or {}).get("levels") or []
        label = label.format(levels=f"{max(levels)}$\\to${min(levels)}" if levels else "")
        steps = _total_steps(res.run_config(run))
        metrics = (entry or {}).get("metrics", {})
        rows.append([label, str(steps) if steps else "--", tables.fmt("psnr", metrics.get("psnr")),
                     tables.fmt("ssim", metrics.get("ssim")), tables.fmt("ms_ssim", metrics.get("ms_ssim"))])
        if entry:
            out.numbers["PsnrLevels" + MACRO_KEYS[run]] = tables.fmt("psnr", metrics.get("psnr"))
    out.tables["levels"] = tables.tabular(["Schedule", "Steps", "PSNR$\\uparrow$", "SSIM$\\uparrow$",
                                           "MS-SSIM$\\uparrow$"], rows, bold_best={2: True, 3: True, 4: True})
    curves = {label: res.metrics(run) for run, (label, _) in RUNS.items()}
    if all(v is not None for v in curves.values()):
        out.figures["curves.pdf"] = lambda p: figures.training_curves(curves, p)
    if log:
        out.tables["timings"] = _timings(res)


def _total_steps(run_config: dict | None) -> int | None:
    """Optimiser steps over the levels a run trained, from its resolved config (config.json)."""
    cfg = (run_config or {}).get("config", {})
    try:
        return sum(int(cfg["schedule"][str(level)]["steps"]) for level in cfg["levels"])
    except (KeyError, TypeError, ValueError):
        return None


def _timings(res: Results) -> str:
    rows = []
    for name in ("exp_depth", "exp_levels", "exp_real"):
        log = res.experiment_log(name) or {"steps": {}}
        for step, entry in log["steps"].items():
            if entry.get("wall_s", 0) >= MIN_LISTED_S:
                rows.append([tables.esc(name), tables.esc(step), tables.fmt("minutes", entry["wall_s"] / 60)])
    return tables.tabular(["Experiment", "Step", "Wall time (min)"], rows, align="llr")


def _ebb(res: Results, out: Outputs) -> None:
    summary = res.eval_summary("ebb-val294")
    entry = _method(summary, "identity")
    if not entry:
        return
    rows = [["Identity", *(tables.fmt(k, entry["metrics"].get(k)) for k, _ in tables.COLS)]]
    if "metrics_aligned" in entry:
        rows.append(["Identity, colour-aligned", *(tables.fmt(k, entry["metrics_aligned"].get(k))
                                                   for k, _ in tables.COLS)])
    out.tables["ebb"] = tables.tabular(["Real EBB! Val294 pairs", *(label for _, label in tables.COLS)], rows)
    out.numbers["EbbIdentityPsnr"] = tables.fmt("psnr", entry["metrics"]["psnr"])
    out.numbers["EbbPairs"] = str(summary["n_images"])
    if "metrics_aligned" in entry:
        out.numbers["EbbIdentityPsnrAligned"] = tables.fmt("psnr", entry["metrics_aligned"]["psnr"])


def _bench(res: Results, out: Outputs) -> None:
    bench = res.bench()
    if not bench:
        return
    rows = []
    for r in bench.get("models", []):
        rows.append([tables.esc(r["name"]), tables.fmt("params_m", r["params"] / 1e6),
                     tables.fmt("seconds", r["s_per_image"]), tables.fmt("peak_gb", r["peak_mb"] / 1024)])
    for r in bench.get("renderers", []):
        rows.append([tables.esc(r["name"]), "--", tables.fmt("seconds", r["s_per_image"]),
                     tables.fmt("peak_gb", r["peak_mb"] / 1024)])
    out.tables["bench"] = tables.tabular(["Method", "Params (M)", "s / image", "Peak RSS (GB)"], rows)
    out.numbers["BenchSize"] = tables.esc(bench.get("image_size", "1536x1024"))
    out.numbers["BenchMachine"] = tables.esc(bench.get("machine", {}).get("summary", "this machine"))
    out.numbers["BenchCommit"] = tables.esc(str(bench.get("commit", "unknown"))[:10])
    for r in bench.get("models", []):
        if r["name"] == "pynet":
            out.numbers["ParamsFull"] = f"{r['params'] / 1e6:.1f}"


def _real(res: Results, out: Outputs) -> None:
    folders = {name: res.renders(name) for name in ("real-portraits-scatter", "real-portraits-model",
                                                    "real-pynet-scatter", "real-pynet-model", "real-ebb-model")}
    if any(v is None for v in folders.values()):
        return

    def entries(folder: Path) -> dict[str, dict]:
        data = json.loads((folder / "gallery.json").read_text(encoding="utf-8"))
        return {e["name"]: e for e in data["entries"]}

    def draw_depth(path: Path) -> Path:
        rows = []
        for scatter_dir, model_dir in (("real-portraits-scatter", "real-portraits-model"),
                                       ("real-pynet-scatter", "real-pynet-model")):
            sc, mo = entries(folders[scatter_dir]), entries(folders[model_dir])
            for name in sorted(set(sc) & set(mo))[:1]:
                e = sc[name]
                base = folders[scatter_dir]
                disp = read_map(base / e["depth"])
                model_render = read_image(folders[model_dir] / mo[name]["render"])
                rows.append((name, [read_image(base / e["before"]), np.repeat(disp[..., None], 3, axis=2),
                                    read_image(base / e["render"]), model_render]))
        return figures.image_grid(rows, ["Photo", "Disparity", "Scatter", "Model + depth"], path,
                                  crop=(0.5, 0.45, 0.3))

    def draw_ebb(path: Path) -> Path:
        folder = folders["real-ebb-model"]
        rows = []
        for name, e in sorted(entries(folder).items())[:2]:
            before = (folder / e["before"]).resolve()
            target = target_beside(before)
            imgs = [read_image(before), read_image(folder / e["render"])]
            if target is not None:
                imgs.append(read_image(target))
            rows.append((f"EBB! {name}", imgs))
        return figures.image_grid(rows, ["Input (f/16)", "RGB-only model", "Target (f/1.8)"], path,
                                  crop=(0.5, 0.5, 0.25))

    out.figures["real_depth.jpg"] = draw_depth
    out.figures["real_ebb.jpg"] = draw_ebb


def build(store: ArtifactStore, tex_path: Path, *, allow_missing: bool = False) -> tuple[Outputs, list[str]]:
    """Write report/figures and report/tables next to `tex_path`; returns what was made and what is missing."""
    res = Results(store)
    out = Outputs()
    for part in (_main, _levels, _ebb, _bench, _real):
        part(res, out)
    missing = [m.line() for m in res.missing]
    if missing and not allow_missing:
        raise BokehpipeError("results missing, nothing written:\n  " + "\n  ".join(missing))
    base = tex_path.parent / "report"
    for name, tex in out.tables.items():
        atomic_write_text(base / "tables" / f"{name}.tex", tex)
    for name, draw in out.figures.items():
        if draw is not None:
            draw(base / "figures" / name)
    for needed in ("bars.pdf", "synth_grid.jpg", "curves.pdf", "real_depth.jpg", "real_ebb.jpg"):
        if out.figures.get(needed) is None:
            figures.placeholder("missing result: " + "; ".join(m.command for m in res.missing) or "missing",
                                base / "figures" / needed)
    for needed in ("main", "levels", "timings", "ebb", "bench"):
        if needed not in out.tables:
            atomic_write_text(base / "tables" / f"{needed}.tex", "\\emph{missing result; see the build log}\n")
    for macro in _MACROS_USED:
        out.numbers.setdefault(macro, "\\textbf{??}")
    atomic_write_text(base / "tables" / "numbers.tex", tables.numbers_tex(out.numbers))
    return out, missing


# Every macro report.tex uses; a missing result defines it as ?? (only with allow_missing).
_MACROS_USED = ("PsnrIdentity", "PsnrGaussian", "PsnrScatter", "PsnrScatterLowq", "PsnrNoDepth", "PsnrLowDepth",
                "PsnrDepth", "SsimIdentity", "SsimScatter", "SsimNoDepth", "SsimDepth", "DepthGain", "NumValImages",
                "PsnrLevelsDepth", "PsnrLevelsFinest", "EbbIdentityPsnr", "EbbIdentityPsnrAligned", "EbbPairs",
                "ParamsFull", "BenchSize", "BenchMachine", "BenchCommit")
