"""Progress a person can read: a tqdm bar on a terminal, a plain line every few seconds otherwise.

A bar redrawn with carriage returns is right on a terminal and wrong in CI or `> log` (a log file fills with
redraws). `progress_bar` picks one by asking whether stderr is a terminal; both sides offer the tqdm methods
depth, train, infer and weights use (update, set_postfix, write, close, total, n), so callers never branch.
BOKEHPIPE_PROGRESS_EVERY sets the plain-line interval (seconds, default 10).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

EVERY_ENV = "BOKEHPIPE_PROGRESS_EVERY"
DEFAULT_EVERY = 10.0


def _every() -> float:
    try:
        return max(0.0, float(os.environ.get(EVERY_ENV, DEFAULT_EVERY)))
    except ValueError:
        return DEFAULT_EVERY


class LineProgress:
    """tqdm's interface, printing `desc: n/total unit (rate, postfix)` at most every `every` seconds."""

    def __init__(self, total: int | float | None = None, desc: str = "", unit: str = "it", initial: int = 0,
                 file: TextIO | None = None, every: float | None = None, unit_scale: bool = False,
                 **_: Any) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.file = file or sys.stderr
        self.every = _every() if every is None else every
        self.unit_scale = unit_scale
        self.postfix = ""
        self._start = self._last = time.monotonic()
        self._start_n = self._last_n = initial
        self._closed = self._emitted = False

    def _fmt(self, value: float) -> str:
        if not self.unit_scale:
            return f"{value:.3g}" if isinstance(value, float) else str(value)
        for prefix in ("", "K", "M", "G", "T"):
            if abs(value) < 1024:
                return f"{value:.1f}{prefix}"
            value /= 1024
        return f"{value:.1f}P"

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        rate = (self.n - self._start_n) / elapsed if elapsed > 0 else 0.0
        of = f"/{self._fmt(self.total)}" if self.total else ""
        text = f"{self.desc}: {self._fmt(self.n)}{of} {self.unit} ({elapsed:.0f} s, {self._fmt(rate)} {self.unit}/s"
        return text + (f", {self.postfix})" if self.postfix else ")")

    def _emit(self) -> None:
        print(self.line(), file=self.file, flush=True)
        self._last, self._last_n, self._emitted = time.monotonic(), self.n, True

    def update(self, n: int | float = 1) -> None:
        self.n += n
        if time.monotonic() - self._last >= self.every:
            self._emit()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kw: Any) -> None:
        items = {**(ordered_dict or {}), **kw}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def write(self, text: str, file: TextIO | None = None, **_: Any) -> None:
        print(text, file=file or self.file, flush=True)

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if not self._closed and self._emitted and self.n != self._last_n:
            self._emit()  # the final count, once, for a task long enough to have reported before
        self._closed = True

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(total: int | float | None = None, *, desc: str = "", unit: str = "it", initial: int = 0,
                 file: TextIO | None = None, **kw: Any) -> Any:
    """A tqdm bar when `file` (stderr) is a terminal, else a `LineProgress` with the same methods."""
    file = file or sys.stderr
    if is_terminal(file):
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=file, dynamic_ncols=True,
                    leave=False, **kw)
    kw.pop("leave", None)
    kw.pop("disable", None)
    kw.pop("dynamic_ncols", None)
    return LineProgress(total=total, desc=desc, unit=unit, initial=initial, file=file, **kw)
