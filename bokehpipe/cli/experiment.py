"""`bokehpipe experiment NAME`: run a pipeline's [[steps]] (synth, depth, train, eval, infer, ...) in order."""

from __future__ import annotations

import click

from bokehpipe.cli.common import pass_state


def invoke_step(state, pipeline_path, argv) -> None:
    """Run one bokehpipe command in this process, with the experiment's store and pipeline defaults."""
    from bokehpipe.cli import cli

    args = ["--store", str(state.store_root), "--pipeline", str(pipeline_path), *argv]
    try:
        cli.main(args, prog_name="bokehpipe", standalone_mode=False)
    except click.exceptions.Exit as exc:
        if exc.exit_code:
            raise click.ClickException(f"step `bokehpipe {' '.join(argv)}` exited with {exc.exit_code}") from None


def run_script(state, step) -> None:
    """Run a `script` step as its own process with this interpreter; the store is passed as BOKEHPIPE_STORE."""
    import os
    import subprocess

    from bokehpipe.experiments import script_argv
    from bokehpipe.store import STORE_ENV

    argv = script_argv(step, state.store)
    code = subprocess.run(argv, env={**os.environ, STORE_ENV: str(state.store_root)}).returncode
    if code:
        raise click.ClickException(f"step `{step.describe(state.store)}` exited with {code}")


def run_experiment(state, name: str, *, only=(), start=None, force=False, dry_run=False) -> dict:
    from bokehpipe.config import load_pipeline
    from bokehpipe.experiments import load_steps, run_steps, select

    path, pipeline = load_pipeline(name)
    steps = select(load_steps(pipeline, path), only, start)
    if dry_run:
        for step in steps:
            mark = "reuse" if step.done(state.store) and not force else "run  "
            click.echo(f"{mark} {step.name}: {step.describe(state.store)}")
        return {}

    def on_step(step, what):
        click.secho(f"== {step.name} ({what}): {step.describe(state.store)}", err=True, bold=True)

    def invoke(step) -> None:
        if step.script:
            run_script(state, step)
        else:
            invoke_step(state, path, step.expanded(state.store))

    return run_steps(path.stem, steps, state.store, invoke, force=force, on_step=on_step)


@click.command()
@click.argument("name")
@click.option("--only", multiple=True, help="Run only this step (repeatable).")
@click.option("--from", "start", default=None, metavar="STEP", help="Start at this step.")
@click.option("--force", is_flag=True, help="Rerun steps whose outputs already exist.")
@click.option("--dry-run", is_flag=True, help="List the steps and whether each would run or be reused.")
@pass_state
def experiment(state, name: str, only: tuple[str, ...], start: str | None, force: bool, dry_run: bool) -> None:
    """Run the [[steps]] of pipeline NAME (a path or pipelines/NAME.toml) over the store, reusing finished ones.

    Wall times are written to store/reports/experiments/NAME.json for the report.
    """
    log = run_experiment(state, name, only=only, start=start, force=force, dry_run=dry_run)
    for step, entry in log.get("steps", {}).items():
        if "wall_s" in entry:
            click.echo(f"{step:<20} {entry['wall_s']:>9.1f} s")
