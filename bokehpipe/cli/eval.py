"""`bokehpipe eval`: score learned runs and the classical baselines on one split under one protocol.

Options only; the work is the library's (`bokehpipe.evaluate.run_eval`)."""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.cli.common import dataset_options, device_option, pass_state


@click.command("eval")
@dataset_options
@click.option("--split", default="val294", show_default=True, help="Split with targets to score (synthetic sets: val).")
@click.option("--run", "runs", multiple=True, metavar="NAME", help="Learned run in the store to score (repeatable).")
@click.option("--baselines", default="identity,gaussian,scatter", show_default=True,
              help="Comma-separated baselines (identity; half-input = the input at PyNET's half resolution, "
                   "enlarged back; gaussian; scatter; bokehnet = the shipped default renderer); '' for none.")
@click.option("--bokehnet-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Score these BokehNet weights (a `bokehnet export` file) as the bokehnet baseline "
                                   "instead of the shipped ones.")
@click.option("--depth-source", default=None, metavar="SRC",
              help="Depth cache for the baselines and depth-aware runs: gt, png or a MiDaS variant. "
                   "Without it, methods that need depth are skipped with a note.")
@click.option("--focus", type=click.Choice(["auto", "metadata"]), default="metadata", show_default=True,
              help="Classical renderers' focus/aperture: per-image values from a synthetic set's metadata.json "
                   "(falls back to auto-focus on photos), or auto-focus everywhere.")
@click.option("--align", is_flag=True,
              help="Also score after a per-image colour gain fit, and after the best integer shift (+-4 px) + gain "
                   "(oracle diagnostics, reported separately).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Score only the first N images of the split.")
@click.option("--save-predictions", type=click.IntRange(0), default=0, show_default=True,
              help="Keep the predictions for the first N images as PNG (<report folder>/predictions/<method>/).")
@click.option("--downscale", type=click.IntRange(1, 64), default=1, show_default=True, metavar="K",
              help="Score predictions and targets shrunk K times (area): 8 judges a run trained to level 4 at the "
                   "resolution that level outputs.")
@device_option
@click.option("--tag", default=None, help="Report folder name (default: <dataset>-<split>[-<depth-source>]).")
@pass_state
def eval_(state, data, dataset, split, runs, baselines, bokehnet_weights, depth_source, focus, align, limit,
          save_predictions, downscale, device, tag) -> None:
    """Score runs and baselines on --split; write per-image CSV, summary JSON and a LaTeX table.

    Protocol (bokehpipe.metrics.PROTOCOL): [0, 1], data range 1, SSIM 11-px Gaussian window sigma 1.5,
    full image and 32-px border crop, MS-SSIM, LPIPS (AlexNet v0.1) only when its weights are in the store.
    Output: store/reports/eval/<tag>/{per_image.csv,summary.json,table.tex}.
    """
    import sys

    from tqdm import tqdm

    from bokehpipe import evaluate as ev

    bars: list[tqdm] = []

    def progress(total: int):
        bars.append(tqdm(total=total, desc="eval", unit="img", leave=False, disable=None))
        return bars[-1].update

    try:
        done = ev.run_eval(state.store, data=data, dataset=dataset, split=split, runs=runs,
                           baselines=[b.strip() for b in baselines.split(",") if b.strip()], depth_source=depth_source,
                           focus=focus, align=align, limit=limit, save_predictions=save_predictions, device=device,
                           tag=tag, command="bokehpipe " + " ".join(sys.argv[1:]), progress=progress,
                           bokehnet_weights=bokehnet_weights, downscale=downscale)
    finally:
        for bar in bars:
            bar.close()
    summary, result = done.summary, done.result
    for note in done.notes:
        click.echo(note, err=True)
    scale = f", scored at 1/{downscale} size" if downscale > 1 else ""
    click.echo(f"{summary['dataset']} / {summary['split']}: {result.n_images} images, depth: {depth_source or 'none'}, "
               f"focus: {summary['focus']}, LPIPS: {'present' if summary['lpips'] == 'present' else 'absent'}{scale}")
    click.echo(ev.text_table(summary))
    if align:
        click.echo("aligned (per-image colour gain fit on the target; a diagnostic, not a headline number):")
        click.echo(ev.text_table(summary, aligned=True))
    for method, why in result.skipped.items():
        click.echo(f"skipped {method}: {why}")
    click.echo(f"wrote {done.out_dir}/ (per_image.csv, summary.json, table.tex)")
