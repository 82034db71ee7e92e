"""The shipped default renderer (BokehNet: scatter + a learned correction) in report.tex: its scores next to
the classical renderers on the synthetic held-out pairs and on the real pairs, and its speed and memory next to
PyNET (`bokehpipe bench`).

Sources, all in the store: eval `bn-test` (synthetic test pairs drawn with another seed than BokehNet's
training set, used for neither training nor checkpoint selection; its per-image CSV gives the paired
spread), `ebb-train` / `ebb-train-bokehnet` (EBB! 2977-2979 at full resolution), `reports/real_eval_768.json`
(the six real f/1.8 pairs at 768 px, `studies/real_eval.py`) and `reports/bench.json`. The model's size and
training stop come from the shipped weights file itself; the controls figure renders real photos with it
(`controls_figure`; the drawing is `figures.panel_rows`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.errors import BokehpipeError
from bokehpipe.report import figures, tables
from bokehpipe.report.real import TRAIN_IDS
from bokehpipe.report.sources import (
    BOKEHNET_SEED_TAGS,
    BOKEHNET_TEST_MONO_TAG,
    BOKEHNET_TEST_TAG,
    SYNTHETIC_CEILING,
    SYNTHETIC_CEILING_COMMAND,
    Results,
)
from bokehpipe.report.study import mean_sd, pm

GOAL_DB = 1.0  # the goal BokehNet was built for: its PSNR over scatter on the synthetic held-out pairs
METHODS = (("identity", "Identity (input)"), ("gaussian", "Gaussian, f/1.8"), ("scatter", "Scatter, f/1.8"),
           ("bokehnet", "BokehNet (default)"))
CEILING = (("exact_optics", "Exact optics (ceiling)"), ("exact_optics_mean_gain", "Exact optics, mean gain"))
BENCH_ROWS = (("models", "pynet", "PyNET (paper size)"), ("models", "pynet-xs", "PyNET-xs"),
              ("renderers", "scatter", "Scatter"), ("renderers", "bokehnet", "BokehNet (default)"))


def _metric(summary: dict | None, method: str, key: str = "psnr") -> float | None:
    entry = (summary or {}).get("methods", {}).get(method)
    value = (entry or {}).get("metrics", {}).get(key)
    return float(value) if value is not None else None


def _signed(value: float | None) -> str:
    text = tables.fmt("psnr", value)
    return text if value is None or text.startswith("-") else "+" + text


def _paired_spread(res: Results, tag: str) -> tuple[str, str]:
    """Standard error of BokehNet's per-image PSNR gain over scatter on the synthetic pairs of eval `tag`, and the
    share of pairs it wins: one trained model, so the spread is over images, not seeds."""
    psnr: dict[str, dict[str, float]] = {}
    for row in res.per_image(tag):
        psnr.setdefault(row["method"], {})[row["id"]] = float(row["psnr"])
    ids = sorted(set(psnr.get("bokehnet", {})) & set(psnr.get("scatter", {})))
    gain = np.array([psnr["bokehnet"][i] - psnr["scatter"][i] for i in ids])
    if len(gain) < 2:
        return "--", "--"
    return (tables.fmt("psnr", float(gain.std(ddof=1) / np.sqrt(len(gain)))),
            f"{100 * float((gain > 0).mean()):.0f}")


def _same_pairs(ceiling: dict[str, Any], summary: dict[str, Any], res: Results) -> None:
    """The ceiling must have scored the very pairs the eval scored (set, split, count), or the rows mislead."""
    theirs = (Path(str(ceiling.get("dataset_root", ""))).name, ceiling.get("split"), ceiling.get("n_images"))
    ours = (summary.get("dataset"), summary.get("split"), summary.get("n_images"))
    if theirs != ours:
        raise BokehpipeError(f"{res.store.root / SYNTHETIC_CEILING}: scored {theirs} (set, split, pairs) but eval "
                             f"{BOKEHNET_TEST_TAG} scored {ours}; rerun `{SYNTHETIC_CEILING_COMMAND} --force`")


def quality_table(res: Results, numbers: dict[str, str]) -> str | None:
    """Rows: the four renderers, then what a perfect renderer of the synthetic optics scores (the ceiling);
    columns: synthetic test PSNR/SSIM with true depth, PSNR with monocular-style depth, EBB! at full resolution,
    EBB! and VABD at 768 px. Every renderer gets the true (synthetic) or auto (real) focus and the calibrated f/1.8."""
    syn_summary = res.eval_summary(BOKEHNET_TEST_TAG) or {}
    syn = syn_summary.get("methods", {})
    mono = (res.eval_summary(BOKEHNET_TEST_MONO_TAG) or {}).get("methods", {})
    ceiling = res.synthetic_ceiling()
    full = {**(res.eval_summary("ebb-train") or {}).get("methods", {}),
            **(res.eval_summary("ebb-train-bokehnet") or {}).get("methods", {})}
    small = res.real_eval_768()
    if not syn or not mono or not full or small is None or ceiling is None:
        return None
    _same_pairs(ceiling, syn_summary, res)
    syn_s, mono_s, full_s = {"methods": syn}, {"methods": mono}, {"methods": full}
    means = _group_means(small["rows"])
    rows = []
    for method, label in METHODS:
        rows.append([tables.esc(label), tables.fmt("psnr", _metric(syn_s, method)),
                     tables.fmt("ssim", _metric(syn_s, method, "ssim")), tables.fmt("psnr", _metric(mono_s, method)),
                     tables.fmt("psnr", _metric(full_s, method)), tables.fmt("ssim", _metric(full_s, method, "ssim")),
                     tables.fmt("psnr", means.get(("ebb", method))), tables.fmt("psnr", means.get(("vabd", method)))])
    gain = (_metric(syn_s, "bokehnet") or 0.0) - (_metric(syn_s, "scatter") or 0.0)
    numbers.update({
        "BnSynPairs": str(syn_summary.get("n_images", "")),
        "BnSynPsnr": tables.fmt("psnr", _metric(syn_s, "bokehnet")),
        "BnSynScatter": tables.fmt("psnr", _metric(syn_s, "scatter")),
        "BnSynGain": _signed(gain), "BnGoal": f"+{GOAL_DB:.0f}",
        "BnMonoPsnr": tables.fmt("psnr", _metric(mono_s, "bokehnet")),
        "BnMonoScatter": tables.fmt("psnr", _metric(mono_s, "scatter")),
        "BnMonoGain": _signed((_metric(mono_s, "bokehnet") or 0.0) - (_metric(mono_s, "scatter") or 0.0)),
        "BnEbbPsnr": tables.fmt("psnr", _metric(full_s, "bokehnet")),
        "BnEbbSsim": tables.fmt("ssim", _metric(full_s, "bokehnet", "ssim")),
        "BnEbbVsScatter": _signed((_metric(full_s, "bokehnet") or 0.0) - (_metric(full_s, "scatter") or 0.0)),
        "BnSmallEbb": tables.fmt("psnr", means.get(("ebb", "bokehnet"))),
        "BnSmallEbbScatter": tables.fmt("psnr", means.get(("ebb", "scatter"))),
        "BnSmallVabd": tables.fmt("psnr", means.get(("vabd", "bokehnet"))),
        "BnSmallVabdScatter": tables.fmt("psnr", means.get(("vabd", "scatter"))),
        "BnSmallWidth": str(small.get("width", "")),
    })
    numbers["BnSynSe"], numbers["BnSynWinPct"] = _paired_spread(res, BOKEHNET_TEST_TAG)
    numbers["BnMonoSe"], numbers["BnMonoWinPct"] = _paired_spread(res, BOKEHNET_TEST_MONO_TAG)
    ceiling_rows = _ceiling_rows(ceiling, _metric(syn_s, "scatter"), numbers)
    wins, pairs = _wins(small["rows"], "bokehnet", "scatter")
    numbers["BnSmallWins"], numbers["BnSmallPairs"] = str(wins), str(pairs)
    groups = (f" & \\multicolumn{{3}}{{c}}{{Synthetic, {numbers['BnSynPairs']} pairs}}"
              f" & \\multicolumn{{2}}{{c}}{{EBB!\\ {len(TRAIN_IDS)} pairs, full size}}"
              f" & \\multicolumn{{2}}{{c}}{{PSNR at {numbers['BnSmallWidth']} px}} \\\\\n"
              "\\cmidrule(lr){2-4}\\cmidrule(lr){5-6}\\cmidrule(lr){7-8}\n")
    header = ["Renderer", "PSNR", "SSIM", "mono PSNR", "PSNR", "SSIM", "EBB!", "VABD"]
    tex = tables.tabular(header, rows, align="lrrrrrrr", bold_best={i: True for i in range(1, 8)})
    tex = tex.replace("\\toprule\n", "\\toprule\n" + groups, 1)
    return tex.replace("\\bottomrule\n", "\\midrule\n" + "".join(" & ".join(r) + " \\\\\n" for r in ceiling_rows)
                       + "\\bottomrule\n", 1)


def seed_numbers(res: Results, numbers: dict[str, str]) -> None:
    """BokehNet's gain over scatter on the test pairs, mean and s.d. over three trainings that differ only in
    their seed (`bokehpipe experiment bokehnet_seeds`): the spread the shipped model's single number lacks."""
    gains, steps = [], set()
    for tag in BOKEHNET_SEED_TAGS:
        summary = res.eval_summary(tag)
        model, scatter = _metric(summary, "bokehnet"), _metric(summary, "scatter")
        if model is None or scatter is None:
            return  # a missing eval is already listed by `res`; a partial one leaves the macros at ??
        gains.append(model - scatter)
        steps.add(summary["methods"]["bokehnet"].get("info", {}).get("schedule_steps"))
    numbers.update({"BnSeedGain": pm("psnr", gains), "BnSeedCount": str(len(gains)),
                    "BnSeedSteps": "/".join(str(s) for s in sorted(steps, key=str))})


def _ceiling_rows(ceiling: dict[str, Any], scatter_psnr: float | None, numbers: dict[str, str]) -> list[list[str]]:
    """The perfect renderer of the synthetic optics (no guess of each pair's exposure, noise and shift), and the
    same at the defects' mean exposure gain, the best a renderer can expect: synthetic columns only."""
    methods = ceiling.get("methods", {})
    rows = []
    for key, label in CEILING:
        m = methods.get(key, {})
        rows.append([tables.esc(label), tables.fmt("psnr", m.get("psnr")), tables.fmt("ssim", m.get("ssim"))]
                    + ["--"] * 5)
    best = methods.get("exact_optics_mean_gain", {}).get("psnr")
    numbers["BnCeilPsnr"] = tables.fmt("psnr", methods.get("exact_optics", {}).get("psnr"))
    numbers["BnCeilGainPsnr"] = tables.fmt("psnr", best)
    numbers["BnHeadroom"] = tables.fmt("psnr", None if best is None or scatter_psnr is None else best - scatter_psnr)
    return rows


def _group_means(rows: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Mean PSNR per (group, method), group = 'ebb' or 'vabd' from the pair name ('ebb/2977@f/1.8')."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["pair"].split("/")[0], r["method"]), []).append(float(r["psnr"]))
    return {k: mean_sd(v)[0] for k, v in groups.items()}


def _wins(rows: list[dict[str, Any]], a: str, b: str) -> tuple[int, int]:
    """On how many pairs `a` scores a higher PSNR than `b`, out of the pairs both were scored on."""
    by_pair: dict[str, dict[str, float]] = {}
    for r in rows:
        by_pair.setdefault(r["pair"], {})[r["method"]] = float(r["psnr"])
    both = [p for p in by_pair.values() if a in p and b in p]
    return sum(p[a] > p[b] for p in both), len(both)


def speed_table(res: Results, numbers: dict[str, str]) -> str | None:
    """Seconds per 1536x1024 photo and peak memory from one `bokehpipe bench` run (bench.json)."""
    bench = res.bench()
    if bench is None:
        return None
    entries = {(kind, e["name"]): e for kind in ("models", "renderers") for e in bench.get(kind, [])}
    rows = []
    for kind, name, label in BENCH_ROWS:
        e = entries.get((kind, name), {})
        params = f"{e['params'] / 1e6:.1f}M" if e.get("params") else None
        if name == "bokehnet":  # a renderer's row carries no parameter count; the weights file has it
            params = numbers.get("BnParams")
        rows.append([tables.esc(label), params or "--",
                     _seconds(e.get("s_per_image")), f"{e['peak_mb']:.0f}" if "peak_mb" in e else "--"])
        key = name.replace("-", "").capitalize()
        numbers[f"Bench{key}Seconds"] = _seconds(e.get("s_per_image"))
        numbers[f"Bench{key}Peak"] = f"{e['peak_mb']:.0f}" if "peak_mb" in e else "--"
    bn, sc = entries.get(("renderers", "bokehnet"), {}), entries.get(("renderers", "scatter"), {})
    if bn.get("s_per_image") and sc.get("s_per_image"):
        numbers["BenchBnOverScatter"] = f"{bn['s_per_image'] / sc['s_per_image']:.2f}"
    machine = bench.get("machine", {})
    numbers["BenchMachine"] = tables.esc(f"{machine.get('summary', '?')}, torch {machine.get('torch', '?')}")
    numbers["BenchCommit"] = tables.esc(str(bench.get("commit", "?")))
    numbers["BenchSize"] = tables.esc(str(bench.get("image_size", "?"))).replace("x", "$\\times$")
    numbers["BenchRepeats"] = str(bench.get("repeats", "?"))
    numbers["BenchCommand"] = _bench_command(bench)
    return tables.tabular(["Renderer", "Params", "s/photo", "Peak MB"], rows, align="lrrr")


def _seconds(value: float | None) -> str:
    """Seconds per photo with two decimals for every row, so the column reads as one scale."""
    return "--" if value is None else f"{value:.2f}"


def _bench_command(bench: dict[str, Any]) -> str:
    """The `bokehpipe bench` line that wrote bench.json, rebuilt from what it recorded (for the caption)."""
    models = ",".join(e["name"] for e in bench.get("models", []))
    renderers = ",".join(e["name"] for e in bench.get("renderers", []))
    cmd = (f"bokehpipe bench --models {models} --renderers {renderers} --depth-models '' --train-levels '' "
           f"--threads {bench.get('threads')} --repeats {bench.get('repeats')}")
    return "\\texttt{" + tables.esc(cmd).replace("--", "-{}-").replace("'", "\\textquotesingle{}") + "}"


@lru_cache(maxsize=1)
def _shipped() -> tuple[Any, dict[str, Any]]:
    """The shipped BokehNet, read once per build (its numbers and the controls figure both need it)."""
    from bokehpipe.render.learned import load_bokehnet

    return load_bokehnet()


def model_numbers(numbers: dict[str, str]) -> None:
    """Size and training stop of the shipped weights, read from the file (not from the text of an issue)."""
    from bokehpipe.models.bokehnet import NET_WIDTH

    model, provenance = _shipped()
    numbers["BnParams"] = f"{sum(p.numel() for p in model.parameters()) / 1e3:.0f}K"
    numbers["BnNetWidth"] = str(NET_WIDTH)
    numbers["BnStep"] = str(provenance.get("step", "?"))
    numbers["BnMaxSteps"] = str((provenance.get("train_config") or {}).get("steps", "?"))


# the controls figure's photos (under the realdata root) with their published disparity maps
CONTROL_PHOTOS = (("ebb/Training/original/2977.jpg", "ebb/Training/depth/2977.png"),
                  ("portraits/21.jpg", "portraits/disparity/21.png"))


def controls_figure(res: Results) -> Any:
    """Real photos rendered by the shipped BokehNet at two f-numbers and two focus points, or None (noted missing)
    where the real photos are absent; the drawing is `figures.panel_rows`."""
    root = res.realdata("real photos for the controls figure", *(a for pair in CONTROL_PHOTOS for a in pair))
    if root is None:
        return None
    # 7 in at 190 dpi: about 1300 px wide, print resolution at text width
    return lambda path: figures.panel_rows([_control_panels(root / a, root / b) for a, b in CONTROL_PHOTOS], path)


def _control_panels(image: Path, depth: Path, *, width: int = 768,
                    f_numbers: tuple[float, ...] = (2.8, 1.8)) -> list[tuple[np.ndarray, str]]:
    """The input, then BokehNet at each f-number with focus on the automatically found subject and on the far
    background (the 10th disparity percentile), all at `width` px."""
    from bokehpipe.render.calibration import aperture_for_f_number
    from bokehpipe.render.focus import choose_focus
    from bokehpipe.render.learned import render_bokehnet
    from bokehpipe.report.photos import load_photo

    model = _shipped()[0]
    rgb, disp = load_photo(image, depth, width)
    subject = choose_focus(rgb, disp)
    far = float(np.quantile(disp, 0.1))
    panels = [(rgb, f"input {image.name}, f/16")]
    for label, focus in (("focus on subject", subject.disparity), ("focus on background", far)):
        for n in f_numbers:
            out = render_bokehnet(rgb, disp, model, focus=focus, aperture=aperture_for_f_number(n))
            panels.append((out, f"{label}, f/{n:g}"))
    return panels
