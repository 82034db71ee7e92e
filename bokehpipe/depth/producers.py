"""Depth producers: what fills a phase-one cache for `bokehpipe depth --source midas|gt|png`.

Not to be confused with the one protocol every consumer reads maps through
(`bokehpipe.data.disparity.DisparitySource`): a producer writes cache entries, a source hands one map over.

- `midas`: a network of the depth table (MiDaS or Depth Anything V2) on the photo, preprocessed and resized
  back as its official script does (bokehpipe.depth.transforms), at the photo's full decoded size. A metric
  network's metres are stored as normalised 1/depth with the range in raw_min/raw_max (1/m), and the cache
  says so in its `normalisation` and `depth_units` attributes.
- `gt`: `Pair.depth` of a synthetic set (`Training/depth/<id>.png`, 16-bit disparity, near = bright).
- `png`: `Pair.depth` of an EBB!/PyNET-style folder (`original_depth/` or `depth_maps/`: 8-bit maps at half
  resolution, near = bright, as the paper fed them to PyNET).

Every producer yields batches of `Entry` (normalised float16 map + provenance of that map); its
`identity()` goes into the cache's root attributes so different sources never mix. A photo or map that
cannot be read is skipped, not fatal: `skip(id, line)` gets one line naming the file, and the rest of the
split is still cached (the same policy as `infer`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.disparity import normalise
from bokehpipe.data.ebb import Pair
from bokehpipe.data.io import read_image, read_map
from bokehpipe.depth.cache import Entry
from bokehpipe.depth.variants import DepthVariant
from bokehpipe.errors import BokehpipeError
from bokehpipe.store import file_digest

MAP_NORMALISATION = ("per-image min-max of the stored map (near = bright) -> [0, 1], near = 1; "
                     "raw range in each entry's raw_min/raw_max")
PRECISIONS = ("fp32", "fp16", "bf16")
Skip = Callable[[str, str], None]  # (pair id, one line naming the unreadable file)


class MapProducer:
    """`gt` / `png`: read `Pair.depth`, keep its native resolution, normalise per image; optionally degrade it
    (bokehpipe.depth.degrade) and cache it as `<source>-<degradation>`."""

    def __init__(self, name: str, batch_size: int = 8, degrade: str | None = None) -> None:
        from bokehpipe.depth.degrade import get_degradation

        self.name = name
        self.degradation = get_degradation(degrade)
        self.cache_name = f"{name}-{self.degradation.name}" if self.degradation else name
        self.batch_size = max(1, int(batch_size))

    def identity(self) -> dict[str, Any]:
        rule = f"degraded ({self.degradation.describe()})" if self.degradation else "native"
        return {"model": self.cache_name, "weights_sha256": "", "weights_file": "", "input_rule": rule,
                "normalisation": MAP_NORMALISATION, "precision": "n/a"}

    def check(self, pairs: list[Pair], split: str) -> None:
        missing = [p for p in pairs if p.depth is None]
        if missing:
            ids = ", ".join(p.id for p in missing[:5]) + ("..." if len(missing) > 5 else "")
            raise BokehpipeError(f"--source {self.name} needs a depth map per photo, but {len(missing)} of "
                                 f"{len(pairs)} photos of split {split!r} have none (e.g. {ids}); "
                                 "use --source midas or add the maps")

    def entry(self, pair: Pair) -> Entry:
        assert pair.depth is not None
        raw = read_map(pair.depth)
        photo = read_image(pair.input)
        try:
            data, lo, hi = normalise(raw)
        except BokehpipeError as exc:
            raise BokehpipeError(f"{pair.depth}: {exc}") from None
        if self.degradation is not None:
            data = self.degradation.apply(data, (photo.shape[1], photo.shape[0]), key=pair.id)
        digest, nbytes = file_digest(pair.depth)
        return Entry(pair.id, data.astype(np.float16), (photo.shape[1], photo.shape[0]), str(pair.depth),
                     digest, nbytes, lo, hi)

    def batches(self, pairs: list[Pair], tick: Callable[[], None], skip: Skip) -> Iterator[list[Entry]]:
        batch: list[Entry] = []
        for pair in pairs:
            try:
                batch.append(self.entry(pair))
            except BokehpipeError as exc:
                skip(pair.id, str(exc))
            tick()
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        return None


class _Photos:
    """Map-style dataset for torch's DataLoader: decode + preprocess in workers; errors come back as text."""

    def __init__(self, pairs: list[Pair], variant: DepthVariant, net_size: int | None) -> None:
        self.pairs, self.variant, self.net_size = pairs, variant, net_size

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple:
        from bokehpipe.depth.transforms import prepare

        pair = self.pairs[i]
        try:
            image = read_image(pair.input)
            digest, nbytes = file_digest(pair.input)
            return (pair.id, prepare(image, self.variant, self.net_size), (image.shape[1], image.shape[0]),
                    str(pair.input), digest, nbytes, None)
        except BokehpipeError as exc:
            return (pair.id, None, None, str(pair.input), "", 0, str(exc))


def _as_is(item: tuple) -> tuple:
    return item


class MidasProducer:
    """`midas`: runs one network of the depth table, batching photos whose network inputs have the same size."""

    name = "midas"

    def __init__(self, variant: DepthVariant, weights: Path, *, device: str, precision: str = "fp32",
                 batch_size: int = 1, workers: int = 0, net_size: int | None = None) -> None:
        if precision not in PRECISIONS:
            raise BokehpipeError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        if precision != "fp32" and not str(device).startswith("cuda"):
            raise BokehpipeError(f"--precision {precision} needs a CUDA device (got {device}); use fp32 on a CPU")
        self.variant, self.weights, self.device = variant, Path(weights), device
        self.precision, self.net_size = precision, net_size
        self.batch_size, self.workers = max(1, int(batch_size)), max(0, int(workers))
        self.cache_name = variant.name
        self._digest: str | None = None
        self._model = None

    def weights_sha256(self) -> str:
        if self._digest is None:
            self._digest = file_digest(self.weights)[0]
        return self._digest

    def identity(self) -> dict[str, Any]:
        rule = self.variant.input_rule()
        if self.net_size:
            rule += f"; net size override {self.net_size}"
        from bokehpipe.depth.transforms import normalisation_rule

        return {"model": self.variant.name, "weights_sha256": self.weights_sha256(),
                "weights_file": self.weights.name, "input_rule": rule,
                "normalisation": normalisation_rule(self.variant), "precision": self.precision,
                "depth_units": "metres" if self.variant.metric else "relative"}

    def check(self, pairs: list[Pair], split: str) -> None:
        return None

    def model(self):
        if self._model is None:
            from bokehpipe.depth.model import load_midas

            self._model = load_midas(self.variant.name, self.weights, device=self.device)
        return self._model

    def _predict(self, items: list[tuple]) -> list[Entry]:
        import torch

        from bokehpipe.depth.transforms import resize_prediction, to_inverse_depth

        model = self.model()
        x = torch.stack([torch.as_tensor(it[1]) for it in items]).to(self.device)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        with torch.inference_mode():
            if dtype is not None:
                with torch.autocast("cuda", dtype=dtype):
                    pred = model(x)
            else:
                pred = model(x)
            out = []
            for i, (id_, _, size, src, digest, nbytes, _) in enumerate(items):
                raw = resize_prediction(pred[i:i + 1], size, self.variant)[0].float().cpu().numpy()
                try:
                    data, lo, hi = normalise(to_inverse_depth(raw, self.variant))
                except BokehpipeError as exc:
                    raise BokehpipeError(f"{src}: {exc}") from None
                out.append(Entry(id_, data.astype(np.float16), tuple(size), src, digest, nbytes, lo, hi))
        return out

    def batches(self, pairs: list[Pair], tick: Callable[[], None], skip: Skip) -> Iterator[list[Entry]]:
        from torch.utils.data import DataLoader

        self.model()  # load before the workers fork: a bad checkpoint fails fast
        loader = DataLoader(_Photos(pairs, self.variant, self.net_size), batch_size=None, num_workers=self.workers,
                            collate_fn=_as_is)
        pending: list[tuple] = []
        for item in loader:
            if item[-1] is not None:  # the photo could not be read: named, and the split goes on
                skip(item[0], item[-1])
                tick()
                continue
            if pending and (np.shape(item[1]) != np.shape(pending[0][1]) or len(pending) == self.batch_size):
                yield self._flush(pending, tick)
                pending = []
            pending.append(item)
        if pending:
            yield self._flush(pending, tick)

    def _flush(self, items: list[tuple], tick: Callable[[], None]) -> list[Entry]:
        entries = self._predict(items)
        for _ in entries:
            tick()
        return entries

    def close(self) -> None:
        self._model = None


def default_workers() -> int:
    return min(4, max(0, (os.cpu_count() or 1) - 1))
