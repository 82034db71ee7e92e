"""Peak memory of `bokehpipe infer` per renderer and photo size: each case in its own process.

`python studies/infer_memory.py --sizes 1536x1024,9000x6000 --renderers scatter,gaussian,bokehnet,pynet`
writes one synthetic photo (JPEG) and disparity map (16-bit PNG) per size into a temporary folder, then runs
the real command, `python -m bokehpipe infer FOLDER --method M --depth MAPS` (`--checkpoint` of a
random-weight model for a learned PyNET, no model flag for `bokehnet`, the packaged default), in a child
process, and prints the child's peak RSS (`wait4`, the kernel's own high-water mark) with its wall time:
what a user's machine must hold, reading, depth, rendering, writing.
A benchmark, not a test: it takes minutes at 54 MP on a slow CPU."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bokehpipe.sizes import parse_sizes

GOALS_MB = {1536 * 1024: 2048, 9000 * 6000: 3072}  # the README's promise: 2 GB at 1536x1024, 3 GB at 54 MP
LEARNED = ("pynet", "pynet-s", "pynet-xs", "pynet-res", "pynet-res-s", "pynet-res-xs")  # --checkpoint, random init
DEFAULT = "bokehnet"  # no model flag: the packaged default (scatter + BokehNet), as a user gets it


def write_inputs(folder: Path, size: tuple[int, int], seed: int = 0, photos: int = 1) -> tuple[Path, Path]:
    """A textured photo with bright dots (bokeh highlights) and a ground-plane disparity with a near disc,
    written in row strips so that making a 54 MP input does not itself need gigabytes; `photos` > 1 adds
    links to it under other names (a folder of large photos: what infer reads ahead counts too)."""
    import cv2

    w, h = size
    rng = np.random.default_rng(seed)
    photo = np.empty((h, w, 3), np.uint8)
    disp = np.empty((h, w), np.uint16)
    x = np.arange(w, dtype=np.float32)
    cx, cy, r = 0.5 * w, 0.55 * h, 0.2 * min(w, h)
    for y0 in range(0, h, 512):
        y = np.arange(y0, min(h, y0 + 512), dtype=np.float32)[:, None]
        base = 0.5 + 0.25 * np.sin(x / 37.0)[None] * np.cos(y / 23.0)
        noise = rng.random((len(y), w, 3), dtype=np.float32) * 0.1
        strip = np.clip(np.stack([base * (x / w), base, base * (1 - x / w)], -1) + noise, 0, 1)
        strip[rng.random(strip.shape[:2]) > 0.9995] = 1.0  # point lights
        photo[y0:y0 + len(y)] = (strip * 255).astype(np.uint8)
        d = 0.2 + 0.6 * (y / h) ** 1.5 + 0 * x[None]
        d = np.where((x[None] - cx) ** 2 + (y - cy) ** 2 < r * r, 0.95, d)
        disp[y0:y0 + len(y)] = (d * 65535).astype(np.uint16)
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    (folder / "maps").mkdir(parents=True, exist_ok=True)
    name = f"p{w}x{h}"
    cv2.imwrite(str(folder / "photos" / f"{name}.jpg"), photo[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(folder / "maps" / f"{name}.png"), disp)
    for sub, ext in (("photos", "jpg"), ("maps", "png")):
        for old in (folder / sub).glob(f"{name}-*.{ext}"):  # from an earlier run with more photos
            old.unlink()
        for i in range(1, photos):
            os.link(folder / sub / f"{name}.{ext}", folder / sub / f"{name}-{i}.{ext}")
    return folder / "photos", folder / "maps"


def write_checkpoint(path: Path, model: str) -> Path:
    """Random weights in the training loop's checkpoint format: memory does not depend on the values."""
    import torch

    from bokehpipe.models import create_model
    from bokehpipe.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    net = create_model(model, in_chans=4)
    info = {"model": model, "width": float(getattr(net, "width", 1.0)), "in_chans": 4, "levels": [1],
            "with_depth": True, "depth_source": "bench", "multiple": 32}
    return save_checkpoint(path, {"model": net.state_dict(), "level": 1, "step": 0, "config": {}, "info": info})


def run_case(renderer: str, photos: Path, maps: Path, work: Path, threads: int, extra: list[str]) -> dict:
    """One `bokehpipe infer` in a child process; its peak RSS from wait4."""
    if renderer in LEARNED:
        source = ["--checkpoint", str(write_checkpoint(work / f"{renderer}.pt", renderer))]
    else:
        source = [] if renderer == DEFAULT else ["--method", renderer]
    out = work / f"out-{renderer}"
    argv = [sys.executable, "-m", "bokehpipe", "--store", str(work / "store"), "infer", str(photos), *source,
            "--depth", str(maps), "--out", str(out), "--overwrite", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    # output goes to files, not pipes: wait4 before reading would block a child that fills a pipe (~64 KiB)
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out_f, stderr=err_f)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out_f.seek(0)
        err_f.seek(0)
        stdout, stderr = out_f.read().decode(errors="replace"), err_f.read().decode(errors="replace")
    rc = os.waitstatus_to_exitcode(status)
    result = {"renderer": renderer, "peak_rss_mb": round(usage.ru_maxrss / 1024.0, 1), "wall_s": round(wall, 1),
              "exit": rc, "tiled": "tiled" in stdout}
    if rc != 0:
        result["error"] = (stderr.strip().splitlines() or ["?"])[-1][:300]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1536x1024,9000x6000")
    parser.add_argument("--renderers", default="scatter,gaussian,bokehnet,pynet-xs,pynet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--photos", type=int, default=1, help="Photos per folder (links to one file).")
    parser.add_argument("--work", default=None, help="Folder for inputs and outputs (default: a temporary one).")
    parser.add_argument("--aperture", type=float, default=None,
                        help="Classical renderers: blur strength (smaller is faster; memory is bounded by tiles).")
    args = parser.parse_args(argv)
    work_root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bokehpipe-mem-"))
    for w, h in parse_sizes(args.sizes):
        folder = work_root / f"{w}x{h}"
        photos, maps = write_inputs(folder, (w, h), photos=args.photos)
        for renderer in args.renderers.split(","):
            extra = ["--aperture", str(args.aperture)] if args.aperture is not None and renderer not in LEARNED else []
            row = run_case(renderer, photos, maps, folder, args.threads, extra)
            if extra:
                row["aperture"] = args.aperture
            goal = GOALS_MB.get(w * h)
            row.update(size=f"{w}x{h}", photos=args.photos, goal_mb=goal,
                       within_goal=None if goal is None else row["peak_rss_mb"] <= goal)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
