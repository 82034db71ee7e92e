"""The layers of ARCHITECTURE.md hold (import-linter contracts in pyproject.toml) and functions stay short."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "bokehpipe"
MAX_FUNCTION_LINES = 80


def test_import_contracts_are_kept():
    """`lint-imports` over this checkout's package (not an installed copy): every row of the table is a contract."""
    if importlib.util.find_spec("importlinter") is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
                             "--no-cache"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " 0 broken" in result.stdout and "KEPT" in result.stdout


def test_every_row_of_the_table_names_a_layer():
    """The table in ARCHITECTURE.md and the layers contract list the same packages (nothing left unchecked)."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in config["contracts"] if c["type"] == "layers"]
    in_contract = {m.strip() for row in layers["layers"] for m in row.replace("|", ":").split(":")}
    table = (REPO / "ARCHITECTURE.md").read_text().split("## Packages", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    in_table = {name.strip("/") for row in rows for name in row.replace("`", " ").replace(",", " ").split()}
    assert in_contract == in_table


def long_functions(root: Path = PACKAGE, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """`path:line name (N lines)` for each function whose `def` through its last line spans over `limit` lines
    (decorators, such as click's option lists, are declarations and do not count)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_the_length_check_sees_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert [f.split(" ", 1)[1] for f in long_functions(tmp_path)] == [f"long ({MAX_FUNCTION_LINES + 1} lines)"]


def test_no_function_is_longer_than_80_lines():
    assert long_functions() == []
