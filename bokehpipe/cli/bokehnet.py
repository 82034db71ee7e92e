"""`bokehpipe bokehnet train|export`: the learned default renderer (issue 12), trained on a synthetic set and,
where real pairs are at hand (EBB!), fine-tuned on them.

`train` writes store/runs/<run>/ (config.json, metrics.csv, checkpoints/{last,best}.pt, examples/ cache);
`export` turns a run's best checkpoint into the shipped fp16 file (bokehpipe/pretrained/bokehnet.pt by
default) with its provenance. `pipelines/bokehnet.toml` chains synth -> train -> export;
`pipelines/bokehnet_ebb.toml` fine-tunes the shipped weights on EBB!.
"""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.cli.common import dataset_options, pass_state
from bokehpipe.cli.options import dataclass_values, options_from_dataclass
from bokehpipe.train.bokehnet_config import ExampleRecipe, TrainConfig  # torch-free: its fields are the options


@click.group()
def bokehnet() -> None:
    """BokehNet: scatter render + a small learned correction, with focus and aperture control."""


_RUN = click.option("--run", "run_name", required=True, metavar="NAME", help="Run folder: store/runs/NAME.")
_THREADS = click.option("--threads", type=click.IntRange(1), default=None,
                        help="torch CPU threads (default: the cores this process may use, or OMP_NUM_THREADS).")


@bokehnet.command("train")
@_RUN
@dataset_options
@options_from_dataclass(TrainConfig, extra={"lr": (options_from_dataclass(ExampleRecipe),),
                                            "max_minutes": (_THREADS,)})
@pass_state
def train_cmd(state, run_name: str, data: str | None, dataset: str | None, threads: int | None, **params) -> None:
    """Train BokehNet on a set's train split; validate on its held-out split.

    \b
    A synthetic set (`bokehpipe synth NAME --aperture-range 0.05,1.5`) gives each pair's exact focus and aperture.
    A real paired set (EBB!: --data PATH) is read with the maps of its phase-one depth cache (`bokehpipe depth`
    for the train and held-out splits), `infer`'s auto-focus and one f-number (--f-number, default EBB!'s
    f/1.8); start it from the shipped weights with --init default, e.g.
    `bokehpipe bokehnet train --data EBB --run bn-ebb --init default --depth-source dpt_hybrid_384`.
    """
    from bokehpipe.data.ebb import load_metadata
    from bokehpipe.threads import configure as configure_threads
    from bokehpipe.train.bokehnet import train
    from bokehpipe.train.defaults import own_val_split

    configure_threads(threads or 0)  # the project's one thread rule (affinity, OMP_NUM_THREADS, no denormals)
    store = state.store
    root, name = store.resolve_dataset(data=data, dataset=dataset)
    values = dataclass_values(TrainConfig, params)
    values["val_split"] = values["val_split"] or own_val_split(str(root))
    if values["val_split"] is None:
        raise click.UsageError(f"{root} has no val or val294 split to validate on; pass --val-split NAME")
    real = None
    if load_metadata(root) is None:
        real, said = _real_set(store, root, name, values)
        for line in said:
            click.echo(line, err=True)
    elif values["depth_source"] or values["f_number"]:
        raise click.UsageError("--depth-source and --f-number are for real sets; a synthetic set carries each "
                               "pair's exact depth, focus and aperture")
    cfg = TrainConfig(**values, dataset=name, checkpoint_every=min(100, params["val_every"]),
                      recipe=ExampleRecipe(**dataclass_values(ExampleRecipe, params), seed=params["seed"]))
    run_dir = store.runs_dir / run_name
    summary = train(cfg, root, run_dir, log=lambda s: click.echo(s, err=True), real=real)
    click.echo(f"bokehnet run {run_dir}: step {summary['step']}, val PSNR scatter "
               f"{summary['val_psnr_scatter']:.2f} dB, bokehnet {summary['val_psnr_model']:.2f} dB "
               f"(best {summary['best_psnr']:.2f})" + (" [stopped by --max-minutes]" if summary["stopped_early"]
                                                       else ""))


def _real_set(store, root: Path, name: str, values: dict):
    """(RealSet, the lines that say what was chosen or made) for a set without per-image focus/aperture; fills
    the chosen depth source and f-number into `values`. A missing held-out cache is made from the training
    split's source, as `bokehpipe train` does."""
    from bokehpipe.choices import choose_depth_cache
    from bokehpipe.depth.cache import open_depth_cache
    from bokehpipe.render.calibration import aperture_for_f_number
    from bokehpipe.train.bokehnet_config import REAL_F_NUMBER
    from bokehpipe.train.bokehnet_data import RealSet
    from bokehpipe.train.defaults import make_missing_val_cache

    said = []
    if not values["depth_source"]:
        choice = choose_depth_cache(store, name, "train")
        values["depth_source"] = choice.value
        said.append(choice.reason)
    values["f_number"] = values["f_number"] or REAL_F_NUMBER
    aperture = aperture_for_f_number(values["f_number"])  # refuses an f-number no wider than the f/16 inputs
    made = make_missing_val_cache(store, str(root), name, values["depth_source"], values["val_split"])
    caches = tuple((split, str(open_depth_cache(store, name, values["depth_source"], split).path))
                   for split in dict.fromkeys(("train", values["val_split"])))
    said.insert(0, f"real pairs: {name!r} has no per-image focus/aperture, so each example uses its "
                   f"{values['depth_source']} map, the auto-focus and f/{values['f_number']:g} (aperture "
                   f"{aperture:.3f})")
    return RealSet(f_number=float(values["f_number"]), caches=caches), said + ([made] if made else [])


@bokehnet.command("export")
@_RUN
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file (default: the packaged bokehpipe/pretrained/bokehnet.pt).")
@click.option("--pipeline-name", default="bokehnet", show_default=True,
              help="Recorded in the provenance: the pipeline that reproduces these weights.")
@click.option("--which", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="best: the checkpoint chosen on the run's held-out split; last: the final step (no selection, "
                   "for scoring on that same split).")
@pass_state
def export_cmd(state, run_name: str, out: Path | None, pipeline_name: str, which: str) -> None:
    """Write a run's best (or last) weights as the fp16 file `infer` uses by default."""
    import subprocess

    from bokehpipe.render.learned import SHIPPED_WEIGHTS
    from bokehpipe.train.bokehnet import export_weights

    run_dir = state.store.runs_dir / run_name
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    target = out or SHIPPED_WEIGHTS
    export_weights(run_dir, target, which=which, provenance={
        "pipeline": f"pipelines/{pipeline_name}.toml (`bokehpipe experiment {pipeline_name}`)",
        "git_commit": commit, "run": run_name, "checkpoint": which})
    click.echo(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
