"""The report: built from results files only; compiles without undefined references; no hand-typed numbers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bokehpipe.data.io import read_image, write_jpeg, write_png
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


SEED_RUNS = [f"exp-{k}-s{s}" for k in ("depth", "nodepth", "mono", "finest") for s in (0, 1, 2)]


def make_results(store: Path, realdata: Path) -> None:
    """A tiny results set in the formats eval, train, infer and synth write, plus a tiny realdata tree."""
    _pairs(store / "datasets" / "exp-test", ["0", "1"])
    for name, counts in (("exp", {"train": ["0"] * 9, "val": ["1"]}), ("exp-test", {"train": ["0", "1"]})):
        (store / "datasets" / name).mkdir(parents=True, exist_ok=True)
        (store / "datasets" / name / "splits.json").write_text(json.dumps(counts))
        (store / "datasets" / name / "metadata.json").write_text(json.dumps({"count": 10}))
    data = store / "datasets" / "exp-test"
    ev = store / "reports" / "eval"
    gt = ["identity", "gaussian", "scatter"] + [f"exp-{k}-s{s}" for k in ("nodepth", "depth") for s in (0, 1, 2)]
    tags = {"exp-test-gt": gt, "exp-test-mono": ["gaussian", "scatter"] + [f"exp-mono-s{s}" for s in (0, 1, 2)],
            "exp-levels-test-gt": [f"exp-{k}-s{s}" for k in ("depth", "finest") for s in (0, 1, 2)]}
    for tag, methods in tags.items():
        (ev / tag).mkdir(parents=True)
        (ev / tag / "summary.json").write_text(json.dumps(_summary(methods, data)))
    for m in ("gaussian", "scatter", "exp-nodepth-s0", "exp-depth-s0"):
        for i in ("0", "1"):
            write_png(ev / "exp-test-gt" / "predictions" / m / f"{i}.png", _img(int(i) + 9))
    ebb_ids = ["2977", "2978", "2979", "4545", "4546", "4547"]
    _pairs(realdata / "ebb", ebb_ids[:3])
    _pairs(realdata / "ebb", ebb_ids[3:], depth=False)
    rows = ["id,method,aligned,psnr,psnr_crop32"] + [f"{i},identity,{a},{20 + k},{21 + k}" for i in ebb_ids
                                                     for k, a in enumerate(("False", "True", "shift"))]
    (ev / "ebb-all-identity").mkdir()
    (ev / "ebb-all-identity" / "per_image.csv").write_text("\n".join(rows) + "\n")
    (ev / "ebb-all-identity" / "summary.json").write_text(json.dumps(_summary(["identity"], data)))
    nodepth = [f"exp-nodepth-s{s}" for s in (0, 1, 2)]
    for tag, methods, ids, shown in (
            ("ebb-train", ["identity", "gaussian", "scatter", *(f"exp-depth-s{s}" for s in (0, 1, 2)), *nodepth],
             ebb_ids[:3], ["gaussian", "scatter", "exp-depth-s0"]),
            ("ebb-val294", ["identity", *nodepth], ebb_ids[3:], ["exp-nodepth-s0"])):
        (ev / tag).mkdir()
        (ev / tag / "summary.json").write_text(json.dumps(_summary(methods, realdata / "ebb")))
        rows = ["id,method,aligned,psnr"] + [f"{i},{m},False,{20 + n}" for i in ids for n, m in enumerate(methods)]
        (ev / tag / "per_image.csv").write_text("\n".join(rows) + "\n")
        for m in shown:
            for i in ids:
                write_png(ev / tag / "predictions" / m / f"{i}.png", _img(int(i) % 7, 96, 64))
    header = "level,step,kind,loss,l1,ssim,content,val_psnr,val_ssim,val_psnr_identity,val_ssim_identity,elapsed_s\n"
    for run in SEED_RUNS:
        (store / "runs" / run).mkdir(parents=True)
        levels = [1] if "finest" in run else [4, 3, 2, 1]
        rows = [f"{lv},{st},{kind},1,,,,{24 + st / 100},0.7,22,0.6,{st * 0.6}" for lv in levels for st in (100, 200)
                for kind in ("train", "val")]
        (store / "runs" / run / "metrics.csv").write_text(header + "\n".join(rows) + "\n")
        schedule = {str(lv): {"batch": 4, "steps": 200} for lv in range(1, 8)}
        cfg = {"levels": levels, "schedule": schedule, "model": "pynet-res-xs", "lr": 0.001, "crop": 64,
               "with_depth": "nodepth" not in run, "depth_source": "gt", "perceptual": False}
        (store / "runs" / run / "config.json").write_text(json.dumps({"config": cfg, "identity": {"width": 0.25}}))
    _default_renderer_results(store, ev, data, realdata)
    pyn = ("pynet_samples", ["2", "4"], "real-pynet"), ("pynet_samples_extra", ["1", "3"], "real-pynetx")
    for sub, names, prefix in pyn:
        _photos(realdata, f"{sub}/images", names, f"{sub}/depth_maps")
        for m in ("gaussian", "scatter", "model"):
            _renders(store / "renders" / f"{prefix}-{m}", names)
    _photos(realdata, "portraits", ["21"], "portraits/disparity")  # the controls figure's second photo
    vabd = ["0001"]
    _photos(realdata, "vabd/input", vabd, "vabd/depth")
    for folder, tag in (("8", "f8"), ("2_8", "f2.8"), ("1_8", "f1.8")):
        _photos(realdata, f"vabd/{folder}", vabd, "vabd/depth")
        _renders(store / "renders" / f"vabd-scatter-{tag}", vabd)


def _default_renderer_results(store: Path, ev: Path, data: Path, realdata: Path) -> None:
    """BokehNet's evals (synthetic held-out, real at full size), the 768-px real table and one bench run."""
    (ev / "ebb-train-bokehnet").mkdir()
    (ev / "ebb-train-bokehnet" / "summary.json").write_text(json.dumps(_summary(["bokehnet"], realdata / "ebb")))
    synthetic = {**_summary(["identity", "gaussian", "scatter"], data), "dataset": data.name, "split": "val"}
    synthetic["methods"].update(_summary(["bokehnet"], data, 2.5)["methods"])  # 27.50 vs scatter 27.00
    (ev / "bn-test").mkdir()
    (ev / "bn-test" / "summary.json").write_text(json.dumps(synthetic))
    # per-image gains over scatter +1.0, +0.0, +0.5: mean 0.5, standard error 0.29, better on 67 % of pairs
    per_image = ["id,method,psnr"] + [f"{i},{m},{v}" for i, (s, b) in enumerate(((27.0, 28.0), (27.0, 27.0),
                                                                                   (27.0, 27.5)))
                                      for m, v in (("scatter", s), ("bokehnet", b))]
    (ev / "bn-test" / "per_image.csv").write_text("\n".join(per_image) + "\n")
    # the same pairs with monocular-style depth: scatter 26.0, bokehnet 26.2 (+0.20; per pair +0.4, 0.0)
    mono = {**synthetic, "methods": {m: {"metrics": {"psnr": v, "ssim": 0.8}} for m, v in (
        ("identity", 25.0), ("gaussian", 25.5), ("scatter", 26.0), ("bokehnet", 26.2))}}
    (ev / "bn-test-mono").mkdir()
    (ev / "bn-test-mono" / "summary.json").write_text(json.dumps(mono))
    (ev / "bn-test-mono" / "per_image.csv").write_text("id,method,psnr\n0,scatter,26.0\n0,bokehnet,26.4\n"
                                                        "1,scatter,26.0\n1,bokehnet,26.0\n")
    # three seeds of BokehNet on those pairs: gains over scatter +0.10, +0.30, +0.50 (mean 0.30, s.d. 0.20)
    for seed, gain in enumerate((0.1, 0.3, 0.5)):
        bokehnet = {"metrics": {"psnr": 27.0 + gain}, "info": {"schedule_steps": 600}}
        trained = {**synthetic, "methods": {"scatter": {"metrics": {"psnr": 27.0}}, "bokehnet": bokehnet}}
        (ev / f"bn-test-s{seed}").mkdir()
        (ev / f"bn-test-s{seed}" / "summary.json").write_text(json.dumps(trained))
    # a perfect renderer of the optics on those pairs: 28.00, 28.50 at the mean gain (1.50 above scatter's 27.00)
    ceiling = {"dataset_root": str(data), "split": "val", "n_images": 2, "methods": {
        "exact_optics": {"psnr": 28.0, "ssim": 0.9}, "exact_optics_mean_gain": {"psnr": 28.5, "ssim": 0.91}}}
    (store / "reports" / "synthetic_ceiling.json").write_text(json.dumps(ceiling))
    rows = [{"pair": pair, "method": m, "psnr": v} for pair, scores in (
        ("ebb/2977@f/1.8", {"identity": 18.0, "scatter": 20.0, "bokehnet": 20.5}),  # bokehnet wins
        ("vabd/0001@f/1.8", {"identity": 13.0, "scatter": 15.0, "bokehnet": 14.0}))  # scatter wins
        for m, v in scores.items()]
    (store / "reports" / "real_eval_768.json").write_text(json.dumps({"width": 768, "rows": rows}))
    bench = {"commit": "abc", "image_size": "1536x1024", "repeats": 3, "threads": 2,
             "machine": {"summary": "2-core CPU (test)", "torch": "x"},
             "models": [{"name": "pynet", "params": 47_000_000, "s_per_image": 6.0, "peak_mb": 1400.0},
                        {"name": "pynet-xs", "params": 3_000_000, "s_per_image": 0.9, "peak_mb": 860.0}],
             "renderers": [{"name": "scatter", "s_per_image": 1.0, "peak_mb": 800.0},
                           {"name": "bokehnet", "s_per_image": 2.0, "peak_mb": 840.0}]}
    (store / "reports" / "bench.json").write_text(json.dumps(bench))


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
    assert "bokehpipe experiment exp_depth" in result.output and "bokehpipe experiment exp_real" in result.output
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
    controls = tmp_path / "report" / "figures" / "controls.jpg"  # drawn by the shipped BokehNet, not a placeholder
    assert controls.is_file() and "controls.jpg" in (tmp_path / "report.tex").read_text()
    assert read_image(controls).shape[1] > 1000
    log = (tmp_path / "report.log").read_text(errors="replace")
    assert not re.search(r"(Reference|Citation) `[^']*' on page \d+ undefined", log)
    numbers = (tmp_path / "report" / "tables" / "numbers.tex").read_text()
    # every generated macro report.tex uses is in MACROS_USED, so a build with a missing result prints ?? there
    from bokehpipe.report.build import MACROS_USED

    made = set(re.findall(r"\\newcommand\{\\(\w+)\}", numbers))
    used = set(re.findall(r"\\([A-Za-z]+)", (REPO / "report.tex").read_text()))
    assert (made & used) - set(MACROS_USED) == set()
    # exp-depth-s0..2 are methods 6..8 of exp-test-gt: PSNR 25 + 6..8, mean 32, sd 1; nodepth 3..5
    assert "\\newcommand{\\PsnrDepth}{32.00}" in numbers and "\\newcommand{\\PsnrSdDepth}{1.00}" in numbers
    assert "\\newcommand{\\DepthGain}{3.00}" in numbers
    assert "\\newcommand{\\MisShiftGain}{1.00}" in numbers  # per-image CSV: raw 21, gain 22, shift 23
    assert "??" not in numbers
    assert "32.00 $\\pm$ 1.00" in (tmp_path / "report" / "tables" / "study.tex").read_text()
    assert " 800 &" in (tmp_path / "report" / "tables" / "levels.tex").read_text()  # 4 levels x 200 steps
    assert "pynet-res-xs x0.25" in (tmp_path / "report" / "tables" / "setup.tex").read_text()
    # the default renderer: synthetic gain over scatter, wins at 768 px, and bench.json's time ratio
    assert "\\newcommand{\\BnSynGain}{+0.50}" in numbers
    assert "\\newcommand{\\BnSynSe}{0.29}" in numbers and "\\newcommand{\\BnSynWinPct}{67}" in numbers
    assert "\\newcommand{\\BnSmallWins}{1}" in numbers and "\\newcommand{\\BnSmallPairs}{2}" in numbers
    assert "\\newcommand{\\BenchBnOverScatter}{2.00}" in numbers
    # the synthetic ceiling and the monocular-style depth run of the same pairs
    assert "\\newcommand{\\BnHeadroom}{1.50}" in numbers and "\\newcommand{\\BnCeilPsnr}{28.00}" in numbers
    assert "\\newcommand{\\BnSeedGain}{0.30 $\\pm$ 0.20}" in numbers and "\\newcommand{\\BnSeedSteps}{600}" in numbers
    assert "\\newcommand{\\BnMonoGain}{+0.20}" in numbers and "\\newcommand{\\BnMonoWinPct}{50}" in numbers
    bokehnet = (tmp_path / "report" / "tables" / "bokehnet.tex").read_text()
    assert "Exact optics (ceiling) & 28.00 & 0.900 & --" in bokehnet
    speed = (tmp_path / "report" / "tables" / "speed.tex").read_text()
    assert "47.0M" in speed and "1400" in speed


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
    for part in (build._paper, build._study, build._real, build._default_renderer):
        part(res, out)
    assert res.missing == []
    assert opened["reports/eval/ebb-train/summary.json"] >= 1 and opened["runs/exp-depth-s0/metrics.csv"] >= 1
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
    assert all(out.figures[name] is None for name in ("ebb_pairs.jpg", "failure.jpg", "pynet.jpg", "vabd.jpg"))
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(realdata))
    res, out = Results(ArtifactStore(store_root)), build.Outputs()
    build._real(res, out)
    assert res.missing == []
    drawn = out.figures["vabd.jpg"](tmp_path / "vabd.jpg")
    assert read_image(drawn).shape[1] > 100
