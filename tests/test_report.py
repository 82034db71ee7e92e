"""The report: built from results files only; compiles without undefined references; no hand-typed numbers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bokehpipe.data.io import read_image, read_map, write_jpeg, write_png
from bokehpipe.report.latex import tex_available

REPO = Path(__file__).resolve().parent.parent
METRICS = {"psnr": 25.0, "ssim": 0.8, "ms_ssim": 0.85, "psnr_crop32": 25.5, "ssim_crop32": 0.81}


def _img(seed: int, w: int = 96, h: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _summary(methods: list[str], root: Path, offset: float = 0.0) -> dict:
    return {"n_images": 2, "dataset_root": str(root), "methods": {
        m: {"kind": "x", "n": 2, "seconds_per_image": 0.5, "metrics": {k: v + offset + i for k, v in METRICS.items()},
            "metrics_aligned": {k: v + offset + i + 1 for k, v in METRICS.items()}} for i, m in enumerate(methods)}}


def _pairs(root: Path, ids: list[str], depth: bool = True, size: tuple[int, int] = (96, 64)) -> None:
    for n, i in enumerate(ids):
        write_jpeg(root / "Training" / "original" / f"{i}.jpg", _img(n, *size))
        write_jpeg(root / "Training" / "bokeh" / f"{i}.jpg", _img(n + 5, *size))
        if depth:
            write_png(root / "Training" / "depth" / f"{i}.png", _img(n + 7, *size)[..., 0])


def _photos(root: Path, sub: str, names: list[str], depth_dir: str) -> None:
    for n, name in enumerate(names):
        write_jpeg(root / sub / f"{name}.jpg", _img(n + 20))
        write_png(root / depth_dir / f"{name}.png", _img(n + 30, 48, 32)[..., 0])


ABLATION_RUNS = [f"paper-abl-{k}-s{s}" for k in ("depth", "rgb") for s in (0, 1, 2)]
METRICS_HEADER = ("level,step,kind,loss,l1,ssim,content,val_psnr,val_ssim,val_psnr_identity,val_ssim_identity,"
                  "val_images,lr,images_per_s,elapsed_s,cpu_s\n")


def _eval(ev: Path, tag: str, methods: dict[str, float], ids: list[str], root: Path, downscale: int = 1,
          info: dict | None = None, aligned: dict[str, float] | None = None,
          ssim: dict[str, float] | None = None) -> None:
    """summary.json (method -> mean PSNR; `aligned`: PSNR after the colour-gain fit; `ssim`: SSIM where not 0.8)
    and per_image.csv (each id at the mean +-0.5, alternating)."""
    (ev / tag).mkdir(parents=True, exist_ok=True)
    summary = {"n_images": len(ids), "dataset_root": str(root), "downscale": downscale, "methods": {
        m: {"kind": "x", "n": len(ids), "metrics": {"psnr": v, "ssim": (ssim or {}).get(m, 0.8), "ms_ssim": 0.85},
            **({"metrics_aligned": {"psnr": aligned[m]}} if aligned and m in aligned else {}),
            **({"info": info} if info and m == "paper-main" else {})} for m, v in methods.items()}}
    (ev / tag / "summary.json").write_text(json.dumps(summary))
    rows = ["id,method,aligned,psnr"] + [f"{i},{m},False,{v + (0.5 if n % 2 else -0.5) * (len(ids) % 2 == 0)}"
                                         for m, v in methods.items() for n, i in enumerate(ids)]
    (ev / tag / "per_image.csv").write_text("\n".join(rows) + "\n")


def _run(store: Path, name: str, levels: list[int], with_depth: bool, seed: int, gains: dict[int, float]) -> None:
    """config.json as train writes it, and metrics.csv with two validations per level (input at 25 dB) and a
    resume inside the last level (elapsed_s restarts). Only the resumed segment records CPU time (two threads), as
    in a run that began before cpu_s existed."""
    run = store / "runs" / name
    run.mkdir(parents=True)
    schedule = {str(lv): {"batch": 16 if lv > 4 else 4, "steps": 400 if lv == 2 else 200,  # level 2: plateau
                          "crop": 256 if lv > 4 else None} for lv in range(1, 8)}
    cfg = {"levels": levels, "schedule": schedule, "model": "pynet-s", "lr": 0.0002, "crop": 128, "seed": seed,
           "with_depth": with_depth, "depth_source": "gt", "perceptual": False, "plateau": 3, "val_max": 24}
    (run / "config.json").write_text(json.dumps({"config": cfg, "model_kwargs": {"in_chans": 4 if with_depth else 3,
                                                                                  "width": 0.5}}))
    rows = []
    for lv in levels:
        for step, elapsed in ((100, 360.0), (200, 720.0)):
            cpu = ""
            if lv == levels[-1] and step == 200:
                elapsed, cpu = 300.0, "600"  # resumed after step 100: a new process, its clocks restarted
            rows.append(f"{lv},{step},train,1,,,,,,,,,0.0002,5,{elapsed},{cpu}")
            rows.append(f"{lv},{step},val,,,,,{25 + gains[lv] * step / 200},0.8,25,0.7,24,,,,")
    (run / "metrics.csv").write_text(METRICS_HEADER + "\n".join(rows) + "\n")


def make_results(store: Path, realdata: Path) -> None:
    """A tiny paper_cpu results set in the formats eval, train, infer, synth and experiment write, and a realdata
    tree."""
    test = store / "datasets" / "paper-test"
    _pairs(test, ["0", "1"])
    # same focus, eight times the aperture: test pair 1 asks for eight times the blur of pair 0
    (test / "metadata.json").write_text(json.dumps({"size": [96, 64], "images": {
        "0": {"focus": 0.5, "aperture": 0.5}, "1": {"focus": 0.5, "aperture": 4.0}}}))
    (store / "datasets" / "paper").mkdir(parents=True)
    (store / "datasets" / "paper" / "splits.json").write_text(json.dumps({"train": ["0"] * 9, "val": ["1"] * 3}))
    _run(store, "paper-main", [7, 6, 5, 4, 3, 2, 1], True, 0, {7: -1.0, 6: -0.5, 5: 0.5, 4: 1, 3: 1, 2: 1, 1: 2.0})
    for n, run in enumerate(ABLATION_RUNS):
        _run(store, run, [7, 6, 5, 4], "depth" in run, n % 3, {7: -1.0, 6: 0.0, 5: 0.5, 4: 1.0})
    ev = store / "reports" / "eval"
    ids = ["0", "1"]
    info = {"level": 1}
    _eval(ev, "paper-test", {"identity": 24.0, "half-input": 23.0, "gaussian": 25.0, "scatter": 30.0, "bokehnet": 31.0,
                             "paper-main": 27.0}, ids, test, info=info,
          aligned={"identity": 24.5, "scatter": 30.25, "paper-main": 28.5},
          ssim={"identity": 0.7, "scatter": 0.9, "paper-main": 0.85})
    for m in ("scatter", "bokehnet", "paper-main"):
        for i in ids:
            write_png(ev / "paper-test" / "predictions" / m / f"{i}.png", _img(int(i) + 9))
    _eval(ev, "paper-test-auto", {"gaussian": 24.5, "scatter": 28.0, "bokehnet": 28.5}, ids, test)
    # ablation at 1/8: depth seeds 28, 29, 30; rgb seeds 27, 27.5, 28 -> paired gains 1.0, 1.5, 2.0
    _eval(ev, "paper-test-level4", {"identity": 26.0, "scatter": 33.0, **{
        r: v for r, v in zip(ABLATION_RUNS, (28.0, 29.0, 30.0, 27.0, 27.5, 28.0), strict=True)}}, ids, test, 8)
    _eval(ev, "paper-train-100", {"identity": 23.0, "paper-main": 26.5}, ids, test, info=info)
    _eval(ev, "paper-val", {"identity": 23.5, "paper-main": 26.5}, ids, test, info=info)
    ebb_ids = ["2977", "2978", "2979", "4545", "4546", "4547"]
    _pairs(realdata / "ebb", ebb_ids[:3])
    _pairs(realdata / "ebb", ebb_ids[3:], depth=False)
    _eval(ev, "paper-ebb-train", {"identity": 20.0, "gaussian": 20.5, "scatter": 22.0, "bokehnet": 22.25,
                                  "paper-main": 21.0}, ebb_ids[:3], realdata / "ebb", info=info)
    for m in ("scatter", "bokehnet", "paper-main"):
        for i in ebb_ids[:3]:
            write_png(ev / "paper-ebb-train" / "predictions" / m / f"{i}.png", _img(int(i) % 7, 96, 64))
    _eval(ev, "paper-ebb-val294", {"identity": 19.0}, ebb_ids[3:], realdata / "ebb")
    _eval(ev, "paper-ebb-val294-level4", {"identity": 24.0, **{r: 24.5 for r in ABLATION_RUNS[3:]}}, ebb_ids[3:],
          realdata / "ebb", 8)
    for sub, names, extra in (("pynet_samples", ["2", "4"], ""), ("pynet_samples_extra", ["1", "3"], "-extra")):
        _photos(realdata, f"{sub}/images", names, f"{sub}/depth_maps")
        for m in ("paper-main", "scatter", "bokehnet"):
            _renders(store / "renders" / f"paper-pynet-samples{extra}-{m}", names)
    log = {"experiment": "paper_cpu", "steps": {
        "synth": {"argv": ["synth", "paper"], "wall_s": 720.0, "cpu_s": 900.0},
        "train-main": {"argv": ["train", "--dataset", "paper", "--run", "paper-main"], "wall_s": 5.0}}}
    (store / "reports" / "experiments").mkdir(parents=True)
    (store / "reports" / "experiments" / "paper_cpu.json").write_text(json.dumps(log))


def _renders(out: Path, names: list[str]) -> None:
    for n, name in enumerate(names):
        write_jpeg(out / f"{name}.jpg", _img(n + 40))
    (out / "gallery.json").write_text(json.dumps({"entries": [{"name": n} for n in names]}))


def test_report_tex_has_no_hand_typed_measurements():
    """Measured values enter report.tex only through generated tables and macros; \\lit{} marks literature."""
    text = (REPO / "report.tex").read_text()
    body = "\n".join(line.split("%")[0] if not line.lstrip().startswith("%") else "" for line in text.splitlines())
    body = re.sub(r"\\lit\{[^}]*\}", "", body)
    body = re.sub(r"\\(input|includegraphics)(\[[^]]*\])?\{[^}]*\}", "", body)
    body = re.sub(r"\\documentclass\[[^]]*\]|\\usepackage\[[^]]*\]|\\bibitem\{[^}]*\}.*", "", body)
    body = re.sub(r"arXiv:\d+\.\d+", "", body)
    decimals = re.findall(r"(?<![\w.])\d+\.\d+", body)
    assert decimals == [], f"hand-typed numbers in report.tex: {decimals}"
    with_units = re.findall(r"(?<![\w\\])\d+\s*(?:\\,)?\s*(?:dB|\\%|%|s/img|GB|MB)", body)
    assert with_units == [], f"hand-typed measurements in report.tex: {with_units}"


def test_missing_results_are_named_with_their_commands(run_cli, store_root, tmp_path):
    tex = tmp_path / "report.tex"
    shutil.copy(REPO / "report.tex", tex)
    result = run_cli("report", "--tex", tex, "--no-compile")
    assert result.exit_code == 1
    assert "bokehpipe experiment paper_cpu --only eval-test" in result.output
    assert "bokehpipe experiment paper_cpu --only ebb-train" in result.output
    assert not (tmp_path / "report").exists()  # nothing written when results are missing


@pytest.mark.slow
@pytest.mark.skipif(not tex_available(), reason="pdflatex not installed (CI installs TeX)")
def test_report_builds_from_a_tiny_results_set(run_cli, store_root, tmp_path, monkeypatch):
    realdata = tmp_path / "realdata"
    make_results(store_root, realdata)
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(realdata))
    tex = tmp_path / "report.tex"
    shutil.copy(REPO / "report.tex", tex)
    result = run_cli("report", "--tex", tex)
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "report.pdf"
    assert pdf.is_file() and pdf.stat().st_size > 10_000
    log = (tmp_path / "report.log").read_text(errors="replace")
    assert not re.search(r"(Reference|Citation) `[^']*' on page \d+ undefined", log)
    numbers = (tmp_path / "report" / "tables" / "numbers.tex").read_text()
    from bokehpipe.report.build import MACROS_USED

    made = set(re.findall(r"\\newcommand\{\\(\w+)\}", numbers))
    used = set(re.findall(r"\\([A-Za-z]+)", (REPO / "report.tex").read_text()))
    assert (made & used) - set(MACROS_USED) == set()
    assert set(MACROS_USED) <= made and "??" not in numbers
    # main run: seven levels of 200 steps; the last resumed (360 s + 300 s), the others 720 s: 1.38 h wall; CPU
    # counts the wall time of the segments that recorded none and 600 s for the resumed one: 1.47 h
    assert "\\newcommand{\\MainHours}{1.4}" in numbers and "\\newcommand{\\MainCpuHours}{1.5}" in numbers
    assert "\\newcommand{\\MainFinestGain}{+2.00}" in numbers
    assert "\\newcommand{\\MainLevelsAboveInput}{levels 5, 4, 3, 2 and 1}" in numbers
    assert "\\newcommand{\\MainLevelsBelowInput}{levels 7 and 6}" in numbers
    assert "\\newcommand{\\MainLevelsAtCap}{levels 7, 6, 5, 4, 3 and 1}" in numbers
    assert "\\newcommand{\\MainLevelsFlat}{level 2}" in numbers
    levels = (tmp_path / "report" / "tables" / "levels.tex").read_text()
    assert "2 & 128 & 4 & 200 / 400" in levels  # ended by the plateau rule before its cap
    assert "7 & 256 & 16 & 200 / 200 & 24.50 & 25.00 & $-$0.50 & 0.20 & 0.20" in levels
    assert "1 & 128 & 4 & 200 / 200 & 27.00 & 25.00 & +2.00 & 0.18 & 0.27" in levels
    # the ablation: depth 29 +- 1, rgb 27.5 +- 0.5, paired gains 1.0, 1.5, 2.0
    assert "\\newcommand{\\AblGain}{+1.50}" in numbers and "\\newcommand{\\AblGainSd}{0.50}" in numbers
    assert "\\newcommand{\\AblBelowInput}{no}" in numbers  # every run above the input's 26 dB
    assert "\\newcommand{\\AblDepth}{29.00 $\\pm$ 1.00}" in numbers
    ablation = (tmp_path / "report" / "tables" / "ablation.tex").read_text()
    assert "Depth $-$ RGB, by seed & 3 & +1.50 $\\pm$ 0.50" in ablation
    assert "\\newcommand{\\TestMainMinusScatter}{$-$3.00}" in numbers
    assert "\\newcommand{\\TestScatterFocusCost}{$-$2.00}" in numbers  # auto-focus 28 against true focus 30
    assert "\\newcommand{\\FitTrainGain}{+3.50}" in numbers and "\\newcommand{\\FitTestGain}{+3.00}" in numbers
    test = (tmp_path / "report" / "tables" / "test.tex").read_text()
    assert "PyNET, main run (level 1) & 27.00 & 0.850 & 0.850 & 28.50 & 0.50 & 100" in test
    assert "Input (identity) & 24.00 & 0.700 & 0.850 & 24.50 & 0.50 & --" in test  # the input does not beat itself
    assert "Input at PyNET's x0.5, enlarged & 23.00 & 0.800 & 0.850 & -- & 0.50 & 0" in test
    assert "\\newcommand{\\TestHalfInput}{23.00}" in numbers
    assert "\\newcommand{\\TestMainColourFit}{+1.50}" in numbers  # 28.5 after the colour-gain fit, 27 before
    assert "\\newcommand{\\TestScatterColourFit}{+0.25}" in numbers
    # the words the prose picks: PyNET goes half the way from the input (24) to scatter (30) by PSNR and three
    # quarters by SSIM (0.70 -> 0.85 of 0.90); it stays below scatter with auto-focus (28) and the true focus;
    # the colour fit helps it (+1.50) more than twice as much as scatter (+0.25); it gains 0.50 dB more on
    # training pairs than on test pairs
    assert "\\newcommand{\\TestMainGapPsnr}{50}" in numbers and "\\newcommand{\\TestMainGapSsim}{75}" in numbers
    assert "\\newcommand{\\TestMainGapSsimMore}{yes}" in numbers
    assert "\\newcommand{\\TestMainRank}{below}" in numbers
    assert "\\newcommand{\\TestMainColourCast}{yes}" in numbers
    assert "\\newcommand{\\FitTrainExcess}{+0.50}" in numbers and "\\newcommand{\\FitTrainAbove}{yes}" in numbers
    assert "\\newcommand{\\MainLevelsStartAbove}{levels 5, 4, 3, 2 and 1}" in numbers
    ebb = (tmp_path / "report" / "tables" / "ebb.tex").read_text()
    assert "2977 & train & 20.00 & 20.50 & 22.00 & 22.25 & 21.00" in ebb and "RGB only: 24.50 $\\pm$ 0.00" in ebb
    assert "\\newcommand{\\EbbBokehnetWins}{3}" in numbers
    setup = (tmp_path / "report" / "tables" / "setup.tex").read_text()
    assert "16 (7--5), 4 (4--1)" in setup and "BokehNet (channels 16/32/64/96)" in setup
    assert "(0.92 wall cap $\\times$ 2 threads)" in setup  # the shipped model recorded no CPU time
    steps = (tmp_path / "report" / "tables" / "steps.tex").read_text()
    assert "synth & 0.20 & 0.25" in steps and "train-main & 1.38 & 1.47" in steps
    # a training step the log never timed still counts, from its run's metrics (4 levels: 3 x 720 s, 360 + 300 s)
    assert "ablation-depth-s0 & 0.78 & 0.87" in steps and "eval-test & -- & --" in steps
    rows = [line.split(" & ") for line in steps.splitlines() if " & " in line][1:]  # two lists side by side
    listed = [r[0] for r in rows] + [r[3] for r in rows if r[3]]
    assert listed.index("synth") < listed.index("train-main") < listed.index("eval-test")  # pipeline order
    assert listed[-1] == "all steps" and len({len(r) for r in rows}) == 1
    assert "\\newcommand{\\BlurMainRho}{--}" in numbers  # equal gains on both pairs: no rank to correlate
    for name in ("curves.pdf", "test_scenes.jpg", "blur.pdf", "ebb_pairs.jpg", "samples.jpg"):
        assert (tmp_path / "report" / "figures" / name).stat().st_size > 5_000


@pytest.mark.slow
@pytest.mark.skipif(not tex_available() or shutil.which("pdftotext") is None,
                    reason="pdflatex or pdftotext not installed (CI installs both)")
def test_report_prose_follows_how_the_main_run_ended(run_cli, store_root, tmp_path, monkeypatch):
    """The sentences on capped levels, levels below the input and a taken-over checkpoint are chosen by LaTeX from
    the numbers: a run whose every level flattened above its input, continued from an earlier run with lower
    caps, reads so in the PDF (the branches the tiny results set above does not take)."""
    realdata = tmp_path / "realdata"
    make_results(store_root, realdata)
    runs = store_root / "runs"
    shutil.move(runs / "paper-main", runs / "paper-main-capped")
    _run(store_root, "paper-main", [7, 6, 5, 4, 3, 2, 1], True, 0, {lv: 1.0 for lv in range(1, 8)})
    config = json.loads((runs / "paper-main" / "config.json").read_text())
    for plan in config["config"]["schedule"].values():
        plan["steps"] = 800  # every level ended by the plateau rule at 200 steps
    config["history"] = [{"resume": "runs/paper-main-capped/checkpoints/level7/last.pt", "start_level": 7,
                          "start_step": 100}]
    (runs / "paper-main" / "config.json").write_text(json.dumps(config))
    ev, test = store_root / "reports" / "eval", store_root / "datasets" / "paper-test"
    _eval(ev, "paper-test-earlier", {"paper-main-capped": 26.0}, ["0", "1"], test, aligned={"paper-main-capped": 27.25})
    # and the other side of each comparison the tiny set decides one way: PyNET above scatter with auto-focus (26)
    # but below it with the true focus, further by PSNR than by SSIM, no colour cast of its own, and no larger gain
    # on training pairs than on test pairs
    _eval(ev, "paper-test", {"identity": 24.0, "half-input": 23.0, "gaussian": 25.0, "scatter": 30.0,
                             "bokehnet": 31.0, "paper-main": 26.5}, ["0", "1"], test, info={"level": 1},
          aligned={"identity": 24.5, "scatter": 30.25, "paper-main": 26.75},
          ssim={"identity": 0.7, "scatter": 0.9, "paper-main": 0.72})
    _eval(ev, "paper-test-auto", {"gaussian": 24.5, "scatter": 26.0, "bokehnet": 28.5}, ["0", "1"], test)
    _eval(ev, "paper-train-100", {"identity": 23.0, "paper-main": 24.0}, ["0", "1"], test, info={"level": 1})
    _eval(ev, "paper-test-level4", {"identity": 31.0, "scatter": 33.0, **{  # every ablation run below the input
        r: v for r, v in zip(ABLATION_RUNS, (28.0, 29.0, 30.0, 27.0, 27.5, 28.0), strict=True)}}, ["0", "1"], test, 8)
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(realdata))
    tex = tmp_path / "report.tex"
    shutil.copy(REPO / "report.tex", tex)
    result = run_cli("report", "--tex", tex)
    assert result.exit_code == 0, result.output
    import subprocess

    text = subprocess.run(["pdftotext", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    text = " ".join(text.replace("\u2019", "'").split())
    assert "The plateau rule ended every level before its cap" in text
    assert "the cap ended" not in text and "before that rule was met" not in text
    assert "every level ends above it" in text and "stays below the input's" not in text
    # level 2 ended by the plateau rule in the earlier run too: only the levels it stopped at a cap are named
    assert "lower caps before flattening (200, 200, 200, 200, 200 and 200 steps for levels 7, 6, 5, 4, 3 and 1)" in text
    assert "took over its level 7 at step 100" in text
    assert "the earlier run scores 26.00 dB, this one 26.50 dB" in text
    assert "for the earlier run, whose coarse levels stopped sooner, the same fit adds +1.25 dB" in text
    assert "the earlier main run with lower caps spent on the levels this run trained anew" in text
    assert "PyNET has to learn to copy its input" in text and "each after starting below" not in text  # all start above
    assert "beats the classical renderer with auto-focus but not with the true focus" in text
    assert "it goes 10% by SSIM and 42% by PSNR (Table 5)." in text
    assert "Colour is not what sets PyNET apart" in text and "colour cast" not in text
    assert "it gains no more on the pairs it trained on" in text
    assert "Every ablation run still scores below the input: at this budget the ablation compares" in text


def test_gain_against_blur_splits_the_test_pairs_at_the_median_blur(store_root, tmp_path):
    """Gains over the input per method on the less and the more blurred half, and their rank correlation with
    the scene's blur (mean CoC radius from its own focus, aperture and disparity)."""
    from bokehpipe.report import synthetic
    from bokehpipe.report.sources import Results
    from bokehpipe.store import ArtifactStore

    make_results(store_root, tmp_path / "realdata")
    res = Results(ArtifactStore(store_root))
    blur = synthetic.scene_blur(res)
    for id_, aperture in (("0", 0.5), ("1", 4.0)):  # K_REF = 40 px per unit disparity at 1536 px wide
        disparity = read_map(store_root / "datasets" / "paper-test" / "Training" / "depth" / f"{id_}.png")
        assert blur[id_] == pytest.approx(aperture * 40 * 96 / 1536 * np.abs(disparity - 0.5).mean(), rel=1e-5)
    rows = ["id,method,aligned,psnr", "0,identity,False,24", "1,identity,False,20",
            "0,paper-main,False,25", "1,paper-main,False,23",  # gains 1 (little blur), 3 (much blur)
            "0,scatter,False,30", "1,scatter,False,22"]  # gains 6, 2
    (res.eval_dir("paper-test") / "per_image.csv").write_text("\n".join(rows) + "\n")
    numbers: dict[str, str] = {}
    draw = synthetic.blur_gains(res, numbers)
    assert numbers["BlurMedian"] == f"{blur['1']:.1f}"
    assert (numbers["BlurMainLow"], numbers["BlurMainHigh"], numbers["BlurMainRho"]) == ("+1.00", "+3.00", "+1.00")
    assert numbers["BlurMainLowVerb"] == numbers["BlurMainHighVerb"] == "gains"  # the prose follows the sign
    assert (numbers["BlurScatterLow"], numbers["BlurScatterHigh"], numbers["BlurScatterRho"]) == (
        "+6.00", "+2.00", "$-$1.00")
    assert "BlurBokehnetLow" not in numbers  # no per-pair scores: no row, no guess
    assert draw(tmp_path / "blur.pdf").stat().st_size > 1_000


def test_a_run_that_took_over_another_runs_checkpoint_says_so(store_root, tmp_path):
    """A main run continued from an earlier run's level-7 checkpoint after its caps were raised: the level and
    step it took over, the earlier caps that differ, and the CPU hours the earlier run spent on the finer levels
    this one retrained; a run with no such history says "none"."""
    from bokehpipe.report.sources import Results
    from bokehpipe.report.synthetic import test_table
    from bokehpipe.report.training import continuation_numbers
    from bokehpipe.store import ArtifactStore

    make_results(store_root, tmp_path / "realdata")
    numbers: dict[str, str] = {}
    continuation_numbers(Results(ArtifactStore(store_root)), numbers)
    assert numbers["MainContinuedStep"] == "none" and numbers["MainEarlierCpuHours"] == "none"
    assert numbers["MainEarlierTest"] == "none"

    runs = store_root / "runs"
    shutil.copytree(runs / "paper-main", runs / "paper-main-capped")
    earlier = json.loads((runs / "paper-main-capped" / "config.json").read_text())
    earlier["config"]["schedule"]["7"]["steps"] = 150
    earlier["config"]["schedule"]["6"]["steps"] = 100
    (runs / "paper-main-capped" / "config.json").write_text(json.dumps(earlier))
    main = json.loads((runs / "paper-main" / "config.json").read_text())
    main["history"] = [{"resume": "auto", "start_level": 7, "start_step": 0},
                       {"resume": "store/runs/paper-main-capped/checkpoints/level7/last.pt", "start_level": 7,
                        "start_step": 150}]
    (runs / "paper-main" / "config.json").write_text(json.dumps(main))
    numbers = {}
    res = Results(ArtifactStore(store_root))
    continuation_numbers(res, numbers)
    assert [m.command for m in res.missing] == [  # the earlier run's test score: named with its command
        "bokehpipe eval --dataset paper-test --split all --depth-source gt --focus metadata --baselines '' "
        "--run paper-main-capped --align --tag paper-test-earlier"]
    _eval(store_root / "reports" / "eval", "paper-test-earlier", {"paper-main-capped": 26.0}, ["0", "1"],
          store_root / "datasets" / "paper-test", aligned={"paper-main-capped": 27.25})
    numbers = {}
    res = Results(ArtifactStore(store_root))
    continuation_numbers(res, numbers)
    assert not res.missing
    assert (numbers["MainEarlierTest"], numbers["MainEarlierColourFit"]) == ("26.00", "+1.25")
    assert numbers["MainContinuedLevel"] == "7" and numbers["MainContinuedStep"] == "150"
    assert numbers["MainEarlierCaps"] == "150 and 100 steps for levels 7 and 6"  # both ran to these caps
    # levels 6..1 of the copied run: five of 720 s and the resumed level 1 (its 360 s, then 600 CPU s)
    assert numbers["MainEarlierCpuHours"] == f"{(5 * 720 + 360 + 600) / 3600:.1f}"
    # and the test-set table carries the earlier run's row, which the prose compares with the main run's
    table = test_table(res, {})
    assert table is not None
    row = next(line for line in table.splitlines() if line.startswith("PyNET, earlier run, lower caps"))
    assert "26.00" in row and "27.25" in row  # plain and colour-fitted PSNR


def test_every_results_file_is_read_once_per_build(store_root, tmp_path, monkeypatch):
    """The report's parts ask for the same summaries, per-image CSVs and run files many times; `Results` (the
    one reader) opens each at most once, so no two tables can see different versions of one file."""
    import pathlib
    from collections import Counter

    from bokehpipe.report import build
    from bokehpipe.report.sources import Results
    from bokehpipe.store import ArtifactStore

    realdata = tmp_path / "realdata"
    make_results(store_root, realdata)
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(realdata))
    opened: Counter[str] = Counter()
    real_open = pathlib.Path.open

    def counting_open(self, *args, **kwargs):
        if self.suffix in (".json", ".csv") and store_root in self.parents:
            opened[str(self.relative_to(store_root))] += 1
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", counting_open)
    res, out = Results(ArtifactStore(store_root)), build.Outputs()
    for part in build.PARTS:
        part(res, out)
    assert res.missing == []
    assert opened["reports/eval/paper-ebb-train/summary.json"] >= 1 and opened["runs/paper-main/metrics.csv"] >= 1
    assert {path: n for path, n in opened.items() if n > 1} == {}


def test_real_photo_figures_need_the_variable_and_draw_with_it(store_root, tmp_path, monkeypatch):
    """The real photos are BOKEHPIPE_REALDATA or a missing result that says to set it (no guessed folder); with
    it, a figure of real photos draws from the photos and their maps."""
    from bokehpipe.report import build
    from bokehpipe.report.sources import REALDATA_COMMAND, Results
    from bokehpipe.store import ArtifactStore

    realdata = tmp_path / "realdata"
    make_results(store_root, realdata)
    monkeypatch.delenv("BOKEHPIPE_REALDATA", raising=False)
    res, out = Results(ArtifactStore(store_root)), build.Outputs()
    build._real(res, out)
    assert [m.command for m in res.missing] == [REALDATA_COMMAND]
    assert "$BOKEHPIPE_REALDATA is missing" in res.missing[0].line()
    assert all(out.figures[name] is None for name in ("ebb_pairs.jpg", "samples.jpg", "samples_extra.jpg"))
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(realdata))
    res, out = Results(ArtifactStore(store_root)), build.Outputs()
    build._real(res, out)
    assert res.missing == []
    drawn = out.figures["samples.jpg"](tmp_path / "samples.jpg")
    assert read_image(drawn).shape[1] > 100


@pytest.mark.skipif(not tex_available(), reason="pdflatex not installed (CI installs TeX)")
def test_a_failed_latex_build_keeps_the_last_good_pdf(tmp_path):
    """LaTeX deletes its output when it halts on an error; the build must not take the last good report with it.
    A clean build replaces the PDF and leaves no scratch folder behind."""
    from bokehpipe.errors import BokehpipeError
    from bokehpipe.report.latex import compile_pdf

    tex, pdf = tmp_path / "report.tex", tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.5 the last good report")
    tex.write_text("\\documentclass{article}\\begin{document}Page one.\\newpage \\undefinedmacro\\end{document}\n")
    with pytest.raises(BokehpipeError, match="Undefined control sequence.*previous PDF is kept"):
        compile_pdf(tex)
    assert pdf.read_bytes() == b"%PDF-1.5 the last good report"
    assert "Undefined control sequence" in (tmp_path / "report.log").read_text(errors="replace")

    tex.write_text("\\documentclass{article}\\begin{document}Page one.\\newpage Page two.\\end{document}\n")
    built, pages = compile_pdf(tex)
    assert built == pdf and pages == 2 and pdf.read_bytes().startswith(b"%PDF")
    assert pdf.stat().st_size > 1_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".latex-")]
