"""Click options generated from a dataclass config, so an option's default and help live in its field (litgpt's
habit): `bokehpipe.config.cli_field` describes the option in plain data; this module is the only click side."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from bokehpipe.config import CLI

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def options_from_dataclass(cls: type, *, extra: Mapping[str, Sequence[Decorator]] | None = None) -> Decorator:
    """A decorator adding one click option per `cli_field` of `cls`, in field order; `extra[name]` are options
    that are not fields (e.g. a schedule override), placed right after the field `name` in `--help`."""
    hints = typing.get_type_hints(cls)
    decorators: list[Decorator] = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(CLI)
        if spec is None:
            continue
        decorators.append(_option(f, spec, hints[f.name]))
        decorators.extend((extra or {}).get(f.name, ()))

    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorate in reversed(decorators):  # click lists options in the order their decorators are written
            func = decorate(func)
        return func

    return apply


def dataclass_values(cls: type, params: Mapping[str, Any]) -> dict[str, Any]:
    """The values of `cls`'s `cli_field`s among click's `params`, keyed by field name (for `cls(**...)`)."""
    return {f.name: params[f.metadata[CLI].get("param", f.name)]
            for f in dataclasses.fields(cls) if CLI in f.metadata}


def _option(f: dataclasses.Field, spec: Mapping[str, Any], hint: Any) -> Decorator:
    base = _without_none(hint)
    decls = list(spec.get("decls", ("--" + f.name.replace("_", "-"),)))
    default = spec.get("cli_default", f.default)
    kwargs: dict[str, Any] = {"default": default, "help": spec["help"]}
    if default is dataclasses.MISSING:  # a field without a default: the option must be given
        del kwargs["default"]
        kwargs["required"] = True
    if "flag" in spec:
        decls[0] = f"{decls[0]}/{spec['flag']}"
    elif base is bool:
        kwargs["is_flag"] = True
    elif spec.get("device"):  # the shared --device type (cli/common.device_option)
        from bokehpipe.cli.common import DeviceType
        from bokehpipe.device import HELP

        kwargs["type"], kwargs["help"] = DeviceType(), HELP
    elif "choices" in spec:
        kwargs["type"] = click.Choice(list(spec["choices"]))
    elif "size" in spec:  # a (width, height) field: a WxH option, its default shown as WxH
        from bokehpipe.cli.common import SizeType

        kwargs["type"] = SizeType(**spec["size"])
        if isinstance(default, tuple):
            kwargs["default"] = default = "x".join(map(str, default))
    elif spec.get("path"):
        kwargs["type"] = click.Path(dir_okay=False)
    elif base is float:  # finite, and in range where the field has one (cli/common.FiniteFloat)
        from bokehpipe.cli.common import FiniteFloat

        kwargs["type"] = FiniteFloat(spec.get("min"), spec.get("max"))
    elif "min" in spec or "max" in spec:
        kwargs["type"] = click.IntRange(spec.get("min"), spec.get("max"))
    elif base is int:
        kwargs["type"] = base
    if "metavar" in spec:
        kwargs["metavar"] = spec["metavar"]
    if kwargs.get("is_flag") and default is False:
        del kwargs["default"]  # click's own "unset" for a plain flag
    elif default is not None and "default" in kwargs:
        kwargs["show_default"] = True
    if "param" in spec:
        decls.append(spec["param"])
    return click.option(*decls, **kwargs)


def _without_none(hint: Any) -> Any:
    """`int | None` -> int; other hints as they are."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint
