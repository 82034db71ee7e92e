"""`bokehpipe info`: versions, devices and what the store holds, so a bug report needs one paste."""

from __future__ import annotations

import click

from bokehpipe.cli.common import echo_json, pass_state


@click.command()
@click.option("--json", "json_output", is_flag=True, help="Print as JSON.")
@pass_state
def info(state, json_output: bool) -> None:
    """Show versions (bokehpipe, torch, timm, CUDA) and the store's datasets, depth caches, runs and weights."""
    from bokehpipe.inventory import describe

    report = describe(state.store)
    report["store"]["chosen"] = state.store_reason
    if json_output:
        echo_json(report)
        return
    for key, value in report["versions"].items():
        click.echo(f"{key:<10} {value}")
    click.echo(f"store      {report['store']['root']}")
    click.echo(f"           ({state.store_reason})")
    for section in ("datasets", "depth_caches", "runs", "weights"):
        items = report["store"][section]
        click.echo(f"{section} ({len(items)})")
        for item in items:
            click.echo(f"  {item['name']}" + (f"  {item['summary']}" if item.get("summary") else ""))
