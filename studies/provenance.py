"""What a study writes beside its numbers: the command line that ran it and the commit it ran at."""

from __future__ import annotations

import sys
from pathlib import Path

from bokehpipe.bench.suite import commit

HERE = Path(__file__).resolve().parent


def provenance(script: str, argv: list[str] | None) -> dict[str, str]:
    """{"command": "python studies/<script>.py ARGS", "commit": the repository's commit}."""
    args = sys.argv[1:] if argv is None else argv
    return {"command": " ".join([f"python studies/{script}.py", *args]), "commit": commit(HERE)}
