"""Bad inputs a new user tries, one class per test: each ends in one line naming the file and the fix, and
nothing the user had is lost."""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from bokehpipe.errors import ImageReadError


def _png_bomb(path: Path, side: int) -> Path:
    """A tiny PNG whose header declares side x side gray pixels (all zero, so it compresses to almost nothing)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows = zlib.compressobj(9)
    raw = b"".join(rows.compress(b"\x00" * (side + 1)) for _ in range(side)) + rows.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_refused_by_its_header_before_decoding(tmp_path, monkeypatch):
    from bokehpipe.data import io

    bomb = _png_bomb(tmp_path / "bomb.png", 20000)
    assert bomb.stat().st_size < 1_000_000  # 400 MP declared in well under a megabyte
    decoded = []
    monkeypatch.setattr(io, "_decode", lambda *a: decoded.append(1))
    with pytest.raises(ImageReadError, match=r"bomb\.png: its header declares 20000x20000 = 400 MP.*"
                                             r"BOKEHPIPE_MAX_PIXELS=400000000"):
        io.read_image(bomb)
    with pytest.raises(ImageReadError, match="400 MP"):
        io.read_map(bomb)
    assert not decoded  # refused before any pixel was allocated
    monkeypatch.setenv("BOKEHPIPE_MAX_PIXELS", "100")
    ok, jpg = cv2.imencode(".jpg", np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "small.jpg").write_bytes(jpg.tobytes())
    with pytest.raises(ImageReadError, match="30x20"):  # the limit is the user's to set, JPEG headers too
        io.read_image(tmp_path / "small.jpg")


def test_a_file_name_that_is_not_utf8_is_read_and_written(tmp_path):
    from bokehpipe.data.io import read_image, write_jpeg, write_png

    image = np.random.default_rng(0).random((12, 16, 3)).astype(np.float32)
    name = tmp_path / os.fsdecode(b"bad\xff\xfe.jpg")
    write_jpeg(name, image)
    assert read_image(name).shape == (12, 16, 3)
    write_png(name.with_suffix(".png"), image)
    assert sorted(os.listdir(os.fsencode(tmp_path))) == [b"bad\xff\xfe.jpg", b"bad\xff\xfe.png"]  # no temporaries


def test_an_output_that_is_a_folder_is_named_not_its_temporary(tmp_path):
    from bokehpipe.data.io import write_png

    (tmp_path / "out.png").mkdir()
    with pytest.raises(ImageReadError, match=r"out\.png: is a folder") as err:
        write_png(tmp_path / "out.png", np.zeros((4, 4, 3), np.float32))
    assert str(err.value).startswith(f"{tmp_path / 'out.png'}: ")


def test_a_full_disk_while_writing_is_said_and_the_old_file_stays(tmp_path, monkeypatch):
    from bokehpipe.data import io

    old = io.write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32)).read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io, "open", full, raising=False)
    with pytest.raises(ImageReadError, match=r"a\.png: cannot write the PNG \(No space left on device\)"):
        io.write_png(tmp_path / "a.png", np.ones((4, 4, 3), np.float32))
    assert (tmp_path / "a.png").read_bytes() == old and os.listdir(tmp_path) == ["a.png"]


def test_synth_overwrite_replaces_only_a_set_it_made(run_cli, tmp_path):
    """`synth --out FOLDER --overwrite` on a folder of the user's (a photo and a folder of notes) refuses and
    leaves it whole; on a set synth made, it replaces it."""
    folder = tmp_path / "mine"
    (folder / "notes").mkdir(parents=True)
    (folder / "photo.jpg").write_bytes(b"precious")
    (folder / "notes" / "a.txt").write_text("keep")
    args = ["synth", "v", "--count", "1", "--size", "32x32", "--workers", "1", "--out", folder]
    for extra in ([], ["--overwrite"]):
        res = run_cli(*args, *extra)
        assert res.exit_code != 0 and "not a set made by `bokehpipe synth`" in res.output
        assert "--overwrite to replace" not in res.output
    assert (folder / "photo.jpg").read_bytes() == b"precious" and (folder / "notes" / "a.txt").is_file()
    made = tmp_path / "made"
    assert run_cli("synth", "v", "--count", "1", "--size", "32x32", "--workers", "1", "--out", made).exit_code == 0
    again = run_cli("synth", "v", "--count", "1", "--size", "32x32", "--workers", "1", "--out", made)
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert run_cli("synth", "v", "--count", "2", "--size", "32x32", "--workers", "1", "--out", made,
                   "--overwrite").exit_code == 0
    assert len(list((made / "Training" / "original").iterdir())) == 2


def test_synth_refuses_a_size_beyond_the_pixel_budget_before_allocating(run_cli):
    res = run_cli("synth", "huge", "--count", "1", "--size", "100000x100000", "--workers", "1")
    assert res.exit_code != 0 and "10000 MP per image" in res.output and "Traceback" not in res.output


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_last_one(tmp_path, monkeypatch):
    import torch

    from bokehpipe.errors import BokehpipeError
    from bokehpipe.train import checkpoint

    path = tmp_path / "last.pt"
    checkpoint.save_checkpoint(path, {"step": 1})

    def full(obj, f):
        Path(f).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: type("U", (), {"free": 0})())
    with pytest.raises(BokehpipeError, match=r"last\.pt: could not write the checkpoint \(no space left on the "
                                             r"device\); the earlier checkpoints are intact.*resume"):
        checkpoint.save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1 and os.listdir(tmp_path) == ["last.pt"]


def test_depth_options_typed_before_verify_are_taken(run_cli):
    """`depth --dataset ref --split val --source gt verify` verifies that cache (with two sets in the store it
    used to answer "pick one with --dataset NAME" although it was given)."""
    for argv in (["synth", "ref", "--count", "4", "--size", "64x64", "--workers", "1", "--val-fraction", "0.5"],
                 ["synth", "other", "--count", "2", "--size", "64x64", "--workers", "1"],
                 ["depth", "--dataset", "ref", "--split", "val", "--source", "gt"]):
        assert run_cli(*argv).exit_code == 0
    res = run_cli("depth", "--dataset", "ref", "--split", "val", "--source", "gt", "verify")
    assert res.exit_code == 0, res.output
    assert "gt/val.h5" in res.output and "2/2 maps ok" in res.output


def test_a_run_that_does_not_exist_is_named_with_the_runs_that_do(run_cli):
    assert run_cli("synth", "ref", "--count", "2", "--size", "64x64", "--workers", "1", "--val-fraction",
                   "0.5").exit_code == 0
    for argv in (["eval", "--dataset", "ref", "--split", "val", "--run", "nosuch"], ["export", "--run", "nosuch"]):
        res = run_cli(*argv)
        assert res.exit_code != 0 and "no run 'nosuch' in the store" in res.output and "runs: none yet" in res.output
        assert "checkpoint not found" not in res.output


def test_a_raw_pickle_as_weights_is_one_line_without_torch_warnings(tmp_path):
    import pickle
    import warnings

    from bokehpipe.errors import BokehpipeError
    from bokehpipe.torch_files import load_weights_only

    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"a": 1, "b": object}, protocol=4))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(BokehpipeError, match=r"raw\.pt: not a plain checkpoint"):
            load_weights_only(path, what="weights", fix="pass the official file")
    assert not [w for w in seen if issubclass(w.category, UserWarning)]


NON_FINITE_OPTIONS = [  # one per kind of float option: shared, generated from a config field, command-local
    ("infer", "{photo}", "--focus"), ("render", "{photo}", "--focus"), ("infer", "{photo}", "--focal-length"),
    ("train", "--lr"), ("train", "--clean-fraction"), ("render", "{photo}", "--highlight"),
    ("render", "{photo}", "--gamma"), ("synth", "x", "--val-fraction"), ("weights", "fetch", "midas_v21_small_256",
                                                                       "--timeout"),
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("argv", NON_FINITE_OPTIONS, ids=lambda a: " ".join(a))
def test_every_float_option_refuses_a_number_that_is_not_finite(run_cli, tmp_path, argv, value):
    """click's float ranges let `nan` through every bound; the shared type refuses it, and inf, before any work."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"")
    result = run_cli(*(a.format(photo=photo) for a in argv), value)
    assert result.exit_code == 2, result.output
    assert "is not a finite number" in result.output or "not in the range" in result.output


def test_a_pipeline_cannot_give_training_a_number_that_is_not_finite():
    from bokehpipe.errors import ConfigError
    from bokehpipe.train.config import TrainConfig

    with pytest.raises(ConfigError, match="lr = nan: give a finite number"):
        TrainConfig(run="r", data_root="d", dataset="x", lr=float("nan"))


@pytest.mark.parametrize("value", ["1e9", "f/1e-9", "f/0.0001", "inf", "-1"])
def test_an_aperture_no_lens_has_is_refused_while_parsing(run_cli, tmp_path, value):
    """Numbers that would allocate hundreds of GB (a CoC radius of millions of pixels) are refused by the one
    aperture parser, for infer and render alike, before a photo is read."""
    for command in ("infer", "render"):
        res = run_cli(command, tmp_path, "--aperture", value, "--out", tmp_path / "out", "--method", "scatter")
        errors = [line for line in res.output.splitlines() if line.startswith("Error")]
        assert res.exit_code != 0 and len(errors) == 1 and "aperture" in errors[0], res.output
        assert "Traceback" not in res.output


def test_a_rerun_with_other_settings_into_the_same_out_is_refused(run_cli, tmp_path, synthetic_photos):
    """Each render records what made it; a rerun into the same --out keeps only renders made the same way, and
    one with another aperture or method is refused with what differs (it used to keep the old renders, exit 0)."""
    folder, depth, out = synthetic_photos.images, synthetic_photos.depth_maps, tmp_path / "out"
    base = ["infer", folder, "--depth", depth, "--out", out, "--no-refocus"]
    assert run_cli(*base, "--method", "scatter").exit_code == 0
    again = run_cli(*base, "--method", "scatter")
    assert again.exit_code == 0 and "kept" in again.output
    other = run_cli(*base, "--method", "scatter", "--aperture", "f/4")
    assert other.exit_code != 0 and "made with other settings (aperture None there, " in other.output
    assert "--overwrite" in other.output
    method = run_cli(*base, "--method", "gaussian")
    assert method.exit_code != 0 and "renderer 'scatter' there, 'gaussian' now" in method.output
    assert run_cli(*base, "--method", "gaussian", "--overwrite").exit_code == 0


def test_a_bad_depth_cache_or_weights_file_is_one_line_not_one_per_photo(run_cli, tmp_path, synthetic_photos):
    (tmp_path / "bad.h5").write_text("garbage")
    (tmp_path / "bad.pt").write_text("garbage")
    folder = synthetic_photos.images
    for extra in (["--depth-cache", tmp_path / "bad.h5"],
                  ["--depth-model", "depth_anything_v2_vits", "--weights", tmp_path / "bad.pt"]):
        res = run_cli("infer", folder, "--out", tmp_path / "out", *extra)
        lines = [ln for ln in res.output.splitlines() if "bad." in ln]
        assert res.exit_code != 0 and len(lines) == 1 and lines[0].startswith("Error: "), res.output
        assert not (tmp_path / "out").exists()
