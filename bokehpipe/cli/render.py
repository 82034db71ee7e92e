"""`bokehpipe render`: classical bokeh (gaussian or scatter) for photos that come with a disparity map."""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.errors import BokehpipeError


def _inputs(paths: tuple[str, ...], problems: list[str]) -> list[Path]:
    """Image files given or found in given folders; entries that cannot be resolved (symlink loops, dangling
    links) go to `problems` instead of crashing the run."""
    from bokehpipe.data.io import is_image_file
    from bokehpipe.errors import ImageReadError
    from bokehpipe.paths import resolve_input

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for q in sorted(p.iterdir()):
                if not is_image_file(q):
                    continue
                try:
                    if resolve_input(q).is_file():
                        out.append(q)
                except ImageReadError as exc:
                    problems.append(str(exc))
        else:
            out.append(p)  # missing or unreadable files fail with a clear message when decoded
    if not out and not problems:
        raise BokehpipeError(f"no images found in {', '.join(paths)}")
    return out


def _depth_for(image: Path, depth: Path, several: bool) -> Path:
    from bokehpipe.data.io import MAP_SUFFIXES

    if depth.is_dir():
        for suffix in MAP_SUFFIXES:
            for cand in (depth / f"{image.stem}{suffix}", depth / f"{image.stem}{suffix.upper()}"):
                if cand.is_file():
                    return cand
        raise BokehpipeError(f"{depth}: no depth map named {image.stem}.* for {image}; "
                             f"expected one of {', '.join(image.stem + s for s in MAP_SUFFIXES)}")
    if several:
        raise BokehpipeError(f"--depth {depth} is one file but {image.parent} gives several inputs; "
                             "pass a folder of maps named like the images")
    if not depth.exists():
        raise BokehpipeError(f"{depth}: depth map not found; check --depth")
    return depth


def _load_depth(path: Path, size: tuple[int, int]):
    """Read a map, scale it to [0, 1] if needed and fit it to the image size (warn), refusing other aspects."""
    import numpy as np

    from bokehpipe.data.io import check_map_fits, read_map, resize

    disp = read_map(path)
    w, h = size
    dh, dw = disp.shape
    lo, hi = float(disp.min()), float(disp.max())
    if lo < 0 or hi > 1:
        click.echo(f"warning: {path}: values span [{lo:.3g}, {hi:.3g}]; rescaled to [0, 1] (near = 1 assumed)",
                   err=True)
        disp = (disp - lo) / max(hi - lo, 1e-12)
    if (dw, dh) != (w, h):
        check_map_fits((dh, dw), (h, w), path)
        click.echo(f"warning: {path}: depth map is {dw}x{dh}, resized to the image's {w}x{h}", err=True)
        disp = np.clip(resize(disp, (w, h)), disp.min(), disp.max())
    return disp.astype(np.float32)


def _parse_point(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        x, y = (int(round(float(v))) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not X,Y in pixels, e.g. 768,512", param_hint="--focus-at") from None
    return x, y


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--depth", "depth_path", required=True, type=click.Path(path_type=Path),
              help="Disparity map (PNG 8/16-bit or .npy; near = bright) or a folder of maps named like the inputs.")
@click.option("--method", type=click.Choice(["gaussian", "scatter"]), default="scatter", show_default=True)
@click.option("--focus", type=float, default=None, help="Disparity in focus (0 far .. 1 near); default: auto-focus.")
@click.option("--focus-at", "focus_at_", default=None, metavar="X,Y", help="Focus on the subject at pixel X,Y.")
@click.option("--aperture", type=float, default=1.0, show_default=True,
              help="CoC scale: radius = aperture * 40 px * (width / 1536) * |disparity - focus|.")
@click.option("--highlight", type=float, default=None, help="scatter: gain for saturated pixels (default 2, 1 = off).")
@click.option("--gamma", type=float, default=None, help="scatter: power-law gamma instead of the sRGB curve.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; each result is <input stem>.png.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input).")
def render(inputs: tuple[str, ...], depth_path: Path, method: str, focus: float | None, focus_at_: str | None,
           aperture: float, highlight: float | None, gamma: float | None, out_dir: Path, overwrite: bool) -> None:
    """Render bokeh for INPUT photos (files or folders) from their disparity maps, without a trained model."""
    if focus is not None and focus_at_ is not None:
        raise BokehpipeError("give either --focus or --focus-at, not both")
    if not aperture > 0:
        raise BokehpipeError(f"--aperture must be > 0, got {aperture}")
    point = _parse_point(focus_at_)
    options = {k: v for k, v in {"highlight": highlight, "gamma": gamma}.items() if v is not None}
    if options and method != "scatter":
        raise BokehpipeError(f"--{next(iter(options))} applies to --method scatter only")
    from tqdm import tqdm

    from bokehpipe.cli.common import tile_progress
    from bokehpipe.data.io import read_image, write_png
    from bokehpipe.infer.engine import ClassicalRenderer
    from bokehpipe.paths import check_writable_dir
    from bokehpipe.render import auto_focus, focus_at

    check_writable_dir(out_dir)
    problems: list[str] = []
    images = _inputs(inputs, problems)
    outputs = [out_dir / f"{p.stem}.png" for p in images]
    if len(set(outputs)) != len(outputs):
        raise BokehpipeError("two inputs share a file name stem; their outputs would collide in --out")
    resolved_inputs = {_resolved(p) for p in images}
    for out in outputs:
        if _resolved(out) in resolved_inputs:
            raise BokehpipeError(f"{out}: output would replace an input; choose another --out folder")
        if out.exists() and not overwrite:
            raise BokehpipeError(f"{out}: already exists; pass --overwrite to replace it")
    pairs = [(img, _depth_for(img, depth_path, len(images) > 1), out) for img, out in zip(images, outputs, strict=True)]
    total = len(pairs) + len(problems)
    for why in problems:
        click.echo(f"skipped: {why}", err=True)
    for img, depth, out in tqdm(pairs, desc=f"render {method}", unit="image", disable=None):
        try:
            image = read_image(img)
            disp = _load_depth(depth, (image.shape[1], image.shape[0]))
        except BokehpipeError as exc:
            if total == 1:
                raise
            problems.append(str(exc))
            click.echo(f"skipped: {exc}", err=True)
            continue
        f = focus_at(disp, *point) if point is not None else focus
        how = "focus-at" if point is not None else "focus" if f is not None else "auto-focus"
        f = auto_focus(disp) if f is None else f
        renderer = ClassicalRenderer(method, focus=f, aperture=aperture, options=options)  # tiles large photos
        renderer.on_tile = tile_progress()
        write_png(out, renderer.render_one(image, disp))
        click.echo(f"{img} -> {out} ({how} {f:.3f}, aperture {aperture:g})")
    if problems:
        raise BokehpipeError(f"{len(problems)} of {total} image(s) could not be rendered (listed above); the "
                             "others were written")


def _resolved(path: Path) -> Path:
    """Resolve for the same-file checks; an unresolvable input fails later, with its own line, when read."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()
