"""`bokehpipe bench`: seconds and peak memory per photo for each model and renderer, measured on this machine.

Every row runs in its own process (`bokehpipe.bench.measure`) so its peak memory is its own. Results go to
store/reports/bench.json with the machine, the commit and the exact settings (the report's cost table).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bokehpipe.errors import BokehpipeError


def _run(args: Sequence[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bokehpipe.bench.measure", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BokehpipeError(f"benchmark `{' '.join(args)}` failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    cores = os.cpu_count()
    return {"cpu": cpu, "cores": cores, "gpu": gpu, "torch": torch.__version__, "python": platform.python_version(),
            "summary": f"{gpu}" if gpu else f"{cores}-core CPU ({cpu})"}


def commit(root: str | Path | None = None) -> str:
    """The git commit of `root` (default: this package's checkout), `+dirty` with uncommitted changes."""
    try:
        root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def run_suite(*, models: Sequence[str], renderers: Sequence[str], depth_models: Sequence[str],
              train_levels: Sequence[int], train_model: str, size: tuple[int, int], device: str, repeats: int,
              crop: int, batch: int, threads: int | None = None, timeout: float = 1800,
              real_maps: str | None = None,
              on_row: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    common = ["--size", f"{size[0]}x{size[1]}", "--device", device, "--repeats", str(repeats)]
    thread_args = ["--threads", str(threads)] if threads else []
    common += thread_args
    result: dict[str, Any] = {"machine": machine(), "commit": commit(), "image_size": f"{size[0]}x{size[1]}",
                              "device": device, "repeats": repeats, "threads": threads or "torch default",
                              "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                              "models": [], "renderers": [], "depth": [], "train": []}
    for name in models:
        row = _run(["model", name, *common], timeout)
        result["models"].append(row)
        if on_row:
            on_row("model", row)
    for name in renderers:
        row = _run(["renderer", name, *common], timeout)
        result["renderers"].append(row)
        if on_row:
            on_row("renderer", row)
    for level in train_levels:
        row = _run(["train", train_model, "--level", str(level), "--crop", str(crop), "--batch", str(batch),
                    *thread_args, "--device", device, "--repeats", str(repeats)], timeout)
        result["train"].append(row)
        if on_row:
            on_row("train", row)
    if depth_models:
        from bokehpipe.bench.depth_bench import CACHE_KEYS, run_bench

        depth = run_bench(list(depth_models), images=max(2, repeats), size=size, device=device, threads=threads,
                          real_maps=real_maps)
        result["depth_cache"] = {key: depth[key] for key in CACHE_KEYS}
        for name, row in depth["models"].items():
            entry = {"name": name, **row}
            result["depth"].append(entry)
            if on_row:
                on_row("depth", entry)
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [f"bokehpipe bench on {result['machine']['summary']}, commit {result['commit']}, "
             f"{result['image_size']} images, device {result['device']}",
             f"{'what':<34}{'params':>10}{'s/image':>10}{'peak MB':>10}"]
    for r in result["models"]:
        lines.append(f"{'model ' + r['name']:<34}{r['params'] / 1e6:>9.2f}M{r['s_per_image']:>10.2f}"
                     f"{r['peak_mb']:>10.0f}")
    for r in result["renderers"]:
        lines.append(f"{'renderer ' + r['name']:<34}{'-':>10}{r['s_per_image']:>10.2f}{r['peak_mb']:>10.0f}")
    for r in result["depth"]:
        lines.append(f"{'depth ' + r['name']:<34}{'':>10}{1 / r['images_per_s']:>10.2f}{'':>10}"
                     f"  ({r['images_per_s']:.2f} img/s; network alone {r['forward_only_images_per_s']:.2f}/s; "
                     f"verify {'ok' if r['verify_ok'] else 'FAILED'})")
    if result.get("depth_cache"):
        from bokehpipe.bench.depth_bench import format_cache
        from bokehpipe.sizes import parse_size

        lines += ["  " + line for line in format_cache(result["depth_cache"], parse_size(result["image_size"]))]
    for r in result["train"]:
        what = f"train {r['name']} L{r['level']} crop{r['crop']} b{r['batch']}"
        lines.append(f"{what:<34}{r['params'] / 1e6:>9.2f}M{r['batch'] / r['images_per_s']:>10.2f}"
                     f"{r['peak_mb']:>10.0f}  ({r['images_per_s']:.2f} img/s)")
    return "\n".join(lines)
