"""`bokehpipe demo`: the first run, offline, on a CPU, in a few minutes: both phases, the shipped default on
sample photos, a short table, the refocus gallery and the commands to type next. Every step says what it does
and how long it took; the long demo is `bokehpipe experiment demo_full`."""

from __future__ import annotations

import os
import resource
import time

import click

from bokehpipe.cli.common import pass_state

DEMO_PIPELINE = "demo"
DEMO_EVAL_TAG = "demo"
DEMO_RUN = "demo-depth"
DEMO_RENDERS = "demo"
SAMPLES = "photos/demo-photos/Training"  # the sample photos (generated scenes) and their true disparity
REFOCUS = "refocus"  # the refocus gallery's folder inside the renders (infer --refocus writes it)

SAYS = {
    "synth": "a small synthetic EBB!-style set: f/16 inputs, f/1.8 targets, true disparity",
    "sample-photos": "sample photos: scenes from the package's own generator, with their true disparity",
    "depth-train": "phase one: cache the training split's depth (the set's own maps) in HDF5",
    "depth-val": "phase one: the held-out split's depth cache",
    "train": "phase two: train PyNET (identity skip, quarter width) from scratch, briefly (finest level only)",
    "eval": "score it on the held-out split beside its input, classical scatter and the shipped BokehNet",
    "render-samples": "the shipped default renderer (BokehNet) on the sample photos: infer's before/after gallery "
                      "and its refocus gallery (click to focus, f/1.4..f/16)",
}


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished workers (synth's pool), as /usr/bin/time counts."""
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


@click.command()
@click.option("--force", is_flag=True, help="Redo every step even where the store already has its result.")
@pass_state
def demo(state, force: bool) -> None:
    """Synthesise a small set and cache its depth (phase one), train PyNET briefly from scratch and score it
    against its input, the classical renderer and the shipped BokehNet (phase two), render sample photos with the
    shipped default, and write a refocus gallery (click to focus, f/1.4 to f/16). A few minutes on 2 CPU cores.

    Steps and settings: pipelines/demo.toml. Re-running reuses what the store already has (--force redoes it).
    The long demo (levels 4..1, with and without depth, 14-58 minutes): `bokehpipe experiment demo_full`.
    """
    start, cpu0, load = time.perf_counter(), cpu_seconds(), os.getloadavg()[0]
    _run_steps(state, force)
    _summary(state, state.store.renders(DEMO_RENDERS) / REFOCUS / "index.html")
    click.echo(f"\nbokehpipe demo: {time.perf_counter() - start:.0f} s wall (load average {load:.1f} at the start), "
               f"{cpu_seconds() - cpu0:.0f} s CPU (user + system); store {state.store.root}")


def _run_steps(state, force: bool) -> None:
    """The pipeline's [[steps]] in order, each announced with what it does and timed (reused ones say so)."""
    from bokehpipe.cli.experiment import invoke_step
    from bokehpipe.config import load_pipeline
    from bokehpipe.experiments import load_steps, run_steps

    path, pipeline = load_pipeline(DEMO_PIPELINE)
    steps = load_steps(pipeline, path)
    total = len(steps)

    def on_step(step, what) -> None:
        number = [s.name for s in steps].index(step.name) + 1
        click.secho(f"\n[{number}/{total}] {SAYS.get(step.name, step.name)}", bold=True, err=True)
        click.echo(f"      bokehpipe {' '.join(step.expanded(state.store))}", err=True)
        if what == "reused":
            click.echo("      reused: the store has its result (--force redoes it)", err=True)

    def invoke(step) -> None:
        began, cpu = time.perf_counter(), cpu_seconds()
        invoke_step(state, path, step.expanded(state.store))
        click.secho(f"      {step.name}: {time.perf_counter() - began:.1f} s wall, {cpu_seconds() - cpu:.1f} s CPU",
                    fg="green", err=True)

    run_steps(path.stem, steps, state.store, invoke, force=force, on_step=on_step)


def _summary(state, page) -> None:
    """The table, what the brief run gained over its input, where to look, and what to type next."""
    import json

    from bokehpipe.demo_figure import before_after
    from bokehpipe.errors import BokehpipeError
    from bokehpipe.evaluate import text_table

    store = state.store
    summary_path = store.reports_dir / "eval" / DEMO_EVAL_TAG / "summary.json"
    if not summary_path.is_file():
        raise BokehpipeError(f"{summary_path}: the demo's eval step wrote nothing; rerun with --force")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    renders = store.renders(DEMO_RENDERS)
    figure = before_after(renders, store.reports_dir / "demo" / "before_after.png")
    click.echo(f"\nheld out: {summary['n_images']} images of {summary['dataset']}/{summary['split']}, "
               f"depth: {summary['depth_source']}, classical focus: {summary['focus']}")
    click.echo(text_table(summary))
    click.echo(f"identity: the input itself; scatter: the classical renderer; bokehnet: the shipped default; "
               f"{DEMO_RUN}: the PyNET trained just now")
    click.echo(_gain_line(summary))
    click.echo("")
    click.echo(f"refocus gallery  {page.resolve().as_uri()}  (click to focus, f/1.4..f/16, hold for the original)")
    click.echo(f"before/after     {(renders / 'index.html').resolve().as_uri()}")
    click.echo(f"figure           {figure}")
    click.echo(f"eval report      {summary_path.parent}")
    click.echo("\nnext:")
    width = max(len(cmd) for cmd, _ in NEXT)
    for cmd, why in NEXT:
        click.echo(f"  {cmd:<{width}}  {why}")


NEXT = (
    ("bokehpipe infer YOUR_PHOTOS/", "the shipped default on your photos (Depth Anything V2 depth; weights once)"),
    ("bokehpipe infer YOUR_PHOTOS/ --focus-at X,Y --aperture f/2.8", "your focus point and blur"),
    ("bokehpipe train --with-depth", "train PyNET longer on this set (levels 4..1, ~10 min on a CPU)"),
    ("bokehpipe experiment demo_full", "the long demo: with and without depth (14-58 min)"),
)


def _gain_line(summary) -> str:
    """The brief run's held-out PSNR against its input's, in one line (and what to do when it did not gain)."""
    methods = summary["methods"]
    run, base = (methods.get(k, {}).get("metrics", {}).get("psnr") for k in (DEMO_RUN, "identity"))
    if run is None or base is None:
        return f"{DEMO_RUN}: no PSNR to compare (see the eval report)"
    verdict = "above" if run > base else "not above"
    tail = "" if run > base else "; train longer: bokehpipe train --with-depth"
    return f"{DEMO_RUN}: held-out PSNR {run:.2f} dB, {run - base:+.2f} dB, {verdict} its input's {base:.2f} dB{tail}"

