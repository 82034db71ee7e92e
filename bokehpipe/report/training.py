"""How the paper's generator trained: per-level curves and the level table, read from the runs' metrics.csv.

A run's `metrics.csv` has a `train` row every `log_every` steps and a `val` row at each validation (PSNR of the
model and of the input, both at the level's output size, on the selection split). `elapsed_s` and `cpu_s` restart
with every process, so a level's time is the sum of its segments' last values: a resumed level is counted once per
segment, and steps a resume redid are not counted (their rows are gone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bokehpipe.config import load_pipeline
from bokehpipe.report import tables
from bokehpipe.report.sources import ABLATION, EXPERIMENT, MAIN_RUN, Results, colour_fit_gain, method_metric
from bokehpipe.report.stats import signed
from bokehpipe.store import run_of_checkpoint


def _float(row: dict[str, str], key: str) -> float | None:
    value = row.get(key) or ""
    return float(value) if value not in ("", "nan") else None


@dataclass(frozen=True)
class Spent:
    """Wall and CPU seconds, summed over the processes that trained a level or a run."""

    wall: float = 0.0
    cpu: float = 0.0

    def __add__(self, other: Spent) -> Spent:
        return Spent(self.wall + other.wall, self.cpu + other.cpu)


def level_times(rows: Sequence[dict[str, str]]) -> dict[int, Spent]:
    """Per level, the sum over process segments (a drop in `elapsed_s` starts a new one) of each segment's last
    `elapsed_s` and `cpu_s`. A segment that recorded no CPU time counts its wall time: before `cpu_s` existed,
    runs trained on one thread."""
    done: dict[int, Spent] = {}
    last: dict[int, Spent] = {}
    for row in rows:
        level, elapsed = int(row["level"]), _float(row, "elapsed_s")
        if elapsed is None:
            continue
        if level in last and elapsed < last[level].wall:
            done[level] = done.get(level, Spent()) + last[level]
        cpu = _float(row, "cpu_s")
        last[level] = Spent(elapsed, elapsed if cpu is None else cpu)
    return {level: done.get(level, Spent()) + spent for level, spent in last.items()}


def run_time(rows: Sequence[dict[str, str]]) -> Spent:
    """A run's wall and CPU seconds over all its levels."""
    return sum(level_times(rows).values(), Spent())


def steps_taken(rows: Sequence[dict[str, str]]) -> dict[int, int]:
    """The last step each level of a run logged."""
    out: dict[int, int] = {}
    for row in rows:
        level = int(row["level"])
        out[level] = max(out.get(level, 0), int(row["step"]))
    return out


def validations(rows: Sequence[dict[str, str]], level: int) -> list[tuple[int, float, float]]:
    """(step, model PSNR, input PSNR) of every validation of `level`, in step order."""
    out = []
    for row in rows:
        if row["kind"] == "val" and int(row["level"]) == level:
            psnr, ident = _float(row, "val_psnr"), _float(row, "val_psnr_identity")
            if psnr is not None and ident is not None:
                out.append((int(row["step"]), psnr, ident))
    return sorted(out)


def main_levels(res: Results) -> list[dict[str, Any]]:
    """Per trained level of the main run, coarse to fine: its settings, steps, best validation and hours."""
    rows, cfg = res.metrics(MAIN_RUN), res.run_config(MAIN_RUN)
    if not rows or not cfg:
        return []
    config = cfg["config"]
    times, taken = level_times(rows), steps_taken(rows)
    out = []
    for level in config["levels"]:
        vals = validations(rows, level)
        if not vals:
            continue
        plan = config["schedule"][str(level)]
        best = max(vals, key=lambda v: v[1])
        out.append({"level": level, "batch": plan["batch"], "crop": plan.get("crop") or config["crop"],
                    "cap": plan["steps"], "steps": taken[level], "best_step": best[0], "best": best[1],
                    "input": best[2], "first_gain": vals[0][1] - vals[0][2],
                    "hours": times.get(level, Spent()).wall / 3600,
                    "cpu_hours": times.get(level, Spent()).cpu / 3600})
    return out


def levels_table(res: Results, numbers: dict[str, str]) -> str | None:
    """The main run level by level: crop, batch, steps taken of the cap, best validation PSNR against the input's
    at that level's size, and wall hours; the numbers the prose quotes."""
    levels = main_levels(res)
    if not levels:
        return None
    body = []
    for lv in levels:
        body.append([str(lv["level"]), str(lv["crop"]), str(lv["batch"]), f"{lv['steps']:,} / {lv['cap']:,}",
                     tables.fmt("psnr", lv["best"]), tables.fmt("psnr", lv["input"]),
                     signed("psnr", lv["best"] - lv["input"]), f"{lv['hours']:.2f}", f"{lv['cpu_hours']:.2f}"])
    hours = sum(lv["hours"] for lv in levels)
    cpu_hours = sum(lv["cpu_hours"] for lv in levels)
    finest = levels[-1]
    numbers.update(MainHours=f"{hours:.1f}", MainCpuHours=f"{cpu_hours:.1f}", MainFinestLevel=str(finest["level"]),
                   MainFinestSteps=f"{finest['steps']:,}", MainFinestBest=tables.fmt("psnr", finest["best"]),
                   MainFinestInput=tables.fmt("psnr", finest["input"]),
                   MainFinestGain=signed("psnr", finest["best"] - finest["input"]),
                   MainLevelsDone=str(len(levels)), MainSteps=f"{sum(lv['steps'] for lv in levels):,}")

    def named(which: Sequence[dict[str, Any]]) -> str:
        return levels_phrase([str(lv["level"]) for lv in which], len(levels))

    numbers.update(MainLevelsAboveInput=named([lv for lv in levels if lv["best"] > lv["input"]]),
                   MainLevelsBelowInput=named([lv for lv in levels if lv["best"] <= lv["input"]]),
                   MainLevelsStartAbove=named([lv for lv in levels if lv["first_gain"] > 0]),
                   MainLevelsAtCap=named([lv for lv in levels if lv["steps"] >= lv["cap"]]),
                   MainLevelsFlat=named([lv for lv in levels if lv["steps"] < lv["cap"]]))
    header = ["Level", "Crop", "Batch", "Steps / cap", "Best val PSNR", "Input", "Gain", "Wall h", "CPU h"]
    return tables.tabular(header, body, align="rrrrrrrrr")


def _spoken(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def levels_phrase(levels: Sequence[str], total: int) -> str:
    """Levels as prose reads them whatever their number: 'no level', 'level 7', 'levels 7 and 6', or 'every
    level' where all `total` levels are named; the report's sentences are built so that either fits."""
    if not levels:
        return "no level"
    if len(levels) == total > 1:
        return "every level"
    return f"level {levels[0]}" if len(levels) == 1 else f"levels {_spoken(levels)}"


def continuation_numbers(res: Results, numbers: dict[str, str]) -> None:
    """Where the main run continued another run's checkpoint (`--resume PATH`, for instance after its caps were
    raised): the level and step it took over, the levels the other run stopped at a cap this run raised, and the
    CPU hours that run spent on what this one did not keep (its levels after the one taken over). "none" where
    the main run never continued another run. With it, that run's score on the test set and what a colour-gain
    fit adds to it, beside the main run's own (`TestMain`, `TestMainColourFit`)."""
    numbers.update(MainContinuedLevel="none", MainContinuedStep="none", MainEarlierCaps="none",
                   MainEarlierCpuHours="none", MainEarlierTest="none", MainEarlierColourFit="none")
    taken_over = continued_from(res)
    if taken_over is not None:
        earlier, level, step = taken_over
        mine = res.run_config(MAIN_RUN)["config"]["schedule"]
        theirs = (res.run_config(earlier) or {}).get("config", {}).get("schedule", {})
        rows = res.metrics(earlier) or []
        taken = steps_taken(rows)
        changed = [lv for lv in sorted(theirs, key=int, reverse=True)  # capped there, allowed more here
                   if lv in mine and taken.get(int(lv), 0) >= theirs[lv]["steps"] < mine[lv]["steps"]]
        caps = _spoken([f"{theirs[lv]['steps']:,}" for lv in changed])
        replaced = sum((t for lv, t in level_times(rows).items() if lv < level), Spent())
        numbers.update(MainContinuedLevel=str(level), MainContinuedStep=f"{step:,}",
                       MainEarlierCaps=f"{caps} steps for {levels_phrase(changed, 0)}" if changed else "none",
                       MainEarlierCpuHours=f"{replaced.cpu / 3600:.1f}")
        summary = res.earlier_summary(earlier)
        plain, fit = method_metric(summary, earlier, "psnr"), colour_fit_gain(summary, earlier)
        if plain is not None:
            numbers["MainEarlierTest"] = tables.fmt("psnr", plain)
        if fit is not None:
            numbers["MainEarlierColourFit"] = signed("psnr", fit)


def continued_from(res: Results) -> tuple[str, int, int] | None:
    """The other run whose checkpoint the main run continued (`--resume PATH`), with the level and step taken
    over; None where it only ever resumed itself."""
    for entry in (res.run_config(MAIN_RUN) or {}).get("history", []):
        resume = str(entry.get("resume", "auto"))
        if resume in ("auto", "never"):
            continue
        earlier = run_of_checkpoint(resume) or Path(resume).name  # a checkpoint file, or a run folder
        if earlier != MAIN_RUN:
            return earlier, int(entry["start_level"]), int(entry["start_step"])
    return None


def curves_figure(res: Results) -> Callable[[Path], Path] | None:
    """Left: the main run's validation PSNR minus the input's at each level's size, over cumulative steps, one
    colour per level. Right: the ablation's level-by-level curves, mean and range over seeds, with and without
    depth."""
    main = res.metrics(MAIN_RUN)
    cfg = res.run_config(MAIN_RUN)
    ablation = {kind: [res.metrics(run) for run in runs] for kind, runs in ABLATION.items()}
    if not main or not cfg:
        return None

    def draw(path: Path) -> Path:
        from bokehpipe.report.figures import training_curves

        main_series = [(lv, validations(main, lv)) for lv in cfg["config"]["levels"]]
        abl_series = {kind: [[(lv, validations(rows, lv)) for lv in (7, 6, 5, 4)] for rows in runs if rows]
                      for kind, runs in ablation.items()}
        return training_curves(main_series, abl_series, path)

    return draw


def steps_table(res: Results, numbers: dict[str, str]) -> str | None:
    """How long each step of the experiment took, in the pipeline's order: a training step from its run's
    metrics (summed over the sessions it was resumed in, wall and CPU, however the run was started), every other
    step from the experiment log (wall, and CPU where recorded); a step the log has no time for shows --."""
    log = res.experiment_log()
    if not log:
        return None
    logged = log.get("steps", {})
    rows, total, total_cpu = [], 0.0, 0.0
    for step in load_pipeline(EXPERIMENT)[1].get("steps", []):
        argv = [str(a) for a in step["run"]]
        if argv[0] == "train" and "--run" in argv:
            spent = run_time(res.metrics(argv[argv.index("--run") + 1]) or [])
            wall, cpu = spent.wall, spent.cpu
        else:
            wall, cpu = logged.get(step["name"], {}).get("wall_s"), logged.get(step["name"], {}).get("cpu_s")
        total += wall or 0.0
        total_cpu += cpu or 0.0
        rows.append([tables.esc(step["name"]), *(f"{v / 3600:.2f}" if v is not None else "--" for v in (wall, cpu))])
    numbers.update(ExperimentHours=f"{total / 3600:.1f}", ExperimentCpuHours=f"{total_cpu / 3600:.1f}")
    rows.append(["all steps", f"{total / 3600:.2f}", f"{total_cpu / 3600:.2f}"])
    # two step lists side by side: the list is long and narrow, and half a page of it pushed the appendix's
    # figures onto pages of their own
    half = (len(rows) + 1) // 2
    right = rows[half:] + [["", "", ""]] * (2 * half - len(rows))
    return tables.tabular(["Step", "Wall (h)", "CPU (h)"] * 2, [a + b for a, b in zip(rows[:half], right, strict=True)],
                          align="lrr@{\\hspace{2.5em}}lrr")
