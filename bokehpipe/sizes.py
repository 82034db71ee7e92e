"""The one parser of `WxH` image sizes (`1536x1024`), shared by the CLI options and the bench scripts.

Library code raises `BokehpipeError`; the CLI's `SIZE` option type (cli/common.py) turns it into a click
usage error, so every `--size`/`--crop` names the value and the expected form in the same words.
"""

from __future__ import annotations

from bokehpipe.errors import BokehpipeError


def parse_size(text: str, *, minimum: int = 1, multiple: int = 1) -> tuple[int, int]:
    """`"1536x1024"` -> `(1536, 1024)`; both sides at least `minimum` and divisible by `multiple`."""
    try:
        w, h = (int(v) for v in str(text).strip().lower().split("x"))
    except ValueError:
        raise BokehpipeError(f"{text!r}: expected WxH (width x height), e.g. 1536x1024") from None
    if w < minimum or h < minimum:
        raise BokehpipeError(f"{text!r} is too small; use at least {minimum}x{minimum}")
    if w % multiple or h % multiple:
        raise BokehpipeError(f"{text!r}: width and height must be multiples of {multiple}")
    return w, h


def parse_sizes(text: str, **limits: int) -> list[tuple[int, int]]:
    """A comma-separated list of sizes, `"768x512,1536x1024"`."""
    return [parse_size(part, **limits) for part in text.split(",") if part.strip()]
