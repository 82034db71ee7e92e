"""Pipeline files are checked against the commands they configure, once, where they are loaded.

Unchecked, a misspelt key would be ignored: `learning-rate = 0.01` or a table `[trian]` would train silently at
the defaults. So every table must name a subcommand (or a group's subcommand, `[depth.verify]`), every key one
of that command's options, and every value must have the option's type: an integer option takes an
integer (`batch = 2.7` is refused, not truncated), a flag a boolean, a choice one of its choices. Errors name
the file, the table, the key and the closest valid key. Only the click declarations are consulted, so the
check cannot drift from the options themselves. Structured tables that are not options (`[train.schedule]`,
`[[steps]]`) are checked by the code that reads them, called from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from bokehpipe.config import closest, toml_value_is
from bokehpipe.errors import ConfigError


def _check_schedule(value: Any, where: str) -> None:
    from bokehpipe.train.config import parse_schedule

    try:
        parse_schedule(value)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# Keys that are not options of the command but structured settings it reads from the pipeline itself.
STRUCTURED: dict[str, dict[str, Callable[[Any, str], None]]] = {"train": {"schedule": _check_schedule}}
TOP_LEVEL_LISTS = {"steps"}  # `[[steps]]`: experiment steps, checked by `bokehpipe.experiments.load_steps`
STEP_KEYS = ("name", "run", "creates", "script")


def _did_you_mean(key: str, valid: Iterable[str]) -> str:
    best = closest(key, valid)
    return f"; did you mean {best!r}?" if best else ""


def _option_keys(command: click.Command) -> dict[str, click.Parameter]:
    """Every spelling a pipeline may use for each parameter: its name and its long options, - or _."""
    keys: dict[str, click.Parameter] = {}
    for param in command.params:
        if param.name is None or param.name in {"help"}:
            continue
        keys[param.name] = param
        for opt in [*param.opts, *getattr(param, "secondary_opts", [])]:
            if opt.startswith("--"):
                keys[opt[2:].replace("-", "_")] = param
    return keys


def _type_name(param: click.Parameter) -> str:
    kind = param.type
    if getattr(param, "is_flag", False) or isinstance(kind, click.types.BoolParamType):
        return "true or false"
    if isinstance(kind, click.types.IntParamType):
        return "an integer"
    if isinstance(kind, click.types.FloatParamType):
        return "a number"
    if isinstance(kind, click.Choice):
        return "one of " + ", ".join(map(str, kind.choices))
    return "a string"


def _check_value(param: click.Parameter, value: Any, where: str) -> None:
    """The value's TOML type must be the option's; then the option's own rules (ranges, choices)."""
    kind = param.type
    if getattr(param, "multiple", False) or (param.nargs not in (1, None) and param.nargs != 0):
        values = value if isinstance(value, list) else None
        if values is None:
            raise ConfigError(f"{where}: expected a list, got {value!r}")
    else:
        values = [value]
    for v in values:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            ok = toml_value_is(v, bool)
        elif isinstance(kind, click.types.IntParamType):
            ok = toml_value_is(v, int)
        elif isinstance(kind, click.types.FloatParamType):
            ok = toml_value_is(v, float)
        elif isinstance(kind, click.types.BoolParamType):
            ok = toml_value_is(v, bool)
        else:  # strings, paths, choices: numbers are fine (`levels = 4`), tables and lists are not
            ok = toml_value_is(v, str)
        if not ok:
            hint = " (integers must be written without a fraction)" if isinstance(
                kind, click.types.IntParamType) and isinstance(v, float) else ""
            raise ConfigError(f"{where}: expected {_type_name(param)}, got {v!r}{hint}")
        if isinstance(kind, (click.types._NumberRangeBase, click.Choice)):
            try:
                kind.convert(v, param, None)
            except click.BadParameter as exc:
                raise ConfigError(f"{where}: {exc.message}") from None


def _check_table(command: click.Command, table: Any, path: list[str], source: Path) -> None:
    label = f"{source}: [{'.'.join(path)}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{label} must be a table of `{' '.join(path)}` options (key = value lines under "
                          f"[{'.'.join(path)}]), got {table!r}")
    options = _option_keys(command)
    subcommands = dict(command.commands) if isinstance(command, click.Group) else {}
    structured = STRUCTURED.get(".".join(path), {})
    for key, value in table.items():
        norm = key.replace("-", "_")
        if norm in options:
            _check_value(options[norm], value, f"{label} {key}")
        elif key in subcommands:
            _check_table(subcommands[key], value, [*path, key], source)
        elif key in structured:
            structured[key](value, str(source))
        else:
            valid = [k.replace("_", "-") for k in options] + list(subcommands) + list(structured)
            raise ConfigError(f"{label}: unknown key {key!r}{_did_you_mean(key, valid)} (`bokehpipe "
                              f"{' '.join(path)} --help` lists the options)")


def _check_steps(value: Any, source: Path) -> None:
    if not isinstance(value, list):
        raise ConfigError(f"{source}: steps must be a list of [[steps]] tables")
    for i, entry in enumerate(value, 1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: step {i} must be a [[steps]] table")
        for key in entry:
            if key not in STEP_KEYS:
                raise ConfigError(f"{source}: [[steps]] {i}: unknown key {key!r}{_did_you_mean(key, STEP_KEYS)}")


def check_pipeline(pipeline: dict[str, Any], source: Path, group: click.Group, ctx: click.Context) -> None:
    """Raise ConfigError on the first table, key or value that no command would honour."""
    names = group.list_commands(ctx)
    for key, value in pipeline.items():
        if key in TOP_LEVEL_LISTS:
            _check_steps(value, source)
            continue
        command = group.get_command(ctx, key) if key in names else None
        if command is None:
            raise ConfigError(f"{source}: unknown table [{key}]{_did_you_mean(key, [*names, *TOP_LEVEL_LISTS])} "
                              "(tables are named after commands: " + ", ".join(names) + ")")
        _check_table(command, value, [key], source)
