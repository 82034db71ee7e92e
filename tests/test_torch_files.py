"""One loader for torch files (bokehpipe/torch_files.py): every checkpoint bokehpipe reads back goes through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from bokehpipe.errors import BokehpipeError
from bokehpipe.torch_files import load_checkpoint

PACKAGE = Path(__file__).resolve().parents[1] / "bokehpipe"


def _calls_torch_load(path: Path) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
               and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


def test_torch_load_is_called_in_one_place():
    assert [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if _calls_torch_load(p)] == ["torch_files.py"]


def test_load_checkpoint_checks_the_format_and_names_the_file(tmp_path):
    good, other, text = tmp_path / "good.pt", tmp_path / "other.pt", tmp_path / "text.pt"
    torch.save({"format": "fmt/1", "x": torch.ones(2)}, good)
    torch.save({"format": "fmt/0"}, other)
    text.write_bytes(b"PK\x03\x04 not really a zip")
    assert load_checkpoint(good, format="fmt/1", what="thing", fix="do X")["x"].sum() == 2
    with pytest.raises(BokehpipeError, match=r"other\.pt: not a thing \(format 'fmt/0', expected fmt/1\); do X"):
        load_checkpoint(other, format="fmt/1", what="thing", fix="do X")
    with pytest.raises(BokehpipeError, match=r"text\.pt: not a readable thing .*; do X"):
        load_checkpoint(text, format="fmt/1", what="thing", fix="do X")
    with pytest.raises(BokehpipeError, match=r"missing\.pt: thing not found; do X"):
        load_checkpoint(tmp_path / "missing.pt", format="fmt/1", what="thing", fix="do X")


@pytest.mark.parametrize("reader", ["models.checkpoint:read_checkpoint", "render.learned:load_bokehnet",
                                    "models.checkpoint:read_weights_file"])
def test_every_checkpoint_reader_refuses_a_foreign_file_in_one_line(tmp_path, reader):
    import importlib

    module, name = reader.split(":")
    path = tmp_path / "foreign.pt"
    torch.save({"format": "someone-else/1"}, path)
    with pytest.raises(BokehpipeError, match=r"foreign\.pt: not a .*expected "):
        getattr(importlib.import_module(f"bokehpipe.{module}"), name)(path)
