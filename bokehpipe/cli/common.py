"""Small pieces every subcommand shares: the store from the context, options defined once (`--device`, focus and
aperture, datasets, sizes), JSON output."""

from __future__ import annotations

import json
from typing import Any

import click

from bokehpipe.cli import CliState

pass_state = click.make_pass_decorator(CliState)

METHOD_CHOICES = ("scatter", "gaussian")  # bokehpipe.render.METHODS (not imported here: --help stays light)


class FiniteFloat(click.FloatRange):
    """The one type of every float option: finite (click's FloatRange lets `nan` through every bound, and `inf`
    through an open one), then within its range if it has one."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        import math

        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


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


class DeviceType(click.ParamType):
    """`--device`: its spelling checked while options are parsed (`bokehpipe.device.parse_device`, no torch);
    whether the device is there is decided by the library's one `resolve_device` call."""

    name = "DEVICE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from bokehpipe.device import parse_device
        from bokehpipe.errors import ConfigError

        try:
            return parse_device(value)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


def device_option(func):
    """`--device`, the same on every command that runs a model: one type, one default (auto)."""
    from bokehpipe.device import DEFAULT, HELP

    return click.option("--device", type=DeviceType(), default=DEFAULT, show_default=True, help=HELP)(func)


class PointType(click.ParamType):
    """`--focus-at X,Y`: a pixel of the photo, as (x, y)."""

    name = "X,Y"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "X,Y"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            x, y = (int(round(float(v))) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not X,Y in pixels, e.g. 768,512", param, ctx)
        return x, y


class ApertureType(click.ParamType):
    """`--aperture f/N|SCALE` read by `bokehpipe.render.calibration.read_aperture`; a bad value is that function's
    one-line error (not a usage screen), as for any other bad input."""

    name = "f/N|SCALE"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "f/N|SCALE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from bokehpipe.render.calibration import Aperture, read_aperture

        return value if isinstance(value, Aperture) else read_aperture(str(value))


def focus_options(func):
    """`--focus`, `--focus-at` and `--aperture`, the same on every command that renders with a chosen focus and
    aperture (`infer`, `render`); which focus a photo gets is `bokehpipe.render.focus.resolve_focus`'s rule."""
    func = click.option("--focal-length", type=FiniteFloat(min=1, max=2000), default=50.0, show_default=True,
                        metavar="MM", help="The virtual lens for a metric depth map (a metric --depth-model or "
                                            "cache): blur from the thin lens at --aperture's f-number, the photo's "
                                            "field of view from Exif (else 50 mm on APS-C).")(func)
    func = click.option("--aperture", type=ApertureType(), default=None,
                        help="An f-number (f/2.8, calibrated on real f/16 -> f/N pairs) or the internal CoC scale (a "
                             "plain number: radius = SCALE * 40 px * (width / 1536) * |disparity - focus|).  "
                             "[default: f/1.8]")(func)
    func = click.option("--focus-at", "focus_point", type=PointType(), default=None,
                        help="Focus on what is at pixel X,Y of each photo.")(func)
    func = click.option("--focus", type=FiniteFloat(0.0, 1.0), default=None,
                        help="Disparity in focus (0 far .. 1 near, after per-image min-max); default: the subject, "
                             "found automatically.")(func)
    return func


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
    block by block through a learned model on a CPU (a large photo can take minutes)."""
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
