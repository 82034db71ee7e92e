"""Training benchmarks: peak memory of one level-1 training step and of the data pipeline alone.

The paper trains level 1 on 512x512 half-resolution crops against 1024x1024 targets; the official code
needed ~164 GB of RAM because it held the whole set in float64. These commands measure what a streaming
PyTorch rebuild needs instead (peak RSS, CPU, batch 1):

    python studies/train_bench.py step --model pynet --crop 512      # one level-1 step (fwd+bwd+Adam)
    python studies/train_bench.py data --level 1 --crop 512 --workers 2 --batch 5 --data DIR

Each prints one JSON line. Without `--data` a synthetic set of eight full-size (1536x1024) pairs in the EBB!
layout is written to a temp folder (`bokehpipe synth`'s generator) and measured from a fresh process.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size of this process (or of its largest finished/running child) in MiB (Linux: KiB)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0


def gt_depth_cache(data: str, split: str, store_root: Path):
    """The split's own disparity maps as the depth cache training reads (`bokehpipe depth --source gt`)."""
    from bokehpipe.depth.cache import DepthCache
    from bokehpipe.depth.run import run_depth
    from bokehpipe.store import ArtifactStore

    result = run_depth(ArtifactStore(store_root), data=data, split=split, source="gt", device="cpu")
    return DepthCache(result.path)


def bench_step(model_name: str, crop: int, batch: int, level: int, threads: int, perceptual: bool) -> dict:
    """One optimiser step at `level` on random data: forward, the paper's loss, backward, Adam."""
    import torch

    from bokehpipe.losses import VGGContent, level_loss
    from bokehpipe.models import count_parameters, create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model(model_name, in_chans=4)
    vgg = VGGContent() if perceptual and level == 1 else None  # random weights: same memory as the real ones
    params = [p for _, p in model.level_parameters(level)]
    opt = torch.optim.Adam(params, lr=5e-5)
    side = int(crop * 2 ** (2 - level))
    x = torch.rand(batch, 4, crop, crop)
    y = torch.rand(batch, 3, side, side)
    base = peak_rss_mb()
    t0 = time.perf_counter()
    pred = model(x, level)
    loss, parts = level_loss(level, pred, y, vgg=vgg)
    loss.backward()
    opt.step()
    return {"bench": "train_step", "model": model_name, "params": count_parameters(model), "level": level,
            "crop": crop, "target": side, "batch": batch, "perceptual": vgg is not None, "threads": threads,
            "seconds": round(time.perf_counter() - t0, 2), "rss_before_step_mb": round(base, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "loss": float(loss.detach())}


def bench_data_on_a_synthetic_set(argv: list[str]) -> dict:
    """`data` without `--data`: write eight 1536x1024 synthetic pairs, then measure in a fresh process, so that
    making the set counts in neither peak."""
    import subprocess

    from bokehpipe.data.synthetic import write_synthetic_set

    with tempfile.TemporaryDirectory() as tmp:
        data = write_synthetic_set(Path(tmp) / "synth", count=8, width=1536, height=1024, seed=0, val_fraction=0.0,
                                   workers=1)
        cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--data", str(data)]
        line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return {**json.loads(line), "data": "synthetic 1536x1024 pairs"}


def bench_data(data: str, level: int, crop: int, batch: int, workers: int, batches: int) -> dict:
    """Stream `batches` training batches through the real Dataset/DataLoader and record peak RSS; the depth
    channel comes from a depth cache built from the set's own maps, as training reads it."""
    from bokehpipe.data.datasets import BokehPairs
    from bokehpipe.data.ebb import load_index

    index = load_index(data)
    split = "train" if "train" in index.split_names() else "all"
    pairs = index.split(split, require_targets=True)
    with_depth = all(p.depth is not None for p in pairs)
    with tempfile.TemporaryDirectory(prefix="train-bench-store-") as store_root:
        depth = gt_depth_cache(data, split, Path(store_root)) if with_depth else None
        ds = BokehPairs(pairs, level=level, crop=crop, with_depth=with_depth, depth=depth, augment=True)
        out = _stream(ds, batch, workers, batches)
    return {"bench": "data", "data": data, "pairs": len(pairs), "level": level, "crop": crop, "batch": batch,
            "workers": workers, "batches": batches, "with_depth": with_depth, **out}


def _stream(ds, batch: int, workers: int, batches: int) -> dict:
    """Time and peak RSS of streaming `batches` batches of `ds` through a DataLoader."""
    import torch
    from torch.utils.data import DataLoader

    from bokehpipe.data.datasets import StepSampler, collate, prepare_workers, worker_init

    sampler = StepSampler(len(ds), batch=batch, steps=batches, seed=0, level=ds.level)
    prepare_workers(workers)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers, collate_fn=collate,
                        worker_init_fn=worker_init if workers else None)
    t0 = time.perf_counter()
    shapes = None
    for b in loader:
        shapes = {k: list(v.shape) for k, v in b.items() if isinstance(v, torch.Tensor)}
    seconds = time.perf_counter() - t0
    return {"shapes": shapes, "images_per_s": round(batch * batches / seconds, 2),
            "peak_rss_main_mb": round(peak_rss_mb(), 1), "peak_rss_largest_worker_mb": round(peak_rss_mb(True), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python studies/train_bench.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("step", help="peak RSS of one training step")
    s.add_argument("--model", default="pynet")
    s.add_argument("--crop", type=int, default=512)
    s.add_argument("--batch", type=int, default=1)
    s.add_argument("--level", type=int, default=1)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--no-perceptual", action="store_true")
    d = sub.add_parser("data", help="peak RSS of the data pipeline alone")
    d.add_argument("--data", default=None)
    d.add_argument("--level", type=int, default=1)
    d.add_argument("--crop", type=int, default=512)
    d.add_argument("--batch", type=int, default=5)
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--batches", type=int, default=10)
    a = ap.parse_args(argv)
    if a.cmd == "step":
        out = bench_step(a.model, a.crop, a.batch, a.level, a.threads, not a.no_perceptual)
    elif a.data is None:
        out = bench_data_on_a_synthetic_set(sys.argv[1:] if argv is None else list(argv))
    else:
        out = bench_data(a.data, a.level, a.crop, a.batch, a.workers, a.batches)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
