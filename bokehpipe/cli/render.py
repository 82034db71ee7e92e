"""`bokehpipe render`: classical bokeh (gaussian or scatter) for photos that come with a disparity map.

Options and printing only: the plan and the run are the library's (`bokehpipe.infer.render_run`), through the
job runner `infer --method` uses."""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.cli.common import METHOD_CHOICES, FiniteFloat, device_option, focus_options, pass_state
from bokehpipe.errors import BokehpipeError


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--depth", "depth_path", default=None, type=click.Path(path_type=Path),
              help="Disparity map (PNG 8/16-bit or .npy; near = bright) or a folder of maps named like the inputs "
                   "(default: Depth Anything V2 small run on each photo).")
@click.option("--method", type=click.Choice(METHOD_CHOICES), default="scatter", show_default=True)
@focus_options
@click.option("--highlight", type=FiniteFloat(1.0, 100.0), default=None,
              help="scatter: gain for saturated pixels (default 2, 1 = off).")
@click.option("--gamma", type=FiniteFloat(0.1, 10.0), default=None,
              help="scatter: power-law gamma instead of the sRGB curve.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; each result is <input stem>.png.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input).")
@device_option
@pass_state
def render(state, inputs: tuple[str, ...], depth_path: Path | None, method: str, focus: float | None,
           focus_point: tuple[int, int] | None, aperture, focal_length: float, highlight: float | None,
           gamma: float | None,
           out_dir: Path, overwrite: bool, device: str) -> None:
    """Render bokeh for INPUT photos (files or folders) from their disparity maps, without a trained model.

    The same classical path as `bokehpipe infer --method` (map lookup, normalisation, renderer, writer);
    prints the focus chosen for each photo and why. A photo that cannot be rendered (unreadable, no map) is
    skipped with one line and the others are written; the exit status is then non-zero.
    """
    from tqdm import tqdm

    from bokehpipe.cli.common import tile_progress
    from bokehpipe.infer.render_run import RenderOptions, plan_render
    from bokehpipe.render.calibration import DEFAULT_F_NUMBER

    options = {k: v for k, v in {"highlight": highlight, "gamma": gamma}.items() if v is not None}
    from bokehpipe.device import resolve_device

    opts = RenderOptions(inputs=[Path(p) for p in inputs], depth=depth_path, out_dir=out_dir, method=method,
                         focus=focus, focus_point=focus_point, aperture=aperture.scale if aperture else None,
                         f_number=aperture.f_number if aperture else None, focal_length=focal_length,
                         options=options, overwrite=overwrite, store=state.store,
                         device=resolve_device(device))
    if depth_path is None:
        from bokehpipe.depth.variants import PHOTO_DEFAULT

        click.echo(f"depth: {PHOTO_DEFAULT} on every photo (no --depth given; --depth FILE|DIR to choose)", err=True)
    plan = plan_render(opts, warn=lambda line: click.echo(line, err=True))
    plan.renderer.on_tile = tile_progress()
    label = aperture.label if aperture else f"f/{DEFAULT_F_NUMBER:g}"
    total = len(plan.jobs) + len(plan.problems)
    failed = list(plan.problems)
    if total > 1:
        for why in plan.problems:
            click.echo(f"skipped: {why}", err=True)
    with tqdm(total=len(plan.jobs), desc=f"render {method}", unit="image", disable=None) as bar:
        def done(outcome) -> None:
            bar.update(1)
            if outcome.ok:
                chosen = outcome.focus
                click.echo(f"{outcome.job.input} -> {outcome.job.output} (focus {chosen.disparity:.3f}: "
                           f"{chosen.reason}; aperture {label})")
                return
            failed.append(outcome.message)
            if total > 1:
                click.echo(f"skipped: {outcome.message}", err=True)

        plan.run(on_done=done)
    if failed and total == 1:
        raise BokehpipeError(failed[0])
    if failed:
        raise BokehpipeError(f"{len(failed)} of {total} image(s) could not be rendered (listed above); the others "
                             "were written")
