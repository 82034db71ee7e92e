"""`bokehpipe demo`: the whole pipeline on the embedded default, offline, on a CPU, in minutes."""

from __future__ import annotations

import click

from bokehpipe.cli.common import pass_state

DEMO_PIPELINE = "demo"
DEMO_EVAL_TAG = "demo"
DEMO_RENDERS = "demo-depth"


@click.command()
@click.option("--force", is_flag=True, help="Redo every step even where the store already has its result.")
@pass_state
def demo(state, force: bool) -> None:
    """Synthesise a small set, cache its true depth, train a light PyNET with and without depth, evaluate both
    against the classical baselines, render held-out photos, and print the table and where to look.

    Steps and settings: pipelines/demo.toml. Re-running reuses what the store already has (--force redoes it).
    """
    import json
    import time

    from bokehpipe.cli.experiment import run_experiment
    from bokehpipe.demo_figure import before_after
    from bokehpipe.errors import BokehpipeError
    from bokehpipe.evaluate import text_table

    start = time.perf_counter()
    run_experiment(state, DEMO_PIPELINE, force=force)
    store = state.store
    summary_path = store.reports_dir / "eval" / DEMO_EVAL_TAG / "summary.json"
    if not summary_path.is_file():
        raise BokehpipeError(f"{summary_path}: the demo's eval step wrote nothing; rerun with --force")
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    renders = store.renders(DEMO_RENDERS)
    figure = before_after(renders, store.reports_dir / "demo" / "before_after.png")
    click.echo("")
    click.echo(f"bokehpipe demo: {summary['dataset']} / {summary['split']}, {summary['n_images']} held-out images, "
               f"depth: {summary['depth_source']}, classical focus: {summary['focus']}")
    click.echo(text_table(summary))
    click.echo("")
    click.echo(f"gallery       {renders / 'index.html'}")
    click.echo(f"before/after  {figure}")
    click.echo(f"eval report   {summary_path.parent}")
    click.echo(f"wall time     {time.perf_counter() - start:.0f} s (store: {store.root})")
