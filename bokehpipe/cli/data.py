"""`bokehpipe data ...`: look at a dataset folder before spending GPU hours on it."""

from __future__ import annotations

import click

from bokehpipe.cli.common import echo_json


@click.group()
def data() -> None:
    """Inspect EBB!-style datasets (released, PyNET or plain {input,target} layout)."""


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
