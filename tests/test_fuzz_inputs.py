"""Fuzz-style: a generated corpus of malformed photos and depth maps through `data check`, `infer`, `render` and
`depth --source png` (issue 13). No traceback, every bad file named exactly once, every good photo rendered,
no input changed (sha256 of every file before and after)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from fuzz_corpus import build, snapshot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, list[Path]]]:
    root = tmp_path_factory.mktemp("fuzz") / "data"
    return root, build(root)


def _lines_naming(output: str, path: Path) -> list[str]:
    return [line for line in output.splitlines() if str(path) in line]


def _check(result, corpus, *, bad: list[Path], good_outputs: list[Path]) -> None:
    root, files = corpus
    assert "Traceback" not in result.output, result.output[-3000:]
    for path in bad:
        named = _lines_naming(result.output, path)
        assert len(named) == 1, (path, named or result.output[-3000:])
    missing = [p for p in good_outputs if not p.is_file()]
    assert not missing, (missing, result.output[-3000:])
    root_user = os.geteuid() == 0  # root reads chmod-000 files: then they are good photos, else named once
    for path in files["unreadable"]:
        named = [line for line in _lines_naming(result.output, path) if " -> " not in line]  # not `render`'s done
        assert len(named) == (0 if root_user else 1), (path, named)


def test_fuzz_corpus_never_crashes_and_names_every_bad_file(run_cli, corpus, tmp_path, capfd):
    root, files = corpus
    before = snapshot(root)
    images, maps = root / "images", root / "depth_maps"
    bad_maps_photos = [images / p.name for p in files["bad_maps"]]  # good photos whose map is bad
    good = files["good"] + (files["unreadable"] if os.geteuid() == 0 else [])

    check = run_cli("data", "check", root)
    _check(check, corpus, bad=files["bad_photos"] + files["bad_maps"], good_outputs=[])
    assert check.exit_code == 0  # good pairs remain usable
    for p in good:
        assert not _lines_naming(check.output, p)

    infer = run_cli("infer", images, "--method", "scatter", "--depth", maps, "--out", tmp_path / "infer")
    assert infer.exit_code == 1
    _check(infer, corpus, bad=files["bad_photos"] + files["bad_maps"],
           good_outputs=[tmp_path / "infer" / f"{p.stem}.jpg" for p in good])
    assert not any((tmp_path / "infer" / f"{p.stem}.jpg").exists() for p in files["bad_photos"] + bad_maps_photos)

    render = run_cli("render", images, "--depth", maps, "--out", tmp_path / "render")
    assert render.exit_code == 1
    _check(render, corpus, bad=files["bad_photos"] + files["bad_maps"],
           good_outputs=[tmp_path / "render" / f"{p.stem}.png" for p in good])

    # `depth --source png` caches the good maps and names every unreadable photo or map once, and like infer
    # exits 1 because the split's cache is incomplete
    depth = run_cli("depth", "--data", root, "--split", "all", "--source", "png")
    assert depth.exit_code == 1, depth.output[-3000:]
    _check(depth, corpus, bad=[p for p in files["bad_photos"] + files["bad_maps"] if p.exists()], good_outputs=[])
    skipped = [line for line in depth.output.splitlines() if line.startswith("skipped: ")]
    assert re.search(rf"{len(skipped)} of \d+ photo\(s\) of split 'all' could not be read", depth.output)
    assert re.search(r"verify +ok: (\d+)/\1 maps ok", depth.output), depth.output[-3000:]
    # libpng / libjpeg write to file descriptor 2 themselves; none of that reaches the user (ours named the file)
    native = capfd.readouterr().err
    assert not re.search(r"libpng|Corrupt JPEG|Premature end", native), native[-3000:]
    assert snapshot(root) == before  # no input modified, no file added among the inputs
