"""Training speed alone and next to one competing 2-thread CPU process, per thread configuration.

    python studies/shared_speed.py [--seconds 20] [--configs spin,passive,one] [--level 3]

For each configuration it times the demo's training step (pynet-res-xs, crop 64, batch 8, one DataLoader
worker, Adam; RGB input) for `--seconds` after a warm-up, first alone, then while a second process runs
torch matrix products on 2 threads (another training, say), back to back, and prints images/s for both and
their ratio (goal: shared >= 40% of alone). Each measurement runs in a fresh process, because the OpenMP
wait policy is read once when torch loads.

Configurations:
- spin:    torch's defaults (threads = cores, libgomp's default spin-then-sleep wait);
- passive: `bokehpipe.threads` (OMP_WAIT_POLICY=PASSIVE, threads = cores or OMP_NUM_THREADS);
- one:     one intra-op thread (what OMP_NUM_THREADS=1 gives).
`--denormals` instead times a conv and an Adam step on normal vs denormal floats with
torch.set_flush_denormal off and on, and with `--steps N` counts the denormal parameters, gradients and Adam
moments along N steps of a real level (flush off).

Why it exists: the demo's training fell 30-60x, not 2x, next to one other 2-thread process, which led to the
set-up of `bokehpipe/threads.py` ("passive"). `--denormals` on the 2-core development machine: a 3x3 conv on
denormal inputs took 4078 ms against 75 ms on normal ones, 86 ms with flushing; whether training reaches
denormals at all is what `--steps N` counts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMPETITOR = ("import torch, time\ntorch.set_num_threads(2)\na = torch.randn(384, 384)\n"
              "while True:\n    a = (a @ a).clamp_(-1, 1)\n")
CONFIGS = {
    "spin": {"env": {}, "unset": ["OMP_WAIT_POLICY", "OMP_NUM_THREADS"], "fix": False},
    "passive": {"env": {"OMP_WAIT_POLICY": "PASSIVE"}, "unset": ["OMP_NUM_THREADS"], "fix": True},
    "one": {"env": {"OMP_NUM_THREADS": "1"}, "unset": ["OMP_WAIT_POLICY"], "fix": True},
}


def _child(args: argparse.Namespace) -> None:
    """One timed training stint in this process; prints a JSON line."""
    import torch
    from torch.utils.data import DataLoader

    from bokehpipe.data.datasets import BokehPairs, StepSampler, batch_to_device, collate, prepare_workers, worker_init
    from bokehpipe.data.ebb import load_index
    from bokehpipe.losses import level_loss
    from bokehpipe.models import create_model

    if args.fix:
        from bokehpipe.threads import configure

        configure()
    torch.manual_seed(0)
    pairs = load_index(args.data).split("train", require_targets=True)
    model = create_model("pynet-res-xs", in_chans=3)
    used = {n for n, _ in model.level_parameters(args.level)}
    opt = torch.optim.Adam([p for n, p in model.named_parameters() if n in used], lr=1e-3)
    ds = BokehPairs(pairs, level=args.level, crop=64, with_depth=False, augment=True)
    sampler = StepSampler(len(ds), batch=8, steps=100000, seed=0, level=args.level)
    prepare_workers(1)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=1, collate_fn=collate, worker_init_fn=worker_init,
                        prefetch_factor=2)
    it = iter(loader)

    def step() -> None:
        batch = batch_to_device(next(it), "cpu")
        opt.zero_grad(set_to_none=True)
        loss, _ = level_loss(args.level, model(batch["input"], args.level), batch["target"])
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds or steps < 2:
        step()
        steps += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"images_per_s": steps * 8 / elapsed, "steps": steps, "seconds": elapsed,
                      "threads": torch.get_num_threads(), "wait_policy": os.environ.get("OMP_WAIT_POLICY")}))


def _measure(config: str, data: Path, args: argparse.Namespace) -> dict:
    spec = CONFIGS[config]
    env = {k: v for k, v in os.environ.items() if k not in spec["unset"]}
    env.update(spec["env"])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--data", str(data), "--seconds",
           str(args.seconds), "--level", str(args.level), "--warmup", str(args.warmup)] + (["--fix"] if spec["fix"]
                                                                                          else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _denormal_micro() -> dict:
    """ms per conv forward (8x16x64x64, 3x3) and per Adam step (1M params) on normal vs denormal values, with
    torch.set_flush_denormal off and on: is a denormal slowdown possible on this CPU at all?"""
    import torch

    def timeit(fn, n: int = 10) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1e3

    out = {}
    for flush in (False, True):
        torch.set_flush_denormal(flush)
        for kind, scale in (("normal", 1e-3), ("denormal", 1e-41)):
            torch.manual_seed(0)
            p = torch.nn.Parameter(torch.randn(1_000_000))
            opt = torch.optim.Adam([p], lr=1e-3)
            g = torch.randn(1_000_000) * scale

            def adam_step(p=p, g=g, opt=opt) -> None:
                p.grad = g.clone()
                opt.step()

            x = torch.randn(8, 16, 64, 64) * scale
            conv = torch.nn.Conv2d(16, 16, 3, padding=1)
            with torch.no_grad():
                out[f"flush={flush} {kind}"] = {"conv_ms": round(timeit(lambda conv=conv, x=x: conv(x)), 2),
                                                "adam_ms": round(timeit(adam_step), 2)}
    torch.set_flush_denormal(False)
    return out


def _denormals(args: argparse.Namespace) -> None:
    """The micro-benchmark above, then (with --steps N) denormal counts along N steps of a real level."""
    import torch

    from bokehpipe.data.datasets import BokehPairs, StepSampler, batch_to_device, collate
    from bokehpipe.data.ebb import load_index
    from bokehpipe.losses import level_loss
    from bokehpipe.models import create_model

    torch.set_num_threads(1)
    print(json.dumps({"micro": _denormal_micro()}), flush=True)
    if not args.steps:
        return
    tiny = torch.finfo(torch.float32).tiny

    def count(tensors) -> int:
        return sum(int(((t.detach().abs() > 0) & (t.detach().abs() < tiny)).sum()) for t in tensors if t is not None)

    pairs = load_index(args.data).split("train", require_targets=True)
    torch.manual_seed(0)
    model = create_model("pynet-res-xs", in_chans=3)
    used = {n for n, _ in model.level_parameters(args.level)}
    params = [p for n, p in model.named_parameters() if n in used]
    opt = torch.optim.Adam(params, lr=1e-3)
    ds = BokehPairs(pairs, level=args.level, crop=64, with_depth=False, augment=True)
    t_prev = time.perf_counter()
    for i, idx in enumerate(StepSampler(len(ds), batch=8, steps=args.steps, seed=0, level=args.level)):
        batch = batch_to_device(collate([ds[j] for j in idx]), "cpu")
        opt.zero_grad(set_to_none=True)
        loss, _ = level_loss(args.level, model(batch["input"], args.level), batch["target"])
        loss.backward()
        opt.step()
        if (i + 1) % 20 == 0:
            now = time.perf_counter()
            states = [s for p in params for s in opt.state[p].values() if torch.is_tensor(s) and s.ndim]
            print(json.dumps({"step": i + 1, "s_per_step": round((now - t_prev) / 20, 3),
                              "params_denormal": count(params), "grads_denormal": count(p.grad for p in params),
                              "adam_denormal": count(states), "values": sum(p.numel() for p in params)}), flush=True)
            t_prev = now


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="Timed seconds per measurement.")
    ap.add_argument("--warmup", type=int, default=3, help="Untimed steps first.")
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--configs", default="spin,passive,one")
    ap.add_argument("--data", default=None, help="Dataset folder (default: a small synthetic set in a temp folder).")
    ap.add_argument("--denormals", action="store_true", help="Count denormals instead (see the docstring).")
    ap.add_argument("--steps", type=int, default=0, help="--denormals: also count along N steps of the level.")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fix", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else None
        if data is None:
            from bokehpipe.data.synthetic import write_synthetic_set

            data = write_synthetic_set(Path(tmp) / "toy", count=18, width=256, height=192, seed=0, val_fraction=0.1,
                                       workers=1)
        if args.denormals:
            _denormals(argparse.Namespace(**{**vars(args), "data": data}))
            return
        for config in args.configs.split(","):
            alone = _measure(config, data, args)
            print(json.dumps({"config": config, "condition": "alone", **alone, "load": os.getloadavg()[0]}),
                  flush=True)
            competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR])
            try:
                time.sleep(1.0)
                shared = _measure(config, data, args)
            finally:
                competitor.kill()
                competitor.wait()
            print(json.dumps({"config": config, "condition": "shared", **shared, "load": os.getloadavg()[0]}),
                  flush=True)
            print(json.dumps({"config": config, "alone_images_per_s": round(alone["images_per_s"], 2),
                              "shared_images_per_s": round(shared["images_per_s"], 2),
                              "ratio": round(shared["images_per_s"] / alone["images_per_s"], 3),
                              "threads": alone["threads"], "wait_policy": alone["wait_policy"]}), flush=True)


if __name__ == "__main__":
    main()
