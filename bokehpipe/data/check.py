"""`bokehpipe data check`: decode every file of a dataset once and list every problem, by file.

A pair is usable when its input and target decode and have the same size (EBB! pairs are aligned to the
same 1536x1024 frame); a depth map must decode and have the image's aspect ratio (PyNET's are half size).
The check counts only usable pairs per split, so a handful of bad files never hides the good ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from bokehpipe.data.ebb import EBBIndex, Pair, load_index
from bokehpipe.data.io import check_map_fits, read_image, read_map
from bokehpipe.errors import ImageReadError


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str  # unreadable | missing partner | size mismatch | unexpected name | duplicate id
    message: str


@dataclass
class CheckReport:
    root: str
    layout: str
    splits: dict[str, int]
    problems: list[Problem]
    usable_pairs: int
    inputs_without_target: int

    @property
    def ok(self) -> bool:
        """Usable means at least one pair or bokeh-free input decoded; problems alone never fail a check."""
        return self.usable_pairs + self.inputs_without_target > 0

    def to_json(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _size(path: Path, reader: Callable) -> tuple[int, int]:
    arr = reader(path)
    return arr.shape[1], arr.shape[0]


def _check_pair(pair: Pair) -> list[Problem]:
    problems: list[Problem] = []
    sizes = {}
    for role, path, reader in (("input", pair.input, read_image), ("target", pair.target, read_image),
                               ("depth", pair.depth, read_map)):
        if path is None:
            continue
        try:
            sizes[role] = _size(path, reader)
        except ImageReadError as exc:
            problems.append(Problem(str(path), "unreadable", str(exc)))
    if "input" in sizes and "target" in sizes and sizes["input"] != sizes["target"]:
        (iw, ih), (tw, th) = sizes["input"], sizes["target"]
        problems.append(Problem(str(pair.target), "size mismatch",
                                f"{pair.target}: target is {tw}x{th} but input {pair.input.name} is {iw}x{ih}; "
                                "re-export the pair at one size"))
    if "input" in sizes and "depth" in sizes:
        (iw, ih), (dw, dh) = sizes["input"], sizes["depth"]
        try:
            check_map_fits((dh, dw), (ih, iw), pair.depth)  # the one rule infer and render apply
        except ImageReadError as exc:
            problems.append(Problem(str(pair.depth), "size mismatch", str(exc)))
    return problems


def check_dataset(root: str | os.PathLike[str], *, workers: int | None = None,
                  progress: Callable[[int], None] | None = None) -> CheckReport:
    """Decode every file (threads: OpenCV releases the GIL) and collect problems per file."""
    index: EBBIndex = load_index(root)
    problems = [Problem(str(p.path), p.kind, p.message) for p in index.problems]
    bad: set[Pair] = set()
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 2) * 2)) as pool:
        for pair, pair_problems in zip(index.pairs, pool.map(_check_pair, index.pairs), strict=True):
            if pair_problems:
                bad.add(pair)
                problems.extend(pair_problems)
            if progress is not None:
                progress(1)
    good = [p for p in index.pairs if p not in bad]
    splits = {name: sum(p not in bad for p in index.split(name)) for name in index.split_names()}
    return CheckReport(root=str(index.root), layout=index.layout, splits=splits, problems=problems,
                       usable_pairs=sum(p.target is not None for p in good),
                       inputs_without_target=sum(p.target is None for p in good))
