"""`bokehpipe data ...`: look at a dataset folder before spending GPU hours on it."""

from __future__ import annotations

import click

from bokehpipe.cli.common import echo_json, pass_state


@click.group()
def data() -> None:
    """Inspect EBB!-style datasets (released, PyNET or plain {input,target} layout); prepare training inputs."""


@data.command("check")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "json_output", is_flag=True, help="Print the report as JSON (layout, splits, problems).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Decoding threads (default: 2 x cores).")
def check(path: str, json_output: bool, workers: int | None) -> None:
    """Decode every file of the dataset at PATH, count usable pairs per split and list every problem.

    Exits non-zero only if nothing usable was found; problems are listed by file either way.
    """
    from tqdm import tqdm

    from bokehpipe.data.check import check_dataset
    from bokehpipe.data.ebb import load_index

    total = len(load_index(path).pairs)
    with tqdm(total=total, desc="checking", unit="pair", disable=json_output or None, leave=False) as bar:
        report = check_dataset(path, workers=workers, progress=bar.update)
    if json_output:
        echo_json(report.to_json())
    else:
        click.echo(f"dataset  {report.root}")
        click.echo(f"layout   {report.layout}")
        for name, count in report.splits.items():
            click.echo(f"  {name:<16} {count:>6} pairs")
        click.echo(f"problems {len(report.problems)}")
        for problem in report.problems:
            click.echo(f"  [{problem.kind}] {problem.message}")
    if not report.ok:
        raise click.ClickException(f"{report.root}: no usable pairs found; see the problems above")


@data.command("prepare")
@click.option("--data", "data_path", type=click.Path(exists=True, file_okay=False), default=None,
              help="Dataset folder in an EBB!-style layout.")
@click.option("--dataset", default=None, metavar="NAME", help="Dataset in the store (default: the only one).")
@click.option("--split", default="train", show_default=True,
              help="Split to prepare (run it again for the validation split).")
@click.option("--depth-source", default=None, metavar="SRC",
              help="Depth cache whose maps to prepare (default: the split's only cache).")
@click.option("--no-depth", is_flag=True, help="RGB and targets only, for `train --no-depth`.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Decoding processes.")
@click.option("--overwrite", is_flag=True, help="Rebuild even when the prepared file is up to date.")
@click.option("--json", "json_output", is_flag=True, help="Print the result as JSON.")
@pass_state
def prepare(state, data_path: str | None, dataset: str | None, split: str, depth_source: str | None,
            no_depth: bool, workers: int, overwrite: bool, json_output: bool) -> None:
    """Write a split's half-size training inputs once: store/inputs/<dataset>/<depth source>/<split>.h5.

    `train` then cuts its samples from them (the same samples, bit for bit) instead of decoding two full-size
    photos and a whole depth map per sample, which caps a GPU's steps per second. Optional; about 3 MB per
    1536x1024 pair. A rerun verifies the file (sha256 of every photo and map) and rebuilds it only when
    something changed.
    """
    from bokehpipe.choices import choose_dataset
    from bokehpipe.data.ebb import load_index
    from bokehpipe.data.prepared import verify_prepared
    from bokehpipe.locks import exclusive, lock_beside

    store = state.store
    data_path, dataset, line = choose_dataset(store, data=data_path, dataset=dataset, command="prepare")
    root, name = store.resolve_dataset(data=data_path, dataset=dataset)
    pairs = load_index(root).split(split, require_targets=True)
    if not pairs:
        raise click.ClickException(f"{root}: split {split!r} has no pairs with targets")
    depth, source = _prepare_depth(store, name, split, depth_source, no_depth, pairs, line)
    path = store.prepared_inputs(name, source, split)
    with exclusive(lock_beside(path), what=f"the prepared inputs {path}"):
        problems = verify_prepared(path, pairs, depth) if path.is_file() and not overwrite else ["absent"]
        result = None if not problems else _write_prepared(path, pairs, depth, name, split, workers, json_output)
    store.record(path, "inputs", dataset=name, split=split, depth=source or "none")
    _report_prepared(path, len(pairs), result, json_output)


def _prepare_depth(store, name: str, split: str, depth_source: str | None, no_depth: bool, pairs, line):
    from bokehpipe.choices import choose_depth_cache
    from bokehpipe.data.datasets import check_depth_coverage

    if line:
        click.echo(line, err=True)
    if no_depth:
        return None, None
    if depth_source is None:
        choice = choose_depth_cache(store, name, split)
        click.echo(choice.reason, err=True)
        depth_source = choice.value
    from bokehpipe.depth.cache import open_depth_cache

    depth = open_depth_cache(store, name, depth_source, split)
    check_depth_coverage(pairs, depth, where=f"depth cache for split {split}")
    return depth, depth_source


def _write_prepared(path, pairs, depth, name: str, split: str, workers: int, quiet: bool):
    from tqdm import tqdm

    from bokehpipe.data.prepared import write_prepared

    with tqdm(total=len(pairs), desc=f"preparing {split}", unit="pair", disable=quiet or None, leave=False) as bar:
        result = write_prepared(path, pairs, depth, dataset=name, split=split, workers=workers, tick=bar.update)
    for id_, error in result.failed:
        click.echo(f"skipped {id_}: {error}", err=True)
    return result


def _report_prepared(path, total: int, result, json_output: bool) -> None:
    if json_output:
        echo_json({"path": str(path), "pairs": total, "written": result.written if result else 0,
                   "up_to_date": result is None, "failed": [list(f) for f in (result.failed if result else [])],
                   "bytes": path.stat().st_size, "seconds": round(result.seconds, 2) if result else 0.0})
    elif result is None:
        click.echo(f"{path}: up to date ({total} pairs verified)")
    else:
        click.echo(f"{path}: {result.written} of {total} pairs prepared, {path.stat().st_size / 1e9:.2f} GB "
                   f"in {result.seconds:.0f} s")
