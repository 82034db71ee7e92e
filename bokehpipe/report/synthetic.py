"""The fixed synthetic test set in report.tex: the main run beside the renderers, the depth ablation over seeds,
the overfitting check and a figure of test scenes; all read from eval summaries and per-image CSVs.

The test set (`paper-test`) was drawn with another seed than the training set and was never used to train or to
choose a checkpoint (that is `paper` val). Learned rows over seeds are mean +- sample sd; single models carry
the standard error over images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bokehpipe.data.io import read_image, read_map
from bokehpipe.physics import coc_radius
from bokehpipe.report import figures, tables
from bokehpipe.report.sources import ABLATION, EARLIER_TAG, MAIN_RUN, Results, colour_fit_gain, method_metric
from bokehpipe.report.stats import mean_sd, pm, signed, standard_error
from bokehpipe.report.training import continued_from, run_time

METRICS = (("psnr", "PSNR"), ("ssim", "SSIM"), ("ms_ssim", "MS-SSIM"))
RENDERERS = (("gaussian", "Gaussian blur"), ("scatter", "Scatter"), ("bokehnet", "BokehNet"))


def per_image_psnr(res: Results, tag: str, method: str) -> dict[str, float]:
    """id -> PSNR of `method` (unaligned rows) in eval `tag`."""
    return {r["id"]: float(r["psnr"]) for r in res.per_image(tag)
            if r["method"] == method and r.get("aligned", "False") == "False"}


def _row(res: Results, tag: str, label: str, method: str, identity: dict[str, float],
         summary: dict | None = None) -> list[str]:
    """One method's row; `summary` for an eval that is not an experiment step (default: the step's own)."""
    summary = summary if summary is not None else res.eval_summary(tag)
    psnrs = per_image_psnr(res, tag, method)
    wins = [psnrs[i] > identity[i] for i in psnrs if i in identity] if method != "identity" else []
    return [label, *(tables.fmt(k, method_metric(summary, method, k)) for k, _ in METRICS),
            tables.fmt("psnr", method_metric(summary, method, "psnr", "metrics_aligned")),
            tables.fmt("psnr", standard_error(list(psnrs.values()))),
            f"{100 * sum(wins) / len(wins):.0f}" if wins else "--"]


def test_table(res: Results, numbers: dict[str, str]) -> str | None:
    """Every method on the test set: the renderers at each scene's true focus and aperture and at the product's
    auto-focus and f/1.8, the main PyNET run at its finest level."""
    main, auto = res.eval_summary("paper-test"), res.eval_summary("paper-test-auto")
    if not main or not auto:
        return None
    identity = per_image_psnr(res, "paper-test", "identity")
    rows = [_row(res, "paper-test", "Input (identity)", "identity", identity),
            _row(res, "paper-test", "Input at PyNET's x0.5, enlarged", "half-input", identity)]
    rows += [_row(res, "paper-test", f"{label}, true focus", m, identity) for m, label in RENDERERS]
    rows += [_row(res, "paper-test-auto", f"{label}, auto-focus", m, identity) for m, label in RENDERERS]
    info = main["methods"].get(MAIN_RUN, {}).get("info", {})
    level = info.get("level", "")
    rows.append(_row(res, "paper-test", f"PyNET, main run (level {level})", MAIN_RUN, identity))
    taken_over = continued_from(res)
    earlier = res.earlier_summary(taken_over[0]) if taken_over else None
    if taken_over and earlier:
        earlier_level = earlier["methods"].get(taken_over[0], {}).get("info", {}).get("level")
        label = "PyNET, earlier run, lower caps" + (f" (level {earlier_level})" if earlier_level else "")
        rows.append(_row(res, EARLIER_TAG, label, taken_over[0], identity, earlier))
    numbers["NumTestImages"] = str(main["n_images"])
    for method, macro in (("identity", "Identity"), ("half-input", "HalfInput"), ("scatter", "Scatter"),
                          ("bokehnet", "Bokehnet"), ("gaussian", "Gaussian"), (MAIN_RUN, "Main")):
        numbers[f"Test{macro}"] = tables.fmt("psnr", method_metric(main, method, "psnr"))
    numbers["TestScatterAuto"] = tables.fmt("psnr", method_metric(auto, "scatter", "psnr"))
    numbers["TestBokehnetAuto"] = tables.fmt("psnr", method_metric(auto, "bokehnet", "psnr"))
    for method, macro in (("scatter", "Scatter"), ("bokehnet", "Bokehnet")):
        true_focus, auto_focus = method_metric(main, method, "psnr"), method_metric(auto, method, "psnr")
        numbers[f"Test{macro}FocusCost"] = signed("psnr", None if true_focus is None or auto_focus is None
                                                  else auto_focus - true_focus)
    for method, macro in (("identity", "Identity"), ("scatter", "Scatter"), (MAIN_RUN, "Main")):
        numbers[f"Test{macro}ColourFit"] = signed("psnr", colour_fit_gain(main, method))
    gap = ((method_metric(main, MAIN_RUN, "psnr") or float("nan"))
           - (method_metric(main, "scatter", "psnr") or float("nan")))
    numbers["TestMainMinusScatter"] = signed("psnr", gap)
    _comparisons(main, auto, numbers)
    header = ["Method", *(f"{name}$\\uparrow$" for _, name in METRICS), "PSNR$^\\dagger$", "s.e.",
              "$>$ input (\\%)"]
    return tables.tabular(header, rows, align="lrrrrrr")


def _share(summary: dict, method: str, key: str) -> float | None:
    """How much of the way from the input to scatter with the true focus `method` goes by metric `key` (1 =
    all of it)."""
    ident, model, scatter = (method_metric(summary, m, key) for m in ("identity", method, "scatter"))
    if ident is None or model is None or scatter is None or scatter == ident:
        return None
    return (model - ident) / (scatter - ident)


def _percent(share: float | None) -> str:
    return "--" if share is None else f"{100 * share:.0f}".replace("-", "$-$")


def _comparisons(main: dict, auto: dict, numbers: dict[str, str]) -> None:
    """The comparisons the prose states in words, decided here from the scores so that the words follow them:
    how much of the input-to-scatter gap PyNET closes by PSNR and by SSIM, where it ranks against scatter with
    the true focus and with auto-focus ('above': it beats scatter with the true focus; 'between': with auto-focus
    only; 'below': with neither), and whether a colour-gain fit helps it more than twice as much as it helps
    scatter (a colour cast of its own rather than the pairs' exposure change, which every method shares)."""
    psnr, ssim = _share(main, MAIN_RUN, "psnr"), _share(main, MAIN_RUN, "ssim")
    numbers["TestMainGapPsnr"] = _percent(psnr)
    numbers["TestMainGapSsim"] = _percent(ssim)
    numbers["TestMainGapSsimMore"] = "yes" if psnr is not None and ssim is not None and ssim > psnr else "no"
    model = method_metric(main, MAIN_RUN, "psnr")
    true_focus, auto_focus = method_metric(main, "scatter", "psnr"), method_metric(auto, "scatter", "psnr")
    if model is None or true_focus is None or auto_focus is None:
        numbers["TestMainRank"] = "--"
    else:
        numbers["TestMainRank"] = ("above" if model > true_focus else "between" if model > auto_focus else "below")
    main_fit, scatter_fit = colour_fit_gain(main, MAIN_RUN), colour_fit_gain(main, "scatter")
    numbers["TestMainColourCast"] = ("yes" if main_fit is not None and scatter_fit is not None
                                     and main_fit > 2 * max(scatter_fit, 0.0) else "no")


def ablation_table(res: Results, numbers: dict[str, str]) -> str | None:
    """With and without the disparity channel at equal steps, batch and crops (levels 7..4, three seeds each),
    scored at level 4's output size, with the paired difference by seed."""
    summary = res.eval_summary("paper-test-level4")
    if not summary:
        return None
    scores = {kind: [method_metric(summary, run, "psnr") for run in runs] for kind, runs in ABLATION.items()}
    ssims = {kind: [method_metric(summary, run, "ssim") for run in runs] for kind, runs in ABLATION.items()}
    hours = {kind: [run_time(rows).cpu / 3600 for rows in (res.metrics(r) for r in runs) if rows]
             for kind, runs in ABLATION.items()}
    rows = [["Input", "--", tables.fmt("psnr", method_metric(summary, "identity", "psnr")),
             tables.fmt("ssim", method_metric(summary, "identity", "ssim")), "--"],
            ["Scatter, true focus", "--", tables.fmt("psnr", method_metric(summary, "scatter", "psnr")),
             tables.fmt("ssim", method_metric(summary, "scatter", "ssim")), "--"]]
    for kind, label in (("depth", "PyNET, + disparity"), ("rgb", "PyNET, RGB only")):
        done = [v for v in scores[kind] if v is not None]
        rows.append([label, str(len(done)), pm("psnr", done), pm("ssim", [v for v in ssims[kind] if v is not None]),
                     pm("hours", hours[kind])])
    diffs = [d - r for d, r in zip(scores["depth"], scores["rgb"], strict=True) if d is not None and r is not None]
    mean, sd = mean_sd(diffs)
    spread = f" $\\pm$ {tables.fmt('psnr', sd)}" if len(diffs) > 1 else ""
    paired = signed("psnr", mean) + spread if diffs else "--"
    rows.append(["Depth $-$ RGB, by seed", str(len(diffs)), paired, "--", "--"])
    numbers.update(AblDepth=pm("psnr", [v for v in scores["depth"] if v is not None]),
                   AblRgb=pm("psnr", [v for v in scores["rgb"] if v is not None]),
                   AblGain=signed("psnr", mean), AblGainSd=tables.fmt("psnr", sd), AblSeeds=str(len(diffs)),
                   AblGainMin=signed("psnr", min(diffs) if diffs else None),
                   AblGainMax=signed("psnr", max(diffs) if diffs else None),
                   AblIdentity=tables.fmt("psnr", method_metric(summary, "identity", "psnr")),
                   AblScatter=tables.fmt("psnr", method_metric(summary, "scatter", "psnr")),
                   AblScale=str(summary.get("downscale", 1)))
    # whether the comparison is between models that have not yet learned to copy their input
    identity, runs = method_metric(summary, "identity", "psnr"), [v for v in scores["depth"] + scores["rgb"]
                                                                    if v is not None]
    numbers["AblBelowInput"] = "yes" if identity is not None and runs and max(runs) < identity else "no"
    return tables.tabular(["Method", "Seeds", "PSNR$\\uparrow$", "SSIM$\\uparrow$", "CPU h"], rows, align="lrrrr")


def overfitting_numbers(res: Results, numbers: dict[str, str]) -> None:
    """The main run's gain over its input on training, validation and test pairs: a train gain far above the
    others would mean the set is too small for the model."""
    gains: dict[str, float | None] = {}
    for tag, macro in (("paper-train-100", "Train"), ("paper-val", "Val"), ("paper-test", "Test")):
        summary = res.eval_summary(tag)
        model, ident = method_metric(summary, MAIN_RUN, "psnr"), method_metric(summary, "identity", "psnr")
        gain = model - ident if model is not None and ident is not None else None
        numbers[f"Fit{macro}Gain"] = signed("psnr", gain)
        numbers[f"Fit{macro}Count"] = str((summary or {}).get("n_images", "--"))
        gains[macro] = gain
    train, test = gains["Train"], gains["Test"]
    numbers["FitTrainExcess"] = signed("psnr", None if train is None or test is None else train - test)
    numbers["FitTrainAbove"] = "yes" if train is not None and test is not None and train > test else "no"


def scene_blur(res: Results) -> dict[str, float] | None:
    """id -> mean circle-of-confusion radius of each test target (px at the photo's size), from the scene's own
    focus, aperture and true disparity: how much blur the pair asks a method to draw. The renderers are given
    focus and aperture; PyNET is given neither, so it can only learn how much blur such a photo usually takes."""
    summary, meta = res.eval_summary("paper-test"), res.dataset_json("paper-test", "metadata.json")
    if not summary or not meta:
        return None
    depth, width = Path(summary["dataset_root"]) / "Training" / "depth", int(meta["size"][0])
    return {id_: float(np.mean(coc_radius(read_map(depth / f"{id_}.png"), info["focus"], width=width,
                                          aperture=info["aperture"])))
            for id_, info in meta["images"].items()}


BLUR_METHODS = ((MAIN_RUN, "PyNET (main)", "Main"), ("scatter", "Scatter, true focus", "Scatter"),
                ("bokehnet", "BokehNet, true focus", "Bokehnet"))


def blur_gains(res: Results, numbers: dict[str, str]) -> Callable[[Path], Path] | None:
    """Each method's PSNR gain over the input against the scene's blur, per test pair: the figure, and the mean
    gain on the less and the more blurred half of the pairs (split at the median blur) with the rank
    correlation of gain and blur."""
    from scipy.stats import spearmanr

    blur = scene_blur(res)
    identity = per_image_psnr(res, "paper-test", "identity")
    if not blur or not identity:
        return None
    ids = sorted((i for i in identity if i in blur), key=lambda i: blur[i])
    if len(ids) < 2:
        return None
    numbers["BlurMedian"] = f"{blur[ids[len(ids) // 2]]:.1f}"
    series = []
    for method, label, macro in BLUR_METHODS:
        psnr = per_image_psnr(res, "paper-test", method)
        pairs = [(blur[i], psnr[i] - identity[i]) for i in ids if i in psnr]
        if len(pairs) < 2:
            continue
        gains, half = [g for _, g in pairs], len(pairs) // 2
        for name, part in (("Low", gains[:half]), ("High", gains[half:])):
            mean = float(np.mean(part))
            numbers[f"Blur{macro}{name}"] = signed("psnr", mean)
            numbers[f"Blur{macro}{name}Verb"] = "gains" if mean > 0 else "loses"  # for prose that follows the sign
        rho = float(spearmanr([b for b, _ in pairs], gains).statistic) if len(set(gains)) > 1 else float("nan")
        numbers[f"Blur{macro}Rho"] = signed("correlation", rho)
        series.append((label, pairs))
    if not series:
        return None
    return lambda path: figures.gain_against_blur(series, path)


def test_figure(res: Results) -> Callable[[Path], Path] | None:
    """Two test scenes as every method rendered them (the predictions eval kept), zooms chosen from the depth."""
    summary = res.eval_summary("paper-test")
    pred = res.eval_dir("paper-test") / "predictions"
    methods = [("scatter", "Scatter"), ("bokehnet", "BokehNet"), (MAIN_RUN, "PyNET (main)")]
    ids = sorted(p.stem for p in (pred / MAIN_RUN).glob("*.png"))[:2] if pred.is_dir() else []
    if not summary or not ids:
        return None
    root = Path(summary["dataset_root"]) / "Training"

    def draw(path: Path) -> Path:
        photos = []
        for id_ in ids:
            rgb, target = read_image(root / "original" / f"{id_}.jpg"), read_image(root / "bokeh" / f"{id_}.jpg")
            imgs = [rgb, *(read_image(pred / m / f"{id_}.png") for m, _ in methods), target]
            photos.append({"label": f"test {id_}", "images": imgs,
                           "windows": figures.pick_windows(read_map(root / "depth" / f"{id_}.png"), rgb),
                           "diffs": [figures.abs_diff(x, target) for x in imgs[:-1]] + [None]})
        return figures.comparison(photos, _columns(methods), path, diff_label="|x - target| x4")

    return draw


def _columns(methods: Sequence[tuple[str, str]]) -> list[str]:
    return ["Input (f/16)", *(t for _, t in methods), "Target (f/1.8)"]
