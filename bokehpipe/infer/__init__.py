"""Full-resolution inference on folders of photos (`bokehpipe infer`): inputs and outputs (`files`), depth
sources (`depth_inputs`), rendering with tiling (`engine`, `tiling`), the static gallery (`gallery`) and the
whole run as one call (`session`)."""

from bokehpipe.infer.engine import ClassicalRenderer, LearnedRenderer, Outcome, TilePolicy, run_jobs
from bokehpipe.infer.session import InferOptions, Session, plan_session

__all__ = ["ClassicalRenderer", "InferOptions", "LearnedRenderer", "Outcome", "Session", "TilePolicy",
           "plan_session", "run_jobs"]
