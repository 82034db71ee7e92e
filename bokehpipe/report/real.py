"""Real photos in report.tex: the six EBB! pairs scored one by one against their f/1.8 targets, the three with a
depth map shown with zooms, and the twelve photos published with the paper's own depth maps; all read from the
store (eval per-image CSVs and saved predictions, infer renders) plus the photos themselves.

No model here saw a real photo in training. The renderers' f/1.8 aperture constant was fitted on the VABD
scenes and on EBB! 2977-2979, so their scores on those three pairs have seen the pairs; the Val294 pairs and
the twelve samples were seen by nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.io import read_image
from bokehpipe.report import figures, tables
from bokehpipe.report.photos import load_photo
from bokehpipe.report.sources import ABLATION, MAIN_RUN, Results
from bokehpipe.report.stats import mean_sd, pm, signed
from bokehpipe.report.synthetic import per_image_psnr

TRAIN_IDS = ("2977", "2978", "2979")  # EBB! train split, with a (Depth Anything V2) disparity map in realdata
VAL_IDS = ("4545", "4546", "4547")  # Val294, no map
COLUMNS = (("identity", "Input"), ("gaussian", "Gaussian"), ("scatter", "Scatter"), ("bokehnet", "BokehNet"),
           (MAIN_RUN, "PyNET"))


def pairs_table(res: Results, numbers: dict[str, str]) -> str | None:
    """PSNR per pair and method at full size; the Val294 pairs (no depth) add the RGB-only runs at level 4's size."""
    train, val = res.eval_summary("paper-ebb-train"), res.eval_summary("paper-ebb-val294")
    small = res.eval_summary("paper-ebb-val294-level4")
    if not train or not val or not small:
        return None
    full = {m: {**per_image_psnr(res, "paper-ebb-train", m), **per_image_psnr(res, "paper-ebb-val294", m)}
            for m, _ in COLUMNS}
    rows = []
    for id_ in (*TRAIN_IDS, *VAL_IDS):
        split = "train" if id_ in TRAIN_IDS else "Val294"
        rows.append([id_, split, *(tables.fmt("psnr", full[m].get(id_)) for m, _ in COLUMNS)])
    means = {m: mean_sd([full[m][i] for i in TRAIN_IDS if i in full[m]])[0] for m, _ in COLUMNS}
    rows.append(["2977--2979", "mean", *(tables.fmt("psnr", means[m]) for m, _ in COLUMNS)])
    ident_small = per_image_psnr(res, "paper-ebb-val294-level4", "identity")
    rgb = [per_image_psnr(res, "paper-ebb-val294-level4", run) for run in ABLATION["rgb"]]
    rgb_means = [mean_sd(list(r.values()))[0] for r in rgb if r]
    rows.append(["4545--4547", "1/8 size", tables.fmt("psnr", mean_sd(list(ident_small.values()))[0]),
                 "\\multicolumn{3}{c}{no depth map}", f"RGB only: {pm('psnr', rgb_means)}"])
    for m, macro in (("identity", "Identity"), ("scatter", "Scatter"), ("bokehnet", "Bokehnet"),
                     ("gaussian", "Gaussian"), (MAIN_RUN, "Main")):
        numbers[f"Ebb{macro}"] = tables.fmt("psnr", means[m])
    numbers["EbbMainMinusIdentity"] = signed("psnr", means[MAIN_RUN] - means["identity"])
    numbers["EbbScatterMinusIdentity"] = signed("psnr", means["scatter"] - means["identity"])
    numbers["EbbBokehnetMinusScatter"] = signed("psnr", means["bokehnet"] - means["scatter"])
    wins = sum(full["bokehnet"].get(i, -1) > full["scatter"].get(i, 0) for i in TRAIN_IDS)
    numbers["EbbBokehnetWins"] = str(wins)
    numbers["EbbValIdentity"] = tables.fmt("psnr", mean_sd([full["identity"][i] for i in VAL_IDS
                                                             if i in full["identity"]])[0])
    return tables.tabular(["Pair", "Split", *(name for _, name in COLUMNS)], rows, align="llrrrrr")


def _grey(disp: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(disp, 0, 1)[..., None], 3, axis=2).astype(np.float32)


def ebb_figure(res: Results) -> Callable[[Path], Path] | None:
    """The three pairs with depth: input, scatter, BokehNet, PyNET, target, and |BokehNet - scatter| x8 (where
    the learned correction acts); zooms; |x - target| x4."""
    pred = res.eval_dir("paper-ebb-train") / "predictions"
    methods = [("scatter", "Scatter"), ("bokehnet", "BokehNet"), (MAIN_RUN, "PyNET (main)")]
    if not all((pred / m / f"{i}.png").is_file() for m, _ in methods for i in TRAIN_IDS):
        res._miss("EBB! predictions", pred, "bokehpipe experiment paper_cpu --only ebb-train")
        return None
    root = res.realdata("EBB! photos", "ebb/Training")
    if root is None:
        return None
    ebb = root / "ebb" / "Training"

    def draw(path: Path) -> Path:
        photos = []
        for id_ in TRAIN_IDS:
            rgb, disp = load_photo(ebb / "original" / f"{id_}.jpg", ebb / "depth" / f"{id_}.png")
            target = read_image(ebb / "bokeh" / f"{id_}.jpg")
            outs = [read_image(pred / m / f"{id_}.png") for m, _ in methods]
            imgs = [rgb, *outs, target, figures.abs_diff(outs[1], outs[0], gain=8.0)]
            photos.append({"label": f"EBB! {id_}", "images": imgs, "windows": figures.pick_windows(disp, rgb),
                           "diffs": [figures.abs_diff(x, target) for x in imgs[:4]] + [None, None]})
        cols = ["Input (f/16)", *(t for _, t in methods), "Target (f/1.8)", "|BokehNet - scatter| x8"]
        return figures.comparison(photos, cols, path, diff_label="|x - target| x4")

    return draw


def samples_figure(res: Results, extra: bool) -> Callable[[Path], Path] | None:
    """The photos published with the paper's own depth maps (no target exists): input, the map, scatter, BokehNet
    and the main PyNET run; zooms on the four of the main text, none on the appendix's eight."""
    suffix, sub = ("-extra", "pynet_samples_extra") if extra else ("", "pynet_samples")
    methods = [("scatter", "Scatter"), ("bokehnet", "BokehNet"), ("paper-main", "PyNET (main)")]
    folders = {m: res.renders(f"paper-pynet-samples{suffix}-{m}") for m, _ in methods}
    real = res.realdata("PyNET samples", sub)
    if any(v is None for v in folders.values()) or real is None:
        return None
    root = real / sub

    def draw(path: Path) -> Path:
        photos: list[dict[str, Any]] = []
        for name in sorted((p.stem for p in (root / "images").glob("*.jpg")), key=int):
            rgb, disp = load_photo(root / "images" / f"{name}.jpg", root / "depth_maps" / f"{name}.png")
            outs = [read_image(folders[m] / f"{name}.jpg") for m, _ in methods]
            photos.append({"label": f"sample {name}", "images": [rgb, _grey(disp), *outs],
                           "windows": [] if extra else figures.pick_windows(disp, rgb)})
        cols = ["Input (f/16)", "Paper's depth", *(t for _, t in methods)]
        return figures.comparison(photos, cols, path)

    return draw
