"""`bokehpipe data check` on generated trees in every layout, on planted faults, and on the real EBB! pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bokehpipe.data.ebb import load_index
from bokehpipe.data.io import write_jpeg, write_png


def _img(seed: int, w: int = 48, h: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _make_tree(root: Path, layout: str, ids=(0, 1, 4400, 4401)) -> Path:
    """A tiny dataset in one of the layouts bokehpipe reads."""
    for i in ids:
        if layout == "ebb-released":
            write_jpeg(root / "Training" / "original" / f"{i}.jpg", _img(i))
            write_jpeg(root / "Training" / "bokeh" / f"{i}.jpg", _img(i + 1000))
        elif layout == "pynet":
            group = "train" if i < 4400 else "test"
            write_jpeg(root / group / "original" / f"{i}.jpg", _img(i))
            write_jpeg(root / group / "bokeh" / f"{i}.jpg", _img(i + 1000))
            write_png(root / group / "original_depth" / f"{i}.png", _img(i, 24, 16)[..., 0])
        elif layout == "plain":
            write_png(root / "input" / f"{i}.png", _img(i))
            write_png(root / "target" / f"{i}.png", _img(i + 1000))
    if layout == "ebb-released":
        for folder in ("ValidationBokehFree", "TestBokehFree"):
            write_jpeg(root / folder / "9000.jpg", _img(9000))
    return root


def _check(run_cli, path: Path) -> tuple[int, dict]:
    result = run_cli("data", "check", path, "--json")
    return result.exit_code, json.loads(result.stdout)


def test_real_ebb_pairs(run_cli, realdata):
    """Real-photo extra: the six EBB! pairs, split by their ids as EBB! is."""
    code, report = _check(run_cli, realdata / "ebb")
    assert code == 0
    assert report["layout"] == "ebb-released"
    assert report["splits"]["train"] == 3 and report["splits"]["val294"] == 3
    assert report["problems"] == []
    index = load_index(realdata / "ebb")
    assert [p.id for p in index.split("train")] == ["2977", "2978", "2979"]
    assert [p.id for p in index.split("val294")] == ["4545", "4546", "4547"]


@pytest.mark.parametrize("layout", ["ebb-released", "pynet", "plain"])
def test_each_layout_is_detected_and_split(run_cli, tmp_path, layout):
    code, report = _check(run_cli, _make_tree(tmp_path / layout, layout))
    assert code == 0, report
    assert report["layout"] == layout
    assert report["splits"]["train"] == 2 and report["splits"]["val294"] == 2 and report["splits"]["all"] == 4
    assert report["problems"] == []
    if layout == "ebb-released":
        assert report["splits"]["bokehfree_val"] == 1 and report["splits"]["bokehfree_test"] == 1
    if layout == "pynet":
        assert report["splits"]["test"] == 2
        assert all(p.depth is not None for p in load_index(tmp_path / layout).pairs)


def test_planted_faults_are_listed_by_file_and_good_pairs_still_counted(run_cli, tmp_path):
    root = _make_tree(tmp_path / "faulty", "ebb-released", ids=range(0, 8))
    orig, bokeh = root / "Training" / "original", root / "Training" / "bokeh"
    data = (orig / "1.jpg").read_bytes()
    (orig / "1.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    (bokeh / "2.jpg").write_bytes(b"")  # zero-byte file
    (orig / "3.jpg").write_text("not an image")  # text file named .jpg
    write_jpeg(orig / "100.jpg", _img(100))  # orphan input
    write_jpeg(bokeh / "4.jpg", _img(4, 64, 32))  # size mismatch against its 48x32 input
    (orig / "notes.txt").write_text("scratch")  # unexpected name
    code, report = _check(run_cli, root)
    assert code == 0
    by_file = {Path(p["path"]).relative_to(root).as_posix(): p["kind"] for p in report["problems"]}
    assert by_file == {
        "Training/original/1.jpg": "unreadable",
        "Training/bokeh/2.jpg": "unreadable",
        "Training/original/3.jpg": "unreadable",
        "Training/original/100.jpg": "missing partner",
        "Training/bokeh/4.jpg": "size mismatch",
        "Training/original/notes.txt": "unexpected name",
    }
    assert report["splits"]["train"] == 4  # 0, 5, 6, 7 survive
    messages = " ".join(p["message"] for p in report["problems"])
    assert "truncated JPEG" in messages and "empty file" in messages


def test_nothing_usable_exits_nonzero_with_one_line(run_cli, tmp_path):
    root = tmp_path / "broken"
    (root / "Training" / "original").mkdir(parents=True)
    (root / "Training" / "bokeh").mkdir(parents=True)
    (root / "Training" / "original" / "0.jpg").write_bytes(b"")
    (root / "Training" / "bokeh" / "0.jpg").write_bytes(b"")
    result = run_cli("data", "check", root)
    assert result.exit_code != 0
    assert "no usable pairs" in result.output


def test_not_a_dataset_is_one_clear_error(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("data", "check", tmp_path / "empty")
    assert result.exit_code == 1
    assert "no EBB!-style layout found" in result.output and "Traceback" not in result.output


def test_split_file_overrides_and_folder_layout(tmp_path, synthetic_photos):
    root = _make_tree(tmp_path / "s", "ebb-released", ids=range(6))
    (root / "splits.json").write_text(json.dumps({"train": ["0", "1", "2", "3"], "val": ["4", "5"]}))
    index = load_index(root)
    assert [p.id for p in index.split("val")] == ["4", "5"] and len(index.split("train")) == 4
    folder = load_index(synthetic_photos.root)
    assert folder.layout == "folder" and len(folder.split("all")) == 4
    assert all(p.depth is not None and p.target is None for p in folder.split("all"))


def test_target_beside_finds_the_partner_in_paired_layouts(tmp_path):
    from bokehpipe.data.ebb import target_beside

    released = _make_tree(tmp_path / "r", "ebb-released", ids=(0,))
    assert target_beside(released / "Training" / "original" / "0.jpg") == released / "Training" / "bokeh" / "0.jpg"
    plain = _make_tree(tmp_path / "p", "plain", ids=(1,))
    assert target_beside(plain / "input" / "1.png") == plain / "target" / "1.png"
    write_jpeg(tmp_path / "loose" / "photo.jpg", _img(3))
    assert target_beside(tmp_path / "loose" / "photo.jpg") is None
