"""Small pieces every subcommand shares: the store from the context, options defined once, JSON output."""

from __future__ import annotations

import json
from typing import Any

import click

from bokehpipe.cli import CliState

pass_state = click.make_pass_decorator(CliState)


class SizeType(click.ParamType):
    """A `WxH` option value parsed by `bokehpipe.sizes.parse_size`; its error becomes a click usage error."""

    name = "WxH"

    def __init__(self, *, minimum: int = 1, multiple: int = 1) -> None:
        self.minimum, self.multiple = minimum, multiple

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "WxH"  # click would upper-case the name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        from bokehpipe.errors import BokehpipeError
        from bokehpipe.sizes import parse_size

        if isinstance(value, tuple):
            value = "x".join(str(v) for v in value)
        try:
            return parse_size(value, minimum=self.minimum, multiple=self.multiple)
        except BokehpipeError as exc:
            self.fail(str(exc), param, ctx)


def dataset_options(func):
    """`--data PATH` or `--dataset NAME` (a set in the store), the same on every command that reads data."""
    func = click.option("--dataset", default=None, metavar="NAME",
                        help="Dataset in the store (store/datasets/NAME), e.g. one made by `bokehpipe synth`.")(func)
    func = click.option("--data", default=None, type=click.Path(file_okay=False),
                        help="Dataset folder in an EBB!-style layout (see `bokehpipe data check`).")(func)
    return func


def parameter_sources(ctx: click.Context) -> dict[str, dict[str, Any]]:
    """Every parameter's value and where it came from: commandline, pipeline (default_map), env or default."""
    names = {"DEFAULT_MAP": "pipeline", "COMMANDLINE": "commandline", "ENVIRONMENT": "environment",
             "DEFAULT": "default", "PROMPT": "prompt"}
    out = {}
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        out[name] = {"value": _jsonable(value), "source": names.get(source.name, source.name.lower())
                     if source is not None else "default"}
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def tile_progress(desc: str = "this photo"):
    """A callback `(done, total)` that shows a second progress bar while one photo renders tile by tile, or
    block by block through a learned model on a CPU (a large photo can take minutes; issue 13)."""
    from bokehpipe.progress import progress_bar

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:  # a nested tqdm bar on a terminal, a plain line every few seconds in a log
            bar = progress_bar(total, unit="part", desc=desc, position=1)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            bar = None

    return update
