"""Pipeline files: TOML tables in `pipelines/` that give defaults to subcommands; the command line wins.

A table named after a subcommand (`[train]`, `[depth]`, nested groups as `[depth.verify]`) becomes that
command's click `default_map`, so every option keeps one definition (its click declaration) and a pipeline
only changes defaults. Structured settings that are not options (the per-level schedule of `[train.levels]`)
stay available to the command through `CliState.pipeline`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from bokehpipe.errors import ConfigError

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
