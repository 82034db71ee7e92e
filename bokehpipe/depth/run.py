"""Phase one: the resumable, sharded depth pass that fills `store/depth/<dataset>/<model-or-source>/<split>.h5`.

Steps (rank 0 plans and merges; every rank computes its share):

1. Resolve the dataset split and the source; for MiDaS, resolve the weights first, so a missing file fails
   with the offline message before anything is written.
2. Rank 0 takes the cache's run lock and plans: ids already in the cache or in finished parts with the
   same identity (model, weights sha256, input rule, normalisation, precision) are skipped; a cache of a
   different identity is an error unless `overwrite`, which discards it first.
3. Under torchrun (`WORLD_SIZE` > 1, gloo for coordination only) rank r takes ids r, r+N, r+2N, ... of the
   plan and writes its own shard parts (bokehpipe.depth.shards); a single process needs no torchrun.
4. Rank 0 merges cache + parts into a new `<split>.h5` (atomic replace) and verifies it against the split.

A photo or map that cannot be read is skipped with one line naming it (`on_skip`), the others are cached,
and the result lists it in `failed`; verification then covers the maps that could be made. A rerun tries
the skipped ones again (they are not in the cache).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bokehpipe.data.ebb import Pair, load_index
from bokehpipe.depth.cache import (
    VerifyReport,
    attrs_dict,
    fill_command,
    make_provenance,
    verify_cache,
)
from bokehpipe.depth.producers import MapProducer, MidasProducer, default_workers
from bokehpipe.depth.shards import (
    PartWriter,
    check_identity,
    clean_temporaries,
    list_parts,
    merge,
    read_part_index,
    run_lock,
)
from bokehpipe.depth.variants import default_variant, get_variant
from bokehpipe.device import resolve_device
from bokehpipe.errors import BokehpipeError
from bokehpipe.store import ArtifactStore


@dataclass
class DepthRunResult:
    path: Path
    dataset: str
    split: str
    total: int
    skipped: int
    computed: int
    cached: int
    report: VerifyReport | None
    seconds: float
    rank: int = 0
    world_size: int = 1
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, line naming the unreadable file)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "dataset": self.dataset, "split": self.split, "total": self.total,
                "skipped": self.skipped, "computed": self.computed, "cached": self.cached,
                "failed": [{"id": i, "error": e} for i, e in self.failed],
                "seconds": round(self.seconds, 3), "rank": self.rank, "world_size": self.world_size,
                "verify": self.report.to_json() if self.report is not None else None}


def make_source(source: str, store: ArtifactStore, *, model: str | None, weights: str | None, device: str,
                precision: str, batch_size: int | None, workers: int | None, net_size: int | None,
                degrade: str | None = None):
    if source in ("gt", "png"):
        if model is not None or weights is not None:
            raise BokehpipeError(f"--model/--weights apply to --source midas, not --source {source}")
        return MapProducer(source, batch_size or 8, degrade)
    if degrade not in (None, "", "none"):
        raise BokehpipeError("--degrade applies to --source gt or png (maps that exist before the depth pass)")
    if source != "midas":
        raise BokehpipeError(f"unknown --source {source!r}; use midas, gt or png")
    from bokehpipe import weights as weights_registry

    variant = get_variant(model or default_variant("cuda" if device.startswith("cuda") else "cpu"))
    path = weights_registry.resolve(variant.weights_name, store, weights)
    return MidasProducer(variant, path, device=device, precision=precision, batch_size=batch_size or 1,
                       workers=default_workers() if workers is None else workers, net_size=net_size)


def _plan(cache_path: Path, pairs: list[Pair], provenance: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Rank 0, under the run lock: which ids still need a map (see the module docstring)."""
    clean_temporaries(cache_path)
    parts = list_parts(cache_path)
    if overwrite:
        for part in parts:
            part.unlink()
        parts = []
        if cache_path.is_file():
            cache_path.unlink()
    done: set[str] = set()
    if cache_path.is_file():
        from bokehpipe.depth.cache import open_read_only

        try:
            with open_read_only(cache_path) as h5:
                check_identity(cache_path, attrs_dict(h5.attrs), provenance)
                sizes = {i: int(h5[i].attrs.get("source_bytes", -1)) for i in h5.keys()}
        except OSError as exc:
            raise BokehpipeError(f"{cache_path}: unreadable cache ({exc}); pass --overwrite to rebuild it") from None
        for pair in pairs:
            src = pair.input if provenance["source"] == "midas" else pair.depth
            if pair.id in sizes and src is not None and src.is_file() and src.stat().st_size == sizes[pair.id]:
                done.add(pair.id)  # a changed source file (other size) is recomputed; verify hashes
    for part in parts:
        attrs, ids = read_part_index(part)
        check_identity(part, attrs, provenance)
        done.update(ids)
    todo = [p.id for p in pairs if p.id not in done]
    token = time.strftime("%Y%m%d-%H%M%S") + f"-{secrets.token_hex(4)}"  # unique per run: parts never collide
    return {"todo": todo, "skipped": len(pairs) - len(todo), "token": token}


def run_depth(store: ArtifactStore, *, split: str, data: str | None = None, dataset: str | None = None,
              source: str = "midas", model: str | None = None, weights: str | None = None,
              device: str | None = "auto", precision: str = "fp32", batch_size: int | None = None,
              workers: int | None = None, overwrite: bool = False, net_size: int | None = None,
              verify: bool = True, degrade: str | None = None, progress=None,
              on_skip: Callable[[str], None] | None = None) -> DepthRunResult:
    """Compute the missing depth maps of one split and merge them into its cache; see the module docstring.

    `progress(total)` is called once on rank 0 with the number of maps this rank computes and returns a
    callable ticked per map (a tqdm bar's `update`, say); `on_skip(line)` is called on the rank that met it
    for each photo or map that could not be read. Library code prints nothing itself.
    """
    from bokehpipe import distributed

    start = time.time()
    root, name = store.resolve_dataset(data=data, dataset=dataset)
    pairs = load_index(root).split(split)
    if not pairs:
        raise BokehpipeError(f"{root}: split {split!r} has no photos")
    device = resolve_device(device) if source == "midas" else "cpu"  # torchrun: this rank's GPU
    src = make_source(source, store, model=model, weights=weights, device=device, precision=precision,
                      batch_size=batch_size, workers=workers, net_size=net_size, degrade=degrade)
    src.check(pairs, split)
    cache_path = store.depth_cache(name, src.cache_name, split)
    in_store = root.parent == store.datasets_dir.resolve() if store.datasets_dir.exists() else False
    command = fill_command(name, split, source, src.cache_name, None if in_store else str(root))
    identity = src.identity()
    provenance = make_provenance(source=source, dataset=name, split=split, dataset_root=str(root),
                                 command=command, **identity)
    # gloo only coordinates (plan broadcast, barriers); maps never travel between ranks
    dist = distributed.setup(device, backend="gloo", timeout=timedelta(days=1))
    try:
        with run_lock(cache_path) if dist.rank == 0 else contextlib.nullcontext():
            plan: dict[str, Any] | str
            if dist.rank == 0:
                try:
                    plan = _plan(cache_path, pairs, provenance, overwrite)
                except BokehpipeError as exc:
                    plan = str(exc)
                    distributed.broadcast_object(dist, plan)
                    raise
            else:
                plan = ""
            plan = distributed.broadcast_object(dist, plan)
            if isinstance(plan, str):
                raise BokehpipeError(plan)
            by_id = {p.id: p for p in pairs}
            mine = [by_id[i] for i in plan["todo"][dist.rank::dist.world]]
            failed: list[tuple[str, str]] = []

            def skip(id_: str, line: str) -> None:
                failed.append((id_, line))
                if on_skip is not None:
                    on_skip(line)

            computed = _compute(src, mine, PartWriter(cache_path, provenance, token=plan["token"], rank=dist.rank),
                                progress if dist.rank == 0 else None, skip)
            computed = distributed.total(dist, computed)  # also the barrier before the merge
            failed = [tuple(f) for f in distributed.concat(dist, failed)]
            report, cached = None, 0
            if dist.rank == 0:
                parts = list_parts(cache_path)
                if parts or not cache_path.is_file():
                    merge(cache_path, parts, provenance)
                if cache_path.is_file():
                    store.record(cache_path, "depth", dataset=name, split=split, source=source,
                                 model=src.cache_name, weights_sha256=identity["weights_sha256"])
                if verify:
                    unreadable = {i for i, _ in failed}
                    expected = {p.id: (p.input if source == "midas" else p.depth) for p in pairs
                                if p.id not in unreadable}
                    report = verify_cache(cache_path, expected, wanted=provenance)
                    cached = report.ok_ids
            distributed.barrier(dist)
    finally:
        src.close()
        distributed.cleanup(dist)
    return DepthRunResult(cache_path, name, split, len(pairs), plan["skipped"], computed, cached, report,
                          time.time() - start, dist.rank, dist.world, sorted(failed))


def _compute(src, pairs: list[Pair], writer: PartWriter, progress, skip) -> int:
    if not pairs:
        return 0
    tick_bar = progress(len(pairs)) if progress is not None else None

    def tick() -> None:
        if tick_bar is not None:
            tick_bar(1)

    n = 0
    for entries in src.batches(pairs, tick, skip):
        writer.write(entries)
        n += len(entries)
    return n
