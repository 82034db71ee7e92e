"""`bokehpipe weights list|fetch`: the checkpoints bokehpipe can use, and downloading them into the store.

Commands that need a checkpoint download it on first use (unless offline); `fetch` gets it ahead of time
(or copy the file to the path `list` shows). No torch import: the registry is a table of URLs and file
names (bokehpipe/weights.py).
"""

from __future__ import annotations

import click

from bokehpipe.cli.common import FiniteFloat, echo_json, pass_state


def _size(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} B"


@click.group()
def weights() -> None:
    """Pretrained checkpoints (MiDaS, Depth Anything V2, VGG-19, LPIPS): list them, fetch them into store/weights/."""


@weights.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--hash", "measure", is_flag=True, help="Also measure the sha256 of files that are present (slow).")
@pass_state
def list_(state, as_json: bool, measure: bool) -> None:
    """Name, URL, licence where it limits use, known sha256, size and whether the file is in the store."""
    from bokehpipe import weights as registry

    rows = registry.status(state.store)
    if measure:
        for row in rows:
            row["measured_sha256"] = registry.sha256_file(row["path"]) if row["present"] else None
    if as_json:
        echo_json(rows)
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        mark = "present" if row["present"] else "missing"
        click.echo(f"{row['name']:<{width}} {mark:<8} {_size(row['size']):>9}  {row['url']}")
        if row["licence"]:
            click.echo(f"{'':<{width}} licence {row['licence']}")
        if row["sha256"]:
            click.echo(f"{'':<{width}} sha256 {row['sha256']}")
        if measure and row.get("measured_sha256"):
            click.echo(f"{'':<{width}} measured sha256 {row['measured_sha256']}")
    click.echo(f"store: {state.store.weights_dir}")


@weights.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--timeout", type=FiniteFloat(1.0, 3600.0), default=60.0, show_default=True,
              help="Network timeout in seconds.")
@pass_state
def fetch(state, names: tuple[str, ...], timeout: float) -> None:
    """Download NAMES into store/weights/ (progress on stderr), verify the sha256 where known, atomically."""
    from bokehpipe import weights as registry
    from bokehpipe.progress import progress_bar

    for name in names:
        spec = registry.get_spec(name)
        bar = progress_bar(spec.size, desc=name, unit="B", unit_scale=True, unit_divisor=1024)

        def progress(n: int, total: int | None, bar=bar) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(n)

        try:
            path = registry.fetch(name, state.store, progress=progress, timeout=timeout)
        finally:
            bar.close()
        click.echo(f"{name}: {path} sha256 {registry.sha256_file(path)}")
