"""The run's metrics: `runs/<run>/metrics.csv` (always) and TensorBoard events (when tensorboard is installed).

One CSV row per logging interval or validation: step, level, training losses, validation PSNR/SSIM (and
the identity baseline: the input at the target's scale), learning rate, images/s, and the wall and CPU
seconds since the level started in this process (a resumed level starts counting again). The file is rewritten
atomically from the rows in memory, so it is never half-written; on resume the rows after the restored
step are dropped, so the CSV always describes the weights on disk.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from bokehpipe.errors import ConfigError
from bokehpipe.store import atomic_write_text

COLUMNS = ("level", "step", "kind", "loss", "l1", "ssim", "content", "val_psnr", "val_ssim", "val_psnr_identity",
           "val_ssim_identity", "val_images", "lr", "images_per_s", "elapsed_s", "cpu_s")


class MetricsLog:
    """Rows of metrics.csv; `truncate(levels_done, level, step)` keeps what a resumed run has not undone."""

    def __init__(self, path: str | os.PathLike[str], *, tensorboard_dir: str | os.PathLike[str] | None = None,
                 tensorboard: bool | None = None) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        if self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as fh:
                self.rows = [dict(r) for r in csv.DictReader(fh)]
        self.tb = _tensorboard_writer(tensorboard_dir, tensorboard) if tensorboard_dir else None

    def truncate(self, keep_levels: set[int], level: int, step: int) -> None:
        """Keep rows of finished levels and of `level` up to `step`; drop everything a resume will redo."""
        def keep(r: dict[str, Any]) -> bool:
            lv, st = int(r["level"]), int(r["step"])
            return lv in keep_levels or (lv == level and st <= step)

        before = len(self.rows)
        self.rows = [r for r in self.rows if keep(r)]
        if len(self.rows) != before:
            self.flush()

    def add(self, row: dict[str, Any]) -> None:
        row = {k: _fmt(row.get(k)) for k in COLUMNS}
        self.rows.append(row)
        if self.tb is not None:
            tag = "val" if row["kind"] == "val" else "train"
            for key in ("loss", "l1", "ssim", "content", "val_psnr", "val_ssim", "images_per_s"):
                if row[key] != "":
                    self.tb.add_scalar(f"level{row['level']}/{tag}/{key}", float(row[key]), int(row["step"]))

    def flush(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())
        if self.tb is not None:
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _tensorboard_writer(logdir: str | os.PathLike[str], wanted: bool | None):
    """A SummaryWriter when tensorboard is importable and not switched off; an error only when asked for."""
    if wanted is False:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if wanted:
            raise ConfigError("--tensorboard: the tensorboard package is not installed (pip install tensorboard), "
                              "or drop the flag") from None
        return None
    return SummaryWriter(log_dir=str(logdir))
