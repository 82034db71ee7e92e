"""One `bokehpipe infer` run as a library call: options -> plan (checked before anything is written) -> run.

`plan_session` resolves the renderer (trained run, checkpoint or classical method), the depth source and
every output path, and refuses early (nothing written) when an output would land on an input or MiDaS
weights are missing. `Session.run` holds the --out folder's lock, keeps the renders an earlier run finished
(unless `overwrite`), renders the rest, writes, and refreshes the gallery. The CLI only adds a progress
bar and the printing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bokehpipe.data.disparity import DisparitySource
from bokehpipe.device import resolve_device
from bokehpipe.errors import BokehpipeError, ConfigError
from bokehpipe.locks import exclusive
from bokehpipe.models.checkpoint import CheckpointRecord
from bokehpipe.paths import check_writable_dir
from bokehpipe.store import ArtifactStore, remove_stale_temporaries

from .depth_inputs import open_depth_source
from .engine import BokehNetRenderer, ClassicalRenderer, LearnedRenderer, Outcome, Renderer, TilePolicy, run_jobs
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

    LOCK_NAME = ".bokehpipe-infer.lock"

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
            if on_start is not None:
                on_start(len(todo), len(kept))
            return self._run(todo, kept, on_done)

    def _run(self, todo: list[Job], kept: list[Job], on_done: Callable[[Outcome], None] | None) -> Summary:
        on_gpu = self.device.startswith("cuda")
        outcomes = run_jobs(todo, self.renderer, self.depth, batch_size=self.batch_size, on_done=on_done,
                            read_threads=1)
        done = [o for o in outcomes if o.ok]
        entries = [Entry(name=o.job.rel.as_posix(),
                         before=relative_link(o.job.preview_output or o.job.input, self.out_dir),
                         render=relative_link(o.job.output, self.out_dir),
                         depth=relative_link(o.job.depth_output, self.out_dir) if o.job.depth_output in o.wrote
                         else None, width=o.size[0], height=o.size[1], source=self.name) for o in done]
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
            entries.append(Entry(name=job.rel.as_posix(), before=relative_link(before, self.out_dir), render=render,
                                 depth=relative_link(job.depth_output, self.out_dir) if job.depth_output.is_file()
                                 else None, width=width, height=height, source=self.name))
        return entries


def uses_default(opts: InferOptions) -> bool:
    """No --run, --checkpoint or --method: the shipped BokehNet renders."""
    return not (opts.method or opts.run or opts.checkpoint)


def _render_name(opts: InferOptions) -> str:
    if opts.method:
        return opts.method
    if uses_default(opts):
        return "bokehnet"
    if opts.run:
        return opts.run
    path = Path(opts.checkpoint).resolve()  # type: ignore[arg-type]
    parts = path.parts
    if "checkpoints" in parts:  # runs/<run>/checkpoints/level1/best.pt -> <run>
        return parts[parts.index("checkpoints") - 1]
    return path.stem if path.is_file() else path.name


def _default_midas(record: CheckpointRecord | None, device: str) -> tuple[str, str | None]:
    """The MiDaS variant to run when no depth is given: the one the run was trained on, else the device's
    default; plus a warning when the run was trained on other maps."""
    from bokehpipe.depth.variants import default_variant, get_variant

    fallback = default_variant("cuda" if device.startswith("cuda") else "cpu")
    trained_with = record.depth_source if record is not None else None
    if not trained_with:
        return fallback, None
    try:
        return get_variant(str(trained_with)).name, None
    except BokehpipeError:
        return fallback, (f"warning: the run was trained on {trained_with!r} depth; MiDaS {fallback} maps may "
                          "differ from them (pass --depth DIR with maps like the training ones)")


def plan_session(opts: InferOptions, store: ArtifactStore) -> Session:
    """Everything decided and checked, nothing written yet."""
    device = resolve_device(opts.device)
    name = _render_name(opts)
    out_dir = Path(opts.out_dir).expanduser().resolve() if opts.out_dir else store.renders(name)
    check_writable_dir(out_dir)  # before any model or photo is loaded
    folder = Path(opts.folder).expanduser().resolve()
    notes: list[str] = []
    tiles = TilePolicy(max_pixels=opts.max_pixels, tile=opts.tile, overlap=opts.tile_overlap)

    model = record = None
    aperture = None if opts.aperture is None else float(opts.aperture)  # None: the renderer's calibrated f/1.8
    from bokehpipe.render.learned import is_bokehnet_weights, load_bokehnet

    retrained = opts.checkpoint is not None and is_bokehnet_weights(opts.checkpoint)  # a `bokehnet export` file
    use_bokehnet = uses_default(opts) or retrained
    steered = opts.focus is not None or opts.focus_point is not None or opts.aperture is not None
    if steered and not (use_bokehnet or opts.method):
        raise ConfigError("--focus, --focus-at and --aperture steer BokehNet (the default, or a --checkpoint BokehNet "
                          "file) and --method; a trained PyNET run learned its own focus and blur")
    if use_bokehnet:
        bokehnet, info = load_bokehnet(opts.checkpoint if retrained else None)
        if retrained:
            notes.append(f"model: BokehNet weights {info['path']} (run {info.get('run', '?')}, step "
                         f"{info.get('step', '?')})")
        needs_depth = True
    elif opts.method is None:
        from bokehpipe.models.checkpoint import find_checkpoint, load_for_inference

        if opts.run is not None:
            run_dir = store.run(opts.run)
            if not run_dir.is_dir():
                known = ", ".join(store.list_runs()) or "none"
                raise BokehpipeError(f"{run_dir}: no run {opts.run!r} in the store (known: {known}); train one "
                                     "with `bokehpipe train` or pass --checkpoint PATH")
            ckpt = find_checkpoint(run_dir, "best")
        else:
            ckpt = Path(opts.checkpoint)  # type: ignore[arg-type]
        model, record = load_for_inference(ckpt, device="cpu")
        needs_depth = record.with_depth
        notes.append(f"model {record.model} level {record.level} "
                     f"({'RGB + depth' if needs_depth else 'RGB only'}) from {record.path}")
        if record.level != 1:
            notes.append(f"note: this run is trained only to level {record.level}; its output is upsampled to "
                         "full resolution")
    else:
        needs_depth = True
    default_model = None
    if needs_depth and not (opts.depth_dir or opts.depth_cache or opts.depth_model):
        default_model, warning = _default_midas(record, device)
        notes += [f"no depth given: running MiDaS {default_model} on every photo"] + ([warning] if warning else [])
    depth = open_depth_source(depth_dir=opts.depth_dir, depth_cache=opts.depth_cache, depth_model=opts.depth_model,
                              weights=opts.weights, store=store, device=device, required=needs_depth,
                              default_model=default_model)

    previous = load_entries(out_dir)
    exclude: list[str | os.PathLike[str]] = [out_dir] if out_dir != folder else []
    if opts.depth_dir:
        exclude.append(opts.depth_dir)
    for e in previous:  # earlier renders, maps and previews that sit among the inputs (--out FOLDER)
        exclude += [out_dir / e.render] + ([out_dir / e.depth] if e.depth else [])
        if e.before.endswith(PREVIEW_SUFFIX):
            exclude.append(out_dir / e.before)
    unusable: list[str] = []
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

    renderer: Renderer
    if use_bokehnet:
        renderer = BokehNetRenderer(bokehnet, focus=opts.focus, aperture=aperture, tiles=tiles,
                                    focus_point=opts.focus_point)
    elif model is not None:
        renderer = LearnedRenderer(model, level=record.level, with_depth=needs_depth,  # type: ignore[union-attr]
                                   device=device, tiles=tiles, name=name)
    else:
        renderer = ClassicalRenderer(opts.method, focus=opts.focus, aperture=aperture,  # type: ignore[arg-type]
                                     tiles=tiles, focus_point=opts.focus_point)
    batch = opts.batch_size or (4 if device.startswith("cuda") and model is not None else 1)
    return Session(name=name, out_dir=out_dir, jobs=jobs, renderer=renderer, depth=depth, device=device,
                   batch_size=batch, notes=notes, store=store, overwrite=opts.overwrite, unusable=len(unusable))
