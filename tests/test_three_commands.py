"""The product's three commands exactly as typed, after `synth`, in a fresh store found from a subfolder.

`bokehpipe depth --split train`, `bokehpipe train --with-depth` (a tiny budget) and `bokehpipe infer folder/`
(with `--depth DIR`: no MiDaS weights can be downloaded here) each take what the store makes unambiguous and
say so; offline, `infer folder/` without depth is one line and a non-zero exit; a second dataset makes
`depth --split train` stop with the list.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bokehpipe.cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def _run(*args: object):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def test_three_commands_as_typed(tmp_path: Path, monkeypatch):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    monkeypatch.delenv("BOKEHPIPE_STORE", raising=False)
    monkeypatch.chdir(project)
    r = _run("synth", "tiny", "--count", "10", "--size", "192x128", "--workers", "1")
    assert r.exit_code == 0, r.output
    store = project / "cache"
    assert (store / "manifest.json").is_file()

    monkeypatch.chdir(project / "sub")  # one store whichever folder you run from
    r = _run("info")
    assert str(store) in r.output and "found above the working folder" in r.output

    r = _run("depth", "--split", "train")
    assert r.exit_code == 0, r.output
    assert "dataset 'tiny': the only one in the store" in r.stderr and "source gt" in r.stderr
    assert (store / "depth" / "tiny" / "gt" / "train.h5").is_file()

    r = _run("train", "--with-depth", "--steps", "2", "--batch", "2", "--workers", "0", "--val-max", "1")
    assert r.exit_code == 0, r.output
    first = r.stderr.splitlines()[0]
    assert first.startswith("run 'tiny-pynet-res-xs-"), r.stderr
    for said in ("depth source gt: the only depth cache", "validation split 'val': the dataset's own",
                 "on a CPU without --pipeline: the demo pipeline", "plan: levels 4..1, steps 2+2+2+2 = 8"):
        assert said in r.stderr, said
    (run_dir,) = (store / "runs").iterdir()
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert (config["dataset"], config["depth_source"], config["val_split"], config["model"]) == (
        "tiny", "gt", "val", "pynet-res-xs")
    assert (store / "depth" / "tiny" / "gt" / "val.h5").is_file()  # the val cache, made from the same source
    assert (run_dir / "checkpoints" / "level1" / "last.pt").is_file()

    folder = project / "sub" / "folder"
    folder.mkdir()
    for i in ("1", "2"):
        shutil.copy(store / "datasets" / "tiny" / "Training" / "original" / f"{i}.jpg", folder)
    r = _run("infer", "folder/", "--depth", store / "datasets" / "tiny" / "Training" / "depth")
    assert r.exit_code == 0, r.output
    # the package ships a default model (bokehpipe/pretrained/bokehnet.pt), which comes before the newest
    # finished run (that order is tests/test_defaults.py::test_choose_renderer_order)
    from bokehpipe.infer.defaults import PACKAGED_DEFAULT

    assert PACKAGED_DEFAULT.is_file()  # tracked in git: a package without it must fail here, not pass another way
    assert "model: the packaged default bokehnet" in r.stderr
    assert run_dir.name not in r.stderr
    assert sorted(p.name for p in (store / "renders").glob("*/*.jpg") if ".depth" not in p.name) == ["1.jpg", "2.jpg"]

    r = _run("--offline", "infer", "folder/", "--overwrite")  # no depth given, no weights, no network
    assert r.exit_code != 0 and "Traceback" not in r.output
    (error,) = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert "depth_anything_v2_vits" in error and "downloads are off" in error and "--depth DIR" in error

    assert _run("synth", "other", "--count", "3", "--size", "192x128", "--workers", "1").exit_code == 0
    r = _run("depth", "--split", "train")
    assert r.exit_code != 0 and "holds 2 datasets (other, tiny); pick one with --dataset NAME" in r.output
