"""`bokehpipe report`: results in the store -> report/figures, report/tables -> report.pdf.

Two passes: first read every result (recording what is missing, with the command that makes it), then,
only if nothing is missing (or `allow_missing` asked for placeholders that name the commands), write the
figures and tables and compile report.tex. The parts: the paper explained from the code (`paper`), the setup
of every learned model (`setup`), how the paper's generator trained (`training`), the synthetic test set
(`synthetic`) and the real photos (`real`). Every result comes from `bokehpipe experiment paper_cpu`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bokehpipe.config import load_pipeline
from bokehpipe.errors import BokehpipeError
from bokehpipe.report import figures, paper, real, setup, synthetic, tables, training
from bokehpipe.report.sources import Results
from bokehpipe.store import ArtifactStore, atomic_write_text

FIGURES = ("arch.pdf", "curves.pdf", "test_scenes.jpg", "blur.pdf", "ebb_pairs.jpg", "samples.jpg", "samples_extra.jpg")
TABLES = ("schedule", "setup", "levels", "steps", "test", "ablation", "ebb")


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


def _training(res: Results, out: Outputs) -> None:
    _table(out, "setup", setup.setup_table(res, out.numbers))
    _table(out, "levels", training.levels_table(res, out.numbers))
    training.continuation_numbers(res, out.numbers)
    _table(out, "steps", training.steps_table(res, out.numbers))
    out.figures["curves.pdf"] = training.curves_figure(res)


def _synthetic(res: Results, out: Outputs) -> None:
    _table(out, "test", synthetic.test_table(res, out.numbers))
    _table(out, "ablation", synthetic.ablation_table(res, out.numbers))
    synthetic.overfitting_numbers(res, out.numbers)
    out.figures["test_scenes.jpg"] = synthetic.test_figure(res)
    out.figures["blur.pdf"] = synthetic.blur_gains(res, out.numbers)


def _real(res: Results, out: Outputs) -> None:
    _table(out, "ebb", real.pairs_table(res, out.numbers))
    out.figures["ebb_pairs.jpg"] = real.ebb_figure(res)
    out.figures["samples.jpg"] = real.samples_figure(res, extra=False)
    out.figures["samples_extra.jpg"] = real.samples_figure(res, extra=True)


def _table(out: Outputs, name: str, tex: str | None) -> None:
    if tex is not None:
        out.tables[name] = tex


PARTS = (_paper, _training, _synthetic, _real)


def build(store: ArtifactStore, tex_path: Path, *, allow_missing: bool = False) -> tuple[Outputs, list[str]]:
    """Write report/figures and report/tables next to `tex_path`; returns what was made and what is missing."""
    res = Results(store)
    out = Outputs()
    for part in PARTS:
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
            figures.placeholder("missing result; `bokehpipe report` lists what to run", base / "figures" / needed)
    for needed in TABLES:
        if needed not in out.tables:
            atomic_write_text(base / "tables" / f"{needed}.tex", "\\emph{missing result; see the build log}\n")
    for macro in MACROS_USED:
        out.numbers.setdefault(macro, "\\textbf{??}")
    atomic_write_text(base / "tables" / "numbers.tex", tables.numbers_tex(out.numbers))
    return out, missing


# Every macro report.tex uses; a missing result defines it as ?? (only with allow_missing).
MACROS_USED = (
    "PaperSteps", "PaperTrainPairs", "PaperValPairs", "ExperimentHours", "ExperimentCpuHours", "MainCpuHours",
    "MainHours", "MainFinestLevel", "MainFinestSteps", "MainFinestBest", "MainFinestInput", "MainFinestGain",
    "MainLevelsDone", "MainSteps", "MainLevelsAboveInput", "MainLevelsBelowInput", "MainLevelsAtCap",
    "MainLevelsFlat", "MainLevelsStartAbove", "MainContinuedLevel", "MainContinuedStep", "MainEarlierCaps",
    "MainEarlierCpuHours", "MainEarlierTest", "MainEarlierColourFit",
    "NumTestImages", "TestIdentity", "TestHalfInput", "TestScatter", "TestBokehnet", "TestGaussian",
    "TestMain", "TestScatterAuto", "TestIdentityColourFit", "TestScatterColourFit", "TestMainColourFit",
    "TestBokehnetAuto", "TestMainMinusScatter", "TestScatterFocusCost", "TestBokehnetFocusCost",
    "TestMainGapPsnr", "TestMainGapSsim", "TestMainGapSsimMore", "TestMainRank", "TestMainColourCast",
    "AblDepth", "AblRgb", "AblGain", "AblGainSd", "AblSeeds", "AblGainMin", "AblGainMax", "AblIdentity",
    "AblScatter", "AblScale", "AblBelowInput",
    "FitTrainGain", "FitValGain", "FitTestGain", "FitTrainCount", "FitValCount", "FitTestCount",
    "FitTrainExcess", "FitTrainAbove",
    "EbbIdentity", "EbbScatter", "EbbBokehnet", "EbbGaussian", "EbbMain", "EbbMainMinusIdentity",
    "BlurMedian", "BlurMainLow", "BlurMainHigh", "BlurMainRho", "BlurMainLowVerb", "BlurMainHighVerb",
    "BlurScatterLow", "BlurScatterHigh", "BlurScatterRho", "BlurBokehnetLow", "BlurBokehnetHigh", "BlurBokehnetRho",
    "EbbScatterMinusIdentity", "EbbBokehnetMinusScatter", "EbbBokehnetWins", "EbbValIdentity",
)
