"""Every renderer on the real f/16 -> f/1.8 pairs, as a user gets it: `python studies/real_eval.py`.

The pairs of `realpairs.py` at f/1.8 (EBB! train 2977-2979 and VABD 0001-0003, Depth-Anything-V2
disparity min-max normalised as `infer --depth DIR` does), each method at the photo's automatic focus
(`render.focus.choose_focus`) and the calibrated f/1.8 (`render.calibration.DEFAULT_APERTURE`), scored with
the project's protocol (`metrics.score_pair`: PSNR, SSIM, MS-SSIM; full image and 32-px crop). No method has
seen these photos in training (BokehNet is trained on synthetic pairs only); the aperture calibration was
measured on them (`calibrate.py`), which the report must say. `--vabd-table` adds the 3x3 aperture table
(rendered at f/1.8, f/2.8, f/8 vs each real target) for the chosen methods.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from realpairs import RenderFn, classical_fns, score_real_pairs


def method_fn(name: str) -> RenderFn:
    """identity, gaussian, scatter (`realpairs.classical_fns`) or bokehnet (the shipped weights) as a RenderFn."""
    if name != "bokehnet":
        return classical_fns([name])[name]
    from bokehpipe.render.learned import load_bokehnet, render_bokehnet

    model = load_bokehnet()[0]
    return lambda rgb, disp, focus, aperture: render_bokehnet(rgb, disp, model, focus=focus, aperture=aperture)


def table(rows: list[dict[str, Any]]) -> str:
    """Per-pair PSNR/SSIM and the means per group (EBB!, VABD, all) for each method."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [f"{'pair':<16}" + "".join(f"{m:>18}" for m in methods) + "   (PSNR dB / SSIM)"]
    for pair in dict.fromkeys(r["pair"] for r in rows):
        cells = {r["method"]: r for r in rows if r["pair"] == pair}
        lines.append(f"{pair:<16}" + "".join(f"{cells[m]['psnr']:>11.2f} / {cells[m]['ssim']:.3f}" for m in methods))
    for group in ("ebb", "vabd", ""):
        sel = [r for r in rows if r["pair"].startswith(group)]
        if not sel:
            continue
        means = {m: (np.mean([r["psnr"] for r in sel if r["method"] == m]),
                     np.mean([r["ssim"] for r in sel if r["method"] == m])) for m in methods}
        lines.append(f"{'mean ' + (group or 'all'):<16}" + "".join(f"{means[m][0]:>11.2f} / {means[m][1]:.3f}"
                                                                   for m in methods))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="identity,gaussian,scatter,bokehnet")
    parser.add_argument("--root", type=Path, default=None, help="realdata folder (default: $BOKEHPIPE_REALDATA)")
    parser.add_argument("--width", type=int, default=None, help="shrink the pairs to this width (default: full)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--vabd-table", action="store_true", help="print the VABD 3x3 aperture table per method")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    fns = {m: method_fn(m) for m in methods}  # each renderer (BokehNet's weights) loaded once for both tables
    rows = score_real_pairs(fns, args.root, width=args.width) if methods else []
    if rows:
        print(table(rows), flush=True)
    from provenance import provenance

    out: dict[str, Any] = {**provenance("real_eval", argv), "width": args.width or "full", "methods": methods,
                           "rows": rows}
    if args.vabd_table:
        from realpairs import aperture_table, format_aperture_table

        for m in methods:
            if m == "identity":
                continue
            t = aperture_table(fns[m], args.root, width=args.width)
            out[f"vabd_table_{m}"] = t
            print(f"== {m}\n{format_aperture_table(t)}", flush=True)
    if args.json:
        from bokehpipe.store import atomic_write_json

        atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
