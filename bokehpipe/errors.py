"""One exception family for everything a user can fix.

The CLI turns a `BokehpipeError` into a single line and a non-zero exit; library code raises it instead of
printing or exiting, so the same functions work from notebooks and tests.
"""

from __future__ import annotations


class BokehpipeError(Exception):
    """A problem the user can act on; the message names the file and the fix."""


class ImageReadError(BokehpipeError):
    """An image (or depth map) file that cannot be decoded: missing, empty, truncated, not an image."""


class ConfigError(BokehpipeError):
    """A pipeline file or option combination that cannot be honoured."""


class WeightsMissingError(BokehpipeError):
    """A checkpoint that must be downloaded by hand (offline) or fetched with `bokehpipe weights fetch`."""
