"""Phase two: level-wise PyNET-Bokeh training (`bokehpipe train`), run folders, checkpoints and DDP.

Reading a trained model back (for infer, eval, the report) is `bokehpipe.models.checkpoint`.
"""

from bokehpipe.train.config import PAPER_SCHEDULE, LevelSchedule, TrainConfig, parse_levels, parse_schedule

__all__ = ["PAPER_SCHEDULE", "LevelSchedule", "TrainConfig", "parse_levels", "parse_schedule"]
