"""Lens-true blur from metric depth against a synthetic set's targets.

A synthetic pair records its metric range (`disparity_range_per_m`, inverse metres) and the subject's focus, so
its map is metric depth again. This scores, per pair, scatter at the pair's own recorded aperture (what the
targets were made with) against scatter at the aperture EBB!'s virtual lens gives for the same focus distance
(`physics.lens_aperture`: 50 mm at f/1.8 on APS-C, the exact thin lens), and says how far the two apertures are
apart. The generator's CoC per inverse metre is the thin lens for focus far beyond the focal length; the exact
lens adds z_f / (z_f - f) (1.03 at 2 m).

    python studies/lens_true.py --data cache/datasets/paper-test --split all --json cache/reports/lens_true.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bokehpipe.data.ebb import load_index, load_metadata
from bokehpipe.data.io import read_image, read_map
from bokehpipe.metrics import psnr
from bokehpipe.physics import Lens, lens_aperture
from bokehpipe.render import render
from provenance import provenance


def score(root: Path, split: str, limit: int) -> dict:
    import torch

    meta = load_metadata(root)
    if meta is None:
        raise SystemExit(f"{root}: not a synthetic set (no metadata.json with per-pair focus and range)")
    rows = []
    for pair in load_index(root).split(split, require_targets=True)[:limit or None]:
        info = meta[pair.id]
        image, target = read_image(pair.input), read_image(pair.target)
        disp = read_map(pair.depth)
        lens_ap = lens_aperture(Lens(), float(info["focus"]), tuple(info["disparity_range_per_m"]), image.shape[1])
        row = {"id": pair.id, "aperture_recorded": float(info["aperture"]), "aperture_lens": lens_ap}
        for name, aperture in (("recorded", info["aperture"]), ("lens", lens_ap)):
            out = render(image, disp, "scatter", focus=float(info["focus"]), aperture=float(aperture))
            t = [torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None] for a in (out, target)]
            row[f"psnr_{name}"] = float(psnr(*t))
        rows.append(row)
    ratio = [r["aperture_lens"] / r["aperture_recorded"] for r in rows]
    return {"data": str(root), "split": split, "n": len(rows), "lens": "50 mm f/1.8 on APS-C (22.3 mm)",
            "psnr_recorded": float(np.mean([r["psnr_recorded"] for r in rows])),
            "psnr_lens": float(np.mean([r["psnr_lens"] for r in rows])),
            "aperture_ratio_lens_over_recorded": {"mean": float(np.mean(ratio)), "min": float(min(ratio)),
                                                  "max": float(max(ratio))},
            "rows": rows, **provenance("lens_true", None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="A synthetic set made by `bokehpipe synth`.")
    parser.add_argument("--split", default="all")
    parser.add_argument("--limit", type=int, default=0, help="Score the first N pairs only (0: all).")
    parser.add_argument("--json", type=Path, default=None, help="Write the result here.")
    args = parser.parse_args()
    result = score(args.data, args.split, args.limit)
    print(f"{result['n']} pairs of {args.data.name}/{args.split}: scatter at the recorded aperture "
          f"{result['psnr_recorded']:.2f} dB, lens-true (50 mm f/1.8 APS-C) {result['psnr_lens']:.2f} dB; "
          f"lens/recorded aperture {result['aperture_ratio_lens_over_recorded']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
