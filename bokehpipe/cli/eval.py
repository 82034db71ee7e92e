"""`bokehpipe eval`: score learned runs and the classical baselines on one split under one protocol."""

from __future__ import annotations

import click

from bokehpipe.cli.common import dataset_options, pass_state


@click.command("eval")
@dataset_options
@click.option("--split", default="val294", show_default=True, help="Split with targets to score (synthetic sets: val).")
@click.option("--run", "runs", multiple=True, metavar="NAME", help="Learned run in the store to score (repeatable).")
@click.option("--baselines", default="identity,gaussian,scatter", show_default=True,
              help="Comma-separated baselines (identity, gaussian, scatter, bokehnet = the shipped default "
                   "renderer); '' for none.")
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
@click.option("--device", default="cpu", show_default=True, help="Device for learned runs and metrics.")
@click.option("--tag", default=None, help="Report folder name (default: <dataset>-<split>[-<depth-source>]).")
@pass_state
def eval_(state, data, dataset, split, runs, baselines, depth_source, focus, align, limit, save_predictions, device,
          tag) -> None:
    """Score runs and baselines on --split; write per-image CSV, summary JSON and a LaTeX table.

    Protocol (bokehpipe.metrics.PROTOCOL): [0, 1], data range 1, SSIM 11-px Gaussian window sigma 1.5,
    full image and 32-px border crop, MS-SSIM, LPIPS (AlexNet v0.1) only when its weights are in the store.
    Output: store/reports/eval/<tag>/{per_image.csv,summary.json,table.tex}.
    """
    import sys
    import time

    from tqdm import tqdm

    from bokehpipe import evaluate as ev
    from bokehpipe.data.ebb import load_index
    from bokehpipe.errors import BokehpipeError
    from bokehpipe.metrics import PROTOCOL
    from bokehpipe.metrics.lpips import load_lpips

    store = state.store
    root, name = store.resolve_dataset(data=data, dataset=dataset)
    pairs = load_index(root).split(split, require_targets=True)[:limit]
    wanted = [b.strip() for b in baselines.split(",") if b.strip()]
    unknown = sorted(set(wanted) - set(ev.BASELINES))
    if unknown:
        raise BokehpipeError(f"unknown baseline {', '.join(unknown)}; choose from {', '.join(ev.BASELINES)}")
    methods = [ev.baseline_method(b) for b in wanted]
    methods += [ev.learned_method(store.run(r), device) for r in runs]
    depth, depth_note = None, "none"
    if depth_source:
        from bokehpipe.depth.cache import open_depth_cache

        depth = open_depth_cache(store, name, depth_source, split)
        depth_note = str(depth.path)
    for m in methods:
        want = m.info.get("depth_source")
        if m.kind == "learned" and m.needs_depth and depth_source and want and want != depth_source:
            click.echo(f"note: run {m.name} was trained on {want} depth and is scored with {depth_source}", err=True)
    metadata = ev.load_metadata(root) if focus == "metadata" else None
    lpips, lpips_note = load_lpips(store, device)
    tag = tag or "-".join(filter(None, [name, split, depth_source]))
    out_dir = store.reports_dir / "eval" / tag
    with tqdm(total=len(pairs), desc="eval", unit="img", leave=False, disable=None) as bar:
        result = ev.evaluate(pairs, methods, depth=depth, metadata=metadata, lpips=lpips, align=align,
                             save_dir=out_dir / "predictions", save_count=save_predictions, progress=bar.update)
    summary = ev.summarize(result)
    summary.update(dataset=name, dataset_root=str(root), split=split, depth_source=depth_source, depth_cache=depth_note,
                   focus="metadata" if metadata else "auto", align=align, protocol=PROTOCOL.describe(),
                   lpips="present" if lpips is not None else f"absent: {lpips_note}",
                   command="bokehpipe " + " ".join(sys.argv[1:]), created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    paths = ev.write_reports(summary, result, out_dir)
    store.record(paths["json"], "eval", dataset=name, split=split)
    click.echo(f"{name} / {split}: {result.n_images} images, depth: {depth_source or 'none'}, "
               f"focus: {summary['focus']}, LPIPS: {'present' if lpips is not None else 'absent'}")
    click.echo(ev.text_table(summary))
    if align:
        click.echo("aligned (per-image colour gain fit on the target; a diagnostic, not a headline number):")
        click.echo(ev.text_table(summary, aligned=True))
    for method, why in result.skipped.items():
        click.echo(f"skipped {method}: {why}")
    click.echo(f"wrote {out_dir}/ (per_image.csv, summary.json, table.tex)")
