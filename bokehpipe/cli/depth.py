"""`bokehpipe depth ...`: phase one, the depth cache (compute, verify, export; `bench --depth-models` times it).

No torch / numpy / h5py at import time: `--help` stays instant; the work is imported inside each command.
"""

from __future__ import annotations

import sys

import click

from bokehpipe.cli.common import dataset_options, device_option, echo_json, pass_state
from bokehpipe.depth import SOURCES
from bokehpipe.depth.variants import variant_names


def _cache_options(func):
    func = click.option("--model", type=click.Choice(variant_names()), default=None, metavar="VARIANT",
                        help=f"Depth network (--source midas: MiDaS or Depth Anything V2; metric ones are stored "
                             f"as 1/depth with their scale): {', '.join(variant_names())}.")(func)
    func = click.option("--source", type=click.Choice(SOURCES), default=None,
                        help="midas (computed), gt (synthetic ground truth) or png (PyNET maps). Default: the "
                             "dataset's own maps when every photo has one, else midas.")(func)
    func = click.option("--split", default="train", show_default=True, help="Dataset split (see `data check`).")(func)
    return dataset_options(func)


def _progress(desc: str):
    """A factory run_depth calls with the total; returns tqdm's update (tqdm draws on stderr)."""
    bars = []

    def make(total: int):
        from bokehpipe.progress import progress_bar

        bar = progress_bar(total, desc=desc, unit="map")
        bars.append(bar)
        return bar.update

    return make, bars


def _print_report(report) -> None:
    status = "ok" if report.ok else "FAILED"
    click.echo(f"verify   {status}: {report.ok_ids}/{report.expected} maps ok, {len(report.missing)} missing, "
               f"{len(report.stale)} stale, {len(report.corrupt)} corrupt, {len(report.extra)} extra"
               + (f", {report.pending_parts} unmerged parts" if report.pending_parts else ""))
    for line in report.problems[:10]:
        click.echo(f"  {line}")
    for label, ids in (("missing", report.missing), ("stale", report.stale)):
        if ids:
            click.echo(f"  {label}: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}")
    for id_, reason in report.corrupt[:10]:
        click.echo(f"  corrupt {id_}: {reason}")


@click.group(invoke_without_command=True)
@_cache_options
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint file of --model (default: store/weights/<model>.pt or .pth; see `bokehpipe "
                   "weights`).")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=None,
              help="Images per forward pass (MiDaS, same input size) or per written part (default 1 / 8).")
@device_option
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True,
              help="Autocast dtype on a GPU; part of the cache identity.")
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="DataLoader processes decoding photos (default: min(4, cores - 1)).")
@click.option("--overwrite", is_flag=True, help="Discard the existing cache (and unfinished parts) and recompute.")
@click.option("--degrade", default="none", show_default=True, metavar="NAME",
              help="gt/png only: degrade the maps like the paper's MegaDepth PNGs ('paper': blur, half size, "
                   "8 bits) and cache them as <source>-<NAME>.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def depth(ctx: click.Context, data, dataset, split, source, model, weights, batch_size, device, precision, workers,
          overwrite, degrade, as_json) -> None:
    """Cache a depth map per photo of a split in store/depth/<dataset>/<model-or-source>/<split>.h5.

    \b
    --source midas runs a depth network (MiDaS or Depth Anything V2, --model); default --model:
    dpt_hybrid_384 on a GPU, midas_v21_small_256 on a CPU.
    --source gt reads a synthetic set's disparity; --source png PyNET-style 8-bit maps.
    Resumable: a rerun skips cached ids, so it can be killed any time. Under
    `torchrun --nproc-per-node N -m bokehpipe depth ...` each rank computes a shard and rank 0 merges
    and verifies. Subcommands: verify (check a cache), export (PyNET original_depth PNGs).
    """
    if ctx.invoked_subcommand is not None:
        return
    from bokehpipe.depth.run import run_depth

    store = ctx.obj.store
    data, dataset, source, model = _choose_defaults(ctx.obj, data, dataset, split, source, model, device,
                                                    weights)
    make, bars = _progress(f"depth {source if source != 'midas' else (model or 'midas')}")

    def skipped(line: str) -> None:  # one line per unreadable photo or map, above the progress bar
        if bars:
            bars[0].write(f"skipped: {line}", file=sys.stderr)
        else:
            click.echo(f"skipped: {line}", err=True)

    try:
        result = run_depth(store, split=split, data=data, dataset=dataset, source=source, model=model,
                           weights=weights, device=device, precision=precision, batch_size=batch_size,
                           workers=workers, overwrite=overwrite, degrade=degrade, progress=make, on_skip=skipped)
    finally:
        for bar in bars:
            bar.close()
    if result.rank != 0:
        return
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(f"cache    {result.path}")
        click.echo(f"maps     {result.computed} computed, {result.skipped} already cached, {result.total} in split "
                   f"{result.split!r} ({result.seconds:.1f} s, {result.world_size} process(es))")
        if result.report is not None:
            _print_report(result.report)
    if result.report is not None and not result.report.ok:
        raise click.ClickException(f"{result.path}: verification failed; rerun the same command to repair it")
    if result.failed:
        what = f"{len(result.failed)} of {result.total} photo(s) of split {result.split!r} could not be read " \
               "(listed above)"
        if result.computed + result.skipped == 0:
            raise click.ClickException(f"{what}: no depth map was cached")
        raise click.ClickException(f"{what}; the other maps are cached, but `bokehpipe train` on this split will "
                                   "refuse it: fix or remove those files and rerun this command (it computes only "
                                   "the missing maps)")


def _choose_defaults(state, data, dataset, split, source, model, device, weights=None):
    """The dataset and depth source the store makes unambiguous, said on one stderr line."""
    from bokehpipe.choices import choose_dataset, choose_depth_source

    store = state.store
    data, dataset, said = choose_dataset(store, data=data, dataset=dataset, pipeline=state.pipeline,
                                         command="depth")
    lines = [said] if said else []
    if source is None:
        root, _ = store.resolve_dataset(data=data, dataset=dataset)
        if model is not None or weights is not None:
            source = "midas"
        else:
            if device == "auto":
                import torch

                gpu = torch.cuda.is_available()
            else:
                gpu = str(device).startswith("cuda")
            choice = choose_depth_source(root, split, gpu=gpu)
            source, model = choice.kind, choice.value
            lines.append(choice.reason)
    if lines:
        click.echo("depth: " + "; ".join(lines), err=True)
    return data, dataset, source, model


def _cache_path(state, data, dataset, split, source, model):
    """(dataset root, cache path, source, split) for verify/export; a midas cache without --model is looked up;
    options typed before the subcommand (`depth --dataset D --split S verify`) count as the subcommand's."""
    from bokehpipe.choices import choose_dataset, dataset_depth_source

    store = state.store
    # `depth --dataset D --split S verify`: options typed before the subcommand belong to the group
    ctx = click.get_current_context()
    group = ctx.parent.params if ctx.parent is not None else {}
    data, dataset, source, model = (v if v is not None else group.get(k) for k, v in
                                    (("data", data), ("dataset", dataset), ("source", source), ("model", model)))
    if ctx.get_parameter_source("split") == click.core.ParameterSource.DEFAULT and group.get("split"):
        split = group["split"]
    data, dataset, _ = choose_dataset(store, data=data, dataset=dataset, pipeline=state.pipeline, command="depth")
    root, name = store.resolve_dataset(data=data, dataset=dataset)
    if source is None:
        source = "midas" if model else (dataset_depth_source(root, split) or "midas")
    if source != "midas":
        return root, store.depth_cache(name, source, split), source, split
    if model is None:
        found = sorted(p.parent.name for p in (store.depth_dir / name).glob(f"*/{split}.h5")
                       if p.parent.name not in SOURCES)
        if len(found) != 1:
            raise click.ClickException(f"{store.depth_dir / name}: {len(found)} MiDaS caches for split {split!r} "
                                       f"({', '.join(found) or 'none'}); pass --model")
        model = found[0]
    return root, store.depth_cache(name, model, split), source, split


@depth.command("verify")
@_cache_options
@click.option("--quick", is_flag=True, help="Compare source file sizes instead of sha256 (fast; misses edits).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def verify(state, data, dataset, split, source, model, quick, as_json) -> None:
    """Check a cache against its dataset split: missing, stale (photo changed) and corrupt maps.

    Exits non-zero unless every photo of the split has a readable, current map.
    """
    from bokehpipe.data.ebb import load_index
    from bokehpipe.depth.cache import verify_cache

    root, path, source, split = _cache_path(state, data, dataset, split, source, model)
    pairs = load_index(root).split(split)
    expected = {p.id: (p.input if source == "midas" else p.depth) for p in pairs if
                source == "midas" or p.depth is not None}
    report = verify_cache(path, expected, hash_sources=not quick)
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(f"cache    {path}")
        _print_report(report)
    if not report.ok:
        raise click.ClickException(f"{path}: cache does not match split {split!r}; run `bokehpipe depth` "
                                   "for it again (add --overwrite to rebuild)")


@depth.command("export")
@_cache_options
@click.option("--format", "fmt", type=click.Choice(["png"]), default="png", show_default=True,
              help="Output format: PyNET-Bokeh original_depth PNGs.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder; maps go to OUT/original_depth/<id>.png (default: next to the cache).")
@click.option("--resolution", type=click.Choice(["half", "image", "stored"]), default="half", show_default=True,
              help="half = half the photo size (PyNET), image = photo size, stored = as cached.")
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", show_default=True, help="PNG bit depth.")
@pass_state
def export(state, data, dataset, split, source, model, fmt, out, resolution, bits) -> None:
    """Write a cache as PNG depth maps in the PyNET-Bokeh `original_depth` layout (near = bright)."""
    from pathlib import Path

    from bokehpipe.depth.export import export_png
    from bokehpipe.progress import progress_bar

    _, path, _, split = _cache_path(state, data, dataset, split, source, model)
    out_dir = Path(out) if out else path.with_name(f"{path.stem}-pynet")
    with progress_bar(desc="export", unit="map") as bar:
        n = export_png(path, out_dir, resolution=resolution, bits=int(bits), tick=bar.update)
    click.echo(f"wrote {n} maps to {out_dir / 'original_depth'}")
