"""Defaults taken from the store (bokehpipe.choices, train.defaults, infer.defaults), store discovery, model help
and plain progress lines off a terminal. Tiny and fast; the end-to-end flow is tests/test_three_commands.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from bokehpipe.choices import choose_dataset, choose_depth_cache
from bokehpipe.errors import BokehpipeError
from bokehpipe.store import ArtifactStore, locate_store


def test_train_help_lists_every_registered_model(run_cli):
    from bokehpipe.models import REGISTRY
    from bokehpipe.train.config import MODEL_KINDS, MODEL_NAMES

    assert MODEL_NAMES == tuple(REGISTRY)  # one loop trains every generator
    assert MODEL_KINDS == {n: spec.kind for n, spec in REGISTRY.items()}
    text = " ".join(run_cli("train", "--help").output.split())
    for name in MODEL_NAMES:
        assert f"{name} (" in text


def test_locate_store_order(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("BOKEHPIPE_STORE", raising=False)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert locate_store(cwd=deep).root == deep / "cache"  # nothing found: ./cache
    (tmp_path / "cache").mkdir()
    assert locate_store(cwd=deep).root == deep / "cache"  # a cache/ without its manifest is not a store
    (tmp_path / "cache" / "manifest.json").write_text("{}")
    found = locate_store(cwd=deep)
    assert found.root == tmp_path / "cache" and "found above" in found.reason
    monkeypatch.setenv("BOKEHPIPE_STORE", str(tmp_path / "env"))
    assert locate_store(cwd=deep).root == tmp_path / "env"
    assert locate_store(tmp_path / "flag", cwd=deep).reason == "given by --store"


def test_choose_dataset(tmp_path: Path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(BokehpipeError, match="holds no dataset; make one with `bokehpipe synth"):
        choose_dataset(store, data=None, dataset=None)
    (tmp_path / "datasets" / "one").mkdir(parents=True)
    assert choose_dataset(store, data=None, dataset=None)[1] == "one"
    assert choose_dataset(store, data=None, dataset="x") == (None, "x", None)
    assert choose_dataset(store, data=None, dataset=None, pipeline={"train": {"dataset": "p"}},
                          command="train")[1] == "p"
    (tmp_path / "datasets" / "two").mkdir()
    with pytest.raises(BokehpipeError, match=r"2 datasets \(one, two\); pick one with --dataset NAME"):
        choose_dataset(store, data=None, dataset=None)


def test_choose_depth_cache(tmp_path: Path):
    store = ArtifactStore(tmp_path)
    with pytest.raises(BokehpipeError, match="`bokehpipe depth --dataset d --split train`"):
        choose_depth_cache(store, "d", "train")
    for src in ("gt", "midas_v21_small_256"):
        (tmp_path / "depth" / "d" / src).mkdir(parents=True)
    (tmp_path / "depth" / "d" / "gt" / "train.h5").write_bytes(b"")
    assert choose_depth_cache(store, "d", "train").value == "gt"
    (tmp_path / "depth" / "d" / "midas_v21_small_256" / "train.h5").write_bytes(b"")
    with pytest.raises(BokehpipeError, match=r"2 depth caches .*\(gt, midas_v21_small_256\); pick one"):
        choose_depth_cache(store, "d", "train")


def test_crop_that_does_not_fit(tmp_path: Path):
    from bokehpipe.data.ebb import Pair
    from bokehpipe.data.io import write_image
    from bokehpipe.train.defaults import fit_crop

    path = write_image(tmp_path / "0.jpg", np.zeros((256, 384, 3), np.float32))
    pairs = [Pair("0", path, path, None, "Training")]
    with pytest.raises(BokehpipeError, match="largest crop that fits is 128"):
        fit_crop(512, pairs, explicit=True)
    assert fit_crop(512, pairs, explicit=False)[0] == 128
    assert fit_crop(64, pairs, explicit=True) == (64, None)


def _finished_run(store: ArtifactStore, name: str, steps_done: int) -> Path:
    run = store.run(name)
    (run / "checkpoints" / "level1").mkdir(parents=True)
    (run / "checkpoints" / "level1" / "last.pt").write_bytes(b"x")
    (run / "config.json").write_text(json.dumps({"config": {"levels": [2, 1], "schedule": {
        "2": {"steps": 5}, "1": {"steps": 5}}}}))
    (run / "metrics.csv").write_text(f"level,step,kind\n2,5,train\n1,{steps_done},train\n")
    if steps_done == 5:  # the loop's one finished rule: done.json once every planned step has trained
        (run / "done.json").write_text("{}")
    return run


def test_choose_renderer_order(tmp_path: Path):
    from bokehpipe.infer.defaults import choose_renderer

    store = ArtifactStore(tmp_path / "store")
    packaged = tmp_path / "bokehnet.pt"
    choice = choose_renderer(store, None, None, None, packaged=packaged)
    assert (choice.kind, choice.value) == ("method", "scatter") and "classical scatter" in choice.reason
    _finished_run(store, "half", 3)  # level 1 stopped at step 3 of 5: not finished
    assert choose_renderer(store, None, None, None, packaged=packaged).kind == "method"
    _finished_run(store, "done", 5)
    choice = choose_renderer(store, None, None, None, packaged=packaged)
    assert (choice.kind, choice.value) == ("run", "done")
    packaged.write_bytes(b"x")
    assert choose_renderer(store, None, None, None, packaged=packaged).kind == "default"
    assert choose_renderer(store, "r", None, None, packaged=packaged).value == "r"
    with pytest.raises(BokehpipeError, match="at most one"):
        choose_renderer(store, "r", None, "scatter", packaged=packaged)


def test_progress_plain_lines_off_a_terminal(monkeypatch):
    from bokehpipe.progress import LineProgress, progress_bar

    out = io.StringIO()
    bar = progress_bar(100, desc="level 3", unit="step", file=out)
    assert isinstance(bar, LineProgress)
    bar.every = 0.0
    bar.update(10)
    bar.every = 3600.0
    for _ in range(50):
        bar.update(1)
    bar.set_postfix(loss="0.5")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("level 3: 10/100 step") and lines[1].startswith("level 3: 60/100 step")
    assert lines[1].endswith("loss=0.5)")
    quiet = io.StringIO()
    with progress_bar(3, desc="short", file=quiet) as bar:  # a task shorter than the interval says nothing
        bar.update(3)
    assert quiet.getvalue() == ""
