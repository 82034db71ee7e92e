"""One measurement per process, so peak memory belongs to that measurement alone.

`python -m bokehpipe.bench.measure model pynet-s --size 1536x1024` prints one JSON line: seconds per image
(median of `--repeats` after one warm-up), peak RSS (CPU) or peak allocated memory (CUDA), parameters.
`train pynet-xs --level 3 --crop 128 --batch 2` measures training images/s of one level (no VGG term).
Models run with random weights: speed and memory do not depend on the values.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np

from bokehpipe.errors import BokehpipeError
from bokehpipe.sizes import parse_size


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _photo(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from bokehpipe.bench.depth_bench import depth_like, photo_like

    rng = np.random.default_rng(0)
    return photo_like(rng, size), depth_like(rng, size)


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(kind: str, name: str, size: tuple[int, int], device: str, repeats: int, threads: int | None, *,
            level: int = 1, crop: int = 128, batch: int = 1) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    rgb, disp = _photo(size)
    out = {"kind": kind, "name": name, "size": f"{size[0]}x{size[1]}", "device": device,
           "threads": torch.get_num_threads()}
    if kind == "model":
        from bokehpipe.models import count_parameters, create_model
        from bokehpipe.render.learned import LearnedRenderer

        torch.manual_seed(0)
        model = create_model(name, in_chans=4)
        renderer = LearnedRenderer(model, level=1, with_depth=True, device=device, name=name)
        out["params"] = count_parameters(model)
        out["s_per_image"] = _timed(lambda: renderer.render_batch([rgb], [disp]), repeats)
    elif kind == "train":
        from bokehpipe.losses import level_loss
        from bokehpipe.models import count_parameters, create_model

        torch.manual_seed(0)
        model = create_model(name, in_chans=4).to(device)
        params = [p for _, p in model.level_parameters(level)]
        opt = torch.optim.Adam(params, lr=5e-5)
        side = int(crop * 2 ** (2 - level))  # the level's target side (level 1: twice the crop)
        x = torch.rand(batch, 4, crop, crop, device=device)
        y = torch.rand(batch, 3, side, side, device=device)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            loss, _ = level_loss(level, model(x, level), y, vgg=None)
            loss.backward()
            opt.step()
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        out.update(params=count_parameters(model), level=level, crop=crop, batch=batch)
        out["images_per_s"] = batch / _timed(step, repeats)
    elif kind == "renderer" and name == "bokehnet":  # the shipped default: scatter + the learned correction
        from bokehpipe.render.learned import BokehNetRenderer, load_bokehnet

        renderer = BokehNetRenderer(load_bokehnet()[0])
        out["s_per_image"] = _timed(lambda: renderer.render_one(rgb, disp), repeats)
    elif kind == "renderer":
        from bokehpipe.render import render

        out["s_per_image"] = _timed(lambda: render(rgb, disp, name), repeats)
    else:
        raise BokehpipeError(f"unknown measurement kind {kind!r}; one of model, renderer, train")
    if device.startswith("cuda"):
        out["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        out["peak_mb"] = peak_rss_mb()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["model", "renderer", "train"])
    parser.add_argument("name")
    parser.add_argument("--size", default="1536x1024")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--level", type=int, default=1)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.kind, args.name, parse_size(args.size), args.device, args.repeats, args.threads,
                             level=args.level, crop=args.crop, batch=args.batch)))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
