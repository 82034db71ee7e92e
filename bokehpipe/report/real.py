"""Real photos in report.tex: EBB! pairs scored against their f/1.8 targets, the misalignment ceiling, the
PyNET samples with the paper's depth, VABD at three apertures, and a failure case; all read from the store
(eval summaries, per-image CSVs, saved predictions, infer renders) plus the photos themselves.

No model here saw a real photo in training: the learned runs were trained on the synthetic `exp` set only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.io import read_image
from bokehpipe.report import figures, tables
from bokehpipe.report.photos import load_photo
from bokehpipe.report.sources import Results
from bokehpipe.report.study import mean_sd, pm, run_names

TRAIN_IDS = ("2977", "2978", "2979")  # EBB! train split, with (Depth-Anything) depth in realdata
MODEL_RUN = "exp-depth-s0"  # the PyNET-res-xs shown in figures (its seeds are scored in the tables)


def misalignment_table(res: Results, numbers: dict[str, str]) -> str | None:
    """Identity on the six pairs: raw, after a colour gain, after the best integer shift + gain (PSNR on the
    32-px-border crop, which the shift never reaches, so the three columns compare like with like)."""
    rows_csv = [r for r in res.per_image("ebb-all-identity") if r["method"] == "identity"]
    if not rows_csv:
        res.eval_summary("ebb-all-identity")  # records the miss with its command
        return None
    by_id: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows_csv:
        by_id.setdefault(r["id"], {})[r["aligned"]] = r
    rows, cols = [], {"False": [], "True": [], "shift": []}
    for id_ in sorted(by_id, key=int):
        modes = by_id[id_]
        vals = [float(modes[m]["psnr_crop32"]) for m in ("False", "True", "shift")]
        for m, v in zip(("False", "True", "shift"), vals, strict=True):
            cols[m].append(v)
        split = "train" if id_ in TRAIN_IDS else "Val294"
        rows.append([id_, split] + [tables.fmt("psnr", v) for v in vals] + [tables.fmt("psnr", vals[2] - vals[0])])
    means = [mean_sd(cols[m])[0] for m in ("False", "True", "shift")]
    rows.append(["mean", ""] + [tables.fmt("psnr", v) for v in means] + [tables.fmt("psnr", means[2] - means[0])])
    numbers["MisRaw"], numbers["MisGain"], numbers["MisShift"] = (tables.fmt("psnr", v) for v in means)
    numbers["MisGainGain"] = tables.fmt("psnr", means[1] - means[0])
    numbers["MisShiftGain"] = tables.fmt("psnr", means[2] - means[1])
    numbers["MisPairs"] = str(len(by_id))
    return tables.tabular(["Pair", "Split", "Raw", "+ gain", "+ shift + gain", "$\\Delta$"], rows, align="llrrrr")


def ebb_table(res: Results, numbers: dict[str, str]) -> str | None:
    train, val = res.eval_summary("ebb-train"), res.eval_summary("ebb-val294")
    if not train or not val:
        return None
    keys = (("psnr", "PSNR"), ("ssim", "SSIM"), ("psnr_aligned", "PSNR, gain"))

    def vals(summary: dict, methods: list[str], key: str) -> list[float]:
        out = []
        for m in methods:
            entry = summary["methods"].get(m)
            if not entry:
                continue
            src = entry.get("metrics_aligned" if key == "psnr_aligned" else "metrics", {})
            metric = "psnr" if key == "psnr_aligned" else key
            if metric in src:
                out.append(float(src[metric]))
        return out

    rows = []
    bokehnet = res.eval_summary("ebb-train-bokehnet")
    extra = [("", bokehnet, "BokehNet (default)", ["bokehnet"])] if bokehnet else []
    spec = [("2977--2979", train, "Identity", ["identity"]),
            ("", train, "Gaussian", ["gaussian"]),
            ("", train, "Scatter", ["scatter"]),
            *extra,
            ("", train, "PyNET-res-xs + depth", run_names("depth")),
            ("", train, "PyNET-res-xs, RGB", run_names("nodepth")),
            ("4545--4547", val, "Identity", ["identity"]),
            ("", val, "PyNET-res-xs, RGB", run_names("nodepth"))]
    for group, summary, label, methods in spec:
        n = len(vals(summary, methods, "psnr"))
        rows.append([group, tables.esc(label), str(n) if len(methods) > 1 else "--"]
                    + [pm("psnr" if k != "ssim" else "ssim", vals(summary, methods, k)) for k, _ in keys])
    for name, summary, methods in (("Identity", train, ["identity"]), ("Gaussian", train, ["gaussian"]),
                                   ("Scatter", train, ["scatter"]), ("Depth", train, run_names("depth")),
                                   ("NoDepth", train, run_names("nodepth")),
                                   ("ValIdentity", val, ["identity"]), ("ValNoDepth", val, run_names("nodepth"))):
        numbers["EbbPsnr" + name] = tables.fmt("psnr", mean_sd(vals(summary, methods, "psnr"))[0])
        numbers["EbbPsnrAligned" + name] = tables.fmt("psnr", mean_sd(vals(summary, methods, "psnr_aligned"))[0])
    return tables.tabular(["Pairs", "Method", "Seeds", *(label for _, label in keys)], rows, align="llrrrr")


def _grey(disp: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(disp, 0, 1)[..., None], 3, axis=2).astype(np.float32)


def ebb_figure(res: Results) -> Callable[[Path], Path] | None:
    """The three pairs with depth: input, gaussian, scatter, PyNET-res-xs, target; zooms; |x - target|."""
    pred = res.eval_dir("ebb-train") / "predictions"
    methods = [("gaussian", "Gaussian"), ("scatter", "Scatter"), (MODEL_RUN, "PyNET-res-xs + depth")]
    if not all((pred / m / f"{i}.png").is_file() for m, _ in methods for i in TRAIN_IDS):
        res._miss("EBB! predictions", pred, "bokehpipe experiment exp_real")
        return None
    root = res.realdata("EBB! photos", "ebb/Training")
    if root is None:
        return None
    ebb = root / "ebb" / "Training"
    bn = res.eval_dir("ebb-train-bokehnet") / "predictions" / "bokehnet"
    if all((bn / f"{i}.png").is_file() for i in TRAIN_IDS):
        methods.insert(2, ("bokehnet", "BokehNet (default)"))

    def draw(path: Path) -> Path:
        photos = []
        for id_ in TRAIN_IDS:
            rgb, disp = load_photo(ebb / "original" / f"{id_}.jpg", ebb / "depth" / f"{id_}.png")
            target = read_image(ebb / "bokeh" / f"{id_}.jpg")
            outs = [read_image((bn if m == "bokehnet" else pred / m) / f"{id_}.png") for m, _ in methods]
            imgs = [rgb, *outs, target]
            photos.append({"label": f"EBB! {id_}", "images": imgs, "windows": figures.pick_windows(disp, rgb),
                           "diffs": [figures.abs_diff(x, target) for x in imgs[:-1]] + [None]})
        return figures.comparison(photos, ["Input (f/16)", *(t for _, t in methods), "Target (f/1.8)"], path)

    return draw


def failure_figure(res: Results, numbers: dict[str, str]) -> Callable[[Path], Path] | None:
    """The pair where scatter gains least over doing nothing (per-image PSNR; it may be a loss), shown with its
    depth map, and the RGB-only model on a Val294 pair, where it barely changes the photo."""
    rows = res.per_image("ebb-train")
    ident = {r["id"]: float(r["psnr"]) for r in rows if r["method"] == "identity" and r["aligned"] == "False"}
    scat = {r["id"]: float(r["psnr"]) for r in rows if r["method"] == "scatter" and r["aligned"] == "False"}
    if not ident or not scat:
        return None
    worst = min(scat, key=lambda i: scat[i] - ident[i])
    numbers["FailId"] = worst
    gain = scat[worst] - ident[worst]
    numbers["FailGain"] = ("+" if gain >= 0 else "$-$") + tables.fmt("psnr", abs(gain))
    val_pred = res.eval_dir("ebb-val294") / "predictions" / "exp-nodepth-s0"
    root = res.realdata("EBB! photos", "ebb/Training")
    if root is None:
        return None
    ebb = root / "ebb" / "Training"
    pred = res.eval_dir("ebb-train") / "predictions" / "scatter" / f"{worst}.png"

    def draw(path: Path) -> Path:
        rgb, disp = load_photo(ebb / "original" / f"{worst}.jpg", ebb / "depth" / f"{worst}.png")
        target = read_image(ebb / "bokeh" / f"{worst}.jpg")
        out = read_image(pred)
        photos = [{"label": f"EBB! {worst}", "images": [rgb, _grey(disp), out, target],
                   "windows": figures.pick_windows(disp, rgb),
                   "diffs": [figures.abs_diff(rgb, target), None, figures.abs_diff(out, target), None]}]
        vals = sorted(val_pred.glob("*.png"))
        if vals:
            vid = vals[0].stem
            vin = read_image(ebb / "original" / f"{vid}.jpg")
            vout = read_image(vals[0])
            vt = read_image(ebb / "bokeh" / f"{vid}.jpg")
            photos.append({"label": f"EBB! {vid}", "images": [vin, None, vout, vt],
                           "windows": figures.pick_windows(np.zeros(vin.shape[:2], np.float32), vin)[:1],
                           "diffs": [figures.abs_diff(vin, vt), None, figures.abs_diff(vout, vin, gain=16.0), None]})
        return figures.comparison(photos, ["Input (f/16)", "Depth (near = white)", "Render", "Target (f/1.8)"],
                                  path, width_in=6.0)

    return draw


def pynet_figure(res: Results, extra: bool) -> Callable[[Path], Path] | None:
    """The PyNET samples with the paper's own depth maps: every method, no target exists."""
    prefix, sub = ("real-pynetx", "pynet_samples_extra") if extra else ("real-pynet", "pynet_samples")
    folders = {m: res.renders(f"{prefix}-{m}") for m in ("gaussian", "scatter", "model")}
    if any(v is None for v in folders.values()):
        return None
    bokehnet = res.store.renders(f"{prefix}-bokehnet")
    if (bokehnet / "gallery.json").is_file():
        folders["bokehnet"] = bokehnet
    real = res.realdata("PyNET samples", sub)
    if real is None:
        return None
    root = real / sub

    def draw(path: Path) -> Path:
        photos = []
        names = sorted((p.stem for p in (root / "images").glob("*.jpg")), key=int)
        for name in names:
            rgb, disp = load_photo(root / "images" / f"{name}.jpg", root / "depth_maps" / f"{name}.png")
            outs = [read_image(folders[m] / f"{name}.jpg") for m in folders]
            imgs = [rgb, _grey(disp), *outs]
            windows = figures.pick_windows(disp, rgb) if not extra else []
            photos.append({"label": f"sample {name}", "images": imgs, "windows": windows})
        cols = ["Input (f/16)", "Paper's depth", "Gaussian", "Scatter", "PyNET-res-xs + depth"]
        cols += ["BokehNet (default)"] if "bokehnet" in folders else []
        return figures.comparison(photos, cols, path)

    return draw


def vabd_figure(res: Results) -> Callable[[Path], Path] | None:
    """VABD: scatter at f/8, f/2.8, f/1.8 (calibrated apertures) beside the real photos at those apertures."""
    stops = (("8", "f8"), ("2_8", "f2.8"), ("1_8", "f1.8"))
    folders = {tag: res.renders(f"vabd-scatter-{tag}") for _, tag in stops}
    if any(v is None for v in folders.values()):
        return None
    real = res.realdata("VABD photos", "vabd")
    if real is None:
        return None
    root = real / "vabd"

    def draw(path: Path) -> Path:
        photos = []
        for name in sorted(p.stem for p in (root / "input").glob("*.jpg")):
            rgb, disp = load_photo(root / "input" / f"{name}.jpg", root / "depth" / f"{name}.png")
            imgs: list[Any] = [rgb]
            for folder, tag in stops:
                imgs += [read_image(folders[tag] / f"{name}.jpg"), read_image(root / folder / f"{name}.jpg")]
            photos.append({"label": f"VABD {name}", "images": imgs, "windows": figures.pick_windows(disp, rgb)[:1]})
        cols = ["Input f/16"] + [c for _, tag in stops for c in (f"scatter {tag[1:]}", f"real {tag[1:]}")]
        return figures.comparison(photos, cols, path)

    return draw
