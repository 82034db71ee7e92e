"""The HDF5 depth cache: schema and provenance, the lazy reader, shard parts and merge, verification."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from bokehpipe.data.io import read_map, resize, write_jpeg, write_png
from bokehpipe.depth.cache import DepthCache, Entry, make_provenance, open_depth_cache, parts_dir, verify_cache
from bokehpipe.depth.export import export_png
from bokehpipe.depth.run import run_depth
from bokehpipe.depth.shards import PartWriter, list_parts, merge, run_lock
from bokehpipe.errors import BokehpipeError
from bokehpipe.store import ArtifactStore

SIZES = [(64, 48), (60, 40), (64, 48), (50, 70), (64, 48)]  # (w, h): landscape, odd, portrait


def make_synth(root: Path, n: int = 5) -> Path:
    """A tiny synthetic set in the EBB! released layout with 16-bit disparity (near = bright)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        write_jpeg(root / "Training" / "original" / f"{i}.jpg", rng.random((h, w, 3)))
        write_jpeg(root / "Training" / "bokeh" / f"{i}.jpg", rng.random((h, w, 3)))
        disp = 0.2 + 0.5 * np.tile(np.linspace(0, 1, w // 2), (h // 2, 1)) + 0.05 * i  # half resolution
        write_png(root / "Training" / "depth" / f"{i}.png", disp, bits=16)
    return root


@pytest.fixture
def synth(tmp_path) -> Path:
    return make_synth(tmp_path / "synth")


@pytest.fixture
def store(store_root) -> ArtifactStore:
    return ArtifactStore(store_root)


def test_gt_cache_schema_provenance_and_values(store, synth):
    result = run_depth(store, data=str(synth), split="train", source="gt", batch_size=2)
    assert result.path == store.depth_cache("synth", "gt", "train") and result.report.ok
    assert (result.computed, result.skipped, result.cached) == (5, 0, 5)
    assert not parts_dir(result.path).exists()  # merged and cleaned up
    with h5py.File(result.path, "r") as h5:
        ds = h5["3"]
        assert ds.dtype == np.float16 and ds.chunks is not None and ds.compression == "gzip"
        root = dict(h5.attrs)
    assert root["schema_version"] == 1 and root["source"] == "gt" and root["model"] == "gt"
    assert root["weights_sha256"] == "" and "min-max" in root["normalisation"] and root["created"]
    assert {"bokehpipe_version", "torch_version", "timm_version", "fill_command"} <= set(root)
    with DepthCache(result.path) as cache:
        assert cache.ids() == ["0", "1", "2", "3", "4"] and len(cache) == 5 and "4" in cache and "9" not in cache
        raw = read_map(synth / "Training" / "depth" / "3.png")
        stored = cache.read("3")
        assert stored.shape == raw.shape == (35, 25)  # gt keeps the map's native (half) resolution
        assert stored.dtype == np.float32 and stored.min() == 0.0 and stored.max() == 1.0
        # near (brightest disparity) = 1, and the normalisation is exactly min-max of the stored map
        np.testing.assert_allclose(stored, (raw - raw.min()) / (raw.max() - raw.min()), atol=1e-3)
        meta = cache.entry_attrs("3")
        assert meta["image_size"] == [50, 70]  # the photo's (w, h), for readers that want full size
        assert meta["raw_min"] == pytest.approx(raw.min()) and meta["raw_max"] == pytest.approx(raw.max())
        assert meta["source_file"].endswith("depth/3.png") and len(meta["source_sha256"]) == 64
        full = cache.read("3", size=(50, 70))
        np.testing.assert_array_equal(full, resize(stored, (50, 70), clip=True))
        assert cache.attrs["split"] == "train"


def test_reader_is_lazy_fork_safe_and_picklable(store, synth):
    path = run_depth(store, data=str(synth), split="train", source="gt").path
    cache = DepthCache(path)
    assert cache._reader._file is None  # nothing opened yet
    first = cache.read("0")
    handle = cache._reader._file
    assert handle is not None
    cache._reader._pid = -1  # as if we were a forked DataLoader worker
    np.testing.assert_array_equal(cache.read("0"), first)
    assert cache._reader._file is not handle  # re-opened for the "new" process
    clone = pickle.loads(pickle.dumps(cache))
    assert clone._reader._file is None and clone.ids() == cache.ids()
    cache.close()
    assert cache._reader._file is None

    from torch.utils.data import DataLoader

    class Maps:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return clone.read(str(i), size=(32, 24))

    batches = list(DataLoader(Maps(), batch_size=2, num_workers=2))
    got = np.concatenate([b.numpy() for b in batches])
    assert got.shape == (5, 24, 32)
    np.testing.assert_array_equal(got[4], clone.read("4", size=(32, 24)))


def test_missing_id_and_missing_cache_say_how_to_fill(store, synth):
    with pytest.raises(BokehpipeError, match=r"run `bokehpipe depth --dataset synth --split train --source gt` "):
        open_depth_cache(store, "synth", "gt", "train")
    with pytest.raises(BokehpipeError, match=r"--source midas --model midas_v21_small_256` first"):
        open_depth_cache(store, "synth", "midas_v21_small_256", "train")
    run_depth(store, data=str(synth), split="train", source="gt")
    with open_depth_cache(store, "synth", "gt", "train") as cache:
        with pytest.raises(BokehpipeError) as err:
            cache.read("77")
    message = str(err.value)
    assert "train.h5" in message and "'77'" in message
    assert f"bokehpipe depth --data {synth} --split train --source gt" in message


def test_verify_finds_missing_stale_corrupt_and_extra(store, synth):
    path = run_depth(store, data=str(synth), split="train", source="gt").path
    pairs = {str(i): synth / "Training" / "depth" / f"{i}.png" for i in range(5)}
    assert verify_cache(path, pairs).ok
    write_png(pairs["1"], np.full((20, 30), 0.7), bits=16)  # the source changed after caching
    with h5py.File(path, "a") as h5:
        del h5["2"]
        h5["3"][0, 0] = np.nan
        h5.create_dataset("99", data=np.zeros((2, 2), np.float16))
    report = verify_cache(path, pairs)
    found = (report.missing, report.stale, [i for i, _ in report.corrupt], report.extra)
    assert found == (["2"], ["1"], ["3"], ["99"])
    assert "non-finite" in report.corrupt[0][1] and not report.ok and report.ok_ids == 2
    assert verify_cache(path, pairs, hash_sources=False).stale == ["1"]  # size changed too
    # a rerun repairs what verify found (stale and missing recomputed, corrupt needs --overwrite or verify)
    result = run_depth(store, data=str(synth), split="train", source="gt")
    assert result.computed == 2 and result.report.corrupt and not result.report.ok
    assert run_depth(store, data=str(synth), split="train", source="gt", overwrite=True).report.ok


def test_different_identity_is_refused_then_overwritten(store, synth):
    path = run_depth(store, data=str(synth), split="train", source="gt").path
    with h5py.File(path, "a") as h5:
        h5.attrs["normalisation"] = "percentile 2-98"
    with pytest.raises(BokehpipeError, match=r"made by a different depth model/source \(normalisation: cached "
                                             r"percentile 2-98 != requested .*--overwrite"):
        run_depth(store, data=str(synth), split="train", source="gt")
    result = run_depth(store, data=str(synth), split="train", source="gt", overwrite=True)
    assert result.computed == 5 and result.report.ok
    assert "min-max" in DepthCache(path).attrs["normalisation"]


def test_interrupted_run_leaves_readable_parts_and_resumes(store, synth):
    ticks = []

    def progress(total):
        def tick(n):
            ticks.append(n)
            if len(ticks) == 3:
                raise KeyboardInterrupt  # dies while the third map's batch is in flight
        return tick

    with pytest.raises(KeyboardInterrupt):
        run_depth(store, data=str(synth), split="train", source="gt", batch_size=1, progress=progress)
    path = store.depth_cache("synth", "gt", "train")
    parts = list_parts(path)
    assert not path.exists() and len(parts) == 2
    for part in parts:  # finished maps are readable with the normal reader
        with DepthCache(part) as cache:
            assert len(cache) == 1 and cache.read(cache.ids()[0]).max() == 1.0
    with pytest.raises(BokehpipeError, match="interrupted run left unmerged parts"):
        open_depth_cache(store, "synth", "gt", "train")
    assert verify_cache(path, {"0": synth}).pending_parts == 2
    result = run_depth(store, data=str(synth), split="train", source="gt", batch_size=1)
    assert (result.skipped, result.computed) == (2, 3) and result.report.ok and not list_parts(path)


def test_merge_keeps_cache_and_lets_later_parts_win(tmp_path):
    path = tmp_path / "c" / "train.h5"
    prov = make_provenance(source="gt", model="gt", dataset="d", split="train", dataset_root="/x",
                           normalisation="n")

    def entry(id_, value):
        return Entry(id_, np.full((4, 6), value, np.float16), (12, 8), f"/x/{id_}", "0" * 64, 10, 0.0, 1.0)

    first = PartWriter(path, prov, token="a")
    first.write([entry("1", 0.25), entry("2", 0.5)])
    assert merge(path, first.written, prov) == 2 and not parts_dir(path).exists()
    second = PartWriter(path, prov, token="b", rank=1)
    second.write([entry("2", 0.75)])
    second.write([entry("3", 1.0)])
    assert [p.name for p in list_parts(path)] == ["b-r001-000000.h5", "b-r001-000001.h5"]
    assert merge(path, list_parts(path), prov) == 3
    with DepthCache(path) as cache:
        assert cache.ids() == ["1", "2", "3"]
        assert cache.read("2").mean() == pytest.approx(0.75) and cache.read("1").mean() == pytest.approx(0.25)


def test_second_writer_is_locked_out(store, synth):
    path = store.depth_cache("synth", "gt", "train")
    with run_lock(path) as lock:
        assert lock == path.parent / ".train.lock"  # the name earlier versions hold: they exclude each other
        with pytest.raises(BokehpipeError, match="another process .* is writing the depth cache"):
            run_depth(store, data=str(synth), split="train", source="gt")
    assert run_depth(store, data=str(synth), split="train", source="gt").report.ok


def test_gt_needs_maps_for_every_photo(store, synth):
    (synth / "Training" / "depth" / "4.png").unlink()
    with pytest.raises(BokehpipeError, match=r"needs a depth map per photo, but 1 of 5 .* \(e.g. 4\)"):
        run_depth(store, data=str(synth), split="train", source="gt")
    assert not store.depth_dir.exists()


def test_png_source_on_a_photo_folder_and_export(store, synthetic_photos, tmp_path):
    """Photos with half-size maps, as the PyNET samples come (images/, depth_maps/)."""
    samples = synthetic_photos.root
    result = run_depth(store, data=str(samples), split="all", source="png")
    assert result.report.ok and result.cached == 4
    with DepthCache(result.path) as cache:
        for id_ in cache.ids():
            meta = cache.entry_attrs(id_)
            stored = cache.read(id_)
            w, h = meta["image_size"]
            assert stored.shape == (h // 2, w // 2)  # the paper's maps: half the photo, kept native
            assert meta["raw_max"] <= 1.0 and stored.max() == 1.0
    n = export_png(result.path, tmp_path / "pynet", resolution="half")
    assert n == 4
    for id_ in ("landscape", "portrait"):
        back = read_map(tmp_path / "pynet" / "original_depth" / f"{id_}.png")
        orig = read_map(samples / "depth_maps" / f"{id_}.png")
        assert back.shape == orig.shape
        assert np.abs(back - (orig - orig.min()) / (orig.max() - orig.min())).max() <= 1.5 / 255


def test_midas_producer_skips_an_unreadable_photo_and_names_it(tmp_path):
    """`depth --source midas` follows the png policy: a photo that cannot be read is named and skipped."""
    from bokehpipe.data.ebb import Pair
    from bokehpipe.data.io import write_jpeg
    from bokehpipe.depth.producers import MidasProducer
    from bokehpipe.depth.variants import get_variant

    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    write_jpeg(good, np.full((40, 56, 3), 0.5, np.float32))
    bad.write_bytes(b"not a photo")
    producer = MidasProducer(get_variant("midas_v21_small_256"), tmp_path / "w.pt", device="cpu", workers=0)
    producer.model = lambda: None  # no weights needed: the prediction is stubbed below
    producer._predict = lambda items: [item[0] for item in items]
    pairs = [Pair(i, p, None, None, "all") for i, p in (("1", bad), ("2", good))]
    skipped: list[tuple[str, str]] = []
    ticks: list[int] = []
    made = [e for batch in producer.batches(pairs, lambda: ticks.append(1), lambda i, line: skipped.append((i, line)))
            for e in batch]
    assert made == ["2"] and len(ticks) == 2
    assert len(skipped) == 1 and skipped[0][0] == "1" and str(bad) in skipped[0][1]


def test_a_finished_cache_is_read_without_hdf5_file_locking(tmp_path):
    """Readers open caches without HDF5's file locks (which fail on NFS/Lustre): a reader still opens a cache
    while another process holds HDF5's exclusive lock on it."""
    import subprocess
    import sys

    import h5py

    from bokehpipe.depth.cache import open_read_only

    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = [1, 2, 3]
    holder = subprocess.Popen([sys.executable, "-c", "import h5py, sys, time\nf = h5py.File(sys.argv[1], 'a')\n"
                               "print('held', flush=True)\ntime.sleep(60)", str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(OSError):
            h5py.File(path, "r", locking=True)  # what a locking reader meets
        with open_read_only(path) as h5:
            assert list(h5["x"][()]) == [1, 2, 3]
    finally:
        holder.kill()
        holder.wait()
