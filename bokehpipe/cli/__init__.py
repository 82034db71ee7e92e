"""The `bokehpipe` command: a click group over the artifact store, with lazily imported subcommands.

`bokehpipe --help` imports only click and the small modules under `bokehpipe/cli/`; torch, timm and
OpenCV load when a subcommand runs. Each subcommand lives in its own module, named in `COMMANDS`.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from bokehpipe import __version__
from bokehpipe.errors import BokehpipeError

# name -> "module:attribute"; the order is the order of `bokehpipe --help`.
COMMANDS: dict[str, str] = {
    "demo": "bokehpipe.cli.demo:demo",
    "info": "bokehpipe.cli.info:info",
    "data": "bokehpipe.cli.data:data",
    "synth": "bokehpipe.cli.synth:synth",
    "render": "bokehpipe.cli.render:render",
    "depth": "bokehpipe.cli.depth:depth",
    "weights": "bokehpipe.cli.weights:weights",
    "train": "bokehpipe.cli.train:train",
    "export": "bokehpipe.cli.export:export",
    "bokehnet": "bokehpipe.cli.bokehnet:bokehnet",
    "infer": "bokehpipe.cli.infer:infer",
    "eval": "bokehpipe.cli.eval:eval_",
    "bench": "bokehpipe.cli.bench:bench",
    "experiment": "bokehpipe.cli.experiment:experiment",
    "report": "bokehpipe.cli.report:report",
}


@dataclass
class CliState:
    """What the group options give every subcommand (click's `ctx.obj`)."""

    store_root: Path
    store_reason: str = "given by --store"
    pipeline_path: Path | None = None
    pipeline: dict[str, Any] = field(default_factory=dict)

    @property
    def store(self):
        from bokehpipe.store import ArtifactStore

        return ArtifactStore(self.store_root)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click docs, "Lazily Loading Subcommands")."""

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy_subcommands) + sorted(set(super().list_commands(ctx)) - set(self.lazy_subcommands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            module_name, attr = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
        else:
            command = super().get_command(ctx, cmd_name)
        if command is not None and ctx.default_map and isinstance(ctx.default_map.get(cmd_name), dict):
            _alias_pipeline_keys(command, ctx.default_map[cmd_name])
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BokehpipeError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            message = os_error_line(exc)
            if message is None:
                raise  # not about a path the user gave: a bug, keep its traceback
            raise click.ClickException(message) from None


_OS_HINTS = {errno.EACCES: "check its permissions or choose another folder", errno.EPERM: "check its permissions",
             errno.EROFS: "the file system is read-only; choose another folder",
             errno.ENOSPC: "the disk is full; free some space and rerun (finished work is kept)",
             errno.EDQUOT: "the disk quota is full; free some space and rerun",
             errno.ENAMETOOLONG: "use a shorter name", errno.ELOOP: "a symbolic link loops; fix or remove it",
             errno.ENOENT: "check the path", errno.ENOTDIR: "a part of the path is a file, not a folder",
             errno.EISDIR: "it is a folder; give a file", errno.EIO: "the device reported an I/O error"}


def os_error_line(exc: OSError) -> str | None:
    """One line for an OSError about a file (names the path, says what to do); None for other OSErrors."""
    if exc.filename is None and exc.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    where = f"{exc.filename}: " if exc.filename is not None else ""
    hint = _OS_HINTS.get(exc.errno or -1, "")
    return f"{where}{exc.strerror or exc}" + (f"; {hint}" if hint else "")


def _alias_pipeline_keys(command: click.Command, defaults: dict[str, Any]) -> None:
    """Pipeline keys are long option names (`json`); click looks defaults up by parameter name (`json_output`)."""
    from bokehpipe.config import option_key_aliases

    for key, name in option_key_aliases(command).items():
        if key in defaults and name not in defaults:
            defaults[name] = defaults.pop(key)
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            if isinstance(defaults.get(sub_name), dict):
                _alias_pipeline_keys(sub, defaults[sub_name])


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"],
                                                                         "max_content_width": 110})
@click.option("--store", "store_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Artifact store root: datasets, depth caches, runs, weights, renders, reports. Default: "
                   "$BOKEHPIPE_STORE, else the nearest cache/ (with its manifest.json) at or above the working "
                   "folder, else ./cache; `bokehpipe info` says which and why.")
@click.option("--offline", is_flag=True, envvar="BOKEHPIPE_OFFLINE", show_envvar=True,
              help="Never download weights; a missing file is a one-line error saying where to put it.")
@click.option("--pipeline", "pipeline_file", metavar="FILE", default=None,
              help="TOML pipeline (a path or a name in pipelines/) whose tables give subcommand defaults.")
@click.version_option(__version__, prog_name="bokehpipe")
@click.pass_context
def cli(ctx: click.Context, store_root: Path | None, offline: bool, pipeline_file: str | None) -> None:
    """bokehpipe: learn natural DSLR bokeh from one sharp photo (MiDaS depth + PyNET, EBB!).

    Phase one caches a depth map per image (`bokehpipe depth`); phase two trains PyNET level by level on
    RGB plus depth (`bokehpipe train`). Every stage reads and writes one artifact store (--store).
    """
    from bokehpipe.store import locate_store
    from bokehpipe.threads import configure_environment

    configure_environment()  # before any subcommand imports torch
    if offline:
        os.environ["BOKEHPIPE_OFFLINE"] = "1"  # read by bokehpipe.weights wherever a download would start
    choice = locate_store(store_root)
    state = CliState(store_root=choice.root, store_reason=choice.reason)
    if pipeline_file is not None:
        from bokehpipe.config import load_pipeline, to_default_map
        from bokehpipe.pipeline_check import check_pipeline

        try:
            state.pipeline_path, state.pipeline = load_pipeline(pipeline_file)
            check_pipeline(state.pipeline, state.pipeline_path, ctx.command, ctx)
        except BokehpipeError as exc:
            raise click.ClickException(str(exc)) from None
        ctx.default_map = to_default_map(state.pipeline)
        if ctx.invoked_subcommand:  # resolved before this callback ran; alias its keys now
            ctx.command.get_command(ctx, ctx.invoked_subcommand)
    ctx.obj = state


def main() -> None:
    """Console entry point: one-line errors, exit 1; Ctrl-C exits 130 without a traceback."""
    try:
        cli.main(prog_name="bokehpipe", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
