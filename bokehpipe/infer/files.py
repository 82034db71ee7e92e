"""Which files `bokehpipe infer FOLDER` reads and which it writes (issue 6: never over an input, never
over an earlier output without `--overwrite`).

Everything is decided before the first pixel is rendered: the plan lists every input and every path that
will be written, so a refused run changes nothing. Outputs mirror the input's subfolders under `--out`:

```
FOLDER/a.jpg          -> OUT/a.<fmt>        render
                         OUT/a.depth.png    the disparity used (8-bit, near = bright), for the gallery
FOLDER/sub/b.png      -> OUT/sub/b.<fmt>, OUT/sub/b.depth.png
FOLDER/c.tif          -> OUT/c.<fmt>, OUT/c.depth.png, OUT/c.input.jpg (browsers cannot show TIFF)
                         OUT/index.html, OUT/gallery.json
```
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bokehpipe.data.disparity import Photo
from bokehpipe.data.io import is_image_file
from bokehpipe.errors import BokehpipeError

FORMATS = ("jpg", "png")
DEPTH_SUFFIX = ".depth.png"
PREVIEW_SUFFIX = ".input.jpg"
BROWSER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
GALLERY_NAME = "index.html"
GALLERY_DATA = "gallery.json"


@dataclass(frozen=True)
class Job:
    """One photo to render: where it is, its path relative to FOLDER, and the two files it produces."""

    input: Path
    rel: Path
    output: Path
    depth_output: Path
    preview_output: Path | None = None  # an upright JPEG of the input when browsers cannot show the file

    @property
    def outputs(self) -> tuple[Path, ...]:
        return (self.output, self.depth_output) + ((self.preview_output,) if self.preview_output else ())

    @property
    def name(self) -> str:
        """The id used to look up depth (`--depth` maps, cache ids): the file name without extension."""
        return self.rel.stem

    @property
    def photo(self) -> Photo:
        """The key a depth source looks this photo's map up by (bokehpipe.data.disparity)."""
        return Photo(self.name, self.input, self.rel)


def find_inputs(folder: str | os.PathLike[str], *, recursive: bool = False,
                exclude: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Image files in `folder` (sorted, hidden files and folders skipped), optionally in its subfolders.

    `exclude` holds folders never to descend into and files never to take as photos: an output folder or a
    `--depth` folder inside FOLDER, and earlier outputs (`gallery_files`) when --out is FOLDER itself, would
    otherwise be read back as photos on the next run.
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise BokehpipeError(f"{root}: input folder not found")
    skip = {Path(p).expanduser().resolve() for p in exclude}
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip)
        if here != root and here.resolve() in skip:
            continue
        found += [here / f for f in sorted(filenames) if is_image_file(f) and (here / f).resolve() not in skip]
        if not recursive:
            break
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def plan_jobs(inputs: list[Path], folder: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
              fmt: str = "jpg", protected: Iterable[str | os.PathLike[str]] = ()) -> list[Job]:
    """Output paths for every input; raises if any of them would land on an input or on another output.

    `protected` adds files that must never be written (depth maps given with `--depth`, a depth cache).
    Two photos with the same stem in one folder (`a.jpg`, `a.png`) keep their extension in the output name.
    """
    if fmt not in FORMATS:
        raise BokehpipeError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
    root = Path(folder).expanduser().resolve()
    out = Path(out_dir).expanduser().resolve()
    rels = [p.resolve().relative_to(root) for p in inputs]
    stems: dict[Path, list[Path]] = defaultdict(list)
    for rel in rels:
        stems[rel.with_suffix("")].append(rel)
    jobs = []
    for path, rel in zip(inputs, rels, strict=True):
        base = rel.with_suffix("")
        if len(stems[base]) > 1:  # a.jpg and a.png: a_jpg.<fmt>, a_png.<fmt>
            base = base.with_name(f"{base.name}_{rel.suffix.lstrip('.').lower()}")
        preview = None if rel.suffix.lower() in BROWSER_SUFFIXES else out / f"{base}{PREVIEW_SUFFIX}"
        jobs.append(Job(input=path.resolve(), rel=rel, output=out / f"{base}.{fmt}",
                        depth_output=out / f"{base}{DEPTH_SUFFIX}", preview_output=preview))
    _check_collisions(jobs, out, {p.resolve() for p in inputs} | {Path(p).expanduser().resolve() for p in protected})
    return jobs


def _check_collisions(jobs: list[Job], out: Path, inputs: set[Path]) -> None:
    written: dict[Path, Path] = {}
    for job in jobs:
        for target in job.outputs:
            if target in inputs:
                raise BokehpipeError(f"{target}: writing the render of {job.input} there would overwrite an input; "
                                     "choose another --out (the default is store/renders/<name>/) or --format")
            if target in written:
                raise BokehpipeError(f"{target}: both {written[target]} and {job.input} would be rendered to this "
                                     "file; rename one of them")
            written[target] = job.input
    for name in (GALLERY_NAME, GALLERY_DATA):
        if out / name in inputs or out / name in written:
            raise BokehpipeError(f"{out / name}: the gallery file would overwrite {out / name}; choose another --out")


def existing_outputs(jobs: list[Job]) -> list[Path]:
    """Files this run would replace; the CLI refuses to start while this is non-empty and --overwrite is off."""
    return [p for job in jobs for p in job.outputs if p.exists()]


def refuse_overwrite(jobs: list[Job]) -> None:
    existing = existing_outputs(jobs)
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise BokehpipeError(f"{existing[0]}{more} already exist(s); nothing was written. Pass --overwrite to "
                             "replace them or choose another --out")
