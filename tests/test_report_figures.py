"""Report figures: column titles of the photo grids stay inside their own column."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bokehpipe.report.figures import fit_titles  # noqa: E402

# the six columns of the real EBB! grid, whose two long names printed over each other
COLUMNS = ["Input (f/16)", "Gaussian", "Scatter", "BokehNet (default)", "PyNET-res-xs + depth", "Target (f/1.8)"]


def _grid(titles: list[str]) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, len(titles), figsize=(7.0, 1.2), gridspec_kw={"wspace": 0.02})
    for ax, title in zip(axes, titles, strict=True):
        ax.imshow(np.zeros((8, 12, 3)))
        ax.set_title(title, fontsize=7)
    return fig, list(axes)


def _overlaps(fig: plt.Figure, axes: list[plt.Axes]) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    boxes = [(ax.title.get_text(), ax.title.get_window_extent(renderer)) for ax in axes]
    return [(a, b) for (a, ba), (b, bb) in zip(boxes, boxes[1:], strict=False) if ba.x1 > bb.x0]


def test_long_column_titles_overlap_without_fitting_and_not_with_it():
    fig, axes = _grid(COLUMNS)
    fig.canvas.draw()
    assert _overlaps(fig, axes), "the unfitted titles should collide (otherwise this test proves nothing)"
    fit_titles(fig, axes)
    assert _overlaps(fig, axes) == []
    renderer = fig.canvas.get_renderer()
    for ax in axes:  # each title fits its own column, and only long ones were wrapped
        assert ax.title.get_window_extent(renderer).width <= ax.get_window_extent(renderer).width
    assert axes[0].title.get_text() == "Input (f/16)"
    assert "\n" in axes[4].title.get_text()
    plt.close(fig)


def test_benchmarks_do_not_import_the_report():
    """The report reads what the benchmarks write, never the other way round: no module under bokehpipe/bench
    imports bokehpipe.report (the controls figure's drawing lives in report/figures.py)."""
    from pathlib import Path

    bench = Path(__file__).resolve().parent.parent / "bokehpipe" / "bench"
    importers = [p.name for p in sorted(bench.glob("*.py")) if "bokehpipe.report" in p.read_text(encoding="utf-8")]
    assert importers == []
