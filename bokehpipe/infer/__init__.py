"""Rendering folders of photos (`bokehpipe infer`, `bokehpipe render`): inputs and outputs (`files`), depth
sources (`depth_inputs`), the one job runner (`engine`: read, render, write), the static gallery (`gallery`),
the refocus gallery (`refocus`, its page `refocus_page`) and each command's run as one call (`session` for
infer, `render_run` for render). The renderers themselves, classical and learned, are `bokehpipe.render`'s."""

from bokehpipe.infer.engine import Outcome, run_jobs
from bokehpipe.infer.session import InferOptions, Session, plan_session

__all__ = ["InferOptions", "Outcome", "Session", "plan_session", "run_jobs"]
