"""`bokehpipe bokehnet train|export`: the learned default renderer (issue 12), trained on a synthetic set.

`train` writes store/runs/<run>/ (config.json, metrics.csv, checkpoints/{last,best}.pt, examples/ cache);
`export` turns a run's best checkpoint into the shipped fp16 file (bokehpipe/pretrained/bokehnet.pt by
default) with its provenance. `pipelines/bokehnet.toml` chains synth -> train -> export.
"""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.cli.common import pass_state
from bokehpipe.cli.options import dataclass_values, options_from_dataclass
from bokehpipe.train.bokehnet_config import ExampleRecipe, TrainConfig  # torch-free: its fields are the options


@click.group()
def bokehnet() -> None:
    """BokehNet: scatter render + a small learned correction, with focus and aperture control."""


_RUN = click.option("--run", "run_name", required=True, metavar="NAME", help="Run folder: store/runs/NAME.")
_THREADS = click.option("--threads", type=click.IntRange(1), default=None,
                        help="torch CPU threads (default: the cores this process may use, or OMP_NUM_THREADS).")


@bokehnet.command("train")
@options_from_dataclass(TrainConfig, extra={"dataset": (_RUN,), "lr": (options_from_dataclass(ExampleRecipe),),
                                            "max_minutes": (_THREADS,)})
@pass_state
def train_cmd(state, run_name: str, threads: int | None, **params) -> None:
    """Train BokehNet on a synthetic set's train split; validate on its val split."""
    from bokehpipe.threads import configure as configure_threads
    from bokehpipe.train.bokehnet import train

    configure_threads(threads or 0)  # the project's one thread rule (affinity, OMP_NUM_THREADS, no denormals)
    store = state.store
    cfg = TrainConfig(**dataclass_values(TrainConfig, params), checkpoint_every=min(100, params["val_every"]),
                      recipe=ExampleRecipe(**dataclass_values(ExampleRecipe, params), seed=params["seed"]))
    root = store.dataset(cfg.dataset)
    run_dir = store.runs_dir / run_name
    summary = train(cfg, root, run_dir, log=lambda s: click.echo(s, err=True))
    click.echo(f"bokehnet run {run_dir}: step {summary['step']}, val PSNR scatter "
               f"{summary['val_psnr_scatter']:.2f} dB, bokehnet {summary['val_psnr_model']:.2f} dB "
               f"(best {summary['best_psnr']:.2f})" + (" [stopped by --max-minutes]" if summary["stopped_early"]
                                                       else ""))


@bokehnet.command("export")
@_RUN
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: the packaged bokehpipe/pretrained/bokehnet.pt).")
@click.option("--pipeline-name", default="bokehnet", show_default=True,
              help="Recorded in the provenance: the pipeline that reproduces these weights.")
@pass_state
def export_cmd(state, run_name: str, out: Path | None, pipeline_name: str) -> None:
    """Write a run's best weights as the fp16 file `infer` uses by default."""
    import subprocess

    from bokehpipe.render.learned import SHIPPED_WEIGHTS
    from bokehpipe.store import read_json
    from bokehpipe.train.bokehnet import export_weights

    run_dir = state.store.runs_dir / run_name
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cfg = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    target = out or SHIPPED_WEIGHTS
    export_weights(run_dir, target, provenance={
        "pipeline": f"pipelines/{pipeline_name}.toml (`bokehpipe experiment {pipeline_name}`)",
        "git_commit": commit, "run": run_name, "dataset": cfg.get("dataset"), "seed": cfg.get("seed"),
        "data": "synthetic only (bokehpipe synth); no real photo seen"})
    click.echo(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
