"""`bokehpipe bokehnet train|export`: the default renderer's commands, kept as aliases.

`bokehnet train` is `bokehpipe train` with `--model bokehnet` preset (the one training loop, one set of
options); `bokehnet export` is `bokehpipe export`. `pipelines/bokehnet.toml` chains synth -> train -> export;
`pipelines/bokehnet_ebb.toml` fine-tunes the shipped weights on EBB!.
"""

from __future__ import annotations

import copy

import click

from bokehpipe.cli.export import export
from bokehpipe.cli.train import train


@click.group()
def bokehnet() -> None:
    """BokehNet: scatter render + a small learned correction, with focus and aperture control."""


def _preset(command: click.Command, name: str, **defaults: object) -> click.Command:
    """`command` under another name with some option defaults changed (what the user did not type)."""
    params = []
    for param in command.params:
        if param.name in defaults:
            param = copy.copy(param)
            param.default = defaults[param.name]
        params.append(param)
    return click.Command(name, params=params, callback=command.callback, help=command.help,
                         short_help=f"`bokehpipe {command.name}` with --model bokehnet preset.")


bokehnet.add_command(_preset(train, "train", model="bokehnet"))
bokehnet.add_command(export, "export")
