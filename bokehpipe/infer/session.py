"""One `bokehpipe infer` run as a library call: options -> plan (checked before anything is written) -> run.

`plan_session` resolves the renderer (trained run, checkpoint or classical method), the depth source and
every output path, and refuses early (nothing written) when an output exists without `overwrite`, an output
would land on an input, or MiDaS weights are missing. `Session.run` renders, writes, and refreshes the
gallery. The CLI only adds a progress bar and the printing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bokehpipe.data.disparity import DisparitySource
from bokehpipe.errors import BokehpipeError
from bokehpipe.store import ArtifactStore

from .depth_inputs import open_depth_source
from .engine import BokehNetRenderer, ClassicalRenderer, LearnedRenderer, Outcome, Renderer, TilePolicy, run_jobs
from .files import PREVIEW_SUFFIX, Job, find_inputs, plan_jobs, refuse_overwrite
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

    @property
    def depth_description(self) -> str:
        return f"depth: {self.depth.description}"

    def run(self, on_done: Callable[[Outcome], None] | None = None) -> Summary:
        on_gpu = self.device.startswith("cuda")
        outcomes = run_jobs(self.jobs, self.renderer, self.depth, batch_size=self.batch_size, on_done=on_done,
                            read_threads=1)
        done = [o for o in outcomes if o.ok]
        entries = [Entry(name=o.job.rel.as_posix(),
                         before=relative_link(o.job.preview_output or o.job.input, self.out_dir),
                         render=relative_link(o.job.output, self.out_dir),
                         depth=relative_link(o.job.depth_output, self.out_dir) if o.job.depth_output in o.wrote
                         else None, width=o.size[0], height=o.size[1], source=self.name) for o in done]
        gallery = write_gallery(self.out_dir, entries, title=f"bokehpipe renders: {self.out_dir.name}")
        if self.store is not None and self.out_dir.is_relative_to(self.store.root):
            self.store.record(self.out_dir, "renders", source=self.name, depth=self.depth.description,
                              rendered=len(done), failed=len(outcomes) - len(done))
        if on_gpu:
            import torch

            torch.cuda.synchronize()
        seconds = sum(o.seconds for o in done) / len(done) if done else 0.0
        return Summary(total=len(outcomes), rendered=len(done), failed=len(outcomes) - len(done),
                       seconds_per_photo=seconds, tiled=getattr(self.renderer, "tiled_count", 0), gallery=gallery,
                       outcomes=outcomes)


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise BokehpipeError("--device cuda: no CUDA device is visible (torch.cuda.is_available() is False); "
                             "use --device cpu")
    return requested


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


def _default_midas(info: dict[str, Any], device: str) -> tuple[str, str | None]:
    """The MiDaS variant to run when no depth is given: the one the run was trained on, else the device's
    default; plus a warning when the run was trained on other maps."""
    from bokehpipe.depth.variants import default_variant, get_variant

    fallback = default_variant("cuda" if device.startswith("cuda") else "cpu")
    trained_with = info.get("depth_source")
    if not trained_with:
        return fallback, None
    try:
        return get_variant(str(trained_with)).name, None
    except BokehpipeError:
        return fallback, (f"warning: the run was trained on {trained_with!r} depth; MiDaS {fallback} maps may "
                          "differ from them (pass --depth DIR with maps like the training ones)")


def plan_session(opts: InferOptions, store: ArtifactStore) -> Session:
    """Everything decided and checked, nothing written yet."""
    device = _device(opts.device)
    name = _render_name(opts)
    out_dir = Path(opts.out_dir).expanduser().resolve() if opts.out_dir else store.renders(name)
    folder = Path(opts.folder).expanduser().resolve()
    notes: list[str] = []
    tiles = TilePolicy(max_pixels=opts.max_pixels, tile=opts.tile, overlap=opts.tile_overlap)

    model = info = None
    from bokehpipe.render.calibration import DEFAULT_APERTURE

    aperture = DEFAULT_APERTURE if opts.aperture is None else float(opts.aperture)
    if uses_default(opts):
        from bokehpipe.render.learned import load_bokehnet

        bokehnet, _ = load_bokehnet()
        needs_depth = True
    elif opts.method is None:
        from bokehpipe.train.checkpoint import find_checkpoint, load_model_for_inference

        if opts.run is not None:
            run_dir = store.run(opts.run)
            if not run_dir.is_dir():
                known = ", ".join(store.list_runs()) or "none"
                raise BokehpipeError(f"{run_dir}: no run {opts.run!r} in the store (known: {known}); train one "
                                     "with `bokehpipe train` or pass --checkpoint PATH")
            ckpt = find_checkpoint(run_dir, "best")
        else:
            ckpt = Path(opts.checkpoint)  # type: ignore[arg-type]
        model, info = load_model_for_inference(ckpt, device="cpu")
        with_depth = bool(info.get("with_depth", info.get("in_chans", 4) == 4))
        needs_depth = with_depth
        notes.append(f"model {info.get('model', '?')} level {info.get('level', 1)} "
                     f"({'RGB + depth' if with_depth else 'RGB only'}) from {info.get('path', ckpt)}")
        if int(info.get("level", 1)) != 1:
            notes.append(f"note: this run is trained only to level {info['level']}; its output is upsampled to "
                         "full resolution")
    else:
        needs_depth = True
    default_model = None
    if needs_depth and not (opts.depth_dir or opts.depth_cache or opts.depth_model):
        default_model, warning = _default_midas(info or {}, device)
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
    inputs = find_inputs(folder, recursive=opts.recursive, exclude=exclude)
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
    if not opts.overwrite:
        refuse_overwrite(jobs)

    renderer: Renderer
    if uses_default(opts):
        renderer = BokehNetRenderer(bokehnet, focus=opts.focus, aperture=aperture, tiles=tiles,
                                    focus_point=opts.focus_point)
    elif model is not None:
        renderer = LearnedRenderer(model, level=int(info.get("level", 1)), with_depth=needs_depth,  # type: ignore
                                   device=device, tiles=tiles, name=name)
    else:
        renderer = ClassicalRenderer(opts.method, focus=opts.focus, aperture=aperture,  # type: ignore[arg-type]
                                     tiles=tiles, focus_point=opts.focus_point)
    batch = opts.batch_size or (4 if device.startswith("cuda") and model is not None else 1)
    return Session(name=name, out_dir=out_dir, jobs=jobs, renderer=renderer, depth=depth, device=device,
                   batch_size=batch, notes=notes, store=store)
