"""The synthetic study of report.tex: learned models over seeds, the setup they ran with, and the baselines.

Every learned number is a mean +- sample standard deviation over the seeds that finished (`exp-<kind>-s<N>`),
scored on `exp-test`, a set no run saw; checkpoints were picked on `exp` val. The setup table is read
from each run's `config.json` and `metrics.csv`, so what the report says was run is what ran.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bokehpipe.report import tables
from bokehpipe.report.sources import Results

SEEDS = (0, 1, 2)
# kind -> (label, eval tag that scores it)
KINDS: dict[str, tuple[str, str]] = {
    "nodepth": ("PyNET-res-xs, RGB only", "exp-test-gt"),
    "mono": ("PyNET-res-xs + monocular-style depth", "exp-test-mono"),
    "depth": ("PyNET-res-xs + true depth", "exp-test-gt"),
}
BASELINE_ROWS = (  # (label, tag, method)
    ("Identity (input as output)", "exp-test-gt", "identity"),
    ("Gaussian background blur, true depth", "exp-test-gt", "gaussian"),
    ("Scatter, monocular-style depth", "exp-test-mono", "scatter"),
    ("Scatter, true depth", "exp-test-gt", "scatter"),
)
METRICS = (("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("ms_ssim", "MS-SSIM"))


def run_names(kind: str) -> list[str]:
    return [f"exp-{kind}-s{s}" for s in SEEDS]


def seed_values(summary: dict | None, kind: str, metric: str) -> list[float]:
    """The metric of every seed of `kind` that the summary scored (missing seeds are simply absent)."""
    methods = (summary or {}).get("methods", {})
    return [float(methods[r]["metrics"][metric]) for r in run_names(kind)
            if r in methods and metric in methods[r].get("metrics", {})]


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def pm(key: str, values: Sequence[float]) -> str:
    """'26.47 $\\pm$ 0.12' (sample sd over seeds); one seed shows no spread; none shows --."""
    m, sd = mean_sd(values)
    if math.isnan(m):
        return "--"
    return tables.fmt(key, m) + ("" if math.isnan(sd) else f" $\\pm$ {tables.fmt(key, sd)}")


def study_table(res: Results, out_numbers: dict[str, str]) -> str:
    sums = {tag: res.eval_summary(tag) for tag in ("exp-test-gt", "exp-test-mono")}
    rows = []
    for label, tag, method in BASELINE_ROWS:
        m = (sums[tag] or {}).get("methods", {}).get(method)
        rows.append([tables.esc(label), "1"] + [tables.fmt(k, (m or {}).get("metrics", {}).get(k))
                                                 for k, _ in METRICS])
    for kind, (label, tag) in KINDS.items():
        vals = {k: seed_values(sums[tag], kind, k) for k, _ in METRICS}
        rows.append([tables.esc(label), str(len(vals["psnr"]))] + [pm(k, vals[k]) for k, _ in METRICS])
        m, sd = mean_sd(vals["psnr"])
        macro = {"nodepth": "NoDepth", "mono": "Mono", "depth": "Depth"}[kind]
        out_numbers["Psnr" + macro] = tables.fmt("psnr", m)
        out_numbers["PsnrSd" + macro] = tables.fmt("psnr", sd)
        out_numbers["Ssim" + macro] = tables.fmt("ssim", mean_sd(vals["ssim"])[0])
        out_numbers["Seeds" + macro] = str(len(vals["psnr"]))
    for _label, tag, method in BASELINE_ROWS:
        m = (sums[tag] or {}).get("methods", {}).get(method)
        key = {"identity": "Identity", "gaussian": "Gaussian", "scatter": "Scatter"}[method]
        key += "Mono" if tag == "exp-test-mono" else ""
        out_numbers["Psnr" + key] = tables.fmt("psnr", (m or {}).get("metrics", {}).get("psnr"))
        out_numbers["Ssim" + key] = tables.fmt("ssim", (m or {}).get("metrics", {}).get("ssim"))
    gt = sums["exp-test-gt"]
    if gt:
        out_numbers["NumTestImages"] = str(gt["n_images"])
    _gains(sums, out_numbers)
    return tables.tabular(["Method", "Seeds", *(f"{label}$\\uparrow$" for _, label in METRICS)], rows,
                          align="lrrrr")


def _gains(sums: dict[str, dict | None], out_numbers: dict[str, str]) -> None:
    """Paired by seed: what depth buys over RGB only, and what monocular-style errors cost against true depth."""
    for name, (a, ta), (b, tb) in (("DepthGain", ("depth", "exp-test-gt"), ("nodepth", "exp-test-gt")),
                                   ("MonoCost", ("depth", "exp-test-gt"), ("mono", "exp-test-mono"))):
        methods_a = (sums[ta] or {}).get("methods", {})
        methods_b = (sums[tb] or {}).get("methods", {})
        diffs = [methods_a[ra]["metrics"]["psnr"] - methods_b[rb]["metrics"]["psnr"]
                 for ra, rb in zip(run_names(a), run_names(b), strict=True) if ra in methods_a and rb in methods_b]
        m, sd = mean_sd(diffs)
        out_numbers[name] = tables.fmt("psnr", m)
        out_numbers[name + "Sd"] = tables.fmt("psnr", sd)
        out_numbers[name + "Min"] = tables.fmt("psnr", min(diffs) if diffs else None)
        out_numbers[name + "N"] = str(len(diffs))


def first_validation(res: Results, out_numbers: dict[str, str]) -> None:
    """The level-wise runs' first validation row (model vs. input at that level's scale), mean over seeds:
    how far from the identity a model with the identity skip starts."""
    firsts = []
    for run in run_names("depth"):
        rows = [r for r in (res.metrics(run) or []) if r.get("kind") == "val" and r.get("val_psnr")]
        if rows:
            firsts.append(rows[0])
    if firsts:
        out_numbers["FirstValStep"] = firsts[0]["step"]
        out_numbers["FirstValPsnr"] = tables.fmt("psnr", mean_sd([float(r["val_psnr"]) for r in firsts])[0])
        out_numbers["FirstValIdentity"] = tables.fmt(
            "psnr", mean_sd([float(r["val_psnr_identity"]) for r in firsts])[0])


def compute_minutes(metrics_rows: list[dict[str, str]] | None) -> float | None:
    """Training wall time of a run: per level the last logged elapsed time (validation included), summed."""
    if not metrics_rows:
        return None
    last: dict[str, float] = {}
    for r in metrics_rows:
        if r.get("elapsed_s"):
            last[r["level"]] = max(last.get(r["level"], 0.0), float(r["elapsed_s"]))
    return sum(last.values()) / 60 if last else None


def setup_table(res: Results) -> str:
    """One row per condition, from the runs' own config.json (identical across seeds except the seed)."""
    rows = []
    for kind, label in (("depth", "True depth, levels 4..1"), ("mono", "Monocular-style depth, 4..1"),
                        ("nodepth", "RGB only, 4..1"), ("finest", "True depth, level 1 only")):
        configs = [c for c in (res.run_config(r) for r in run_names(kind)) if c]
        if not configs:
            rows.append([tables.esc(label)] + ["--"] * 8)
            continue
        cfg = configs[0]["config"]
        width = (configs[0].get("identity") or {}).get("width")
        steps = "+".join(str(cfg["schedule"][str(lv)]["steps"]) for lv in cfg["levels"])
        batch = "/".join(sorted({str(cfg["schedule"][str(lv)]["batch"]) for lv in cfg["levels"]}))
        depth = cfg.get("depth_source") if cfg.get("with_depth") else "none"
        losses = "L1; L1+SSIM at 1" + ("+VGG" if cfg.get("perceptual") else "")
        minutes = [compute_minutes(res.metrics(r)) for r in run_names(kind) if res.run_config(r)]
        minutes = [m for m in minutes if m is not None]
        rows.append([tables.esc(label), tables.esc(f"{cfg['model']} x{width:g}" if width else cfg["model"]),
                     steps, tables.fmt("lr", cfg["lr"]), str(cfg["crop"]), batch, tables.esc(losses),
                     tables.esc(str(depth)), pm("minutes", minutes)])
    return tables.tabular(["Condition", "Model", "Steps per level", "lr", "Crop", "Batch", "Losses", "Depth",
                           "Minutes"], rows, align="llrrrrlll")


def data_numbers(res: Results, out_numbers: dict[str, str]) -> None:
    """Sizes of the synthetic sets the study used, read from the sets themselves."""
    for name, macro in (("exp", "Exp"), ("exp-test", "ExpTest")):
        splits = res.dataset_json(name, "splits.json")
        meta = res.dataset_json(name, "metadata.json")
        if splits is not None:
            counts = {k: len(v) for k, v in splits.items()}
            out_numbers[f"{macro}Train"] = str(counts.get("train", 0))
            out_numbers[f"{macro}Val"] = str(counts.get("val", 0))
        if meta is not None:
            out_numbers[f"{macro}Count"] = str(meta.get("count", ""))


def levels_table(res: Results, out_numbers: dict[str, str]) -> str:
    summary = res.eval_summary("exp-levels-test-gt")
    rows = []
    for kind, label in (("depth", "Level-wise 4$\\to$1"), ("finest", "Level 1 only")):
        configs = [c for c in (res.run_config(r) for r in run_names(kind)) if c]
        steps = "--"
        if configs:
            cfg = configs[0]["config"]
            steps = str(sum(int(cfg["schedule"][str(lv)]["steps"]) for lv in cfg["levels"]))
        minutes = [m for m in (compute_minutes(res.metrics(r)) for r in run_names(kind) if res.run_config(r))
                   if m is not None]
        vals = {k: seed_values(summary, kind, k) for k, _ in METRICS}
        rows.append([label, steps, pm("minutes", minutes), str(len(vals["psnr"]))]
                    + [pm(k, vals[k]) for k, _ in METRICS])
        macro = {"depth": "Levelwise", "finest": "Finest"}[kind]
        out_numbers["PsnrLevels" + macro] = tables.fmt("psnr", mean_sd(vals["psnr"])[0])
        out_numbers["PsnrLevelsSd" + macro] = tables.fmt("psnr", mean_sd(vals["psnr"])[1])
        out_numbers["MinutesLevels" + macro] = tables.fmt("minutes", mean_sd(minutes)[0])
    return tables.tabular(["Schedule", "Steps", "Minutes", "Seeds",
                           *(f"{label}$\\uparrow$" for _, label in METRICS)], rows, align="lrrrrrr")
