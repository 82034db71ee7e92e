"""The rehearsal at EBB!'s size: the paper's commands on a synthetic stand-in of EBB!'s shape, measured.

    python studies/rehearsal.py --dataset ebb1k --count 1000        # synth when the set is missing, then all
    python studies/rehearsal.py --dataset tiny --count 50 --size 768x512 --model pynet-xs --crop 128 --batch 4
    bokehpipe experiment rehearsal                                  # pipelines/rehearsal.toml

Each phase is the real command in a child process (printed as it runs) whose process tree is sampled from /proc
every 0.2 s: peak RSS of the main process, and peak PSS of the whole tree (DataLoader workers included, their
shared pages counted once). Phases: `synth` (when the set is missing); `depth` on train and val (`--source gt`);
`midas`: the network path on `--midas-split` with a random MiDaS small checkpoint in the official key layout;
`prepare` (the half-size inputs); `loader`: one worker's samples/s per level from the decoded photos and from the
prepared inputs, and the loader's peak memory streaming 100 samples against every training pair; `train`: each
level of `--levels` as its own `bokehpipe --pipeline ebb train` process (the paper's batch and crop; `--steps` a
level; the previous level's weights continue) with its step's images/s from metrics.csv and its checkpoint's
size; `resume`: a level killed with SIGKILL after its first checkpoint and the same command again; `ddp`:
torchrun with two CPU processes (gloo); `flops`: FLOPs of one training step per level (fake tensors: no
compute), and from them the paper's schedule on one GPU at `--gpu-tflops` x `--mfu`, beside the time the
measured loader would need with `--gpu-workers` workers.

Writes `--json` (default store/reports/rehearsal.json) and prints the table. A benchmark, not a test: the full
size takes hours on a 2-core CPU; `--count 50 --size 768x512 --model pynet-xs` takes minutes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from provenance import provenance

REPO = Path(__file__).resolve().parent.parent
MIDAS_FORMATS = REPO / "tests" / "data" / "midas_formats.json.gz"
PAPER = {7: (50, 5000), 6: (50, 5000), 5: (40, 20000), 4: (14, 20000), 3: (9, 30000), 2: (9, 80000), 1: (5, 100000)}
MIB = 1024 * 1024


# --- measuring a child process tree ------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _kib(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Peak RSS of the root process and peak PSS of its whole tree (MiB), sampled every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.stop = pid, interval, threading.Event()
        self.peak_rss = self.peak_tree_pss = 0.0
        self.processes = 1

    def run(self) -> None:
        while not self.stop.is_set():
            pids = _tree(self.pid)
            self.processes = max(self.processes, len(pids))
            self.peak_rss = max(self.peak_rss, _kib(f"/proc/{self.pid}/status", "VmRSS") / 1024)
            pss = sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) / 1024
            self.peak_tree_pss = max(self.peak_tree_pss, pss)
            self.stop.wait(self.interval)


def run_measured(cmd: list[str], *, log: Path, timeout: float | None = None, env: dict | None = None,
                 until: Any = None, watch: Any = None) -> dict[str, Any]:
    """Run `cmd` (its own process group), sampling its tree; `watch()` is called at every poll, and `until()`
    true kills the group with SIGKILL (a crash as a power cut makes it)."""
    print("$ " + " ".join(map(str, cmd)), flush=True)
    start = time.perf_counter()
    with open(log, "ab") as fh:
        proc = subprocess.Popen([str(c) for c in cmd], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        killed = False
        while proc.poll() is None:
            if watch is not None:
                watch()
            if until is not None and until():
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
            if timeout and time.perf_counter() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                raise RuntimeError(f"{cmd[:6]} ran past {timeout:.0f} s; see {log}")
            time.sleep(0.1)
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0 and not killed:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"`{' '.join(map(str, cmd[:8]))}...` failed ({proc.returncode}): {' | '.join(tail)}")
    return {"command": " ".join(map(str, cmd)), "wall_s": round(wall, 2), "peak_rss_mb": round(sampler.peak_rss),
            "peak_tree_pss_mb": round(sampler.peak_tree_pss), "processes": sampler.processes, "killed": killed}


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else (
        path.stat().st_size if path.is_file() else 0)


# --- the phases ----------------------------------------------------------------------------------------------

class Rehearsal:
    def __init__(self, args: argparse.Namespace) -> None:
        from bokehpipe.store import ArtifactStore

        self.args = args
        self.store = ArtifactStore.open(args.store)
        self.logs = self.store.reports_dir / "rehearsal-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        settings = {k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
                    for k, v in vars(args).items()}
        self.result: dict[str, Any] = {"settings": {**settings, "store": str(self.store.root)}, "phases": {},
                                       **provenance("rehearsal", None)}

    def bp(self, *argv: Any) -> list[Any]:
        return [sys.executable, "-m", "bokehpipe", "--store", self.store.root, *argv]

    def measure(self, name: str, cmd: list[Any], **kw: Any) -> dict[str, Any]:
        row = run_measured(cmd, log=self.logs / f"{name}.log", timeout=self.args.timeout, **kw)
        self.result["phases"][name] = row
        self.save()
        return row

    def save(self, final: bool = False) -> None:
        """Progress goes to `<json>.partial` (a killed rehearsal leaves no finished-looking result)."""
        from bokehpipe.store import atomic_write_json

        partial = self.args.json.with_name(self.args.json.name + ".partial")
        atomic_write_json(self.args.json if final else partial, self.result)
        if final:
            partial.unlink(missing_ok=True)

    # synth, depth, midas, prepare -----------------------------------------------------------------------
    def data(self) -> None:
        a = self.args
        root = self.store.dataset(a.dataset)
        if not root.is_dir():
            self.measure("synth", self.bp("synth", a.dataset, "--count", a.count, "--size", a.size,
                                          "--val-fraction", a.val_fraction, "--workers", a.workers))
        from bokehpipe.data.ebb import load_index

        index = load_index(root)
        self.result["dataset"] = {"root": str(root), "pairs": len(index.pairs), "bytes": du_bytes(root),
                                  "splits": {s: len(index.split(s)) for s in ("train", "val")}}
        for split in ("train", "val"):
            self.measure(f"depth-{split}", self.bp("depth", "--dataset", a.dataset, "--split", split,
                                                   "--source", "gt", "--json"))
        caches = {s: self.store.depth_cache(a.dataset, "gt", s) for s in ("train", "val")}
        self.result["depth_cache"] = {s: {"bytes": p.stat().st_size, "maps": len(index.split(s))}
                                      for s, p in caches.items()}
        self.result["depth_cache"]["read"] = read_rate(caches["train"], a.read_maps)
        if "midas" not in a.skip:
            weights = official_midas_checkpoint(self.logs / "midas_v21_small_256-official.pt")
            self.measure("midas", self.bp("depth", "--dataset", a.dataset, "--split", a.midas_split, "--source",
                                          "midas", "--model", "midas_v21_small_256", "--weights", weights,
                                          "--device", "cpu", "--workers", 1, "--json"))
            self.result["phases"]["midas"]["photos"] = len(index.split(a.midas_split))
        if "prepare" not in a.skip:
            for split in ("train", "val"):
                self.measure(f"prepare-{split}", self.bp("data", "prepare", "--dataset", a.dataset, "--split", split,
                                                         "--depth-source", "gt", "--workers", a.workers, "--json"))
            self.result["prepared"] = {s: self.store.prepared_inputs(a.dataset, "gt", s).stat().st_size
                                       for s in ("train", "val")}

    # loader ---------------------------------------------------------------------------------------------
    def loader(self) -> None:
        a = self.args
        out = {}
        for level in a.levels:
            cmd = [sys.executable, __file__, "_loader", "--store", self.store.root, "--dataset", a.dataset,
                   "--level", level, "--crop", a.crop, "--samples", a.loader_samples]
            row = self.measure(f"loader-rate-L{level}", cmd)
            out[level] = json.loads((self.logs / f"loader-rate-L{level}.log").read_text().strip().splitlines()[-1])
            out[level]["peak_rss_mb"] = row["peak_rss_mb"]
        self.result["loader"] = out
        n_train = self.result["dataset"]["splits"]["train"]
        few = min(100, n_train)
        for samples, images in sorted({(few, few), (n_train, few), (n_train, n_train)}):
            # same samples over few or all images: what grows with the number of images, not of samples
            self.measure(f"loader-memory-{samples}s-{images}i", [
                sys.executable, __file__, "_stream", "--store", self.store.root, "--dataset", a.dataset, "--level",
                max(a.levels), "--crop", a.crop, "--samples", samples, "--images", images, "--workers", a.workers])

    # train, resume, ddp ---------------------------------------------------------------------------------
    def train_args(self, run: str, level: int, steps: int) -> list[Any]:
        a = self.args
        argv = ["--pipeline", "ebb", "train", "--dataset", a.dataset, "--run-name", run, "--depth-source", "gt",
                "--model", a.model, "--crop", a.crop, "--val-split", "val", "--levels", level, "--steps", steps,
                "--device", "cpu", "--precision", "fp32", "--workers", a.workers, "--threads", a.threads,
                "--val-every", steps, "--val-max", a.val_max, "--log-every", 1, "--checkpoint-every", 1,
                "--no-tensorboard"]
        if a.batch:
            argv += ["--batch", a.batch]
        accumulate = a.accumulate.get(level, 1)
        if accumulate > 1:
            argv += ["--accumulate", accumulate]
        if level == 1:
            argv += ["--vgg-weights", random_vgg(self.logs / "vgg19-random.pth")]
        return argv

    def train(self) -> None:
        a = self.args
        levels = {}
        for level in a.levels:
            row = self.measure(f"train-L{level}", self.bp(*self.train_args(a.run, level, a.steps)))
            run_dir = self.store.run(a.run)
            rows = metrics(run_dir, level)
            speeds = [r["images_per_s"] for r in rows if r["kind"] == "train" and r["images_per_s"]]
            ck = run_dir / "checkpoints" / f"level{level}" / "last.pt"
            levels[level] = {**row, "step_images_per_s": speeds[-1] if speeds else None,
                             "first_step_images_per_s": speeds[0] if speeds else None,
                             "checkpoint_mb": round(ck.stat().st_size / MIB, 1) if ck.is_file() else None,
                             "val": [r for r in rows if r["kind"] == "val"][-1:]}
            self.result["train"] = levels
            self.save()

    def resume(self) -> None:
        """A level trained with --steps N+2, killed with SIGKILL once its step-1 checkpoint exists, run again:
        the seconds from the second launch to its first trained step (metrics.csv gains a row), beside the
        same for the first launch, whose difference is what resuming costs."""
        a, level = self.args, self.args.kill_level
        run = f"{a.run}-resume"
        argv = self.train_args(run, level, a.steps + 2)
        run_dir = self.store.run(run)
        ck = run_dir / "checkpoints" / f"level{level}" / "last.pt"
        first = FirstRow(run_dir, level)
        killed = self.measure("resume-killed", self.bp(*argv), watch=first.poll, until=ck.is_file)
        again = FirstRow(run_dir, level)
        self.measure("resume-again", self.bp(*argv), watch=again.poll)
        import torch

        state = torch.load(ck, map_location="cpu", weights_only=True)
        log = (self.logs / "resume-again.log").read_text(errors="replace")
        self.result["resume"] = {"level": level, "killed_after_s": killed["wall_s"], "final_step": int(state["step"]),
                                 "planned_steps": a.steps + 2,
                                 "said": [ln for ln in log.splitlines() if "resuming level" in ln][-1:],
                                 "first_step_after_launch_s": first.seconds,
                                 "first_step_after_resume_s": again.seconds}
        self.save()

    def ddp(self) -> None:
        a = self.args
        argv = self.train_args(f"{a.run}-ddp", a.ddp_level, a.ddp_steps)
        argv[argv.index("--workers") + 1] = 1
        argv[argv.index("--threads") + 1] = 1
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", 2, "-m",
               "bokehpipe", "--store", self.store.root, *argv]
        row = self.measure("ddp", cmd, env={**os.environ, "OMP_NUM_THREADS": "1"})
        import torch

        ck = self.store.run(f"{a.run}-ddp") / "checkpoints" / f"level{a.ddp_level}" / "last.pt"
        row["ddp"] = torch.load(ck, map_location="cpu", weights_only=True)["ddp"]
        self.save()

    # flops and the projection -----------------------------------------------------------------------------
    def project(self) -> None:
        """The paper's schedule on one GPU: compute time from counted FLOPs, and the time the measured loader
        (decoding the photos, or cutting prepared inputs) needs to feed it; a level takes the longer of the two."""
        a = self.args
        achieved = a.gpu_tflops * 1e12 * a.mfu
        loader = {int(k): v for k, v in self.result.get("loader", {}).items()}
        rows, totals = {}, {"gpu": 0.0, "decoded": 0.0, "prepared": 0.0}
        for level in a.levels:
            per_image = flops_per_image(a.model, level, a.crop)
            batch, steps = PAPER[level]
            gpu_s = batch * steps * per_image / achieved
            feed = {}
            for kind in ("decoded", "prepared"):
                rate = (loader.get(level) or {}).get(f"{kind}_per_s") or 0.0
                feed[kind] = batch * steps / (rate * a.gpu_workers) if rate else None
                totals[kind] += max(gpu_s, feed[kind] or 0.0)
            totals["gpu"] += gpu_s
            rows[level] = {"tflop_per_image": round(per_image / 1e12, 4), "batch": batch, "steps": steps,
                           "gpu_images_per_s": round(achieved / per_image, 1), "gpu_hours": round(gpu_s / 3600, 3),
                           "loader_hours": {k: round(v / 3600, 3) if v else None for k, v in feed.items()}}
        self.result["projection"] = {
            "assumptions": f"{a.gpu_tflops:g} dense bf16 TFLOP/s peak (H100 SXM) at {a.mfu:.0%} achieved (MFU); "
                           f"{a.gpu_workers} loader workers at the per-worker rate measured here; FLOPs of model "
                           "forward + backward + losses (VGG-19 at level 1) counted by torch's FlopCounterMode on "
                           "fake tensors; Adam and validation left out",
            "levels": rows, "gpu_hours": round(totals["gpu"] / 3600, 2),
            "hours_decoding": round(totals["decoded"] / 3600, 2),
            "hours_prepared": round(totals["prepared"] / 3600, 2)}


def metrics(run_dir: Path, level: int) -> list[dict[str, Any]]:
    import csv

    path = run_dir / "metrics.csv"
    if not path.is_file():
        return []
    with open(path) as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("level") == str(level)]
    for r in rows:
        r["images_per_s"] = float(r["images_per_s"]) if r.get("images_per_s") else None
    return rows


class FirstRow:
    """Seconds from construction until metrics.csv holds one more train row of `level` than it did then."""

    def __init__(self, run_dir: Path, level: int) -> None:
        self.run_dir, self.level = run_dir, level
        self.rows, self.start, self.seconds = self._count(), time.perf_counter(), None

    def _count(self) -> int:
        return sum(r["kind"] == "train" for r in metrics(self.run_dir, self.level))

    def poll(self) -> None:
        if self.seconds is None and self._count() > self.rows:
            self.seconds = round(time.perf_counter() - self.start, 2)


def read_rate(cache: Path, limit: int) -> dict[str, float]:
    """Maps/s and MB/s (float32 after decompression) reading up to `limit` maps of a depth cache once."""
    from bokehpipe.depth.cache import DepthCache

    with DepthCache(cache) as dc:
        ids = dc.ids()[:limit]
        start, nbytes = time.perf_counter(), 0
        for id_ in ids:
            nbytes += dc.read(id_).nbytes
        seconds = time.perf_counter() - start
    return {"maps": len(ids), "maps_per_s": round(len(ids) / seconds, 1), "mb_per_s": round(nbytes / MIB / seconds, 1)}


def official_midas_checkpoint(path: Path) -> Path:
    """A random MiDaS small checkpoint in the official key layout (names, shapes, dtypes of the released file,
    as tests/data/midas_formats.json.gz records them)."""
    import torch

    if path.is_file():
        return path
    spec = json.loads(gzip.decompress(MIDAS_FORMATS.read_bytes()))["variants"]["midas_v21_small_256"]
    gen, state = torch.Generator().manual_seed(0), {}
    for key, shape in spec["state_dict"]:
        if spec["non_float32_entries"].get(key) == "int64":
            state[key] = torch.zeros(shape, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = torch.ones(shape)
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.02
    torch.save(state, path)
    return path


def random_vgg(path: Path) -> Path:
    """VGG-19 features in torchvision's key layout with random weights: level 1 costs the same."""
    import torch

    from bokehpipe.losses import VGGContent

    if not path.is_file():
        torch.manual_seed(0)
        torch.save({f"features.{k}": v for k, v in VGGContent().features.state_dict().items()}, path)
    return path


def flops_per_image(model_name: str, level: int, crop: int) -> float:
    """FLOPs of one training image at `level` (forward, losses, backward), counted on fake tensors."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    from bokehpipe.losses import VGGContent, level_loss
    from bokehpipe.models import create_model

    with FakeTensorMode():
        model = create_model(model_name, in_chans=4)
        vgg = VGGContent() if level == 1 else None
        side = int(crop * 2 ** (2 - level))
        x, y = torch.empty(1, 4, crop, crop), torch.empty(1, 3, side, side)
        counter = FlopCounterMode(display=False)
        with counter:
            loss, _ = level_loss(level, model(x, level), y, vgg=vgg)
            loss.backward()
    return float(counter.get_total_flops())


# --- child processes: the loader alone -----------------------------------------------------------------------

def _datasets(args: argparse.Namespace, prepared: bool):
    from bokehpipe.data.datasets import BokehPairs
    from bokehpipe.data.ebb import load_index
    from bokehpipe.data.prepared import PreparedInputs
    from bokehpipe.depth.cache import DepthCache
    from bokehpipe.store import ArtifactStore

    store = ArtifactStore.open(args.store)
    pairs = load_index(store.dataset(args.dataset)).split("train")[:args.images or None]
    depth = DepthCache(store.depth_cache(args.dataset, "gt", "train"))
    path = store.prepared_inputs(args.dataset, "gt", "train")
    source = PreparedInputs(path) if prepared and path.is_file() else None
    return BokehPairs(pairs, level=args.level, crop=args.crop, with_depth=True, depth=depth, augment=True,
                      prepared=source)


def child_loader(args: argparse.Namespace) -> None:
    """One worker's samples/s (in this process, as a DataLoader worker makes them), decoded and prepared."""
    import cv2
    import torch

    from bokehpipe.data.datasets import StepSampler

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    out: dict[str, Any] = {"level": args.level, "samples": args.samples}
    for name, prepared in (("decoded", False), ("prepared", True)):
        ds = _datasets(args, prepared)
        if prepared and ds.prepared is None:
            out["prepared_per_s"] = None
            continue
        keys = [k for micro in StepSampler(len(ds), batch=args.samples, steps=2, seed=1, level=args.level)
                for k in micro]
        ds[keys[0]]  # warm: file handles, page cache of the first photo
        times = []
        for key in keys[1:args.samples + 1]:
            t0 = time.perf_counter()
            item = ds[key]
            times.append(time.perf_counter() - t0)
        out[f"{name}_per_s"] = round(1 / statistics.median(times), 2)
        out[f"{name}_bytes_per_sample"] = sum(v.numel() * v.element_size() for v in item.values()
                                              if isinstance(v, torch.Tensor))
    print(json.dumps(out), flush=True)


def child_stream(args: argparse.Namespace) -> None:
    """Stream `samples` training samples through the real DataLoader with `workers` processes."""
    from torch.utils.data import DataLoader

    from bokehpipe.data.datasets import StepSampler, collate, prepare_workers, worker_init

    ds = _datasets(args, prepared=False)
    batch = 4
    sampler = StepSampler(len(ds), batch=batch, steps=max(1, args.samples // batch), seed=2, level=args.level)
    prepare_workers(args.workers)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=args.workers, collate_fn=collate,
                        worker_init_fn=worker_init, prefetch_factor=2)
    start, n = time.perf_counter(), 0
    for b in loader:
        n += len(b["id"])
    print(json.dumps({"samples": n, "images_per_s": round(n / (time.perf_counter() - start), 2)}), flush=True)


# --- printing ---------------------------------------------------------------------------------------------------

def table(result: dict[str, Any]) -> str:
    lines = [f"{'phase':<20}{'wall s':>10}{'peak RSS MB':>13}{'tree PSS MB':>13}  notes"]
    for name, row in result["phases"].items():
        note = ""
        if name.startswith("train-L"):
            trained = result.get("train", {})
            t = trained.get(int(name[7:])) or trained.get(name[7:]) or {}
            note = f"step {t.get('step_images_per_s')} img/s, checkpoint {t.get('checkpoint_mb')} MB"
        lines.append(f"{name:<20}{row['wall_s']:>10.1f}{row['peak_rss_mb']:>13}{row['peak_tree_pss_mb']:>13}  {note}")
    for level, row in result.get("loader", {}).items():
        lines.append(f"loader level {level}: one worker {row.get('decoded_per_s')} samples/s decoded, "
                     f"{row.get('prepared_per_s')} prepared; {row.get('decoded_bytes_per_sample')} bytes a sample")
    if "depth_cache" in result:
        d = result["depth_cache"]
        lines.append(f"depth cache: train {d['train']['bytes'] / MIB:.0f} MiB for {d['train']['maps']} maps; "
                     f"read {d['read']['maps_per_s']} maps/s ({d['read']['mb_per_s']} MB/s)")
    if "projection" in result:
        p = result["projection"]
        lines.append(f"paper schedule on one GPU: {p['gpu_hours']} h of compute; with the measured loader "
                     f"{p['hours_decoding']} h decoding photos, {p['hours_prepared']} h from prepared inputs "
                     f"({p['assumptions']})")
    return "\n".join(lines)


def parse_accumulate(text: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (part.split("=") for part in text.split(",") if part.strip())}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from bokehpipe.train.config import parse_levels

    ap = argparse.ArgumentParser(prog="python studies/rehearsal.py", description=__doc__.split("\n")[0])
    ap.add_argument("--store", default=os.environ.get("BOKEHPIPE_STORE"))
    ap.add_argument("--dataset", default="rehearsal")
    ap.add_argument("--count", type=int, default=1000, help="Pairs to synthesise when the set is missing.")
    ap.add_argument("--size", default="1536x1024")
    ap.add_argument("--val-fraction", type=float, default=0.294, help="EBB!: Val294 (0.294 of 1,000 pairs).")
    ap.add_argument("--model", default="pynet")
    ap.add_argument("--crop", type=int, default=512)
    ap.add_argument("--batch", type=int, default=0, help="Override the paper's batch (0: the paper's).")
    ap.add_argument("--accumulate", type=parse_accumulate, default={}, help="Per level, e.g. 1=5,2=3.")
    ap.add_argument("--levels", type=parse_levels, default=(7, 6, 5, 4, 3, 2, 1))
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-max", type=int, default=2)
    ap.add_argument("--run", default="rehearsal")
    ap.add_argument("--kill-level", type=int, default=7)
    ap.add_argument("--ddp-level", type=int, default=7)
    ap.add_argument("--ddp-steps", type=int, default=2)
    ap.add_argument("--midas-split", default="val")
    ap.add_argument("--read-maps", type=int, default=200)
    ap.add_argument("--loader-samples", type=int, default=12)
    ap.add_argument("--gpu-tflops", type=float, default=989.0)
    ap.add_argument("--mfu", type=float, default=0.35)
    ap.add_argument("--gpu-workers", type=int, default=8)
    ap.add_argument("--skip", default="", help="Comma-separated phases to leave out: midas,prepare,loader,train,"
                                               "resume,ddp.")
    ap.add_argument("--timeout", type=float, default=None, help="Seconds any one phase may take.")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--reproject", action="store_true",
                    help="Only project the paper's schedule again (other --gpu-tflops, --mfu, --gpu-workers) from "
                         "the measured --json.")
    args = ap.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


def child_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    for name in ("--store", "--dataset"):
        ap.add_argument(name)
    for name in ("--level", "--crop", "--samples", "--workers", "--images"):
        ap.add_argument(name, type=int, default=0)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("_loader", "_stream"):
        (child_loader if argv[0] == "_loader" else child_stream)(child_args(argv[1:]))
        return 0
    args = parse_args(argv)
    r = Rehearsal(args)
    args.json = args.json or r.store.reports_dir / "rehearsal.json"
    if args.reproject:  # other GPU assumptions on the measured result
        r.result = json.loads(args.json.read_text())
        r.project()
        r.save(final=True)
        print(table(r.result))
        return 0
    r.result["settings"]["json"] = str(args.json)
    r.data()
    for phase in ("loader", "train", "resume", "ddp"):
        if phase not in args.skip:
            getattr(r, phase)()
    r.project()
    r.save(final=True)
    print(table(r.result))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
