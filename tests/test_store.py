"""Atomic writes and the store layout: nothing half-written ever stands under a final name."""

from __future__ import annotations

import pytest

from bokehpipe.errors import BokehpipeError
from bokehpipe.store import ArtifactStore, atomic_path, atomic_write_json, read_json, resolve_store_root, run_of_checkpoint


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_json(target, {"good": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("{partial")
            raise RuntimeError("writer crashed")
    assert read_json(target) == {"good": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_written_files_get_umask_permissions_not_0600(tmp_path):
    from bokehpipe.store import _UMASK

    atomic_write_json(tmp_path / "p.json", {})
    assert (tmp_path / "p.json").stat().st_mode & 0o777 == 0o666 & ~_UMASK != 0o600


def test_temp_path_keeps_suffix_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "x.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_bytes(b"data")
    assert (tmp_path / "x.png").read_bytes() == b"data"


def test_store_layout_and_name_checks(tmp_path, monkeypatch):
    store = ArtifactStore.open(tmp_path)
    assert store.depth_cache("synth", "gt", "train") == tmp_path / "depth" / "synth" / "gt" / "train.h5"
    assert store.run("r1") == tmp_path / "runs" / "r1"
    for bad in ("../escape", "", ".hidden", "a/b"):
        with pytest.raises(BokehpipeError):
            store.run(bad)
    monkeypatch.setenv("BOKEHPIPE_STORE", str(tmp_path / "env"))
    assert resolve_store_root() == tmp_path / "env"
    assert resolve_store_root(tmp_path / "flag") == tmp_path / "flag"


def test_resolve_dataset_errors_name_the_fix(tmp_path):
    store = ArtifactStore.open(tmp_path)
    with pytest.raises(BokehpipeError, match="bokehpipe synth missing"):
        store.resolve_dataset(data=None, dataset="missing")
    with pytest.raises(BokehpipeError, match="not both"):
        store.resolve_dataset(data=tmp_path, dataset="x")
    (tmp_path / "datasets" / "mine").mkdir(parents=True)
    assert store.resolve_dataset(data=None, dataset="mine") == (tmp_path / "datasets" / "mine", "mine")


def test_manifest_records_and_survives_reopen(tmp_path):
    store = ArtifactStore.open(tmp_path)
    (tmp_path / "weights").mkdir()
    f = tmp_path / "weights" / "w.pth"
    f.write_bytes(b"x")
    store.record(f, "weights", name="w")
    assert ArtifactStore.open(tmp_path).manifest()["entries"]["weights/w.pth"]["kind"] == "weights"
    assert store.list_weights() == ["w.pth"]


_UNFINISHED: list = []  # writes entered and never finished, as a kill -9 leaves them (kept alive: no cleanup)


def _killed_write(final):
    """The temporary file a write killed mid-way leaves: atomic_path's own name for `final`."""
    write = atomic_path(final)
    tmp = write.__enter__()
    tmp.write_bytes(b"half")
    _UNFINISHED.append(write)
    return tmp


def test_remove_stale_temporaries_is_the_one_cleaner(tmp_path):
    from bokehpipe.depth.shards import clean_temporaries, parts_dir
    from bokehpipe.store import remove_stale_temporaries

    run = tmp_path / "run"
    deep = _killed_write(run / "checkpoints" / "level7" / "last.pt")
    keep = run / ".notes.tmp"  # not atomic_path's shape: never touched
    keep.write_text("mine")
    assert remove_stale_temporaries(run) == 1 and not deep.exists() and keep.exists()

    cache = tmp_path / "depth" / "train.h5"
    own = _killed_write(cache)
    other = _killed_write(cache.with_name("val.h5"))  # another split's writer, under another lock
    part = _killed_write(parts_dir(cache) / "part-1.h5")
    assert clean_temporaries(cache) == 2
    assert not own.exists() and not part.exists() and other.exists() and not cache.exists()


def test_the_run_of_a_checkpoint_is_read_from_the_store_layout(tmp_path):
    """Every reader that names the run a checkpoint came from (train's --init record, infer's render folder, the
    report's earlier run) asks the layout, not a position that a file kept elsewhere would get wrong."""
    assert run_of_checkpoint(tmp_path / "runs" / "paper-main" / "checkpoints" / "level7" / "last.pt") == "paper-main"
    assert run_of_checkpoint("runs/paper-main-capped/checkpoints/level1/best.pt") == "paper-main-capped"
    assert run_of_checkpoint(tmp_path / "downloads" / "best.pt") is None
    assert run_of_checkpoint("best.pt") is None
