"""Index of EBB!-style paired data (Ignatov et al. 2020): which files form pairs, and which pairs form a split.

Layouts understood (detected from the folder names, nothing is decoded here):

- `ebb-released`: `Training/original/<id>.jpg` + `Training/bokeh/<id>.jpg` (ids 0..4693), plus
  `ValidationBokehFree/` and `TestBokehFree/` inputs without targets (images directly or in `original/`).
  Synthetic sets from `bokehpipe synth` use this layout and add `Training/depth/<id>.png`.
- `pynet`: `{train,test}/{original,original_depth,bokeh}` as the PyNET-Bokeh code expects.
- `plain`: `{input,target}` at the root, or `<group>/{input,target}`.
- `folder`: photos without targets, in `images/` (or the root) with optional maps in `depth_maps/` or
  `depth/` or `disparity/` named like the photos (the layout of PyNET-Bokeh's `visual_samples/`).

Splits: `train` = ids 0..4399, `val294` = ids 4400..4693 (the benchmark every later paper uses), `all`
(every pair with a target; in a `folder` layout, every photo), `bokehfree_val` / `bokehfree_test`
(inputs only), and every folder group by name (`train`, `test` in the PyNET layout). A `splits.json` at
the dataset root (`{"split": [ids]}`) overrides or adds splits; synthetic sets write one.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bokehpipe.data.io import IMAGE_SUFFIXES, MAP_SUFFIXES, is_image_file
from bokehpipe.errors import BokehpipeError

TRAIN_IDS = range(0, 4400)
VAL294_IDS = range(4400, 4694)
SPLIT_FILE = "splits.json"
METADATA_FILE = "metadata.json"  # a synthetic set's per-image focus/aperture (written by data/synthetic)

LAYOUT_RELEASED = "ebb-released"
LAYOUT_PYNET = "pynet"
LAYOUT_PLAIN = "plain"
LAYOUT_FOLDER = "folder"

_BOKEH_FREE = {"ValidationBokehFree": "bokehfree_val", "TestBokehFree": "bokehfree_test"}
# (input folder, target folder, depth folder) names per layout
_ROLES = {
    LAYOUT_RELEASED: ("original", "bokeh", "depth"),
    LAYOUT_PYNET: ("original", "bokeh", "original_depth"),
    LAYOUT_PLAIN: ("input", "target", "depth"),
}
_FOLDER_INPUTS = ("images", "original")
_FOLDER_DEPTHS = ("depth_maps", "depth", "original_depth", "disparity")


@dataclass(frozen=True)
class Pair:
    """One sample: an input photo, its wide-aperture target (None for bokeh-free sets) and optional depth."""

    id: str
    input: Path
    target: Path | None
    depth: Path | None
    group: str


@dataclass(frozen=True)
class NameProblem:
    """A file the index could not place: orphan, duplicate id or unexpected name. Found without decoding."""

    path: Path
    kind: str
    message: str


@dataclass
class EBBIndex:
    root: Path
    layout: str
    pairs: list[Pair]
    problems: list[NameProblem] = field(default_factory=list)
    split_file: dict[str, list[str]] | None = None

    # --- splits ---------------------------------------------------------------------------------------
    def split_names(self) -> list[str]:
        names = ["all"]
        if self.split_file:
            names += list(self.split_file)
        if any(_numeric(p.id) in TRAIN_IDS for p in self.paired()):
            names.append("train")
        if any(_numeric(p.id) in VAL294_IDS for p in self.paired()):
            names.append("val294")
        names += sorted({p.group for p in self.pairs if p.group in _BOKEH_FREE.values()})
        names += sorted({p.group for p in self.pairs} - set(_BOKEH_FREE.values()) - {"Training", ""})
        return list(dict.fromkeys(names))

    def paired(self) -> list[Pair]:
        return [p for p in self.pairs if p.target is not None]

    def split(self, name: str, *, require_targets: bool = False) -> list[Pair]:
        """The pairs of a split in stable id order; unknown names raise with the list of known ones."""
        if self.split_file and name in self.split_file:
            by_id = {p.id: p for p in self.pairs}
            missing = [i for i in self.split_file[name] if i not in by_id]
            if missing:
                raise BokehpipeError(f"{self.root / SPLIT_FILE}: split {name!r} names ids not in the dataset "
                                     f"({', '.join(missing[:5])}{'...' if len(missing) > 5 else ''})")
            out = [by_id[i] for i in self.split_file[name]]
        elif name == "all":
            out = self.pairs if self.layout == LAYOUT_FOLDER else self.paired()
        elif name == "train":
            out = [p for p in self.paired() if _numeric(p.id) in TRAIN_IDS]
        elif name == "val294":
            out = [p for p in self.paired() if _numeric(p.id) in VAL294_IDS]
        elif name in {p.group for p in self.pairs}:
            out = [p for p in self.pairs if p.group == name]
        else:
            raise BokehpipeError(f"{self.root}: no split {name!r}; this dataset has: {', '.join(self.split_names())}")
        if require_targets and any(p.target is None for p in out):
            raise BokehpipeError(f"{self.root}: split {name!r} has inputs without bokeh targets; "
                                 "pick a split with targets (e.g. train, val294, all)")
        return sorted(out, key=_sort_key)

    def split_counts(self) -> dict[str, int]:
        return {name: len(self.split(name)) for name in self.split_names()}


def target_beside(input_path: str | os.PathLike[str]) -> Path | None:
    """The target next to an input file in any paired layout (`original/x.jpg` -> `bokeh/x.*`,
    `input/x.png` -> `target/x.*`), or None: how a figure finds the f/1.8 frame of a rendered input."""
    path = Path(input_path)
    for inp, tgt, _ in _ROLES.values():
        if path.parent.name == inp:
            for cand in [path.parent.parent / tgt / path.name,
                         *sorted((path.parent.parent / tgt).glob(f"{glob.escape(path.stem)}.*"))]:
                if cand.is_file():
                    return cand
    return None


def _numeric(id_: str) -> int:
    return int(id_) if id_.isdigit() else -1


def _sort_key(p: Pair) -> tuple[int, int, str]:
    return (0, int(p.id), "") if p.id.isdigit() else (1, 0, p.id)


def _files_by_id(folder: Path, suffixes: Iterable[str], problems: list[NameProblem]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    suffixes = tuple(suffixes)
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        if not path.name.lower().endswith(suffixes):
            problems.append(NameProblem(path, "unexpected name",
                                        f"{path}: unexpected file (not an image); move it out of the dataset"))
            continue
        if path.stem in out:
            problems.append(NameProblem(path, "duplicate id",
                                        f"{path}: id {path.stem!r} also used by {out[path.stem].name}; keep one"))
            continue
        out[path.stem] = path
    return out


def detect_layout(root: Path) -> str:
    if (root / "Training").is_dir() or any((root / name).is_dir() for name in _BOKEH_FREE):
        return LAYOUT_RELEASED
    groups = [root] + [p for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []
    for g in groups:
        if (g / "original").is_dir() and (g / "bokeh").is_dir():
            return LAYOUT_PYNET
    for g in groups:
        if (g / "input").is_dir() or (g / "target").is_dir():
            return LAYOUT_PLAIN
    if any((root / name).is_dir() for name in _FOLDER_INPUTS) or any(
            is_image_file(p) for p in root.iterdir() if p.is_file()):
        return LAYOUT_FOLDER
    raise BokehpipeError(
        f"{root}: no EBB!-style layout found; expected Training/{{original,bokeh}}/ (EBB! release), "
        "{train,test}/{original,bokeh}/ (PyNET), {input,target}/ or images/ (+ depth_maps/)")


def _group_dirs(root: Path, layout: str) -> list[tuple[str, Path]]:
    inp = _ROLES[layout][0]
    if layout == LAYOUT_RELEASED:
        return [("Training", root / "Training")] if (root / "Training").is_dir() else []
    groups = [("", root)] if (root / inp).is_dir() else []
    groups += [(p.name, p) for p in sorted(root.iterdir()) if p.is_dir() and (p / inp).is_dir()]
    return groups


def load_index(root: str | os.PathLike[str]) -> EBBIndex:
    """Scan a dataset folder and match inputs, targets and depth maps by id; decodes nothing."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise BokehpipeError(f"{root}: dataset folder not found")
    layout = detect_layout(root)
    problems: list[NameProblem] = []
    if layout == LAYOUT_FOLDER:
        return EBBIndex(root, layout, _folder_pairs(root, problems), problems, _read_split_file(root))
    inp_name, tgt_name, depth_name = _ROLES[layout]
    pairs: list[Pair] = []
    for group, gdir in _group_dirs(root, layout):
        inputs = _files_by_id(gdir / inp_name, IMAGE_SUFFIXES, problems)
        targets = _files_by_id(gdir / tgt_name, IMAGE_SUFFIXES, problems)
        depths = _files_by_id(gdir / depth_name, MAP_SUFFIXES, problems)
        for id_, path in inputs.items():
            if id_ not in targets:
                problems.append(NameProblem(path, "missing partner",
                                            f"{path}: no target {gdir / tgt_name / id_}.*; add it or remove the input"))
                continue
            pairs.append(Pair(id_, path, targets[id_], depths.get(id_), group))
        for id_, path in targets.items():
            if id_ not in inputs:
                problems.append(NameProblem(path, "missing partner",
                                            f"{path}: no input {gdir / inp_name / id_}.*; add it or remove the target"))
    if layout == LAYOUT_RELEASED:
        for folder, split_name in _BOKEH_FREE.items():
            base = root / folder
            base = base / "original" if (base / "original").is_dir() else base
            for id_, path in _files_by_id(base, IMAGE_SUFFIXES, problems).items():
                pairs.append(Pair(id_, path, None, None, split_name))
    split_file = _read_split_file(root)
    return EBBIndex(root, layout, sorted(pairs, key=_sort_key), problems, split_file)


def _folder_pairs(root: Path, problems: list[NameProblem]) -> list[Pair]:
    img_dir = next((root / n for n in _FOLDER_INPUTS if (root / n).is_dir()), root)
    depth_dir = next((root / n for n in _FOLDER_DEPTHS if (root / n).is_dir()), None)
    images = _files_by_id(img_dir, IMAGE_SUFFIXES, problems) if img_dir != root else {
        p.stem: p for p in sorted(root.iterdir()) if p.is_file() and is_image_file(p)}
    depths = _files_by_id(depth_dir, MAP_SUFFIXES, problems) if depth_dir is not None else {}
    for id_, path in depths.items():
        if id_ not in images:
            problems.append(NameProblem(path, "missing partner", f"{path}: depth map without a photo named {id_}.*"))
    return sorted((Pair(id_, p, None, depths.get(id_), "images") for id_, p in images.items()), key=_sort_key)


def _read_split_file(root: Path) -> dict[str, list[str]] | None:
    path = root / SPLIT_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BokehpipeError(f"{path}: not valid JSON ({exc.msg}); fix or delete the split file") from None
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise BokehpipeError(f"{path}: expected {{\"split\": [id, ...]}}; fix or delete the split file")
    return {str(k): [str(i) for i in v] for k, v in raw.items()}


def load_metadata(root: Path) -> dict[str, dict[str, Any]] | None:
    """Per-image focus/aperture of a synthetic set (metadata.json), or None for photos."""
    path = root / METADATA_FILE
    if not path.is_file():
        return None
    images = json.loads(path.read_text(encoding="utf-8")).get("images", {})
    return {str(k): v for k, v in images.items() if "focus" in v and "aperture" in v} or None
