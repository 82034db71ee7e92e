"""Which files `bokehpipe infer FOLDER` and `bokehpipe render` read and which they write (never over an input,
a depth map included; an `infer` rerun renders only the photos whose render is missing, `--overwrite` redoes all).

Everything is decided before the first pixel is rendered: the plan lists every input and every path that
will be written, so a refused run changes nothing. Outputs mirror the input's subfolders under `--out`:

```
FOLDER/a.jpg          -> OUT/a.<fmt>        render
                         OUT/a.depth.png    the disparity used (8-bit, near = bright), for the gallery
FOLDER/sub/b.png      -> OUT/sub/b.<fmt>, OUT/sub/b.depth.png
FOLDER/c.tif          -> OUT/c.<fmt>, OUT/c.depth.png, OUT/c.input.jpg (browsers cannot show TIFF)
                         OUT/index.html, OUT/gallery.json
```

`bokehpipe render` writes the renders alone (`companions=False`): OUT/<stem>.png per photo.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bokehpipe.data.disparity import Photo
from bokehpipe.data.io import is_image_file
from bokehpipe.errors import BokehpipeError, ImageReadError
from bokehpipe.paths import resolve_input

FORMATS = ("jpg", "png")
DEPTH_SUFFIX = ".depth.png"
PREVIEW_SUFFIX = ".input.jpg"
BROWSER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
GALLERY_NAME = "index.html"
GALLERY_DATA = "gallery.json"


@dataclass(frozen=True)
class Job:
    """One photo to render: where it is, its path relative to FOLDER, and the files it produces."""

    input: Path
    rel: Path
    output: Path
    depth_output: Path | None = None  # the disparity used, for infer's gallery (`render` writes none)
    preview_output: Path | None = None  # an upright JPEG of the input when browsers cannot show the file

    @property
    def outputs(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.output, self.depth_output, self.preview_output) if p is not None)

    @property
    def name(self) -> str:
        """The id used to look up depth (`--depth` maps, cache ids): the file name without extension."""
        return self.rel.stem

    @property
    def photo(self) -> Photo:
        """The key a depth source looks this photo's map up by (bokehpipe.data.disparity)."""
        return Photo(self.name, self.input, self.rel)


def find_inputs(folder: str | os.PathLike[str], *, recursive: bool = False,
                exclude: Iterable[str | os.PathLike[str]] = (), problems: list[str] | None = None) -> list[Path]:
    """Image files in `folder` (sorted, hidden files and folders skipped), optionally in its subfolders.

    `exclude` holds folders never to descend into and files never to take as photos: an output folder or a
    `--depth` folder inside FOLDER, and earlier outputs (`gallery_files`) when --out is FOLDER itself, would
    otherwise be read back as photos on the next run. An entry that cannot be resolved (a symlink loop, a
    dangling link) is left out and described in `problems`, so the photos beside it still render.
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise BokehpipeError(f"{root}: input folder not found")
    skip = {Path(p).expanduser().resolve() for p in exclude}
    found: list[Path] = []

    def usable(path: Path) -> bool:
        try:
            resolved = resolve_input(path)
            if resolved.exists() and not (resolved.is_file() or resolved.is_dir()):
                raise ImageReadError(f"{path}: not a regular file (a pipe, socket or device named like an image); "
                                     "remove it or move it out of the folder")
            return resolved not in skip
        except ImageReadError as exc:
            if problems is not None:
                problems.append(str(exc))
            return False

    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and usable(here / d))
        if here != root and here.resolve() in skip:
            continue
        found += [here / f for f in sorted(filenames) if is_image_file(f) and usable(here / f)]
        if not recursive:
            break
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def plan_jobs(inputs: list[Path], folder: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
              fmt: str = "jpg", protected: Iterable[str | os.PathLike[str]] = ()) -> list[Job]:
    """`infer`'s jobs: outputs mirror each photo's place under `folder` (`jobs_for`, with companions)."""
    root = Path(folder).expanduser().resolve()
    # a photo's place is where it was found under FOLDER (a symlink may point anywhere, even outside it)
    rels = [p.relative_to(root) if p.is_relative_to(root) else p.resolve().relative_to(root) for p in inputs]
    return jobs_for(inputs, rels, out_dir, fmt=fmt, protected=protected)


def jobs_for(inputs: list[Path], rels: list[Path], out_dir: str | os.PathLike[str], *, fmt: str = "jpg",
             protected: Iterable[str | os.PathLike[str]] = (), companions: bool = True) -> list[Job]:
    """Output paths for every input (`rels`: where each goes under `out_dir`); raises if any of them would land
    on an input or on another output.

    `protected` adds files that must never be written (depth maps given with `--depth`, a depth cache).
    With `companions` (infer), each render gets its saved depth map, a browser preview when needed and the
    gallery beside it, and two photos with the same stem in one folder (`a.jpg`, `a.png`) keep their extension
    in the output name; without (render), each photo gives `<stem>.<fmt>` alone and a shared stem is refused.
    """
    if fmt not in FORMATS:
        raise BokehpipeError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = Path(out_dir).expanduser().resolve()
    stems: dict[Path, list[Path]] = defaultdict(list)
    for rel in rels:
        stems[rel.with_suffix("")].append(rel)
    jobs = []
    for path, rel in zip(inputs, rels, strict=True):
        base = rel.with_suffix("")
        if not companions:
            jobs.append(Job(input=path.resolve(), rel=rel, output=out / f"{base}.{fmt}"))
            continue
        if len(stems[base]) > 1:  # a.jpg and a.png: a_jpg.<fmt>, a_png.<fmt>
            base = base.with_name(f"{base.name}_{rel.suffix.lstrip('.').lower()}")
        preview = None if rel.suffix.lower() in BROWSER_SUFFIXES else out / f"{base}{PREVIEW_SUFFIX}"
        jobs.append(Job(input=path.resolve(), rel=rel, output=out / f"{base}.{fmt}",
                        depth_output=out / f"{base}{DEPTH_SUFFIX}", preview_output=preview))
    inputs_ = {p.resolve() for p in inputs} | {Path(p).expanduser().resolve() for p in protected}
    _check_collisions(jobs, out, inputs_, companions=companions)
    return jobs


def _check_collisions(jobs: list[Job], out: Path, inputs: set[Path], *, companions: bool = True) -> None:
    written: dict[Path, Path] = {}
    other = " (the default is store/renders/<name>/) or --format" if companions else ""  # infer's choices
    for job in jobs:
        for target in job.outputs:
            if target in inputs:
                raise BokehpipeError(f"{target}: writing the render of {job.input} there would overwrite an input; "
                                     f"choose another --out{other}")
            if target in written:
                raise BokehpipeError(f"{target}: both {written[target]} and {job.input} would be rendered to this "
                                     "file; rename one of them")
            written[target] = job.input
    for name in (GALLERY_NAME, GALLERY_DATA) if companions else ():
        if out / name in inputs or out / name in written:
            raise BokehpipeError(f"{out / name}: the gallery file would overwrite {out / name}; choose another --out")


def is_finished(job: Job) -> bool:
    """A job is finished when its render exists under its final name: writes are atomic and the render is the
    last file a job writes (`engine.run_jobs`), so a killed run never leaves a render that is not whole."""
    return job.output.is_file()


def split_finished(jobs: list[Job], *, overwrite: bool) -> tuple[list[Job], list[Job]]:
    """(to render, kept): a rerun renders only what is missing; `overwrite` redoes everything."""
    if overwrite:
        return list(jobs), []
    kept = [job for job in jobs if is_finished(job)]
    return [job for job in jobs if not is_finished(job)], kept
