"""Pipeline files: TOML tables in `pipelines/` that give defaults to subcommands; the command line wins.

A table named after a subcommand (`[train]`, `[depth]`, nested groups as `[depth.verify]`) becomes that
command's click `default_map`, so every option keeps one definition (its click declaration, or a `cli_field`
of the command's dataclass config) and a pipeline only changes defaults. Structured settings that are not
options (the per-level schedule of `[train.levels]`) stay available to the command through `CliState.pipeline`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bokehpipe.errors import ConfigError

CLI = "cli"  # dataclass field metadata key read by bokehpipe.cli.options.options_from_dataclass


def cli_field(default: Any = dataclasses.MISSING, *, help: str, **option: Any) -> Any:
    """A dataclass field that is also a command-line option, so its default and help live in one place.

    `option` says only how the option differs from the field (plain data; library code never imports click):
    `decls` (option names, default `--<name-with-dashes>`), `param` (click's parameter name), `flag` (the
    off-switch of a boolean, e.g. `--no-depth`), `min`/`max` (an integer or float range), `choices`, `path`
    (a file path), `size` (a (width, height) field typed as WxH: `sizes.parse_size` keywords), `device` (True: the
    shared --device type, `device.parse_device`), `metavar`, and
    `cli_default` where the command's default differs from the field's (None
    for "chosen at run time", e.g. the dataset's own validation split).
    """
    kwargs = {} if default is dataclasses.MISSING else {"default": default}
    return dataclasses.field(metadata={CLI: {"help": help, **option}}, **kwargs)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

def find_pipeline(name_or_path: str | os.PathLike[str]) -> Path:
    """A path as given, else `pipelines/<name>.toml` in the working folder or next to the package."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.resolve()
    stem = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    for folder in (Path.cwd() / "pipelines", Path(__file__).resolve().parent.parent / "pipelines"):
        if (folder / stem).is_file():
            return (folder / stem).resolve()
    raise ConfigError(f"{name_or_path}: pipeline file not found (looked for it as a path and as pipelines/{stem})")


def load_pipeline(name_or_path: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    path = find_pipeline(name_or_path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file") from None
    return path, data


def to_default_map(pipeline: dict[str, Any]) -> dict[str, Any]:
    """TOML keys are long option names (`val-every` or `val_every`); click looks defaults up by parameter
    name, so options whose parameter name differs from the long option are given both keys."""

    def norm(table: dict[str, Any]) -> dict[str, Any]:
        return {k.replace("-", "_"): (norm(v) if isinstance(v, dict) else v) for k, v in table.items()}

    return {k: norm(v) for k, v in pipeline.items() if isinstance(v, dict)}


def option_key_aliases(command: Any) -> dict[str, str]:
    """{long option name with underscores: parameter name} for options where the two differ."""
    out = {}
    for param in getattr(command, "params", []):
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                key = opt[2:].replace("-", "_")
                if key != param.name:
                    out[key] = param.name
    return out


def toml_value_is(value: Any, kind: type) -> bool:
    """Whether a TOML value has the type a setting wants: an integer is an int (never a bool, never a float
    that a cast would truncate), a number an int or a float, a boolean a bool, a string (also paths and
    choices) a string or a number. The one rule for options and for `[train.schedule]` entries."""
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, (str, int, float))


def closest(key: str, valid: Iterable[str]) -> str | None:
    """The valid key a typo most likely meant: an abbreviation by initials (`learning-rate` -> `lr`), else the
    most similar spelling."""
    valid = sorted(set(valid))
    words = [w for w in re.split(r"[-_ ]+", key.lower()) if w]
    initials = "".join(w[0] for w in words)
    if len(words) > 1 and initials in valid:
        return initials
    norm = {v.replace("_", "-"): v for v in valid}
    match = difflib.get_close_matches(key.replace("_", "-").lower(), list(norm), n=1, cutoff=0.0)
    return norm[match[0]] if match else None
