"""Synthetic pairs per second, seconds per image of each classical renderer, and the PSNR of identity /
gaussian / scatter (with the true disparity, focus and aperture) on a synthetic split.

`python studies/render_bench.py` prints all three tables; `speed`, `renderers` or `psnr` print one. PSNR here
is the plain full-image PSNR (data range 1, no border crop): a sanity measure, not the evaluation protocol of
`eval`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.errors import BokehpipeError
from bokehpipe.sizes import parse_size, parse_sizes


def bench_synth(width: int, height: int, *, count: int = 8, workers: int = 2, seed: int = 0) -> dict[str, Any]:
    """Pairs per second of a whole `synth` run (scene, two renders, defects, JPEG/PNG writes, workers)."""
    from bokehpipe.data.synthetic import write_synthetic_set

    with tempfile.TemporaryDirectory(prefix="bokehpipe-bench-") as tmp:
        start = time.perf_counter()
        write_synthetic_set(Path(tmp) / "set", count=count, width=width, height=height, seed=seed, workers=workers)
        seconds = time.perf_counter() - start
    return {"size": f"{width}x{height}", "count": count, "workers": workers, "seconds": round(seconds, 2),
            "pairs_per_s": round(count / seconds, 3)}


def bench_renderer(method: str, width: int = 1536, height: int = 1024, *, repeats: int = 3, seed: int = 0
                   ) -> dict[str, Any]:
    """Median seconds per image of `render(method)` on a synthetic photo with its true disparity."""
    from bokehpipe.data.synthetic import generate_pair
    from bokehpipe.render import render

    pair = generate_pair(seed, 0, width, height, defects=False, kind="hedge")
    focus, aperture = pair.meta["focus"], pair.meta["aperture"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        render(pair.input, pair.disparity, method, focus=focus, aperture=aperture)
        times.append(time.perf_counter() - start)
    return {"method": method, "size": f"{width}x{height}", "aperture": aperture, "repeats": repeats,
            "s_per_image": round(statistics.median(times), 3)}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def bench_psnr(root: str | Path, split: str = "val") -> dict[str, Any]:
    """Mean PSNR vs the target of identity, gaussian and scatter (true disparity, focus, aperture) on a split."""
    from bokehpipe.data.ebb import load_index, load_metadata
    from bokehpipe.data.io import read_image, read_map
    from bokehpipe.render import render

    root = Path(root)
    meta = load_metadata(root)
    if meta is None:
        raise BokehpipeError(f"{root}: no per-image focus/aperture (metadata.json); bench a `bokehpipe synth` set")
    rows = []
    for pair in load_index(root).split(split, require_targets=True):
        image, target, disp = read_image(pair.input), read_image(pair.target), read_map(pair.depth)
        f, a = meta[pair.id]["focus"], meta[pair.id]["aperture"]
        rows.append([psnr(image, target), psnr(render(image, disp, "gaussian", focus=f, aperture=a), target),
                     psnr(render(image, disp, "scatter", focus=f, aperture=a), target)])
    mean = np.mean(rows, axis=0)
    return {"data": str(root), "split": split, "pairs": len(rows), "identity": round(float(mean[0]), 2),
            "gaussian": round(float(mean[1]), 2), "scatter": round(float(mean[2]), 2),
            "scatter_wins": int(sum(r[2] > max(r[0], r[1]) for r in rows))}


def _table(title: str, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    lines = [title, "  ".join(f"{k:>12}" for k in keys)]
    lines += ["  ".join(f"{str(r[k]):>12}" for k in keys) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=["all", "speed", "renderers", "psnr"], default="all")
    parser.add_argument("--sizes", default="768x512,1536x1024", help="synth sizes to time (comma-separated WxH)")
    parser.add_argument("--count", type=int, default=8, help="pairs per synth timing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="renders per timing (median)")
    parser.add_argument("--data", default=None, help="synthetic set for psnr (default: build one in a temp folder)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--psnr-count", type=int, default=50, help="pairs of the temporary set for psnr")
    parser.add_argument("--psnr-size", default="1536x1024")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.what in ("all", "speed"):
        rows = [bench_synth(w, h, count=args.count, workers=args.workers, seed=args.seed)
                for w, h in parse_sizes(args.sizes)]
        print(_table("synth", rows, ["size", "count", "workers", "seconds", "pairs_per_s"]), flush=True)
    if args.what in ("all", "renderers"):
        rows = [bench_renderer(m, repeats=args.repeats, seed=args.seed) for m in ("gaussian", "scatter")]
        print(_table("renderers", rows, ["method", "size", "s_per_image"]), flush=True)
    if args.what in ("all", "psnr"):
        if args.data:
            result = bench_psnr(args.data, args.split)
        else:
            from bokehpipe.data.synthetic import write_synthetic_set

            with tempfile.TemporaryDirectory(prefix="bokehpipe-psnr-") as tmp:
                w, h = parse_size(args.psnr_size)
                root = write_synthetic_set(Path(tmp) / "psnr", count=args.psnr_count, width=w, height=h,
                                           seed=args.seed, val_fraction=0.2, workers=args.workers)
                result = bench_psnr(root, args.split)
                result["data"] = f"synth {args.psnr_count}x{args.psnr_size} seed {args.seed} (val_fraction 0.2)"
        print(_table("psnr (dB, full image)", [result], ["pairs", "identity", "gaussian", "scatter", "scatter_wins"]))
        print(f"  on {result['data']}, split {result['split']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
