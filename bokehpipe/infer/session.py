"""One `bokehpipe infer` run as a library call: options -> plan (checked before anything is written) -> run.

`plan_session` decides what renders, once (the model flag given, else `defaults.choose_renderer`'s default:
BokehNet, a trained run or checkpoint, or a classical method), then the depth source and every output path,
and refuses early (nothing written) when an output would land on an input or MiDaS weights are missing.
`Session.run` holds the --out folder's lock, keeps the renders an earlier run finished (unless `overwrite`),
renders the rest, writes, and refreshes the gallery. The CLI only adds a progress bar and the printing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bokehpipe.choices import Choice
from bokehpipe.data.disparity import DisparitySource
from bokehpipe.device import resolve_device
from bokehpipe.errors import BokehpipeError, ConfigError
from bokehpipe.locks import exclusive
from bokehpipe.models.checkpoint import CheckpointRecord
from bokehpipe.paths import check_writable_dir
from bokehpipe.physics import Lens
from bokehpipe.render.classical import ClassicalRenderer
from bokehpipe.render.focus import check_focus_request
from bokehpipe.render.interface import Renderer
from bokehpipe.render.tiling import TilePolicy
from bokehpipe.store import ArtifactStore, remove_stale_temporaries, run_of_checkpoint

from .defaults import choose_renderer
from .depth_inputs import open_depth_source
from .engine import Outcome, run_jobs
from .files import GALLERY_NAME, PREVIEW_SUFFIX, Job, find_inputs, plan_jobs, split_finished
from .gallery import Entry, load_entries, relative_link, write_gallery


@dataclass
class InferOptions:
    folder: Path
    recursive: bool = False
    run: str | None = None
    checkpoint: Path | None = None
    method: str | None = None
    depth_dir: str | None = None
    depth_cache: str | None = None
    depth_model: str | None = None
    weights: str | None = None
    focus: float | None = None
    focus_point: tuple[int, int] | None = None  # (x, y) in each photo's pixels: `--focus-at`
    aperture: float | None = None  # internal scale; None = the calibrated f/1.8
    f_number: float | None = None  # --aperture typed as f/N: the virtual lens's, for metric maps
    focal_length: float = 50.0  # mm: the virtual lens for metric maps (EBB!'s 50 mm)
    out_dir: Path | None = None
    overwrite: bool = False
    max_pixels: int | None = None
    tile: int | None = None
    tile_overlap: int = 128
    device: str = "auto"
    batch_size: int | None = None
    fmt: str = "jpg"
    only_with_depth: bool = False


@dataclass
class Summary:
    total: int
    rendered: int
    failed: int
    seconds_per_photo: float
    tiled: int
    gallery: Path
    outcomes: list[Outcome] = field(default_factory=list)
    kept: int = 0  # finished renders of an earlier run, left as they were


REFOCUS_AUTO_MAX = 12  # photos up to which `infer` writes the refocus page unasked (about 20 s of CPU each)


@dataclass
class Session:
    name: str
    out_dir: Path
    jobs: list[Job]
    renderer: Renderer
    depth: DisparitySource
    device: str
    batch_size: int
    notes: list[str] = field(default_factory=list)
    store: ArtifactStore | None = None
    overwrite: bool = False
    unusable: int = 0  # entries among the photos that could not even be opened (symlink loops), listed in notes
    refocus_command: str = ""  # how the refocus page renders one photo at full size (`{name}` = the photo)
    settings: dict[str, Any] = field(default_factory=dict)  # what makes a render (recorded with each one)

    LOCK_NAME = ".bokehpipe-infer.lock"
    REFOCUS_FOLDER = "refocus"

    @property
    def can_refocus(self) -> bool:
        """A renderer that takes focus and aperture (BokehNet, the classical ones) can fill a refocus page; an
        end-to-end generator renders the one focus and blur it learned."""
        return hasattr(self.renderer, "render_fitted")

    def write_refocus(self, jobs: list[Job], on_photo: Callable[[Any], None] | None = None) -> Path:
        """The refocus gallery (`infer/refocus.py`) of `jobs` in OUT/refocus: each photo re-read with its map, as
        rendered, and pre-rendered at a few focus planes x f/1.4..f/16 by this session's renderer."""
        from bokehpipe.data.disparity import fit_to_photo
        from bokehpipe.data.io import read_image
        from bokehpipe.infer.refocus import RefocusPhoto, write_refocus_gallery

        photos = []
        for job in jobs:
            rgb = read_image(job.input)
            photos.append(RefocusPhoto(job.rel.as_posix(), rgb, fit_to_photo(self.depth.disparity(job.photo, rgb),
                                                                             rgb.shape)))
        return write_refocus_gallery(self.out_dir / self.REFOCUS_FOLDER, photos, self.renderer.render_fitted,
                                     command=self.refocus_command, on_photo=on_photo,
                                     title=f"bokehpipe refocus: {self.out_dir.name}")

    @property
    def depth_description(self) -> str:
        return f"depth: {self.depth.description}"

    def todo(self) -> tuple[list[Job], list[Job]]:
        """(to render, kept): finished renders of an earlier run are kept unless `overwrite`."""
        return split_finished(self.jobs, overwrite=self.overwrite)

    def run(self, on_done: Callable[[Outcome], None] | None = None,
            on_start: Callable[[int, int], None] | None = None) -> Summary:
        """Render the jobs whose render is missing (all with `overwrite`), holding the --out folder's lock.

        `on_start(to_render, kept)` is called once the lock is held and the finished jobs are known."""
        with exclusive(self.out_dir / self.LOCK_NAME, what=f"renders into {self.out_dir}"):
            remove_stale_temporaries(self.out_dir)  # left by a killed run; the finished files are whole
            todo, kept = self.todo()
            self._check_kept_settings(kept)
            if on_start is not None:
                on_start(len(todo), len(kept))
            return self._run(todo, kept, on_done)

    def _check_kept_settings(self, kept: list[Job]) -> None:
        """Renders kept from an earlier run must have been made the way this run would make them: a rerun with
        another aperture, focus, depth or renderer into the same --out is refused, naming what differs."""
        earlier = {e.render: e.settings for e in load_entries(self.out_dir)}
        differ: dict[str, tuple[Any, Any]] = {}
        count = 0
        for job in kept:
            made = earlier.get(relative_link(job.output, self.out_dir))
            if not made or made == self.settings:
                continue  # recorded the same way, or by a version that recorded nothing
            count += 1
            differ.update({k: (made.get(k), v) for k, v in self.settings.items() if made.get(k) != v})
        if count:
            said = "; ".join(f"{k} {a!r} there, {b!r} now" for k, (a, b) in sorted(differ.items()))
            raise BokehpipeError(f"{self.out_dir}: {count} render(s) there were made with other settings ({said}); "
                                 "choose another --out, or pass --overwrite to render them again with these")

    def _run(self, todo: list[Job], kept: list[Job], on_done: Callable[[Outcome], None] | None) -> Summary:
        on_gpu = self.device.startswith("cuda")
        outcomes = run_jobs(todo, self.renderer, self.depth, batch_size=self.batch_size, on_done=on_done,
                            read_threads=1)
        done = [o for o in outcomes if o.ok]
        entries = [Entry(name=o.job.rel.as_posix(),
                         before=relative_link(o.job.preview_output or o.job.input, self.out_dir),
                         render=relative_link(o.job.output, self.out_dir),
                         depth=relative_link(o.job.depth_output, self.out_dir) if o.job.depth_output in o.wrote
                         else None, width=o.size[0], height=o.size[1], source=self.name, settings=self.settings)
                   for o in done]
        entries += self._kept_entries(kept)
        gallery = self.out_dir / GALLERY_NAME
        if entries or not gallery.is_file():
            gallery = write_gallery(self.out_dir, entries, title=f"bokehpipe renders: {self.out_dir.name}")
        if self.store is not None and self.out_dir.is_relative_to(self.store.root):
            self.store.record(self.out_dir, "renders", source=self.name, depth=self.depth.description,
                              rendered=len(done), failed=len(outcomes) - len(done))
        if on_gpu:
            import torch

            torch.cuda.synchronize()
        seconds = sum(o.seconds for o in done) / len(done) if done else 0.0
        failed = len(outcomes) - len(done) + self.unusable
        return Summary(total=len(outcomes) + len(kept) + self.unusable, rendered=len(done), failed=failed,
                       seconds_per_photo=seconds, tiled=getattr(self.renderer, "tiled_count", 0), gallery=gallery,
                       outcomes=outcomes, kept=len(kept))

    def _kept_entries(self, kept: list[Job]) -> list[Entry]:
        """Gallery entries for kept renders that an interrupted run never added to the gallery."""
        from bokehpipe.data.io import image_size
        from bokehpipe.errors import ImageReadError

        known = {e.render for e in load_entries(self.out_dir)}
        entries = []
        for job in kept:
            render = relative_link(job.output, self.out_dir)
            if render in known:
                continue
            try:
                width, height = image_size(job.output)
            except ImageReadError:
                continue
            before = job.preview_output if job.preview_output and job.preview_output.is_file() else job.input
            saved = job.depth_output if job.depth_output is not None and job.depth_output.is_file() else None
            entries.append(Entry(name=job.rel.as_posix(), before=relative_link(before, self.out_dir), render=render,
                                 depth=relative_link(saved, self.out_dir) if saved else None, width=width,
                                 height=height, source=self.name))
        return entries


def _render_name(choice: Choice) -> str:
    """The name renders are filed under (store/renders/<name>/, the gallery's source)."""
    if choice.kind == "default":
        return "bokehnet"
    if choice.kind != "checkpoint":
        return str(choice.value)
    path = Path(choice.value).resolve()
    return run_of_checkpoint(path) or (path.stem if path.is_file() else path.name)


@dataclass
class _Generator:
    """What renders, decided once (`choose_renderer`) and loaded: a trained generator (the shipped BokehNet, a
    run, a checkpoint or an exported weights file: its record says its kind) or a classical method."""

    kind: str  # learned | classical
    model: Any = None
    record: CheckpointRecord | None = None
    needs_depth: bool = True


def _load_generator(choice: Choice, store: ArtifactStore, notes: list[str]) -> _Generator:
    from bokehpipe.render.learned import load_generator

    if choice.kind == "method":
        return _Generator("classical")
    path = (None if choice.kind == "default" else store.existing_run(str(choice.value)) if choice.kind == "run"
            else Path(choice.value))
    model, record = load_generator(path)
    if record.kind == "correction":
        if choice.kind != "default":
            prov = record.provenance
            notes.append(f"model: BokehNet weights {record.path} (run {prov.get('run', path and path.name)}, step "
                         f"{prov.get('step', record.step)})")
    else:
        notes.append(f"model {record.model} level {record.level} "
                     f"({'RGB + depth' if record.with_depth else 'RGB only'}) from {record.path}")
        if record.level != 1:
            notes.append(f"note: this run is trained only to level {record.level}; its output is upsampled to "
                         "full resolution")
    return _Generator("learned", model, record, record.with_depth)


def _default_depth(record: CheckpointRecord | None) -> tuple[str, str | None]:
    """The depth network to run when no map is given: the one a trained run was trained on (a PyNET run on MiDaS
    maps keeps MiDaS), else Depth Anything V2 small; plus a warning when the run's maps were not a network's."""
    from bokehpipe.depth.variants import PHOTO_DEFAULT, get_variant

    trained_with = record.depth_source if record is not None else None
    if not trained_with or trained_with == "gt" and record.kind == "correction":
        return PHOTO_DEFAULT, None
    try:
        return get_variant(str(trained_with)).name, None
    except BokehpipeError:
        return PHOTO_DEFAULT, (f"warning: the run was trained on {trained_with!r} depth; {PHOTO_DEFAULT} maps may "
                               "differ from them (pass --depth DIR with maps like the training ones)")


def plan_session(opts: InferOptions, store: ArtifactStore) -> Session:
    """Everything decided and checked, nothing written yet: the one place that decides what renders."""
    device = resolve_device(opts.device)
    check_focus_request(opts.focus, opts.focus_point)
    choice = choose_renderer(store, opts.run, opts.checkpoint, opts.method)
    notes = [] if opts.run or opts.checkpoint or opts.method else [choice.reason]
    name = _render_name(choice)
    out_dir = Path(opts.out_dir).expanduser().resolve() if opts.out_dir else store.renders(name)
    check_writable_dir(out_dir)  # before any model or photo is loaded
    gen = _load_generator(choice, store, notes)
    steered = opts.focus is not None or opts.focus_point is not None or opts.aperture is not None
    if steered and gen.record is not None and gen.record.kind != "correction":
        raise ConfigError("--focus, --focus-at and --aperture steer BokehNet (the default, or a BokehNet run or "
                          "weights file) and --method; a trained PyNET run learned its own focus and blur")
    default_model = None
    if gen.needs_depth and not (opts.depth_dir or opts.depth_cache or opts.depth_model):
        default_model, warning = _default_depth(gen.record)
        notes.insert(0, f"depth: {default_model} on every photo (no --depth given; --depth DIR or --depth-model "
                        "NAME to choose)")
        notes += [warning] if warning else []
    depth = open_depth_source(depth_dir=opts.depth_dir, depth_cache=opts.depth_cache, depth_model=opts.depth_model,
                              weights=opts.weights, store=store, device=device, required=gen.needs_depth,
                              default_model=default_model)
    jobs, unusable = _plan_jobs(opts, out_dir, depth, notes)
    renderer = _renderer(gen, choice, opts, device, name)
    batch = opts.batch_size or (4 if device.startswith("cuda") and gen.kind == "learned" else 1)
    return Session(name=name, out_dir=out_dir, jobs=jobs, renderer=renderer, depth=depth, device=device,
                   batch_size=batch, notes=notes, store=store, overwrite=opts.overwrite, unusable=unusable,
                   refocus_command=_refocus_command(opts, out_dir),
                   settings=_render_settings(opts, gen, name, depth))


def _render_settings(opts: InferOptions, gen: _Generator, name: str, depth: DisparitySource) -> dict[str, Any]:
    """Everything that makes a render what it is, as plain values: recorded with each render in gallery.json, and
    compared when a rerun would keep earlier renders."""
    model = None
    if gen.record is not None:
        model = f"{gen.record.model} {gen.record.path} step {gen.record.step}"
    return {"renderer": name, "model": model, "depth": depth.description, "focus": opts.focus,
            "focus_at": list(opts.focus_point) if opts.focus_point else None,
            "aperture": round(opts.aperture, 6) if opts.aperture is not None else None}


def _refocus_command(opts: InferOptions, out_dir: Path) -> str:
    """`bokehpipe infer` on one photo of this run with this run's model and depth: the page appends the focus
    point and f-number the user chose."""
    import shlex

    folder = Path(opts.folder).expanduser().resolve()
    photo = folder if folder.is_file() else folder / "{name}"
    words = ["bokehpipe", "infer", str(photo).replace("{name}", "__NAME__")]
    paths = (("--checkpoint", opts.checkpoint), ("--depth", opts.depth_dir), ("--depth-cache", opts.depth_cache))
    names = (("--run", opts.run), ("--method", opts.method), ("--depth-model", opts.depth_model))
    words += [w for flag, value in paths if value for w in (flag, str(Path(value).expanduser().resolve()))]
    words += [w for flag, value in names if value for w in (flag, str(value))]
    words += ["--out", str(out_dir / "full-size"), "--overwrite"]
    return " ".join(shlex.quote(w) for w in words).replace("__NAME__", "{name}")


def _plan_jobs(opts: InferOptions, out_dir: Path, depth: DisparitySource, notes: list[str]) -> tuple[list[Job], int]:
    """The photos of FOLDER, or the one PHOTO given (earlier outputs among them left out), and their outputs;
    (jobs, unusable entries)."""
    folder = Path(opts.folder).expanduser().resolve()
    single = folder if folder.is_file() else None
    folder = folder.parent if single is not None else folder
    exclude: list[str | os.PathLike[str]] = [out_dir] if out_dir != folder else []
    if opts.depth_dir:
        exclude.append(opts.depth_dir)
    for e in load_entries(out_dir):  # earlier renders, maps and previews that sit among the inputs (--out FOLDER)
        exclude += [out_dir / e.render] + ([out_dir / e.depth] if e.depth else [])
        if e.before.endswith(PREVIEW_SUFFIX):
            exclude.append(out_dir / e.before)
    unusable: list[str] = []
    if single is not None:  # one photo: its folder is not searched (its outputs mirror it there)
        from bokehpipe.data.io import is_image_file

        if not is_image_file(single):
            raise BokehpipeError(f"{single}: not a photo bokehpipe reads (.jpg, .png, .tif, .bmp, .webp)")
        inputs = [single]
    else:
        inputs = find_inputs(folder, recursive=opts.recursive, exclude=exclude, problems=unusable)
    notes += [f"skipped: {why}" for why in unusable]
    if not inputs:
        raise BokehpipeError(f"{folder}: no photos found (.jpg, .png, .tif, .bmp, .webp"
                             f"{'' if opts.recursive else '; use --recursive for subfolders'})")
    jobs = plan_jobs(inputs, folder, out_dir, fmt=opts.fmt, protected=depth.protected())
    if opts.only_with_depth:
        if not (opts.depth_dir or opts.depth_cache):
            raise BokehpipeError("--only-with-depth needs --depth DIR or --depth-cache (maps that may be missing)")
        kept = [job for job in jobs if depth.has(job.photo)]
        if not kept:
            raise BokehpipeError(f"{folder}: no photo has a depth map in {depth.description}")
        notes.append(f"--only-with-depth: {len(jobs) - len(kept)} of {len(jobs)} photos have no map and are left out")
        jobs = kept
    return jobs, len(unusable)


def _renderer(gen: _Generator, choice: Choice, opts: InferOptions, device: str, name: str) -> Renderer:
    from bokehpipe.render.learned import generator_renderer

    tiles = TilePolicy(max_pixels=opts.max_pixels, tile=opts.tile, overlap=opts.tile_overlap)
    if gen.kind == "learned":
        return generator_renderer(gen.model, gen.record, device=device, tiles=tiles, focus=opts.focus,
                                  aperture=opts.aperture, focus_point=opts.focus_point, lens=_lens(opts),
                                  name=None if gen.record.kind == "correction" else name)
    return ClassicalRenderer(str(choice.value), focus=opts.focus, aperture=opts.aperture, tiles=tiles,
                             focus_point=opts.focus_point, lens=_lens(opts))


def _lens(opts: InferOptions) -> Lens | None:
    from bokehpipe.render.lens import virtual_lens

    return virtual_lens(opts.aperture, opts.f_number, opts.focal_length)
