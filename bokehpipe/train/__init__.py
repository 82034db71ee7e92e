"""Phase two: level-wise PyNET-Bokeh training (`bokehpipe train`), run folders, checkpoints and DDP."""

from bokehpipe.train.checkpoint import find_checkpoint, load_model_for_inference
from bokehpipe.train.config import PAPER_SCHEDULE, LevelSchedule, TrainConfig, parse_levels, parse_schedule

__all__ = ["PAPER_SCHEDULE", "LevelSchedule", "TrainConfig", "find_checkpoint", "load_model_for_inference",
           "parse_levels", "parse_schedule"]
