"""`bokehpipe report`: the store's experiment results -> report/figures, report/tables -> report.pdf."""

from __future__ import annotations

from pathlib import Path

import click

from bokehpipe.cli.common import pass_state


@click.command()
@click.option("--tex", "tex", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.tex"),
              show_default=True, help="The report source; figures and tables go to report/ beside it.")
@click.option("--compile/--no-compile", "compile_", default=True, show_default=True,
              help="Build the PDF with latexmk/pdflatex after writing figures and tables.")
@click.option("--allow-missing", is_flag=True,
              help="Write placeholders naming the missing results' commands instead of stopping.")
@pass_state
def report(state, tex: Path, compile_: bool, allow_missing: bool) -> None:
    """Gather results (eval summaries, run metrics, bench.json, renders) into figures and tables; build the PDF.

    Missing results are named with the command that makes them (`bokehpipe experiment exp_depth`, ...).
    """
    from bokehpipe.errors import BokehpipeError
    from bokehpipe.report.build import build
    from bokehpipe.report.latex import compile_pdf

    if not tex.is_file():
        raise BokehpipeError(f"{tex}: report source not found; run from the repository root or pass --tex")
    out, missing = build(state.store, tex, allow_missing=allow_missing)
    for line in missing:
        click.echo(f"missing: {line}", err=True)
    click.echo(f"wrote {len(out.tables)} tables, {len(out.figures)} figures, {len(out.numbers)} numbers "
               f"under {tex.parent / 'report'}")
    if compile_:
        pdf, pages = compile_pdf(tex)
        click.echo(f"built {pdf} ({pages} pages)")
