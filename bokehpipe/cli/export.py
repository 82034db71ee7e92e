"""`bokehpipe export --run NAME`: a run's weights as one small file, by default into the store's exports/."""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.cli.common import pass_state


@click.command()
@click.option("--run", "run_name", required=True, metavar="NAME", help="Run folder: store/runs/NAME.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: <store>/exports/NAME.pt). The package's shipped default is "
                   "bokehpipe/pretrained/bokehnet.pt: write there only to rebuild it.")
@click.option("--pipeline-name", default=None,
              help="Recorded in the provenance: the pipeline that reproduces these weights.")
@click.option("--which", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="best: the checkpoint chosen on the run's held-out split; last: the final step (no selection, "
                   "for scoring on that same split).")
@pass_state
def export(state, run_name: str, out: Path | None, pipeline_name: str | None, which: str) -> None:
    """Write a run's best (or last) weights, fp16, with their provenance: `infer --checkpoint FILE` renders with
    them and `train --init FILE` starts from them."""
    import subprocess

    from bokehpipe.train.export import export_weights

    run_dir = state.store.existing_run(run_name)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    target = out or state.store.exports_dir / f"{run_name}.pt"
    provenance = {"git_commit": commit, "run": run_name, "checkpoint": which}
    if pipeline_name:
        provenance["pipeline"] = f"pipelines/{pipeline_name}.toml (`bokehpipe experiment {pipeline_name}`)"
    export_weights(run_dir, target, which=which, provenance=provenance)
    click.echo(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
