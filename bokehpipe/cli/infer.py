"""`bokehpipe infer FOLDER`: bokeh on your own photos at full resolution, plus a static gallery."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bokehpipe.cli.common import METHOD_CHOICES, device_option, focus_options, pass_state


@click.command()
@click.argument("folder", metavar="FOLDER|PHOTO", type=click.Path(exists=True, path_type=Path))
@click.option("--recursive", is_flag=True, help="Also render photos in subfolders (outputs mirror them).")
@click.option("--run", "run_name", metavar="NAME", default=None,
              help="Trained run in the store: its newest best checkpoint of the finest trained level.")
@click.option("--checkpoint", type=click.Path(exists=True, path_type=Path), default=None,
              help="A PyNET checkpoint file or run folder, or a BokehNet weights file (`bokehnet export`), "
                   "instead of --run.")
@click.option("--method", type=click.Choice(METHOD_CHOICES), default=None,
              help="A classical depth-aware renderer instead of a trained model (no training needed).")
@click.option("--depth", "depth_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of depth maps named like the photos (8/16-bit PNG or .npy, near = bright, any size).")
@click.option("--depth-cache", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A phase-one depth cache (.h5 from `bokehpipe depth`), looked up by file stem.")
@click.option("--depth-model", metavar="VARIANT", default=None,
              help="MiDaS variant run on the fly (default when no depth is given: the run's own depth model, "
                   "else midas_v21_small_256 on CPU / dpt_hybrid_384 on GPU).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
              help="MiDaS checkpoint file for --depth-model (default: the store's weights/ copy).")
@focus_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder  [default: <store>/renders/<run or method>/]")
@click.option("--overwrite", is_flag=True, help="Render every photo again (default: keep renders in --out).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Tile photos larger than this many pixels (full resolution); default: never, except on "
                   "GPU out-of-memory.")
@click.option("--tile", type=click.IntRange(min=16), default=None,
              help="Always tile, with tiles of this side (full-resolution pixels).")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=128, show_default=True,
              help="Overlap between tiles (full-resolution pixels); the outer quarter of it is discarded.")
@device_option
@click.option("--batch-size", type=click.IntRange(1, 256), default=None,
              help="Photos of one size rendered together  [default: 4 on GPU, 1 on CPU]")
@click.option("--only-with-depth", is_flag=True,
              help="Render only the photos that have a map in --depth/--depth-cache; the rest are left out, "
                   "not failed.")
@click.option("--format", "fmt", type=click.Choice(["jpg", "png"]), default="jpg", show_default=True,
              help="Output format (8-bit; JPEG quality 95).")
@click.option("--refocus/--no-refocus", default=None,
              help="Also write OUT/refocus/index.html: click a photo to focus there, drag f/1.4..f/16 (pre-rendered "
                   "previews; about 20 s of CPU and 1 MB a photo)  [default: on for up to 12 photos]")
@pass_state
def infer(state, folder: Path, recursive: bool, run_name: str | None, checkpoint: Path | None, method: str | None,
          depth_dir: str | None, depth_cache: str | None, depth_model: str | None, weights: str | None,
          focus: float | None, focus_point: tuple[int, int] | None, aperture, focal_length: float,
          out_dir: Path | None, overwrite: bool,
          max_pixels: int | None, tile: int | None, tile_overlap: int, device: str, batch_size: int | None,
          fmt: str, only_with_depth: bool, refocus: bool | None) -> None:
    """Render every photo in FOLDER: by default with the shipped BokehNet (scatter + learned correction);
    or with a trained run, a checkpoint or a classical renderer.

    Writes OUT/<name>.<format> (upright, the photo's size), OUT/<name>.depth.png (the disparity used) and
    OUT/index.html, a gallery with a before/after slider. Inputs are never written to; a rerun renders only
    the photos whose render is missing (--overwrite redoes all). Unreadable photos are skipped with one
    line each; the exit status is non-zero if any photo failed. --focus, --focus-at and --aperture steer the
    default renderer and --method (a trained PyNET run learned its own focus and blur).
    """
    from bokehpipe.cli.common import tile_progress
    from bokehpipe.infer.session import InferOptions, plan_session
    from bokehpipe.progress import progress_bar

    opts = InferOptions(folder=folder, recursive=recursive, run=run_name, checkpoint=checkpoint, method=method,
                        depth_dir=depth_dir, depth_cache=depth_cache, depth_model=depth_model, weights=weights,
                        focus=focus, focus_point=focus_point, aperture=aperture.scale if aperture else None,
                        f_number=aperture.f_number if aperture else None, focal_length=focal_length,
                        out_dir=out_dir, overwrite=overwrite, max_pixels=max_pixels, tile=tile,
                        tile_overlap=tile_overlap, device=device, batch_size=batch_size, fmt=fmt,
                        only_with_depth=only_with_depth)
    session = plan_session(opts, state.store)
    session.renderer.on_tile = tile_progress()
    for note in session.notes:
        click.echo(note, err=True)
    with progress_bar(len(session.jobs), unit="photo", desc=session.name) as bar:
        def start(todo: int, kept: int) -> None:
            if kept:
                bar.write(f"kept {kept} finished render(s) in {session.out_dir}; rendering the other {todo} "
                          "(--overwrite redoes all)", file=sys.stderr)
                if hasattr(bar, "reset"):
                    bar.reset(total=todo)

        def done(outcome) -> None:
            bar.update(1)
            if not outcome.ok:
                bar.write(f"skipped: {outcome.message}", file=sys.stderr)

        summary = session.run(on_done=done, on_start=start)
    click.echo(f"rendered {summary.rendered} of {summary.total} photo(s) with {session.name} "
               f"({session.depth_description}) into {session.out_dir}"
               + (f"; kept {summary.kept} finished earlier" if summary.kept else ""))
    if summary.rendered:
        click.echo(f"{summary.seconds_per_photo:.2f} s/photo rendering on {session.device}"
                   + (f", {summary.tiled} tiled" if summary.tiled else ""))
    click.echo(f"gallery: {summary.gallery}")
    _refocus(session, refocus)
    if summary.failed:
        raise click.ClickException(f"{summary.failed} of {summary.total} photo(s) could not be rendered "
                                   "(listed above)")


def _refocus(session, wanted: bool | None) -> None:
    """The refocus page of the photos rendered (or kept) in this folder, when the renderer can be steered."""
    from bokehpipe.infer.session import REFOCUS_AUTO_MAX

    if not session.can_refocus:
        if wanted:
            click.echo("refocus gallery: not written: a trained end-to-end model renders only the focus and blur it "
                       "learned (the default renderer and --method can be refocused)", err=True)
        return
    done = [job for job in session.jobs if job.output.is_file()]
    if not done:
        return
    if wanted is None and len(done) > REFOCUS_AUTO_MAX:
        click.echo(f"refocus gallery: not written for {len(done)} photos (more than {REFOCUS_AUTO_MAX}); --refocus "
                   "writes it", err=True)
        return
    if wanted is False:
        return

    def said(stack) -> None:
        click.echo(f"refocus {stack.name}: {len(stack.planes)} focus planes, {stack.bytes / 1e6:.2f} MB", err=True)

    click.echo(f"refocus gallery: {session.write_refocus(done, on_photo=said)} (click to focus, f/1.4..f/16)")
