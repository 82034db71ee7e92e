"""How close can any renderer get on a synthetic test set? `python studies/synthetic_ceiling.py`.

A synthetic pair's target is the scene rendered by the generator's own thin-lens optics, then given EBB!-like
defects (`bokehpipe.data.synthetic._defects`): a sub-pixel shift, a random exposure and colour gain, sensor
noise and JPEG. No renderer can predict a draw of those. This regenerates each pair of a set WITHOUT the
defects (same seed and id: the same scene, focus and aperture) and scores, with the project's protocol
(`metrics.score_pair`), against the stored target:

- `exact_optics`: the clean target itself, i.e. a perfect renderer of the generator's optics from a perfect
  input: what a flawless renderer scores when it guesses no exposure;
- `exact_optics_mean_gain`: the same times the defects' mean exposure gain (`TARGET_GAIN_RANGE`): what a
  renderer that knew the optics exactly and learned the mean exposure (never the draw) would reach. A reference
  level, not a strict bound: under a random sub-pixel shift and noise a slightly blurred prediction can score
  a little higher;
- `exact_optics_oracle_gain`: times each image's own least-squares colour gain (an oracle, unreachable).

Set beside `bokehpipe eval` on the same split (e.g. tag bn-test), it says how much of the gap above `scatter`
exists at all. The pairs must come from this generator version (checked: the regenerated clean input must
match the stored input up to the defects).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.errors import BokehpipeError

MIN_INPUT_PSNR = 30.0
"""A regenerated clean input further than this (dB) from the stored one means another generator made the set."""


def ceiling(root: Path, split: str, limit: int | None = None) -> dict[str, Any]:
    """Per-image and mean scores of the three ceilings above for `split` of the synthetic set at `root`."""
    from bokehpipe.data.ebb import METADATA_FILE, load_index
    from bokehpipe.data.io import read_image
    from bokehpipe.data.synthetic import GENERATOR_VERSION, TARGET_GAIN_RANGE, generate_pair
    from bokehpipe.metrics import PROTOCOL, score_pair
    from bokehpipe.metrics.protocol import fit_color_gain
    from bokehpipe.physics import linear_to_srgb, srgb_to_linear
    from realpairs import SCORE_KEYS, psnr

    meta_path = root / METADATA_FILE
    if not meta_path.is_file():
        raise BokehpipeError(f"{meta_path}: not found; give a set made by `bokehpipe synth`")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not meta.get("defects"):
        raise BokehpipeError(f"{root}: the set has no pair defects; its ceiling is the exact render (infinite PSNR)")
    if meta.get("generator_version") != GENERATOR_VERSION:
        raise BokehpipeError(f"{root}: made by generator version {meta.get('generator_version')}, this is "
                             f"{GENERATOR_VERSION}; regenerate the set with `bokehpipe synth`")
    width, height = (int(v) for v in meta["size"])
    rng_ap = meta.get("aperture_range")
    mean_gain = float(np.mean(TARGET_GAIN_RANGE))
    rows = []
    for pair in load_index(root).split(split, require_targets=True)[:limit]:
        clean = generate_pair(int(meta["seed"]), int(pair.id), width, height, defects=False,
                              aperture_range=tuple(rng_ap) if rng_ap else None)
        stored_in, target = read_image(pair.input), read_image(pair.target)
        match = psnr(clean.input, stored_in)
        if match < MIN_INPUT_PSNR:
            raise BokehpipeError(f"{pair.input}: the regenerated clean input differs from it ({match:.1f} dB); "
                                 "the set was not made by this generator")
        lin, lin_t = srgb_to_linear(clean.target), srgb_to_linear(target)
        preds = {"exact_optics": clean.target,
                 "exact_optics_mean_gain": linear_to_srgb(lin * mean_gain),
                 "exact_optics_oracle_gain": linear_to_srgb(lin * fit_color_gain(lin, lin_t).astype(np.float32))}
        row: dict[str, Any] = {"id": pair.id, "input_match_psnr": round(match, 3)}
        for name, pred in preds.items():
            scores = score_pair(np.clip(pred, 0.0, 1.0), target, PROTOCOL)
            row[name] = {k: round(float(scores[k]), 5) for k in SCORE_KEYS if k in scores}
        rows.append(row)
    names = [k for k in rows[0] if isinstance(rows[0][k], dict)] if rows else []
    means = {name: {k: round(float(np.mean([r[name][k] for r in rows if k in r[name]])), 4) for k in rows[0][name]}
             for name in names}
    return {"dataset_root": str(root), "split": split, "n_images": len(rows), "mean_gain": mean_gain,
            "methods": means, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the synthetic set's folder (e.g. <store>/datasets/NAME)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    from provenance import provenance

    try:
        out = ceiling(Path(args.data), args.split, args.limit)
    except BokehpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out.update(provenance("synthetic_ceiling", argv))
    for name, m in out["methods"].items():
        print(f"{name:26s} PSNR {m['psnr']:.2f}  SSIM {m['ssim']:.4f}  ({out['n_images']} images)")
    if args.json:
        from bokehpipe.store import atomic_write_json

        atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
