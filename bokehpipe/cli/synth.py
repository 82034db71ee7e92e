"""`bokehpipe synth`: write a synthetic EBB!-style set (f/16 input, f/1.8 target, true disparity) to the store."""

from __future__ import annotations

import click

from bokehpipe.cli.common import FiniteFloat, SizeType, pass_state


def parse_range(value: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LO,HI, e.g. 0.1,1.2") from None
    if not 0 < lo <= hi:
        raise click.BadParameter(f"{value!r}: need 0 < LO <= HI")
    return lo, hi


@click.command()
@click.argument("name")
@click.option("--count", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of pairs (ids 0..N-1).")
@click.option("--size", type=SizeType(minimum=16), default="1536x1024", show_default=True,
              help="Image size; EBB! photos are 1536x1024.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives byte-identical files.")
@click.option("--val-fraction", type=FiniteFloat(0, 1, max_open=True), default=0.06, show_default=True,
              help="The last ids that form the `val` split of splits.json (EBB!: 294 of 4694).")
@click.option("--defects/--no-defects", default=True, show_default=True,
              help="EBB!-like pair defects: target shift <= 2 px, exposure/colour gain, sensor noise, JPEG.")
@click.option("--aperture-range", default=None, metavar="LO,HI",
              help="Draw each target's aperture (internal scale) log-uniformly from LO..HI instead of the "
                   "scene's f/1.8 (BokehNet's training sets; EBB!'s f/1.8 is about 0.5).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
@click.option("--overwrite", is_flag=True, help="Replace an existing set of that name.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write the set here instead of store/datasets/NAME (photos to render, not a training set: "
                   "commands that pick the store's only dataset do not count it).")
@pass_state
def synth(state, name: str, count: int, size: tuple[int, int], seed: int, val_fraction: float, defects: bool,
          aperture_range: str | None, workers: int, overwrite: bool, out: str | None) -> None:
    """Render NAME: layered procedural scenes at f/16 and f/1.8 into store/datasets/NAME.

    Writes Training/{original,bokeh}/<id>.jpg, Training/depth/<id>.png (16-bit disparity, near = bright),
    splits.json (train / val) and metadata.json (per image: focus, aperture, layers, defects). The set is
    built in a hidden folder and appears only when complete; an interrupted run resumes where it stopped.
    """
    from pathlib import Path

    from bokehpipe.data.synthetic import split_ids, write_synthetic_set
    from bokehpipe.progress import progress_bar

    width, height = size
    ap_range = parse_range(aperture_range) if aperture_range else None
    store = state.store
    root = Path(out).expanduser().resolve() if out else store.dataset(name)
    with progress_bar(count, desc=f"synth {name}", unit="pair") as bar:
        write_synthetic_set(root, count=count, width=width, height=height, seed=seed, val_fraction=val_fraction,
                            defects=defects, workers=workers, overwrite=overwrite, progress=bar.update,
                            aperture_range=ap_range)
    store.record(root, "dataset", generator="synth", seed=seed, count=count, size=f"{width}x{height}",
                 defects=defects)
    splits = split_ids(count, val_fraction)
    click.echo(f"wrote {count} pairs ({width}x{height}, seed {seed}) to {root}: "
               f"train {len(splits['train'])}, val {len(splits['val'])}")
