"""`bokehpipe bokehnet train|export`: the learned default renderer (issue 12), trained on a synthetic set.

`train` writes store/runs/<run>/ (config.json, metrics.csv, checkpoints/{last,best}.pt, examples/ cache);
`export` turns a run's best checkpoint into the shipped fp16 file (bokehpipe/pretrained/bokehnet.pt by
default) with its provenance. `pipelines/bokehnet.toml` chains synth -> train -> export.
"""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.cli.common import SizeType, pass_state


@click.group()
def bokehnet() -> None:
    """BokehNet: scatter render + a small learned correction, with focus and aperture control."""


@bokehnet.command("train")
@click.option("--dataset", required=True, metavar="NAME",
              help="Synthetic set in the store (made with `bokehpipe synth NAME --aperture-range 0.1,1.2`).")
@click.option("--run", "run_name", required=True, metavar="NAME", help="Run folder: store/runs/NAME.")
@click.option("--steps", type=click.IntRange(1), default=3000, show_default=True, help="Optimiser steps.")
@click.option("--batch", type=click.IntRange(1), default=8, show_default=True, help="Crops per step.")
@click.option("--crop", type=SizeType(minimum=16, multiple=8), default="192x128", show_default=True,
              help="Training crop (multiples of 8).")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Adam learning rate (cosine decay).")
@click.option("--variants", type=click.IntRange(1), default=2, show_default=True,
              help="Monocular-like depth degradations per training pair.")
@click.option("--clean-fraction", type=click.FloatRange(0, 1), default=0.25, show_default=True,
              help="Share of examples that keep the set's clean disparity.")
@click.option("--limit", type=click.IntRange(0), default=0, show_default=True,
              help="Use only the first N training pairs (0: all).")
@click.option("--val-max", type=click.IntRange(0), default=0, show_default=True,
              help="Validate on the first N held-out pairs (0: all).")
@click.option("--val-every", type=click.IntRange(1), default=250, show_default=True, help="Validate every N steps.")
@click.option("--log-every", type=click.IntRange(1), default=25, show_default=True, help="metrics.csv row every N.")
@click.option("--max-minutes", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Stop cleanly after this many minutes of training (0: run all steps); recorded.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch CPU threads (default: the cores this process may use, or OMP_NUM_THREADS).")
@click.option("--seed", type=int, default=0, show_default=True)
@pass_state
def train_cmd(state, dataset: str, run_name: str, steps: int, batch: int, crop: tuple[int, int], lr: float,
              variants: int, clean_fraction: float, limit: int, val_max: int, val_every: int, log_every: int,
              max_minutes: float, threads: int | None, seed: int) -> None:
    """Train BokehNet on a synthetic set's train split; validate on its val split."""
    from bokehpipe.threads import configure as configure_threads
    from bokehpipe.train.bokehnet import TrainConfig, train
    from bokehpipe.train.bokehnet_data import ExampleRecipe

    configure_threads(threads or 0)  # the project's one thread rule (affinity, OMP_NUM_THREADS, no denormals)
    store = state.store
    root = store.dataset(dataset)
    cfg = TrainConfig(dataset=dataset, steps=steps, batch=batch, crop=crop, lr=lr, val_every=val_every,
                      log_every=log_every, checkpoint_every=min(100, val_every), val_max=val_max, limit=limit,
                      max_minutes=max_minutes, seed=seed,
                      recipe=ExampleRecipe(variants=variants, clean_fraction=clean_fraction, seed=seed))
    run_dir = store.runs_dir / run_name
    summary = train(cfg, root, run_dir, log=lambda s: click.echo(s, err=True))
    click.echo(f"bokehnet run {run_dir}: step {summary['step']}, val PSNR scatter "
               f"{summary['val_psnr_scatter']:.2f} dB, bokehnet {summary['val_psnr_model']:.2f} dB "
               f"(best {summary['best_psnr']:.2f})" + (" [stopped by --max-minutes]" if summary["stopped_early"]
                                                       else ""))


@bokehnet.command("export")
@click.option("--run", "run_name", required=True, metavar="NAME", help="Run folder: store/runs/NAME.")
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
