"""Small pieces every subcommand shares: the store from the context, options defined once, JSON output."""

from __future__ import annotations

import json
from typing import Any

import click

from bokehpipe.cli import CliState

pass_state = click.make_pass_decorator(CliState)


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
