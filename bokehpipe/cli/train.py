"""`bokehpipe train`: phase two, any generator trained by the one loop into store/runs/<run>/: PyNET-Bokeh
level by level (coarse to fine), or BokehNet (`--model bokehnet`, one level; `bokehpipe bokehnet train` is
the same command with that model preset).

Defaults come from the `[train]` table of `--pipeline` (scalar options) and `[train.schedule]` (per level
batch/steps/crop/lr); the command line wins, and the run's config.json records where each value came from.
The same command runs under torchrun for DDP (rank 0 writes and shows progress).
"""

from __future__ import annotations

import sys

import click

from bokehpipe.cli.common import dataset_options, parameter_sources, pass_state
from bokehpipe.cli.options import dataclass_values, options_from_dataclass
from bokehpipe.train.config import MODEL_KINDS, TrainConfig  # torch-free: its fields are this command's options

_SCHEDULE_OVERRIDES = (  # options that are not TrainConfig fields: they override the per-level schedule
    click.option("--batch", type=click.IntRange(1), default=None,
                 help="Global batch for every level (overrides the schedule)."),
    click.option("--steps", type=click.IntRange(1), default=None,
                 help="Steps for every level (overrides the schedule)."),
)
_RESUME = click.option("--resume", default="auto", show_default=True, metavar="auto|never|PATH",
                       help="auto: continue the run's newest checkpoint (fresh start when there is none); never: "
                            "refuse a run that has checkpoints; PATH: continue from that checkpoint or run folder.")


@click.command()
@dataset_options
@options_from_dataclass(TrainConfig, extra={"crop": _SCHEDULE_OVERRIDES, "device": (_RESUME,)})
@pass_state
@click.pass_context
def train(ctx: click.Context, state, **params) -> None:
    """Train a generator (PyNET-Bokeh level by level, or --model bokehnet) on --data PATH or --dataset NAME
    into store/runs/NAME/.

    \b
    With no options it trains on the store's only dataset, with its only depth cache, validating on the
    dataset's own split; on a CPU without --pipeline it uses the demo pipeline's settings (minutes), on a
    GPU the paper's schedule (pass --pipeline ebb for the paper's settings anywhere). Each choice is
    printed. Writes config.json (every value and its source), metrics.csv, checkpoints/level<L>/{last,best}.pt.
    Under torchrun the same command trains with DDP, e.g.
    `torchrun --nproc-per-node 8 -m bokehpipe --pipeline ebb train --data EBB --run-name ebb`.
    """
    from bokehpipe.data.ebb import load_index
    from bokehpipe.device import env_world
    from bokehpipe.train.config import parse_schedule
    from bokehpipe.train.defaults import (
        describe_plan,
        fit_crop,
        generated_run_name,
        make_missing_val_cache,
    )

    store = state.store
    rank, world, _ = env_world()
    p, sources, table, pipeline_path, lines = _resolve_defaults(ctx, state, params)
    root, name = store.resolve_dataset(data=p["data"], dataset=p["dataset"])
    schedule = parse_schedule(table)
    batch, steps = p["batch"], p["steps"]
    if batch is not None or steps is not None:
        schedule = {lv: type(s)(batch or s.batch, steps or s.steps, s.crop, s.lr) for lv, s in schedule.items()}
    crop = p["crop"]
    _choose_val_split(root, p, lines)
    train_pairs = load_index(root).split(p["train_split"], require_targets=True)
    kind = MODEL_KINDS[p["model"]]
    if train_pairs and kind == "pynet":  # a correction crops at its working size, whatever the photos' size
        crop, said = fit_crop(crop, train_pairs, explicit=sources["crop"]["source"] == "commandline")
        if said:
            lines.append(said)
            schedule = {lv: type(s)(s.batch, s.steps, min(s.crop, crop) if s.crop else None, s.lr)
                        for lv, s in schedule.items()}
    own_maps = _choose_depth_source(store, root, name, p, lines)
    if not p["run_name"]:
        if world > 1:  # each rank would stamp its own time: the ranks must agree on one run folder
            raise click.UsageError("under torchrun pass --run-name NAME (a generated name could differ per rank)")
        p["run_name"] = generated_run_name(name, p["model"])
        lines.insert(0, f"run {p['run_name']!r}: a new name (--run NAME to choose; the same NAME resumes a run)")
    cfg = TrainConfig(**{**dataclass_values(TrainConfig, p), "data_root": str(root), "dataset": name,
                         "schedule": schedule, "crop": crop})
    if cfg.with_depth and cfg.val_every and cfg.val_split and world == 1 and not own_maps:  # torchrun: `depth`
        made = make_missing_val_cache(store, str(root), name, cfg.depth_source, cfg.val_split, cfg.train_split)
        if made:
            lines.append(made)
    lines.append(describe_plan(cfg.levels, cfg.schedule, cfg.level_crop, cfg.device))
    for key, value in (("run_name", cfg.run), ("val_split", cfg.val_split), ("depth_source", cfg.depth_source),
                       ("crop", cfg.crop), ("val_every", cfg.val_every), ("dataset", name)):
        if sources[key]["value"] != value:
            sources[key] = {"value": value, "source": "chosen"}
    sources["schedule"] = {"value": {str(k): vars(v) for k, v in sorted(schedule.items(), reverse=True)},
                           "source": "commandline" if (batch or steps) else ("pipeline" if table else "default")}
    if rank == 0:
        for line in lines:
            click.echo(line, err=True)
    progress = _Progress(rank == 0)
    progress.set_plan([(lv, cfg.schedule[lv].steps) for lv in cfg.levels])
    try:
        from bokehpipe.train.loop import train as run_training

        run_dir = run_training(cfg, store, resume=p["resume"], sources=sources, pipeline=pipeline_path,
                               callback=progress)
    finally:
        progress.close()
    if rank == 0:
        click.echo(f"run {run_dir}")


def _choose_val_split(root, p: dict, lines: list[str]) -> None:
    """The dataset's own validation split when none was given; no validation when it has none."""
    from bokehpipe.train.defaults import own_val_split

    if p["val_split"] is None:
        p["val_split"] = own_val_split(str(root))
        if p["val_split"] is not None:
            lines.append(f"validation split {p['val_split']!r}: the dataset's own (--val-split NAME to choose)")
        elif p["val_every"]:
            p["val_every"] = 0
            lines.append("no validation: the dataset has no val or val294 split (--val-split NAME to choose one)")


def _choose_depth_source(store, root, name: str, p: dict, lines: list[str]) -> bool:
    """Fill in --depth-source; returns whether the examples read the synthetic set's own maps (a correction on
    a synthetic set: source gt, no depth cache needed)."""
    from bokehpipe.choices import choose_depth_cache
    from bokehpipe.data.ebb import load_metadata
    from bokehpipe.errors import BokehpipeError

    kind = MODEL_KINDS[p["model"]]
    own_maps = kind == "correction" and load_metadata(root) is not None
    if own_maps and not p["depth_source"]:
        p["depth_source"] = "gt"
    if p["with_depth"] and not p["depth_source"]:
        try:
            choice = choose_depth_cache(store, name, p["train_split"])
        except BokehpipeError as exc:
            raise BokehpipeError(f"{exc}" + (" (or train with --no-depth)" if kind == "pynet" else "")) from None
        p["depth_source"] = choice.value
        lines.append(choice.reason)
    return own_maps


_DATASET_OWN = ("val_split", "train_split", "device")  # the dataset's and the machine's, not the demo's


def _resolve_defaults(ctx: click.Context, state, params: dict):
    """(params, sources, schedule table, pipeline path, lines): the device resolved, the dataset chosen, and on
    a CPU without --pipeline the demo pipeline's [train] settings for every option left at its default."""
    from bokehpipe.choices import choose_dataset
    from bokehpipe.config import option_key_aliases, to_default_map

    p = dict(params)
    sources = parameter_sources(ctx)
    lines: list[str] = []
    pipeline = state.pipeline
    pipeline_path = str(state.pipeline_path) if state.pipeline_path else None
    from bokehpipe.device import resolve_device

    p["device"] = resolve_device(p["device"])  # the run's one resolution (torchrun: this rank's GPU)
    table = (pipeline.get("train") or {}).get("schedule") if pipeline else None
    kind_table = _kind_defaults(p, sources)
    if kind_table is not None:
        table = table or kind_table
        lines.append(f"model {p['model']}: its own training settings where none were given (levels {p['levels']}, "
                     f"crop {p['crop']}, lr {p['lr']:g} {p['lr_schedule']})")
    elif state.pipeline_path is None and p["device"].startswith("cpu"):
        from bokehpipe.train.defaults import CPU_PIPELINE, cpu_defaults

        pipeline_path, pipeline = cpu_defaults()
        table = to_default_map(pipeline).get("train", {})
        aliases = option_key_aliases(ctx.command)
        for key, value in table.items():
            key = aliases.get(key, key)
            if key in p and sources[key]["source"] == "default" and key not in _DATASET_OWN:
                p[key] = value
                sources[key] = {"value": value, "source": f"pipeline {CPU_PIPELINE} (CPU default)"}
        lines.append(f"on a CPU without --pipeline: the {CPU_PIPELINE} pipeline's training settings ({p['model']}, "
                     f"levels {p['levels']}, crop {p['crop']}, perceptual {p['perceptual']}; minutes on a CPU). "
                     "--pipeline ebb trains the paper's schedule (days on a CPU, hours on a GPU)")
        table = (pipeline.get("train") or {}).get("schedule")
    p["data"], p["dataset"], said = choose_dataset(state.store, data=p["data"], dataset=p["dataset"],
                                                   pipeline=pipeline, command="train")
    if said:
        lines.insert(0, said)
    return p, sources, table, pipeline_path, lines


def _kind_defaults(p: dict, sources: dict) -> dict | None:
    """A generator kind's own settings (train.config.KIND_DEFAULTS) for every option left at its default; returns
    the kind's schedule table, or None for a kind that starts from the command's defaults (PyNET)."""
    from bokehpipe.train.config import KIND_DEFAULTS

    defaults = KIND_DEFAULTS.get(MODEL_KINDS.get(p["model"], ""), None)
    if defaults is None:
        return None
    for key, value in defaults.items():
        if key in p and sources[key]["source"] == "default":
            p[key] = value
            sources[key] = {"value": value, "source": f"model {p['model']}"}
    return defaults["schedule"]


class _Progress:
    """A bar per level on stderr (plain lines off a terminal; rank 0 only); notes, validation and the wall-time
    estimate above it. The estimate times steps 3..8 of each level (step 1 pays for warm-up)."""

    TIMED = (2, 8)  # ticks between which a level's speed is measured

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar = enabled, None
        self.baseline = "identity"  # what the untrained generator returns: the input, or scatter for a correction
        self.level_info: dict = {}
        self.todo: list[tuple[int, int]] = []  # (level, steps) not yet measured, for the whole-run lower bound
        self.t_mark: float | None = None

    def __call__(self, event: str, **info) -> None:
        if not self.enabled:
            return
        import time

        from bokehpipe.progress import progress_bar

        if event == "note":
            click.echo(info["text"], err=True)
        elif event == "model":
            self.baseline = "scatter" if MODEL_KINDS.get(info["name"]) == "correction" else "identity"
            click.echo(f"model {info['name']}: {info['params']:,} parameters, {info['in_chans']} input channels",
                       err=True)
        elif event == "level_start":
            self.close()
            click.echo(f"level {info['level']}: batch {info['batch']}, {info['steps']} steps, crop {info['crop']}, "
                       f"lr {info['lr']:g}, {info['params']:,} trained parameters", err=True)
            self.level_info = dict(info)
            self.t_mark = None
            self.bar = progress_bar(info["steps"], initial=info["start"], desc=f"level {info['level']}", unit="step")
        elif event == "tick" and self.bar is not None:
            self.bar.update(1)
            done = info["step"] - self.level_info.get("start", 0)
            if done == self.TIMED[0]:
                self.t_mark = time.perf_counter()
            elif done == self.TIMED[1] and self.t_mark is not None:
                self._estimate((time.perf_counter() - self.t_mark) / (self.TIMED[1] - self.TIMED[0]), info["step"])
        elif event == "train" and self.bar is not None:
            self.bar.set_postfix(loss=f"{info['loss']:.4g}", img_s=f"{info['images_per_s'] or 0:.1f}")
        elif event == "val":
            line = (f"level {info['level']} step {info['step']}: val PSNR {info['val_psnr']:.2f} dB "
                    f"({self.baseline} {info['val_psnr_identity']:.2f}), SSIM {info['val_ssim']:.4f}"
                    + (" *best" if info.get("best") else ""))
            if self.bar is not None:
                self.bar.write(line, file=sys.stderr)
            else:
                click.echo(line, err=True)
        elif event == "level_end":
            self.close()
            sync = "" if info.get("divergence") is None else \
                f", replicas differ by at most {info['divergence']:.3g}"
            click.echo(f"level {info['level']} done, best val PSNR {info['best_psnr']:.2f} dB{sync}", err=True)

    def set_plan(self, levels: list[tuple[int, int]]) -> None:
        """(level, steps) of the whole run, for the first estimate's lower bound on the total."""
        self.todo = list(levels)

    def _estimate(self, s_per_step: float, step: int) -> None:
        level, steps = self.level_info["level"], self.level_info["steps"]
        left = s_per_step * (steps - step)
        text = f"estimate: level {level} at {s_per_step:.3g} s/step, about {_duration(left)} for its remaining steps"
        later = [n for lv, n in self.todo if lv < level]
        if self.todo and self.todo[0][0] == level and later:
            text += (f"; the whole run at least {_duration(left + s_per_step * sum(later))} "
                     "(finer levels cost more per step)")
        self.todo = [(lv, n) for lv, n in self.todo if lv < level]
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
