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


def _map_for(image: Path, depth: Path, several: bool) -> Path:
    """The depth map of one photo: `--depth` itself, or the map named like it in the `--depth` folder (found
    exactly as `infer --depth DIR` finds it)."""
    if depth.is_dir():
        from bokehpipe.data.disparity import Photo
        from bokehpipe.data.io import MAP_SUFFIXES
        from bokehpipe.infer.depth_inputs import DirDepth

        try:
            return DirDepth(depth).find(Photo(id=image.stem, path=image, rel=Path(image.name)))
        except BokehpipeError:  # infer's message names infer's other depth options; say what render takes
            raise BokehpipeError(f"{depth}: no depth map named {image.stem}.* for {image}; expected one of "
                                 f"{', '.join(image.stem + s for s in MAP_SUFFIXES)}") from None
    if several:
        raise BokehpipeError(f"--depth {depth} is one file but {image.parent} gives several inputs; "
                             "pass a folder of maps named like the images")
    if not depth.exists():
        raise BokehpipeError(f"{depth}: depth map not found; check --depth")
    return depth


def _load_depth(path: Path, size: tuple[int, int]):
    """Read a map, normalise it by the one rule and fit it to the image (warn), refusing other aspect ratios:
    the same functions `infer --method` uses (bokehpipe.data.disparity)."""
    from bokehpipe.data.disparity import fit_to_photo, normalise_map
    from bokehpipe.data.io import check_map_fits, read_map

    disp = normalise_map(read_map(path), path)
    w, h = size
    dh, dw = disp.shape
    if (dw, dh) != (w, h):
        check_map_fits((dh, dw), (h, w), path)  # the one rule, before the warning
        click.echo(f"warning: {path}: depth map is {dw}x{dh}, resized to the image's {w}x{h}", err=True)
    return fit_to_photo(disp, (h, w))


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
@click.option("--focus", type=float, default=None,
              help="Disparity in focus (0 far .. 1 near, after per-image min-max); default: auto-focus.")
@click.option("--focus-at", "focus_at_", default=None, metavar="X,Y", help="Focus on the subject at pixel X,Y.")
@click.option("--aperture", "aperture_text", default=None, metavar="f/N|SCALE",
              help="An f-number (f/2.8; calibrated on real f/16 -> f/N pairs) or the internal CoC scale (a plain "
                   "number: radius = SCALE * 40 px * (width / 1536) * |disparity - focus|).  [default: f/1.8]")
@click.option("--highlight", type=float, default=None, help="scatter: gain for saturated pixels (default 2, 1 = off).")
@click.option("--gamma", type=float, default=None, help="scatter: power-law gamma instead of the sRGB curve.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; each result is <input stem>.png.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (never an input).")
def render(inputs: tuple[str, ...], depth_path: Path, method: str, focus: float | None, focus_at_: str | None,
           aperture_text: str | None, highlight: float | None, gamma: float | None, out_dir: Path,
           overwrite: bool) -> None:
    """Render bokeh for INPUT photos (files or folders) from their disparity maps, without a trained model.

    The same classical path as `bokehpipe infer --method` (map lookup, normalisation, renderer, writer);
    prints the focus chosen for each photo and why.
    """
    from bokehpipe.render.calibration import DEFAULT_F_NUMBER, f_number_for_aperture, parse_aperture

    if focus is not None and focus_at_ is not None:
        raise BokehpipeError("give either --focus or --focus-at, not both")
    aperture = parse_aperture(aperture_text) if aperture_text is not None else None  # None: the calibrated f/1.8
    point = _parse_point(focus_at_)
    options = {k: v for k, v in {"highlight": highlight, "gamma": gamma}.items() if v is not None}
    if options and method != "scatter":
        raise BokehpipeError(f"--{next(iter(options))} applies to --method scatter only")
    from tqdm import tqdm

    from bokehpipe.cli.common import tile_progress
    from bokehpipe.data.io import read_image, write_png
    from bokehpipe.infer.engine import ClassicalRenderer
    from bokehpipe.paths import check_writable_dir
    from bokehpipe.render.focus import Focus, choose_focus, focus_at

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
    pairs = [(img, _map_for(img, depth_path, len(images) > 1), out) for img, out in zip(images, outputs, strict=True)]
    renderer = ClassicalRenderer(method, aperture=aperture, options=options)  # tiles large photos
    renderer.on_tile = tile_progress()
    label = (aperture_text if aperture_text is not None else f"f/{DEFAULT_F_NUMBER:g}").strip()
    if aperture is not None and not label.lower().startswith("f"):
        label = f"{aperture:g} (about f/{f_number_for_aperture(aperture):.2g})"
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
        if point is not None:
            chosen = focus_at(disp, *point)
        elif focus is not None:
            chosen = Focus(float(focus), -1, -1, "as given by --focus")
        else:
            chosen = choose_focus(image, disp)
        write_png(out, renderer.render_one(image, disp, focus=chosen.disparity))
        click.echo(f"{img} -> {out} (focus {chosen.disparity:.3f}: {chosen.reason}; aperture {label})")
    if problems:
        raise BokehpipeError(f"{len(problems)} of {total} image(s) could not be rendered (listed above); the "
                             "others were written")


def _resolved(path: Path) -> Path:
    """Resolve for the same-file checks; an unresolvable input fails later, with its own line, when read."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()
