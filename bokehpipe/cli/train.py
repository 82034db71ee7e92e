"""`bokehpipe train`: phase two, PyNET-Bokeh trained level by level (coarse to fine) into store/runs/<run>/.

Defaults come from the `[train]` table of `--pipeline` (scalar options) and `[train.schedule]` (per level
batch/steps/crop/lr); the command line wins, and the run's config.json records where each value came from.
The same command runs under torchrun for DDP (rank 0 writes and shows progress).
"""

from __future__ import annotations

import sys

import click

from bokehpipe.cli.common import dataset_options, parameter_sources, pass_state


@click.command()
@dataset_options
@click.option("--run", "--run-name", "run_name", required=True, metavar="NAME",
              help="Run folder name: store/runs/NAME (under torchrun spell it --run-name: torchrun's own parser "
                   "takes --run for its --run-path on Python < 3.12).")
@click.option("--model", default="pynet", show_default=True, metavar="NAME",
              help="Generator: pynet (paper, ~47.5M params), pynet-s (1/2 width), pynet-xs (1/4 width).")
@click.option("--width", type=float, default=None, help="Override the model's width multiplier.")
@click.option("--levels", default="7..1", show_default=True,
              help="Levels to train, coarse to fine: a range such as 7..3 or one level.")
@click.option("--with-depth/--no-depth", default=True, show_default=True,
              help="Feed the cached disparity as a 4th input channel (the paper's model) or RGB only.")
@click.option("--depth-source", default=None, metavar="SRC",
              help="Depth cache to read: gt, png or a MiDaS variant (store/depth/<dataset>/<SRC>/<split>.h5).")
@click.option("--train-split", default="train", show_default=True, help="Training split.")
@click.option("--val-split", default="val294", show_default=True, help="Validation split (EBB!: val294).")
@click.option("--crop", type=int, default=512, show_default=True,
              help="Training crop side at half resolution (multiple of 32); the level-1 target is twice this.")
@click.option("--batch", type=click.IntRange(1), default=None,
              help="Global batch for every level (overrides the schedule).")
@click.option("--steps", type=click.IntRange(1), default=None, help="Steps for every level (overrides the schedule).")
@click.option("--lr", type=float, default=5e-5, show_default=True, help="Adam learning rate.")
@click.option("--accumulate", type=click.IntRange(1), default=1, show_default=True,
              help="Micro-batches per step, so the paper's batch sizes fit a smaller GPU.")
@click.option("--precision", type=click.Choice(["bf16", "fp16", "fp32"]), default="fp32", show_default=True,
              help="Autocast precision (fp16 uses a GradScaler; CUDA only).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto (cuda when available).")
@click.option("--resume", default="auto", show_default=True, metavar="auto|never|PATH",
              help="auto: continue the run's newest checkpoint (fresh start when there is none); never: refuse "
                   "a run that has checkpoints; PATH: continue from that checkpoint or run folder.")
@click.option("--init", "init_from", default=None, metavar="PATH",
              help="Start the first level from another run's (or file's) weights.")
@click.option("--val-every", type=click.IntRange(0), default=1000, show_default=True,
              help="Validate every N steps and at the end of each level (0: never).")
@click.option("--val-crop", type=click.IntRange(0), default=0, show_default=True,
              help="Validation centre crop at half resolution (0: whole images).")
@click.option("--val-max", type=click.IntRange(0), default=0, show_default=True,
              help="Validate on the first N pairs only (0: all).")
@click.option("--log-every", type=click.IntRange(1), default=50, show_default=True,
              help="metrics.csv row every N steps.")
@click.option("--checkpoint-every", type=click.IntRange(1), default=500, show_default=True,
              help="Write checkpoints/level<L>/last.pt every N steps (and at the end of each level).")
@click.option("--perceptual/--no-perceptual", default=True, show_default=True,
              help="Level 1's VGG-19 content loss; --no-perceptual trains level 1 without it (recorded in the run).")
@click.option("--vgg-weights", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="torchvision's vgg19-dcbb9e9d.pth (default: store/weights/, see `bokehpipe weights fetch vgg19`).")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True, help="DataLoader worker processes.")
@click.option("--threads", type=click.IntRange(0), default=0, show_default=True,
              help="torch CPU threads per process (0: torch's default).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed (each process uses seed + rank).")
@click.option("--deterministic", is_flag=True, help="Deterministic kernels only (slower on GPU).")
@click.option("--tensorboard/--no-tensorboard", default=None,
              help="TensorBoard events in the run folder (default: when tensorboard is installed).")
@pass_state
@click.pass_context
def train(ctx: click.Context, state, data, dataset, run_name, model, width, levels, with_depth, depth_source,
          train_split, val_split, crop, batch, steps, lr, accumulate, precision, device, resume, init_from,
          val_every, val_crop, val_max, log_every, checkpoint_every, perceptual, vgg_weights, workers, threads,
          seed, deterministic, tensorboard) -> None:
    """Train PyNET-Bokeh level by level on --data PATH or --dataset NAME into store/runs/NAME/.

    Writes config.json (every value and its source), metrics.csv, and checkpoints/level<L>/{last,best}.pt.
    Under torchrun the same command trains with DDP, e.g.
    `torchrun --nproc-per-node 8 -m bokehpipe --pipeline ebb train --data EBB --run-name ebb`.
    """
    from bokehpipe.device import resolve_device
    from bokehpipe.distributed import env_world
    from bokehpipe.train.config import TrainConfig, parse_levels, parse_schedule

    store = state.store
    root, name = store.resolve_dataset(data=data, dataset=dataset)
    table = (state.pipeline.get("train") or {}).get("schedule")
    schedule = parse_schedule(table)
    if batch is not None or steps is not None:
        schedule = {lv: type(s)(batch or s.batch, steps or s.steps, s.crop, s.lr) for lv, s in schedule.items()}
    device = resolve_device(device)
    cfg = TrainConfig(run=run_name, data_root=str(root), dataset=name, model=model, width=width,
                      levels=parse_levels(levels), schedule=schedule, with_depth=with_depth,
                      depth_source=depth_source, train_split=train_split, val_split=val_split or None, crop=crop,
                      val_crop=val_crop, val_max=val_max, val_every=val_every, log_every=log_every,
                      checkpoint_every=checkpoint_every, lr=lr, precision=precision, device=device,
                      accumulate=accumulate, workers=workers, seed=seed, perceptual=perceptual,
                      vgg_weights=vgg_weights, init=init_from, tensorboard=tensorboard,
                      deterministic=deterministic, threads=threads)
    sources = parameter_sources(ctx)
    sources["schedule"] = {"value": {str(k): vars(v) for k, v in sorted(schedule.items(), reverse=True)},
                           "source": "commandline" if (batch or steps) else ("pipeline" if table else "default")}
    rank = env_world()[0]
    progress = _Progress(rank == 0)
    try:
        from bokehpipe.train.loop import train as run_training

        run_dir = run_training(cfg, store, resume=resume, sources=sources,
                               pipeline=str(state.pipeline_path) if state.pipeline_path else None, callback=progress)
    finally:
        progress.close()
    if rank == 0:
        click.echo(f"run {run_dir}")


class _Progress:
    """tqdm bar per level on stderr (rank 0 only); notes and validation lines above it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar = enabled, None

    def __call__(self, event: str, **info) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if event == "note":
            click.echo(info["text"], err=True)
        elif event == "model":
            click.echo(f"model {info['name']}: {info['params']:,} parameters, {info['in_chans']} input channels",
                       err=True)
        elif event == "level_start":
            self.close()
            click.echo(f"level {info['level']}: batch {info['batch']}, {info['steps']} steps, crop {info['crop']}, "
                       f"lr {info['lr']:g}, {info['params']:,} trained parameters", err=True)
            self.bar = tqdm(total=info["steps"], initial=info["start"], desc=f"level {info['level']}", unit="step",
                            dynamic_ncols=True, leave=False)
        elif event == "tick" and self.bar is not None:
            self.bar.update(1)
        elif event == "train" and self.bar is not None:
            self.bar.set_postfix(loss=f"{info['loss']:.4g}", img_s=f"{info['images_per_s'] or 0:.1f}")
        elif event == "val":
            line = (f"level {info['level']} step {info['step']}: val PSNR {info['val_psnr']:.2f} dB "
                    f"(identity {info['val_psnr_identity']:.2f}), SSIM {info['val_ssim']:.4f}"
                    + (" *best" if info.get("best") else ""))
            tqdm.write(line, file=sys.stderr)
        elif event == "level_end":
            self.close()
            sync = "" if info.get("divergence") is None else \
                f", replicas differ by at most {info['divergence']:.3g}"
            click.echo(f"level {info['level']} done, best val PSNR {info['best_psnr']:.2f} dB{sync}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
