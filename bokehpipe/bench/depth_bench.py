"""Benchmark of phase one: depth-pass images/s, cache bytes per map, and HDF5 read maps/s from a DataLoader.

Run by `bokehpipe bench --depth-models A,B [--real-maps DIR]` (the one road; `--models '' --renderers ''
--train-levels ''` times the depth pass alone). Everything runs end to end through
the same code as `bokehpipe depth`: JPEG photos at EBB! size (1536x1024) in a temporary folder, a
random-weights checkpoint per variant (timing does not depend on the weights), `run_depth` (decode,
preprocess, forward, bicubic resize back, normalise, float16 + gzip HDF5 parts, merge, verify). The
images/s figure is 1 / the median time between consecutive finished maps (model loading and first-call
overheads excluded; a warm-up run on one photo precedes each model; the mean rate is reported too).

Random weights give near-constant maps that compress unrealistically well, so the cache size is also
measured on depth-like content at full resolution: real depth PNGs (`--real-maps DIR`, e.g. PyNET's
maps upsampled) or, by default, a synthetic map with noise (a pessimistic bound: noise does not compress).
Read throughput: a 2-worker DataLoader over `DepthCache.read`, at the stored size and at half resolution.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.io import write_jpeg
from bokehpipe.store import ArtifactStore


def photo_like(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w, y / h, 0.5 + 0.5 * np.sin(x / 37.0) * np.cos(y / 23.0)], axis=-1)
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)).astype(np.float32), 0, 1)


def depth_like(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A plausible disparity map: ground-plane gradient, a few blobs, mild noise (for the size estimate)."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    d = 0.2 + 0.6 * (y / h) ** 1.5
    for _ in range(6):
        cx, cy, r, v = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(60, 300), rng.uniform(0.3, 1.0)
        d = np.where((x - cx) ** 2 + (y - cy) ** 2 < r * r, np.maximum(d, v), d)
    d = d + 0.01 * rng.standard_normal((h, w)).astype(np.float32)
    return np.clip((d - d.min()) / (d.max() - d.min()), 0, 1)


class _Reads:
    """Map-style dataset over one cache (pickles without its h5py handle)."""

    def __init__(self, path: Path, ids: list[str], size: tuple[int, int] | None) -> None:
        from bokehpipe.depth.cache import DepthCache

        self.cache, self.ids, self.size = DepthCache(path), ids, size

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.cache.read(self.ids[i], self.size)


def _read_rate(path: Path, ids: list[str], size: tuple[int, int] | None, workers: int = 2, rounds: int = 2) -> float:
    from torch.utils.data import DataLoader

    ds = _Reads(path, ids * rounds, size)
    loader = DataLoader(ds, batch_size=4, num_workers=workers)
    start = time.perf_counter()
    n = sum(batch.shape[0] for batch in loader)
    return n / (time.perf_counter() - start)


def _real_maps(folder: Path, size: tuple[int, int]) -> list[np.ndarray]:
    """Depth PNGs (e.g. PyNET's half-resolution maps) brought to `size`: realistic content for size/reads."""
    from bokehpipe.data.io import is_image_file, read_map, resize

    maps = [resize(read_map(p), size, "cubic", clip=True) for p in sorted(folder.iterdir()) if is_image_file(p)]
    if not maps:
        raise ValueError(f"{folder}: no depth maps found")
    return maps


def _forward_seconds(name: str, ckpt: Path, photo: np.ndarray, device: str, repeats: int = 3) -> float:
    """Median seconds of the network alone on one preprocessed photo (no decode, resize back or HDF5)."""
    import torch

    from bokehpipe.depth.model import load_midas
    from bokehpipe.depth.transforms import prepare

    model = load_midas(name, ckpt, device=device)
    x = torch.from_numpy(prepare(photo, model.variant))[None].to(device)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            model(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def run_bench(models: list[str], *, images: int = 8, size: tuple[int, int] = (1536, 1024),
              threads: int | None = None, device: str = "auto", read_maps: int = 32,
              real_maps: str | None = None) -> dict[str, Any]:
    import torch

    from bokehpipe.depth.cache import Entry, make_provenance
    from bokehpipe.depth.model import create_midas
    from bokehpipe.depth.run import run_depth
    from bokehpipe.depth.shards import PartWriter, merge
    from bokehpipe.device import resolve_device

    if threads:
        torch.set_num_threads(threads)
    device = resolve_device(device)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"size": list(size), "images": images, "device": device,
                           "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="bokehpipe-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "photos"
        for i in range(images):
            write_jpeg(data / "images" / f"{i}.jpg", photo_like(rng, size))
        store = ArtifactStore(tmp / "store")
        warm = tmp / "warm"
        write_jpeg(warm / "images" / "0.jpg", photo_like(rng, size))
        for name in models:
            torch.manual_seed(0)
            ckpt = tmp / f"{name}.pt"
            torch.save(create_midas(name).state_dict(), ckpt)
            common = dict(split="all", model=name, weights=str(ckpt), device=device, overwrite=True)
            run_depth(store, data=str(warm), workers=0, verify=False, **common)  # first-call overheads
            ticks: list[float] = []

            def progress(total: int, ticks=ticks):
                return lambda n: ticks.append(time.perf_counter())

            result = run_depth(store, data=str(data), workers=2, progress=progress, **common)
            gaps = np.diff(ticks)
            forward_s = _forward_seconds(name, ckpt, photo_like(rng, size), device)
            out["models"][name] = {"images_per_s": 1.0 / float(np.median(gaps)) if len(gaps) else float("nan"),
                                   "mean_images_per_s": len(gaps) / float(gaps.sum()) if len(gaps) else float("nan"),
                                   "forward_only_images_per_s": 1.0 / forward_s, "end_to_end_s": result.seconds,
                                   "cache_bytes_per_map": result.path.stat().st_size / images,
                                   "verify_ok": bool(result.report.ok)}
            ckpt.unlink()
        # cache size and read speed on depth-like content at full resolution
        path = tmp / "read" / "bench.h5"
        prov = make_provenance(source="gt", model="gt", dataset="bench", split="all", dataset_root=str(tmp),
                               normalisation="bench")
        writer = PartWriter(path, prov, token="bench")
        ids = [str(i) for i in range(read_maps)]
        pool = _real_maps(Path(real_maps), size) if real_maps else None
        out["map_content"] = f"depth PNGs from {real_maps}, resized" if pool else "synthetic depth_like()"
        for i, id_ in enumerate(ids):
            d = pool[i % len(pool)] if pool else depth_like(rng, size)
            writer.write([Entry(id_, d.astype(np.float16), size, "bench", "", 0, 0.0, 1.0)])
        merge(path, writer.written, prov)
        out["depth_like_cache_bytes_per_map"] = path.stat().st_size / read_maps
        out["raw_float16_bytes_per_map"] = size[0] * size[1] * 2
        out["read_maps_per_s_stored_size"] = _read_rate(path, ids, None)
        out["read_maps_per_s_half_size"] = _read_rate(path, ids, (size[0] // 2, size[1] // 2))
    return out


CACHE_KEYS = ("map_content", "depth_like_cache_bytes_per_map", "raw_float16_bytes_per_map",
              "read_maps_per_s_stored_size", "read_maps_per_s_half_size")


def format_cache(r: dict[str, Any], size: tuple[int, int]) -> list[str]:
    """The cache-size and HDF5-read lines (`r` holds CACHE_KEYS) of a depth benchmark at `size`."""
    w, h = size
    return [f"cache size, {r['map_content']}: {r['depth_like_cache_bytes_per_map'] / 2**20:.2f} MiB/map "
            f"(raw float16 {r['raw_float16_bytes_per_map'] / 2**20:.2f} MiB)",
            f"HDF5 reads, DataLoader 2 workers: {r['read_maps_per_s_stored_size']:.1f} maps/s at {w}x{h}, "
            f"{r['read_maps_per_s_half_size']:.1f} maps/s resized to {w // 2}x{h // 2}"]
