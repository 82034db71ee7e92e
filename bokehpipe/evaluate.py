"""`bokehpipe eval`: learned runs and classical baselines scored under one protocol on one split.

Every method sees the same inputs, the same depth and the same scoring (`bokehpipe.metrics.PROTOCOL`,
DESIGN.md "Metrics protocol"). Methods that need depth are skipped, with the reason recorded, when no depth
cache is available, rather than silently fed something else. On synthetic sets the classical renderers can be
given each image's true focus and aperture from `metadata.json` (`focus="metadata"`): the physically matched
baseline, which a learned model must infer from pixels. Outputs: per-image CSV, a summary JSON (what was
scored, with what depth and protocol, by which command) and a LaTeX table fragment for report.tex.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bokehpipe.data.datasets import photo_of
from bokehpipe.data.ebb import Pair, load_metadata
from bokehpipe.data.io import read_image, resize
from bokehpipe.data.windows import half_rgb
from bokehpipe.errors import BokehpipeError
from bokehpipe.locks import exclusive, lock_beside
from bokehpipe.store import atomic_write_json, atomic_write_text

TABLE_COLUMNS = (("psnr", "PSNR", True), ("ssim", "SSIM", True), ("ms_ssim", "MS-SSIM", True),
                 ("lpips", "LPIPS", False), ("psnr_crop32", "PSNR$_{32}$", True), ("ssim_crop32", "SSIM$_{32}$", True))


@dataclass
class Method:
    """One thing to score: a baseline or a learned run; `renderer` follows bokehpipe.render.interface.Renderer."""

    name: str
    kind: str  # identity | half-input | steerable (takes focus and aperture: renderers, BokehNet) | learned
    needs_depth: bool
    renderer: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, rgb: np.ndarray, disp: np.ndarray | None, meta: dict[str, Any] | None) -> np.ndarray:
        if self.kind == "identity":
            return rgb
        if self.kind == "half-input":
            return resize(half_rgb(rgb), (rgb.shape[1], rgb.shape[0]))
        if self.kind == "steerable" and meta is not None:
            out = self.renderer.render_one(rgb, disp, focus=meta["focus"], aperture=meta["aperture"])
            return np.clip(out, 0.0, 1.0).astype(np.float32)
        return self.renderer.render_batch([rgb], [disp])[0]


@dataclass
class EvalResult:
    rows: list[dict[str, Any]]
    skipped: dict[str, str]
    methods: list[Method]
    n_images: int


def identity_method(device: str = "cpu") -> Method:
    return Method("identity", "identity", False)


def half_input_method(device: str = "cpu") -> Method:
    """The input as PyNET sees it (x0.5 bicubic) enlarged back to the photo's size: what the finest level must
    restore before it can gain anything over the full-resolution input."""
    return Method("half-input", "half-input", False)


def classical_method(name: str, tiles: Any = None, device: str = "cpu") -> Method:
    """A classical depth-aware renderer (gaussian or scatter) with `predict`'s per-image focus/aperture. Photos
    without metadata get auto-focus and the renderer's calibrated f/1.8 aperture, as `infer` renders them; the
    learned default renderer is `bokehnet_method`."""
    from bokehpipe.render.classical import ClassicalRenderer
    from bokehpipe.render.tiling import TilePolicy

    return Method(name, "steerable", True, ClassicalRenderer(name, tiles=tiles or TilePolicy()))


def bokehnet_method(device: str = "cpu", weights: str | Path | None = None) -> Method:
    """BokehNet (scatter + its learned correction; it takes focus and aperture exactly as scatter does): the
    shipped weights, or a `bokehnet export` file."""
    from bokehpipe.render.learned import BokehNetRenderer, load_bokehnet

    model, info = load_bokehnet(weights)
    return Method("bokehnet", "steerable", True, BokehNetRenderer(model), {
        "path": info["path"], "run": info.get("run"), "step": info.get("step"),
        "schedule_steps": info.get("train_config", {}).get("steps")})


# Methods scored by name (`--baselines`): a table, so a new method is one line (factory(device=...) -> Method).
METHODS: dict[str, Callable[..., Method]] = {
    "identity": identity_method,
    "half-input": half_input_method,
    "gaussian": lambda device="cpu": classical_method("gaussian", device=device),
    "scatter": lambda device="cpu": classical_method("scatter", device=device),
    "bokehnet": bokehnet_method,  # the shipped default renderer (or --bokehnet-weights)
}
BASELINES = tuple(METHODS)  # listed first in every table, in this order


def build_methods(names: Sequence[str], *, device: str = "cpu",
                  bokehnet_weights: str | Path | None = None) -> list[Method]:
    """Methods from the table by name, or one error naming the unknown ones and the choices; `bokehnet_weights`
    replaces the shipped BokehNet weights (a retrained model, scored under the same name)."""
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        raise BokehpipeError(f"unknown baseline {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if bokehnet_weights is not None and "bokehnet" not in names:
        raise BokehpipeError("--bokehnet-weights needs bokehnet among --baselines")
    table = METHODS if bokehnet_weights is None else {**METHODS, "bokehnet": partial(bokehnet_method,
                                                                                   weights=bokehnet_weights)}
    return [table[n](device=device) for n in names]


def learned_method(run_dir: Path, device: str, tiles: Any = None) -> Method:
    """A trained run (its finest level's best checkpoint): a correction of scatter (BokehNet) is steered like the
    classical renderers; an end-to-end generator renders what it learned."""
    from bokehpipe.render.learned import generator_renderer, load_generator
    from bokehpipe.render.tiling import TilePolicy

    model, record = load_generator(run_dir, device=device)
    renderer = generator_renderer(model, record, device=device, tiles=tiles or TilePolicy(), name=run_dir.name)
    kind = "steerable" if record.kind == "correction" else "learned"
    return Method(run_dir.name, kind, record.with_depth, renderer, record.summary())


def evaluate(pairs: Sequence[Pair], methods: Sequence[Method], *, depth: Any | None,
             metadata: dict[str, dict[str, Any]] | None = None, lpips: Any | None = None, align: bool = False,
             save_dir: Path | None = None, save_count: int = 0, focus_reference: Any | None = None,
             downscale: int = 1, progress: Callable[[int], None] | None = None) -> EvalResult:
    """Score every method on every pair; rows carry `aligned` = False (and, when `align`, True for the colour
    gain oracle and "shift" for the integer shift + colour gain oracle).

    With `save_dir`, the predictions for the first `save_count` pairs are kept as PNG
    (`save_dir/<method>/<id>.png`) for figures: a figure then shows exactly what was scored.
    `focus_reference` (the exact maps' cache, when `depth` holds estimated maps of a synthetic set): the true
    focus is moved onto the estimated map (`transfer_focus`), so every method focuses on the true subject.
    `downscale` K > 1 scores every prediction and its target after shrinking both K times (area): a generator
    trained only to a coarse level is then judged at the resolution it outputs, not by the detail its
    upsampled output cannot have; saved predictions stay at full size.
    """
    from bokehpipe.data.io import write_png
    from bokehpipe.metrics import PROTOCOL, score_pair
    from bokehpipe.render.focus import transfer_focus

    if not pairs:
        raise BokehpipeError("the split has no pairs with targets to evaluate")
    skipped: dict[str, str] = {}
    active = []
    for m in methods:
        if m.needs_depth and depth is None:
            skipped[m.name] = "needs depth and no depth cache was given (--depth-source)"
        else:
            active.append(m)
    if depth is not None:
        missing = [p.id for p in pairs if not depth.has(photo_of(p))]
        if missing:
            raise BokehpipeError(f"{depth.path}: no depth for ids {', '.join(missing[:5])}"
                                 f"{'...' if len(missing) > 5 else ''}; rerun `bokehpipe depth` for this split")
    rows: list[dict[str, Any]] = []
    for index, pair in enumerate(pairs):
        rgb, target = read_image(pair.input), read_image(pair.target)
        if rgb.shape != target.shape:
            raise BokehpipeError(f"{pair.target}: target size differs from input {pair.input.name}; "
                                 "see `bokehpipe data check`")
        shrink = _shrinker(rgb.shape, downscale, pair.input)
        scored_target = shrink(target)
        # at its stored size, as training and `infer` read it: each method resizes it where it uses it
        disp = depth.disparity(photo_of(pair), rgb) if depth is not None else None
        meta = metadata.get(pair.id) if metadata else None
        if meta is not None and focus_reference is not None and disp is not None:
            exact = focus_reference.disparity(photo_of(pair), rgb)
            meta = {**meta, "focus": transfer_focus(exact, disp, meta["focus"])}
        for m in active:
            start = time.perf_counter()
            pred = m.predict(rgb, disp, meta)
            seconds = time.perf_counter() - start
            if save_dir is not None and index < save_count:
                write_png(save_dir / m.name / f"{pair.id}.png", np.clip(pred, 0.0, 1.0))
            scored = shrink(pred)
            for aligned in ((False, True, "shift") if align else (False,)):
                scores = score_pair(scored, scored_target, PROTOCOL, lpips=lpips, align=aligned)
                rows.append({"id": pair.id, "method": m.name, "aligned": aligned, "seconds": round(seconds, 4),
                             **scores})
        if progress is not None:
            progress(1)
    return EvalResult(rows, skipped, list(active), len(pairs))


def _mean(values: list[float]) -> float:
    """Mean PSNR over images; +inf (identical images) stays +inf, as the protocol says."""
    return float(np.mean(values)) if values else math.nan


def summarize(result: EvalResult) -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for m in result.methods:
        entry: dict[str, Any] = {"kind": m.kind, **({"info": m.info} if m.info else {})}
        for aligned, key in ((False, "metrics"), (True, "metrics_aligned"), ("shift", "metrics_shift_aligned")):
            rows = [r for r in result.rows if r["method"] == m.name and type(r["aligned"]) is type(aligned)
                    and r["aligned"] == aligned]
            if not rows:
                continue
            metric_keys = [k for k in rows[0] if k not in ("id", "method", "aligned", "seconds")]
            entry[key] = {k: _mean([r[k] for r in rows if k in r]) for k in metric_keys}
            entry["n"] = len(rows)
            entry["seconds_per_image"] = _mean([r["seconds"] for r in rows])
        methods[m.name] = entry
    return {"n_images": result.n_images, "methods": methods, "skipped": result.skipped}


def per_image_csv(result: EvalResult) -> str:
    keys: list[str] = []
    for row in result.rows:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    return buf.getvalue()


def ordered(methods: dict[str, Any]) -> dict[str, Any]:
    """Baselines first (identity, gaussian, scatter), then learned runs as given: summary.json sorts its keys."""
    rank = {name: i for i, name in enumerate(BASELINES)}
    return dict(sorted(methods.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def latex_table(summary: dict[str, Any], *, aligned: bool = False) -> str:
    """A tabular fragment (booktabs) with the best value per column in bold; report.tex \\input's it.
    Written by the one table writer (`bokehpipe.tables`), so eval and the report print numbers alike."""
    from bokehpipe.tables import esc, fmt, tabular

    key = "metrics_aligned" if aligned else "metrics"
    methods = {n: e[key] for n, e in ordered(summary["methods"]).items() if key in e}
    cols = [(k, label, hi) for k, label, hi in TABLE_COLUMNS if any(k in v for v in methods.values())]
    header = ["Method"] + [label + ("$\\uparrow$" if hi else "$\\downarrow$") for _, label, hi in cols]
    rows = [[esc(name)] + [fmt(k, values.get(k)) for k, _, _ in cols] for name, values in methods.items()]
    return tabular(header, rows, bold_best={i + 1: hi for i, (_, _, hi) in enumerate(cols)})


def text_table(summary: dict[str, Any], *, aligned: bool = False) -> str:
    from bokehpipe.tables import fmt

    key = "metrics_aligned" if aligned else "metrics"
    cols = [k for k, _, _ in TABLE_COLUMNS if any(k in e.get(key, {}) for e in summary["methods"].values())]
    lines = [f"{'method':<22}" + "".join(f"{c:>13}" for c in cols)]
    for name, entry in ordered(summary["methods"]).items():
        values = entry.get(key, {})
        cells = [fmt(c, values.get(c)).replace("$\\infty$", "inf") for c in cols]
        lines.append(f"{name:<22}" + "".join(f"{cell:>13}" for cell in cells))
    return "\n".join(lines)


def write_reports(summary: dict[str, Any], result: EvalResult, out_dir: Path) -> dict[str, Path]:
    """per_image.csv, summary.json, table.tex (and table_aligned.tex with --align), each written atomically."""
    paths = {"csv": out_dir / "per_image.csv", "json": out_dir / "summary.json", "tex": out_dir / "table.tex"}
    atomic_write_text(paths["csv"], per_image_csv(result))
    atomic_write_text(paths["tex"], latex_table(summary))
    if any("metrics_aligned" in e for e in summary["methods"].values()):
        paths["tex_aligned"] = out_dir / "table_aligned.tex"
        atomic_write_text(paths["tex_aligned"], latex_table(summary, aligned=True))
    atomic_write_json(paths["json"], summary)
    return paths


def depth_notes(methods: Sequence[Method], depth_source: str | None) -> list[str]:
    """Depth compatibility: a learned run scored with maps other than those it was trained on is said so."""
    notes = []
    for m in methods:
        want = m.info.get("depth_source")
        if m.kind == "learned" and m.needs_depth and depth_source and want and want != depth_source:
            notes.append(f"note: run {m.name} was trained on {want} depth and is scored with {depth_source}")
    return notes


@dataclass
class EvalRun:
    """One `bokehpipe eval`: what was scored, the summary written, where, and notes for the user."""

    summary: dict[str, Any]
    result: EvalResult
    out_dir: Path
    paths: dict[str, Path]
    notes: list[str]


def _shrinker(shape: tuple[int, ...], factor: int, photo: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The one resize every scored image of a pair goes through: identity at factor 1, else area to 1/factor."""
    if factor == 1:
        return lambda img: img
    h, w = shape[:2]
    if h // factor < 16 or w // factor < 16:
        raise BokehpipeError(f"{photo}: {w}x{h} shrunk {factor} times is under 16 px; use a smaller --downscale")
    size = (w // factor, h // factor)
    return lambda img: resize(np.ascontiguousarray(img, dtype=np.float32), size, "area")


def run_eval(store: Any, *, data: str | None, dataset: str | None, split: str, runs: Sequence[str],
             baselines: Sequence[str], depth_source: str | None, focus: str = "metadata", align: bool = False,
             limit: int | None = None, save_predictions: int = 0, device: str = "cpu", tag: str | None = None,
             command: str = "", bokehnet_weights: str | Path | None = None, downscale: int = 1,
             progress: Callable[[int], Callable[[int], None]] | None = None) -> EvalRun:
    """Resolve the split, the methods and the depth cache, score, and write the reports (`write_reports`).

    `progress(total)` returns a callable ticked once per image (a progress bar's `update`).
    """
    from bokehpipe.data.ebb import load_index
    from bokehpipe.device import resolve_device
    from bokehpipe.metrics import PROTOCOL
    from bokehpipe.metrics.lpips import load_lpips

    device = resolve_device(device)
    root, name = store.resolve_dataset(data=data, dataset=dataset)
    pairs = load_index(root).split(split, require_targets=True)[:limit]
    methods = build_methods(baselines, device=device, bokehnet_weights=bokehnet_weights)
    methods += [learned_method(store.existing_run(r), device) for r in runs]
    from bokehpipe.depth.cache import open_depth_cache

    depth, depth_note = None, "none"
    if depth_source:
        depth = open_depth_cache(store, name, depth_source, split)
        depth_note = str(depth.path)
    notes = depth_notes(methods, depth_source)
    metadata = load_metadata(root) if focus == "metadata" else None
    reference = None
    if metadata and depth_source and depth_source != "gt":  # estimated maps: focus where the exact map has it
        try:
            reference = open_depth_cache(store, name, "gt", split)
            notes.append(f"focus: each image's true focus, moved onto the {depth_source} maps at the subject "
                         "(where the exact map has it in focus)")
        except BokehpipeError as exc:
            notes.append(f"focus: the exact maps' focus values, not moved onto the {depth_source} maps ({exc})")
    lpips, lpips_note = load_lpips(store, device)
    tag = tag or "-".join(filter(None, [name, split, depth_source]))
    out_dir = store.eval_report(tag)
    with exclusive(lock_beside(out_dir), what=f"the eval report {tag!r}"):  # one writer per tag
        result = evaluate(pairs, methods, depth=depth, metadata=metadata, lpips=lpips, align=align,
                          save_dir=out_dir / "predictions", save_count=save_predictions, focus_reference=reference,
                          downscale=downscale, progress=progress(len(pairs)) if progress is not None else None)
        summary = summarize(result)
        summary.update(dataset=name, dataset_root=str(root), split=split, depth_source=depth_source,
                       depth_cache=depth_note, align=align, downscale=downscale,
                       focus=("metadata, moved onto the estimated maps" if reference is not None else "metadata")
                       if metadata else "auto",
                       protocol=PROTOCOL.describe(), lpips="present" if lpips is not None else f"absent: {lpips_note}",
                       command=command, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
        paths = write_reports(summary, result, out_dir)
    store.record(paths["json"], "eval", dataset=name, split=split)
    return EvalRun(summary, result, out_dir, paths, notes)
