"""Mean and spread as the report prints them: sample standard deviation over seeds, standard error over images."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from bokehpipe.report import tables


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample sd); sd is nan for one value, both nan for none."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def pm(key: str, values: Sequence[float]) -> str:
    """'26.47 $\\pm$ 0.12' (sample sd); one value shows no spread; none shows --."""
    m, sd = mean_sd(values)
    if math.isnan(m):
        return "--"
    return tables.fmt(key, m) + ("" if math.isnan(sd) else f" $\\pm$ {tables.fmt(key, sd)}")


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of per-image values (nan below two)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan


def signed(key: str, value: float | None) -> str:
    """+0.42 / $-$0.42: a difference, with its sign spelled out."""
    if value is None or math.isnan(value):
        return "--"
    return ("+" if value >= 0 else "$-$") + tables.fmt(key, abs(value))
