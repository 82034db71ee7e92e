"""`bokehpipe render`: classical bokeh (gaussian or scatter) for photos that come with a disparity map."""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.errors import BokehpipeError

ASPECT_TOLERANCE = 0.02


def _inputs(paths: tuple[str, ...]) -> list[Path]:
    from bokehpipe.data.io import is_image_file

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.is_file() and is_image_file(q))
        else:
            out.append(p)  # missing or unreadable files fail with a clear message when decoded
    if not out:
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

    from bokehpipe.data.io import read_map, resize

    disp = read_map(path)
    w, h = size
    dh, dw = disp.shape
    lo, hi = float(disp.min()), float(disp.max())
    if lo < 0 or hi > 1:
        click.echo(f"warning: {path}: values span [{lo:.3g}, {hi:.3g}]; rescaled to [0, 1] (near = 1 assumed)",
                   err=True)
        disp = (disp - lo) / max(hi - lo, 1e-12)
    if (dw, dh) != (w, h):
        if abs(dw / dh - w / h) > ASPECT_TOLERANCE * w / h:
            raise BokehpipeError(f"{path}: depth map is {dw}x{dh} but the image is {w}x{h} (aspect ratio differs by "
                                 f"more than {ASPECT_TOLERANCE:.0%}); give a map of the image's shape")
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

    from bokehpipe.data.io import read_image, write_png
    from bokehpipe.render import choose_focus, focus_at
    from bokehpipe.render import render as render_image

    images = _inputs(inputs)
    outputs = [out_dir / f"{p.stem}.png" for p in images]
    if len(set(outputs)) != len(outputs):
        raise BokehpipeError("two inputs share a file name stem; their outputs would collide in --out")
    resolved_inputs = {p.resolve() for p in images}
    for out in outputs:
        if out.resolve() in resolved_inputs:
            raise BokehpipeError(f"{out}: output would replace an input; choose another --out folder")
        if out.exists() and not overwrite:
            raise BokehpipeError(f"{out}: already exists; pass --overwrite to replace it")
    pairs = [(img, _depth_for(img, depth_path, len(images) > 1), out) for img, out in zip(images, outputs, strict=True)]
    for img, depth, out in tqdm(pairs, desc=f"render {method}", unit="image", disable=None):
        image = read_image(img)
        disp = _load_depth(depth, (image.shape[1], image.shape[0]))
        f = focus_at(disp, *point).disparity if point is not None else focus
        how = "focus-at" if point is not None else "focus" if f is not None else "auto-focus"
        f = choose_focus(image, disp).disparity if f is None else f
        write_png(out, render_image(image, disp, method, focus=f, aperture=aperture, **options))
        click.echo(f"{img} -> {out} ({how} {f:.3f}, aperture {aperture:g})")
