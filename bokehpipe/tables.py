"""The one LaTeX table writer: cell formatting, escaping and booktabs layout, for eval's table.tex and the report.

Decimals are fixed per kind of number (PSNR 2, SSIM/MS-SSIM/LPIPS 3, times by magnitude) so one value reads
the same wherever it is printed; `--` marks a missing value and `$\\infty$` identical images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def esc(text: str) -> str:
    return (str(text).replace("\\", "\\textbackslash{}").replace("_", "\\_").replace("&", "\\&")
            .replace("%", "\\%").replace("#", "\\#"))


def fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "--"
    value = float(value)
    if math.isinf(value):
        return "$\\infty$"
    if key.startswith("psnr"):
        return f"{value:.2f}"
    if key.startswith(("ssim", "ms_ssim", "lpips")):
        return f"{value:.3f}"
    if key in ("hours", "correlation"):
        return f"{value:.2f}"
    if key in ("seconds", "s_per_image", "wall_s", "minutes"):
        return f"{value:.1f}" if value >= 1 else f"{value:.3f}"
    if key in ("params_m", "peak_gb", "peak_mb"):
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:g}"


def tabular(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None,
            bold_best: dict[int, bool] | None = None) -> str:
    """booktabs tabular; `bold_best` {column index: higher_is_better} bolds the best numeric cell."""
    rows = [list(r) for r in rows]
    for col, higher in (bold_best or {}).items():
        vals = []
        for r in rows:
            try:
                vals.append(float(r[col]))
            except ValueError:
                vals.append(None)
        finite = [v for v in vals if v is not None and math.isfinite(v)]
        if finite:
            best = max(finite) if higher else min(finite)
            for r, v in zip(rows, vals, strict=True):
                if v == best:
                    r[col] = f"\\textbf{{{r[col]}}}"
    align = align or "l" + "r" * (len(header) - 1)
    lines = [f"\\begin{{tabular}}{{{align}}}", "\\toprule", " & ".join(header) + " \\\\", "\\midrule"]
    lines += [" & ".join(r) + " \\\\" for r in rows]
    lines += ["\\bottomrule", "\\end{tabular}", ""]
    return "\n".join(lines)
