"""`bokehpipe bench`: seconds and peak memory per photo for every model size and renderer, on this machine."""

from __future__ import annotations

import click

from bokehpipe.cli.common import SizeType, device_option, parameter_sources, pass_state


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@click.command()
@click.option("--models", default="pynet-xs,pynet-s,pynet", show_default=True,
              help="Generators to time (random weights).")
@click.option("--renderers", default="gaussian,scatter,bokehnet", show_default=True,
              help="Renderers to time: classical ones and bokehnet (the shipped default, scatter included).")
@click.option("--depth-models", default="midas_v21_small_256,dpt_hybrid_384", show_default=True,
              help="MiDaS variants for the depth pass images/s ('' to skip).")
@click.option("--real-maps", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of depth PNGs (resized to --size) for the depth cache-size and read test "
                   "(default: synthetic depth-like maps).")
@click.option("--train-levels", default="5,3,1", show_default=True, help="Levels whose training images/s to time.")
@click.option("--train-model", default="pynet-xs", show_default=True)
@click.option("--crop", type=click.IntRange(32), default=128, show_default=True,
              help="Training crop (half resolution).")
@click.option("--batch", type=click.IntRange(1), default=2, show_default=True, help="Training batch.")
@click.option("--size", type=SizeType(), default="1536x1024", show_default=True, help="Photo size (EBB!: 1536x1024).")
@device_option
@click.option("--repeats", type=click.IntRange(1), default=2, show_default=True, help="Timed runs after a warm-up.")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="torch CPU threads per measurement (default: torch's; 1 is steadier on a busy machine).")
@pass_state
def bench(state, models, renderers, depth_models, real_maps, train_levels, train_model, crop, batch, size, device,
          repeats, threads) -> None:
    """Time every model size and renderer on a WxH photo, the depth pass and training steps; write bench.json.

    Each row runs in a fresh process, so "peak" is that row's own peak RSS (CPU) or allocated memory (CUDA).
    Output: store/reports/bench.json and the printed table. The depth pass alone (images/s, cache bytes per
    map, HDF5 reads): `bokehpipe bench --models '' --renderers '' --train-levels '' --depth-models A,B`.
    """
    from bokehpipe.bench.suite import format_table, run_suite
    from bokehpipe.store import atomic_write_json

    def on_row(kind, row):
        click.echo(f"  {kind:<9}{row['name']:<24} done", err=True)

    from bokehpipe.device import resolve_device

    result = run_suite(models=_names(models), renderers=_names(renderers), depth_models=_names(depth_models),
                       train_levels=[int(v) for v in _names(train_levels)], train_model=train_model, size=size,
                       device=resolve_device(device), repeats=repeats, crop=crop, batch=batch, threads=threads,
                       real_maps=real_maps, on_row=on_row)
    result["settings"] = parameter_sources(click.get_current_context())  # every option's value and its source
    path = state.store.reports_dir / "bench.json"
    atomic_write_json(path, result)
    click.echo(format_table(result))
    click.echo(f"wrote {path}")
