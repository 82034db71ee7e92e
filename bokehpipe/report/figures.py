"""Matplotlib figures for report.tex: training curves, metric bars, image grids with zoomed crops.

Each function takes data already read from the store and writes one file; none of them computes a metric.
Vector PDF for plots, JPEG for photo grids (kept small: photos are downscaled to the grid cell).
"""

from __future__ import annotations

import textwrap
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
        kw.setdefault("pil_kwargs", {"quality": 72, "optimize": True})
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight", format=fmt, **kw)
    plt.close(fig)
    return path


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


Window = tuple[int, int, int]  # x0, y0, side in pixels of the full image


def pick_windows(disparity: np.ndarray, photo: np.ndarray, side_frac: float = 0.2) -> list[Window]:
    """Two zoom windows chosen from the depth map, not by hand: the textured far background (where bokeh
    shows) and the strongest depth edge (where a subject's silhouette meets the blur)."""
    h, w = disparity.shape
    side = max(8, int(side_frac * min(h, w)))
    gy, gx = np.gradient(photo.mean(-1))
    texture = np.hypot(gx, gy)
    dy, dx = np.gradient(disparity.astype(np.float32))
    edges = np.hypot(dx, dy)
    far = 1.0 - (disparity - disparity.min()) / max(float(np.ptp(disparity)), 1e-6)
    best: list[tuple[float, Window]] = [(-1.0, (0, 0, side)), (-1.0, (0, 0, side))]
    stride = max(1, side // 3)
    for y0 in range(0, h - side + 1, stride):
        for x0 in range(0, w - side + 1, stride):
            win = (slice(y0, y0 + side), slice(x0, x0 + side))
            scores = (float((texture[win] * far[win] ** 2).mean()), float(edges[win].mean()))
            for i, score in enumerate(scores):
                if score > best[i][0]:
                    best[i] = (score, (x0, y0, side))
    return [best[0][1], best[1][1]]


def _zoom_strip(img: np.ndarray, windows: Sequence[Window], height: int = 200) -> np.ndarray:
    """The windows of `img` side by side (each `height` px square) with a white gap between them."""
    tiles = []
    for i, (x0, y0, side) in enumerate(windows):
        if i:
            tiles.append(np.ones((height, 6, 3), np.float32))
        tiles.append(resize(np.clip(img[y0:y0 + side, x0:x0 + side], 0, 1), (height, height)))
    return np.concatenate(tiles, axis=1)


def abs_diff(img: np.ndarray, target: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """|img - target| (mean over channels) x gain, as a grey image: where a render departs from the photo."""
    d = np.clip(np.abs(img - target).mean(-1) * gain, 0, 1)
    return np.repeat(d[..., None], 3, axis=2).astype(np.float32)


def comparison(photos: Sequence[dict[str, Any]], columns: Sequence[str], path: Path, *,
               width_in: float = 7.0, label_size: float = 7, diff_label: str = "|x - target| x4") -> Path:
    """Full-width comparison: per photo a row of full images, a row of its two zoom windows (background |
    depth edge, yellow and cyan boxes) and optionally a row of difference maps, labelled `diff_label`. Each photo
    dict has `label`, `images` (one per column; None leaves a cell empty), `windows`, and optional `diffs` (per
    column or None)."""
    n_cols = len(columns)
    heights: list[float] = []
    kinds: list[tuple[int, str]] = []
    for i, ph in enumerate(photos):
        img = next(im for im in ph["images"] if im is not None)
        heights.append(img.shape[0] / img.shape[1])
        kinds.append((i, "full"))
        if ph["windows"]:
            heights.append(1.0 / (len(ph["windows"]) + 0.03 * (len(ph["windows"]) - 1)))
            kinds.append((i, "zoom"))
        if ph.get("diffs") is not None:
            heights.append(img.shape[0] / img.shape[1])
            kinds.append((i, "diff"))
    cell_w = width_in / n_cols
    fig, axes = plt.subplots(len(kinds), n_cols, figsize=(width_in, cell_w * sum(heights) * 1.04),
                             squeeze=False, gridspec_kw={"wspace": 0.02, "hspace": 0.03, "height_ratios": heights})
    colours = ("yellow", "cyan")
    cell_px = 420
    for r, (i, kind) in enumerate(kinds):
        ph = photos[i]
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            img = ph["images"][c] if c < len(ph["images"]) else None
            if kind == "diff":
                img = ph["diffs"][c] if c < len(ph["diffs"]) else None
            if img is None:
                ax.set_axis_off()
                continue
            if kind == "zoom":
                ax.imshow(_zoom_strip(img, ph["windows"]))
            else:
                ax.imshow(np.clip(_cell(img, cell_px), 0, 1))
            if kind == "full":
                scale = cell_px / img.shape[1]
                for (x0, y0, side), colour in zip(ph["windows"], colours, strict=False):
                    ax.add_patch(plt.Rectangle((x0 * scale, y0 * scale), side * scale, side * scale, fill=False,
                                               color=colour, linewidth=0.9))
            if r == 0:
                ax.set_title(columns[c], fontsize=label_size)
            if c == 0:
                ax.set_ylabel({"full": ph["label"], "zoom": "zooms", "diff": diff_label}[kind],
                              fontsize=label_size - 1)
    fit_titles(fig, axes[0])
    return _save(fig, path, dpi=180)


def fit_titles(fig: plt.Figure, axes: Sequence[plt.Axes], margin: float = 0.96) -> None:
    """Wrap each column title onto more lines until it is no wider than its own axes: narrow columns with
    long names ("PyNET-res-xs + depth" next to "BokehNet (default)") otherwise print over each other."""
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        title = ax.title
        text = title.get_text().replace("\n", " ")
        limit = ax.get_window_extent(renderer).width * margin
        width = len(text)
        while text and title.get_window_extent(renderer).width > limit and width > 4:
            width -= 1
            title.set_text("\n".join(textwrap.wrap(text, width, break_long_words=False)) or text)


def architecture(levels: Sequence[dict[str, Any]], path: Path) -> Path:
    """PyNET's levels as a ladder: per level its feature resolution and what its head outputs, for one
    photo size; `levels` rows come from running the model (bokehpipe.report.paper), not from the text."""
    fig, ax = plt.subplots(figsize=(7.0, 2.5))
    n = len(levels)
    for i, lv in enumerate(levels):  # level 7 (coarsest) on the left, level 1 on the right
        x = i * 1.0
        depth_ = lv["level"]
        y = 0.25 * (depth_ - 1)
        ax.add_patch(plt.Rectangle((x, y), 0.86, 0.5, color=plt.cm.viridis(0.15 + 0.7 * i / max(1, n - 1)),
                                   alpha=0.85))
        ax.text(x + 0.43, y + 0.36, f"level {depth_}", ha="center", va="center", fontsize=7, color="white",
                weight="bold")
        ax.text(x + 0.43, y + 0.15, lv["features"], ha="center", va="center", fontsize=6, color="white")
        ax.text(x + 0.43, y - 0.12, f"out {lv['output']}", ha="center", va="center", fontsize=6)
        ax.text(x + 0.43, y - 0.27, lv["role"], ha="center", va="center", fontsize=5.5, color="dimgray")
        if i:
            ax.annotate("", xy=(x, y + 0.25), xytext=(x - 0.14, 0.25 * (levels[i - 1]["level"] - 1) + 0.25),
                        arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.text(-0.05, 0.25 * (levels[0]["level"] - 1) + 0.75, levels[0].get("caption", ""), fontsize=6.5,
            ha="left", va="bottom")
    ax.set_xlim(-0.1, n - 0.05)
    ax.set_ylim(-0.45, 0.25 * (max(lv["level"] for lv in levels) - 1) + 1.0)
    ax.set_axis_off()
    return _save(fig, path)


Series = Sequence[tuple[int, Sequence[tuple[int, float, float]]]]  # (level, [(step, psnr, input psnr)])


def _concatenated(series: Series) -> tuple[list[float], list[float], list[tuple[int, float, float]]]:
    """x (steps counted across levels), y (PSNR gain over the input) and (level, first x, last x) spans."""
    xs, ys, spans, offset = [], [], [], 0
    for level, vals in series:
        if not vals:
            continue
        xs += [offset + s for s, _, _ in vals]
        ys += [p - i for _, p, i in vals]
        spans.append((level, offset, offset + vals[-1][0]))
        offset += vals[-1][0]
    return xs, ys, spans


def training_curves(main: Series, ablation: dict[str, Sequence[Series]], path: Path) -> Path:
    """Validation PSNR minus the input's (both at each level's output size) over steps counted across levels:
    the main run coloured by level (left) and the ablation's seeds, mean and range, per condition (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.3), gridspec_kw={"width_ratios": [1.6, 1]})
    xs, ys, spans = _concatenated(main)
    cmap = plt.cm.viridis
    for level, x0, x1 in spans:
        part = [(x, y) for x, y in zip(xs, ys, strict=True) if x0 < x <= x1]
        colour = cmap((7 - level) / 6)
        left.plot([x for x, _ in part], [y for _, y in part], "o-", ms=2.5, lw=1, color=colour)
        left.axvspan(x0, x1, color=colour, alpha=0.06, lw=0)
        left.text((x0 + x1) / 2, 1.0, str(level), transform=left.get_xaxis_transform(), ha="center", va="bottom",
                  fontsize=6.5, color=colour)
    left.axhline(0, color="grey", lw=0.7, ls="--")
    left.set_xlabel("training step (all levels, coarse to fine; level number on top)")
    left.set_ylabel("val PSNR $-$ input PSNR (dB)")
    for kind, colour, label in (("depth", "tab:blue", "RGB + depth"), ("rgb", "tab:orange", "RGB only")):
        runs = [_concatenated(s) for s in ablation.get(kind, []) if s]
        runs = [r for r in runs if r[0]]
        if not runs:
            continue
        n = min(len(r[0]) for r in runs)
        x = runs[0][0][:n]
        stack = np.array([r[1][:n] for r in runs])
        right.plot(x, stack.mean(0), "-", lw=1.1, color=colour, label=f"{label} ({len(runs)} seeds)")
        right.fill_between(x, stack.min(0), stack.max(0), color=colour, alpha=0.2, lw=0)
        for _, _, x1 in runs[0][2]:
            right.axvline(x1, color="lightgrey", lw=0.5)
    right.axhline(0, color="grey", lw=0.7, ls="--")
    right.set_xlabel("ablation step (levels 7..4)")
    right.legend(frameon=False, loc="lower right")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


def gain_against_blur(series: Sequence[tuple[str, Sequence[tuple[float, float]]]], path: Path) -> Path:
    """One point per test pair and method: PSNR gain over the input against the scene's mean CoC radius."""
    fig, ax = plt.subplots(figsize=(3.4, 2.2))
    for (label, pairs), colour in zip(series, ("tab:purple", "tab:green", "tab:red"), strict=False):
        ax.scatter([b for b, _ in pairs], [g for _, g in pairs], s=6, color=colour, alpha=0.7, lw=0, label=label)
    ax.axhline(0, color="grey", lw=0.7, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("mean CoC radius of the target (px, log scale)")
    ax.set_ylabel("PSNR $-$ input PSNR (dB)")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, markerscale=2, ncol=len(series), loc="lower center", bbox_to_anchor=(0.5, 1.0),
              handletextpad=0.2, columnspacing=0.8)
    fig.tight_layout()
    return _save(fig, path)


def placeholder(message: str, path: Path) -> Path:
    """A figure that says which result is missing and how to make it (used only with --allow-missing)."""
    fig, ax = plt.subplots(figsize=(6.4, 1.0))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=8, color="darkred")
    ax.set_axis_off()
    return _save(fig, path)
