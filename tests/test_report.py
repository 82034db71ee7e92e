"""The report: built from results files only; compiles without undefined references; no hand-typed numbers."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bokehpipe.data.io import write_jpeg, write_png
from bokehpipe.report.latex import tex_available

REPO = Path(__file__).resolve().parent.parent
METRICS = {"psnr": 25.0, "ssim": 0.8, "ms_ssim": 0.85, "psnr_crop32": 25.5, "ssim_crop32": 0.81}


def _img(seed: int, w: int = 96, h: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _summary(methods: list[str], root: Path, offset: float = 0.0) -> dict:
    return {"n_images": 2, "dataset_root": str(root), "methods": {
        m: {"kind": "x", "n": 2, "seconds_per_image": 0.5,
            "metrics": {k: v + offset + i for k, v in METRICS.items()}} for i, m in enumerate(methods)}}


def make_results(store: Path) -> None:
    """A tiny results set in the formats eval, train, bench, infer and experiment write."""
    data = store / "datasets" / "exp"
    for i in ("0", "1"):
        write_jpeg(data / "Training" / "original" / f"{i}.jpg", _img(int(i)))
        write_jpeg(data / "Training" / "bokeh" / f"{i}.jpg", _img(int(i) + 5))
    ev = store / "reports" / "eval"
    tags = {"exp-val-gt": ["identity", "gaussian", "scatter", "exp-nodepth", "exp-depth"],
            "exp-val-lowq": ["gaussian", "scatter", "exp-lowdepth"], "exp-levels-val-gt": ["exp-depth", "exp-finest"]}
    for tag, methods in tags.items():
        (ev / tag).mkdir(parents=True)
        (ev / tag / "summary.json").write_text(json.dumps(_summary(methods, data)))
    for m in ("gaussian", "scatter", "exp-nodepth", "exp-depth"):
        for i in ("0", "1"):
            write_png(ev / "exp-val-gt" / "predictions" / m / f"{i}.png", _img(int(i) + 9))
    ebb = _summary(["identity"], data)
    ebb["methods"]["identity"]["metrics_aligned"] = dict(METRICS)
    (ev / "ebb-val294").mkdir()
    (ev / "ebb-val294" / "summary.json").write_text(json.dumps(ebb))
    header = "level,step,kind,loss,l1,ssim,content,val_psnr,val_ssim,val_psnr_identity,val_ssim_identity\n"
    for run in ("exp-depth", "exp-lowdepth", "exp-nodepth", "exp-finest"):
        (store / "runs" / run).mkdir(parents=True)
        rows = [f"{lv},{st},val,,,,,{20 + st / 100 + (4 - lv)},0.7,22,0.6" for lv in (4, 3, 2, 1) for st in (100, 200)]
        (store / "runs" / run / "metrics.csv").write_text(header + "\n".join(rows) + "\n")
        schedule = {str(lv): {"batch": 8, "steps": 200} for lv in range(1, 8)}
        (store / "runs" / run / "config.json").write_text(
            json.dumps({"config": {"levels": [4, 3, 2, 1], "schedule": schedule}}))
    (store / "reports" / "bench.json").write_text(json.dumps({
        "machine": {"summary": "2-core CPU"}, "commit": "abc123", "image_size": "1536x1024",
        "models": [{"name": "pynet", "params": 47.5e6, "s_per_image": 9.0, "peak_mb": 1500.0}],
        "renderers": [{"name": "scatter", "s_per_image": 1.2, "peak_mb": 800.0}], "depth": [], "train": []}))
    for name in ("exp_depth", "exp_levels", "exp_real"):
        (store / "reports" / "experiments").mkdir(parents=True, exist_ok=True)
        (store / "reports" / "experiments" / f"{name}.json").write_text(
            json.dumps({"experiment": name, "steps": {"train": {"wall_s": 120.0}}}))
    photos = store / "photos"
    for i in ("a", "b"):
        write_jpeg(photos / "original" / f"{i}.jpg", _img(ord(i)))
        write_jpeg(photos / "bokeh" / f"{i}.jpg", _img(ord(i) + 1))
    for folder in ("real-portraits-scatter", "real-portraits-model", "real-pynet-scatter", "real-pynet-model",
                   "real-ebb-model"):
        out = store / "renders" / folder
        entries = []
        for i in ("a", "b"):
            write_jpeg(out / f"{i}.jpg", _img(ord(i) + 2))
            write_png(out / f"{i}.depth.png", _img(ord(i))[..., 0])
            entries.append({"name": i, "before": f"../../photos/original/{i}.jpg", "render": f"{i}.jpg",
                            "depth": f"{i}.depth.png", "width": 96, "height": 64, "source": folder})
        (out / "gallery.json").write_text(json.dumps({"entries": entries}))


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
    assert "bokehpipe experiment exp_depth" in result.output and "bokehpipe bench" in result.output
    assert not (tmp_path / "report").exists()  # nothing written when results are missing


@pytest.mark.slow
@pytest.mark.skipif(not tex_available(), reason="pdflatex not installed (CI installs TeX)")
def test_report_builds_from_a_tiny_results_set(run_cli, store_root, tmp_path):
    make_results(store_root)
    tex = tmp_path / "report.tex"
    shutil.copy(REPO / "report.tex", tex)
    result = run_cli("report", "--tex", tex)
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "report.pdf"
    assert pdf.is_file() and pdf.stat().st_size > 10_000
    log = (tmp_path / "report.log").read_text(errors="replace")
    assert "undefined" not in log.lower() or "There were undefined" not in log
    assert not re.search(r"(Reference|Citation) `[^']*' on page \d+ undefined", log)
    numbers = (tmp_path / "report" / "tables" / "numbers.tex").read_text()
    assert "\\newcommand{\\PsnrDepth}{29.00}" in numbers  # exp-depth is the fifth method: 25 + 4
    assert "??" not in numbers
    assert "\\textbf{29.00}" in (tmp_path / "report" / "tables" / "main.tex").read_text()
    assert " 800 &" in (tmp_path / "report" / "tables" / "levels.tex").read_text()  # 4 levels x 200 steps
