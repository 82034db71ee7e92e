"""`bokehpipe report`: results in the store -> report/figures, report/tables -> report.pdf.

Two passes: first read every result (recording what is missing, with the command that makes it), then,
only if nothing is missing (or `allow_missing` asked for placeholders that name the commands), write the
figures and tables and compile report.tex. The parts: the paper explained from the code (`paper`), the real
photos (`real`), the synthetic study over seeds (`study`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bokehpipe.config import load_pipeline
from bokehpipe.data.io import read_image, read_map
from bokehpipe.errors import BokehpipeError
from bokehpipe.report import bokehnet, figures, paper, real, study, tables
from bokehpipe.report.sources import Results
from bokehpipe.store import ArtifactStore, atomic_write_text

FIGURES = ("arch.pdf", "synth_grid.jpg", "ebb_pairs.jpg", "failure.jpg", "pynet.jpg", "pynet_extra.jpg",
           "vabd.jpg", "controls.jpg")
TABLES = ("schedule", "setup", "study", "levels", "misalign", "ebb", "bokehnet", "speed")


@dataclass
class Outputs:
    tables: dict[str, str] = field(default_factory=dict)  # name -> tex
    numbers: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # name -> callable(path)


def _paper(res: Results, out: Outputs) -> None:
    _, pipeline = load_pipeline("ebb")
    out.tables["schedule"], total = paper.schedule_table(pipeline)
    out.numbers["PaperSteps"] = f"{total // 1000}K"
    levels = paper.pynet_levels()
    out.figures["arch.pdf"] = lambda p: figures.architecture(levels, p)


def _study(res: Results, out: Outputs) -> None:
    out.tables["study"] = study.study_table(res, out.numbers)
    out.tables["setup"] = study.setup_table(res)
    out.tables["levels"] = study.levels_table(res, out.numbers)
    study.data_numbers(res, out.numbers)
    study.first_validation(res, out.numbers)
    out.figures["synth_grid.jpg"] = _synth_grid(res)


def _synth_grid(res: Results) -> Any:
    """Two exp-test images as every method rendered them (the predictions eval kept), with zooms."""
    summary = res.eval_summary("exp-test-gt")
    pred = res.eval_dir("exp-test-gt") / "predictions"
    methods = [("gaussian", "Gaussian"), ("scatter", "Scatter"), ("exp-nodepth-s0", "RGB only"),
               ("exp-depth-s0", "+ true depth")]
    ids = sorted(p.stem for p in (pred / "exp-depth-s0").glob("*.png"))[:2] if pred.is_dir() else []
    if not summary or not ids:
        res._miss("eval predictions", pred, "bokehpipe experiment exp_depth")
        return None
    root = Path(summary["dataset_root"]) / "Training"

    def draw(path: Path) -> Path:
        photos = []
        for id_ in ids:
            rgb = read_image(root / "original" / f"{id_}.jpg")
            disp = read_map(root / "depth" / f"{id_}.png")
            imgs = [rgb] + [read_image(pred / m / f"{id_}.png") for m, _ in methods]
            imgs.append(read_image(root / "bokeh" / f"{id_}.jpg"))
            photos.append({"label": f"test {id_}", "images": imgs, "windows": figures.pick_windows(disp, rgb)})
        cols = ["Input (f/16)", *(t for _, t in methods), "Target (f/1.8)"]
        return figures.comparison(photos, cols, path)

    return draw


def _real(res: Results, out: Outputs) -> None:
    for name, make in (("misalign", real.misalignment_table), ("ebb", real.ebb_table)):
        tex = make(res, out.numbers)
        if tex is not None:
            out.tables[name] = tex
    out.figures["ebb_pairs.jpg"] = real.ebb_figure(res)
    out.figures["failure.jpg"] = real.failure_figure(res, out.numbers)
    out.figures["pynet.jpg"] = real.pynet_figure(res, extra=False)
    out.figures["pynet_extra.jpg"] = real.pynet_figure(res, extra=True)
    out.figures["vabd.jpg"] = real.vabd_figure(res)


def _default_renderer(res: Results, out: Outputs) -> None:
    bokehnet.model_numbers(out.numbers)
    bokehnet.seed_numbers(res, out.numbers)
    out.figures["controls.jpg"] = bokehnet.controls_figure(res)
    for name, make in (("bokehnet", bokehnet.quality_table), ("speed", bokehnet.speed_table)):
        tex = make(res, out.numbers)
        if tex is not None:
            out.tables[name] = tex


def build(store: ArtifactStore, tex_path: Path, *, allow_missing: bool = False) -> tuple[Outputs, list[str]]:
    """Write report/figures and report/tables next to `tex_path`; returns what was made and what is missing."""
    res = Results(store)
    out = Outputs()
    for part in (_paper, _study, _real, _default_renderer):
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
    for needed in FIGURES:
        if out.figures.get(needed) is None:
            figures.placeholder("missing result: " + "; ".join(m.command for m in res.missing) or "missing",
                                base / "figures" / needed)
    for needed in TABLES:
        if needed not in out.tables:
            atomic_write_text(base / "tables" / f"{needed}.tex", "\\emph{missing result; see the build log}\n")
    for macro in MACROS_USED:
        out.numbers.setdefault(macro, "\\textbf{??}")
    atomic_write_text(base / "tables" / "numbers.tex", tables.numbers_tex(out.numbers))
    return out, missing


# Every macro report.tex uses; a missing result defines it as ?? (only with allow_missing).
MACROS_USED = (
    "PaperSteps", "NumTestImages", "ExpTrain", "ExpVal", "ExpTestCount",
    "PsnrIdentity", "PsnrGaussian", "PsnrScatter", "PsnrScatterMono", "PsnrNoDepth", "PsnrMono", "PsnrDepth",
    "PsnrSdNoDepth", "PsnrSdMono", "PsnrSdDepth", "SsimScatter", "SsimDepth", "SsimNoDepth",
    "SeedsDepth", "SeedsNoDepth", "SeedsMono",
    "DepthGain", "DepthGainSd", "DepthGainMin", "DepthGainN", "MonoCost", "MonoCostSd", "MonoCostMin", "MonoCostN",
    "PsnrLevelsLevelwise", "PsnrLevelsFinest", "PsnrLevelsSdLevelwise", "PsnrLevelsSdFinest",
    "MinutesLevelsLevelwise", "MinutesLevelsFinest",
    "MisRaw", "MisGain", "MisShift", "MisGainGain", "MisShiftGain", "MisPairs",
    "EbbPsnrIdentity", "EbbPsnrScatter", "EbbPsnrGaussian", "EbbPsnrDepth", "EbbPsnrNoDepth",
    "EbbPsnrValIdentity", "EbbPsnrValNoDepth", "EbbPsnrAlignedScatter", "EbbPsnrAlignedIdentity",
    "FailId", "FailGain", "FirstValStep", "FirstValPsnr", "FirstValIdentity",
    "BnSeedGain", "BnSeedCount", "BnSeedSteps",
    "BnSynPairs", "BnSynPsnr", "BnSynScatter", "BnSynGain", "BnGoal", "BnEbbPsnr", "BnEbbSsim", "BnEbbVsScatter",
    "BnSmallEbb", "BnSmallEbbScatter", "BnSmallVabd", "BnSmallVabdScatter", "BnSmallWidth", "BnSmallWins",
    "BnSmallPairs", "BnSynSe", "BnSynWinPct",
    "BnMonoPsnr", "BnMonoScatter", "BnMonoGain", "BnMonoSe", "BnMonoWinPct", "BnCeilPsnr", "BnCeilGainPsnr",
    "BnHeadroom", "BnParams", "BnNetWidth", "BnStep", "BnMaxSteps",
    "BenchBokehnetSeconds", "BenchScatterSeconds", "BenchPynetSeconds", "BenchPynetxsSeconds",
    "BenchBokehnetPeak", "BenchScatterPeak", "BenchPynetPeak", "BenchPynetxsPeak", "BenchBnOverScatter",
    "BenchMachine", "BenchCommit", "BenchSize", "BenchRepeats", "BenchCommand",
)
