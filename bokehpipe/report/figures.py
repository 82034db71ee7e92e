"""Matplotlib figures for report.tex: training curves, metric bars, image grids with zoomed crops.

Each function takes data already read from the store and writes one file; none of them computes a metric.
Vector PDF for plots, JPEG for photo grids (kept small: photos are downscaled to the grid cell).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bokehpipe.data.io import resize  # noqa: E402
from bokehpipe.store import atomic_path  # noqa: E402

plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
                     "xtick.labelsize": 7, "ytick.labelsize": 7, "pdf.fonttype": 42})


def _save(fig: plt.Figure, path: Path, **kw: Any) -> Path:
    fmt = path.suffix[1:].lower()
    if fmt in ("jpg", "jpeg"):  # photo grids: JPEG keeps them to a few hundred KB, PNG would not
        kw.setdefault("pil_kwargs", {"quality": 85, "optimize": True})
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format=fmt, **kw)
    plt.close(fig)
    return path


def training_curves(runs: dict[str, list[dict[str, str]]], path: Path) -> Path:
    """Validation PSNR against cumulative step, one line per run; level changes marked on the x axis."""
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    identity = None
    for label, rows in runs.items():
        val = [r for r in rows if r.get("kind") == "val" and r.get("val_psnr")]
        if not val:
            continue
        offsets, total, x, y = {}, 0, [], []
        for r in val:  # steps restart at every level: make them cumulative in training order
            level, step = int(r["level"]), int(r["step"])
            if level not in offsets:
                offsets[level] = total
            total = max(total, offsets[level] + step)
            x.append(offsets[level] + step)
            y.append(float(r["val_psnr"]))
            if r.get("val_psnr_identity"):
                identity = float(r["val_psnr_identity"])
        line, = ax.plot(x, y, marker=".", markersize=3, linewidth=1, label=label)
        for off in list(offsets.values())[1:]:
            ax.axvline(off, color=line.get_color(), linestyle=":", linewidth=0.6)
    if identity is not None:
        ax.axhline(identity, color="grey", linestyle="--", linewidth=0.8, label="identity (input = output)")
    ax.set_xlabel("training step (all levels, cumulative; dotted: next level starts)")
    ax.set_ylabel("validation PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", ncol=2)
    return _save(fig, path)


def metric_bars(methods: dict[str, dict[str, float]], path: Path,
                metrics: Sequence[tuple[str, str]] = (("psnr", "PSNR (dB)"), ("ssim", "SSIM"))) -> Path:
    """One panel per metric, one bar per method, value printed on each bar."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.4, 0.35 * len(methods) + 0.8))
    names = list(methods)
    for ax, (key, label) in zip(np.atleast_1d(axes), metrics, strict=True):
        vals = [methods[n].get(key, math.nan) for n in names]
        bars = ax.barh(range(len(names)), vals, color=plt.cm.tab10(np.arange(len(names)) % 10))
        ax.set_yticks(range(len(names)), names if ax is np.atleast_1d(axes)[0] else [""] * len(names))
        ax.invert_yaxis()
        finite = [v for v in vals if math.isfinite(v)]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = 1 if key.startswith("psnr") else 0.02
            ax.set_xlim(lo - 0.15 * (hi - lo + 1e-9) - pad, hi + 0.25 * (hi - lo + 1e-9))
        for bar, v in zip(bars, vals, strict=True):
            if math.isfinite(v):
                ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {v:.2f}" if key.startswith("psnr")
                        else f" {v:.3f}", va="center", fontsize=6)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _cell(img: np.ndarray, width: int) -> np.ndarray:
    h, w = img.shape[:2]
    return resize(img, (width, max(1, round(h * width / w))))


def image_grid(rows: Sequence[tuple[str, Sequence[np.ndarray]]], columns: Sequence[str], path: Path, *,
               crop: tuple[float, float, float] | None = (0.5, 0.5, 0.22), cell_width: int = 360) -> Path:
    """Rows of same-size images under column titles; with `crop` (cx, cy, side as fractions) a second row per
    photo shows the same zoomed window of every image, where bokeh shape and edges are judged."""
    n_rows = len(rows) * (2 if crop else 1)
    n_cols = len(columns)
    aspect = max(img.shape[0] / img.shape[1] for _, imgs in rows for img in imgs)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.25 * n_cols, 1.25 * n_rows * (aspect if not crop else
                                                                                      (aspect + 1) / 2)),
                             squeeze=False, gridspec_kw={"wspace": 0.03, "hspace": 0.05})
    for r, (label, imgs) in enumerate(rows):
        for c, img in enumerate(imgs):
            ax = axes[r * (2 if crop else 1)][c]
            ax.imshow(np.clip(_cell(img, cell_width), 0, 1))
            if crop:
                h, w = img.shape[:2]
                side = int(crop[2] * min(h, w))
                x0 = min(max(0, int(crop[0] * w) - side // 2), w - side)
                y0 = min(max(0, int(crop[1] * h) - side // 2), h - side)
                ax.add_patch(plt.Rectangle((x0 * cell_width / w, y0 * cell_width / w), side * cell_width / w,
                                           side * cell_width / w, fill=False, color="yellow", linewidth=0.8))
                zoom = axes[r * 2 + 1][c]
                zoom.imshow(np.clip(img[y0:y0 + side, x0:x0 + side], 0, 1), interpolation="nearest")
            if r == 0:
                ax.set_title(columns[c])
            if c == 0:
                ax.set_ylabel(label, fontsize=6)
        for c in range(len(imgs), n_cols):
            axes[r * (2 if crop else 1)][c].set_visible(False)
            if crop:
                axes[r * 2 + 1][c].set_visible(False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path, dpi=160)


def placeholder(message: str, path: Path) -> Path:
    """A figure that says which result is missing and how to make it (used only with --allow-missing)."""
    fig, ax = plt.subplots(figsize=(6.4, 1.0))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=8, color="darkred")
    ax.set_axis_off()
    return _save(fig, path)
