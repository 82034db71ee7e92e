"""Compile report.tex and refuse a PDF with LaTeX errors or undefined references."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from bokehpipe.errors import BokehpipeError

UNDEFINED = re.compile(r"(Reference|Citation) `[^']*' on page \d+ undefined|There were undefined references")
PAGES = re.compile(r"Output written on .*?\((\d+) pages?")
OVERFULL = re.compile(r"Overfull \\[hv]box \(([\d.]+)pt too (?:wide|high)\)[^\n]*lines? (\d+)")
OVERFULL_LIMIT_PT = 1.0  # a box this much too wide shows in print; smaller ones do not


def tex_available() -> bool:
    return shutil.which("pdflatex") is not None


def compile_pdf(tex_path: Path, *, timeout: float = 300) -> tuple[Path, int]:
    """latexmk (or pdflatex three times); returns (pdf, pages). Raises on errors, undefined references or a box
    overfull by more than a point. LaTeX writes into a scratch folder beside the source, and only a clean build
    replaces the PDF: a failed one would otherwise delete or truncate the last good report. The log is copied
    next to the source either way."""
    tex_path = tex_path.resolve()
    if not tex_available():
        raise BokehpipeError("pdflatex not found: install TeX (Debian: apt-get install texlive-latex-recommended "
                             "texlive-latex-extra texlive-fonts-recommended latexmk) or pass --no-compile")
    cwd, name, log = tex_path.parent, tex_path.name, tex_path.with_suffix(".log")
    with tempfile.TemporaryDirectory(prefix=".latex-", dir=cwd) as scratch:
        if shutil.which("latexmk"):
            commands = [["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-g",
                         f"-outdir={scratch}", name]]
        else:
            commands = [["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={scratch}",
                         name]] * 3
        built_log, built_pdf = Path(scratch) / log.name, Path(scratch) / tex_path.with_suffix(".pdf").name
        for cmd in commands:
            proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
            if built_log.is_file():
                shutil.copyfile(built_log, log)
            if proc.returncode != 0:
                tail = _first_error(log.read_text(errors="replace")) if built_log.is_file() else proc.stdout[-400:]
                raise BokehpipeError(f"{tex_path}: LaTeX failed ({tail}); see {log}; the previous PDF is kept")
        log_text = log.read_text(errors="replace")
        undefined = UNDEFINED.findall(log_text) or (["undefined"] if "undefined references" in log_text else [])
        if undefined:
            raise BokehpipeError(f"{tex_path}: undefined references or citations; see {log}; the previous PDF is "
                                 "kept")
        overfull = [f"{float(pt):.1f} pt at line {line}" for pt, line in OVERFULL.findall(log_text)
                    if float(pt) > OVERFULL_LIMIT_PT]
        if overfull:
            raise BokehpipeError(f"{tex_path}: overfull boxes ({'; '.join(overfull[:5])}); see {log}; the "
                                 "previous PDF is kept")
        pdf = tex_path.with_suffix(".pdf")
        os.replace(built_pdf, pdf)
    match = PAGES.search(log_text)
    return pdf, int(match.group(1)) if match else 0


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if line.startswith("!"):
            return line[1:].strip()
    return "no error line in the log"
