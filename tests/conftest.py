"""Shared fixtures: a throwaway store, photos the suite generates (synthetic scenes), CLI runs, and the real
photos as extras (BOKEHPIPE_REALDATA, else ../shared/realdata beside the checkout; skipped where absent). The
repository's studies/ scripts are importable by module name (`import calibrate`), as they import each other
when run as scripts.

A clone without the real photos runs everything but those extras; `BOKEHPIPE_REALDATA=/nowhere pytest`
shows what such a clone skips.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("BOKEHPIPE_REALDATA", REPO.parent / "shared" / "realdata"))
STUDIES = REPO / "studies"
if str(STUDIES) not in sys.path:
    sys.path.insert(0, str(STUDIES))
MIDAS_FORMATS = Path(__file__).resolve().parent / "data" / "midas_formats.json.gz"

SYNTHETIC_SEED = 20
SYNTHETIC_SIZES = {"landscape": (193, 128), "wide": (201, 128), "square": (123, 131), "portrait": (135, 169)}
"""Stand-ins for the real photos' shapes at an eighth of their size (EBB!'s 1536x1024, PyNET's 1600x1024,
a 976x1050 and a 1080x1350 portrait), widths odd on purpose."""


def pytest_collection_modifyitems(config, items):
    """`gpu` tests need CUDA: on a machine without it they are deselected (said in the summary), not collected
    as skips, so the skip count keeps meaning "an extra this clone lacks"; with CUDA they run by default."""
    import torch

    if torch.cuda.is_available():
        return
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        config.hook.pytest_deselected(items=gpu)
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]


@pytest.fixture(autouse=True)
def _offline_unless_network(request, monkeypatch):
    """No test downloads weights by accident (the machine may have no internet): BOKEHPIPE_OFFLINE=1 unless
    the test is marked `network`. Download tests point at a local http.server and switch it off themselves."""
    if request.node.get_closest_marker("network") is None:
        monkeypatch.setenv("BOKEHPIPE_OFFLINE", "1")


@pytest.fixture
def realdata(monkeypatch) -> Path:
    """The real photos (EBB! pairs, PyNET samples, portraits), also named to the code under test through
    BOKEHPIPE_REALDATA; tests using it skip cleanly without them."""
    if not (REALDATA / "ebb").is_dir():
        pytest.skip(f"{REALDATA} not present (real photos live outside the repo; set BOKEHPIPE_REALDATA)")
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(REALDATA))
    return REALDATA


@pytest.fixture(scope="session")
def midas_specs(tmp_path_factory) -> Path:
    """The official MiDaS checkpoint formats (every state_dict key and shape, from the official model classes),
    unpacked from tests/data as `index.json` and `<variant>.json`."""
    bundle = json.loads(gzip.decompress(MIDAS_FORMATS.read_bytes()))
    folder = tmp_path_factory.mktemp("midas_formats")
    (folder / "index.json").write_text(json.dumps(bundle["index"]))
    for name, info in bundle["index"]["variants"].items():
        (folder / info["file"]).write_text(json.dumps(bundle["variants"][name]))
    return folder


@dataclass(frozen=True)
class SyntheticPhotos:
    """Generated photos in the PyNET samples' folder layout: `images/<name>.jpg` (the sharp f/16 render) and
    `depth_maps/<name>.png` (true disparity, near = bright, 16-bit at half the photo's size)."""

    root: Path
    sizes: dict[str, tuple[int, int]]
    """(width, height) per name."""

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def depth_maps(self) -> Path:
        return self.root / "depth_maps"

    def copy_to(self, dst: Path, names: list[str] | None = None) -> tuple[Path, Path, dict[str, tuple[int, int]]]:
        """Writable copies in `dst/photos` and `dst/depth` (a test may break or move them)."""
        photos, depth = dst / "photos", dst / "depth"
        photos.mkdir(parents=True)
        depth.mkdir(parents=True)
        names = list(self.sizes) if names is None else names
        for name in names:
            shutil.copy2(self.images / f"{name}.jpg", photos)
            shutil.copy2(self.depth_maps / f"{name}.png", depth)
        return photos, depth, {name: self.sizes[name] for name in names}


@pytest.fixture(scope="session")
def synthetic_photos(tmp_path_factory) -> SyntheticPhotos:
    """The suite's photos, generated once per session by the synthetic scene generator (fixed seed)."""
    from bokehpipe.data.io import resize, write_jpeg, write_png
    from bokehpipe.data.synthetic import generate_pair

    root = tmp_path_factory.mktemp("synthetic_photos")
    for index, (name, (w, h)) in enumerate(SYNTHETIC_SIZES.items()):
        pair = generate_pair(SYNTHETIC_SEED, index, w, h, defects=False)
        write_jpeg(root / "images" / f"{name}.jpg", pair.input, quality=95)
        write_png(root / "depth_maps" / f"{name}.png", resize(pair.disparity, (w // 2, h // 2)), bits=16)
    return SyntheticPhotos(root, dict(SYNTHETIC_SIZES))


@pytest.fixture(scope="session")
def synthetic_set(tmp_path_factory) -> Path:
    """A finished `bokehpipe synth` set (EBB!'s released layout, splits.json, true depth): five 96x64 pairs,
    seed 1, four train and one val. Read it, never write into it."""
    from bokehpipe.data.synthetic import write_synthetic_set

    return write_synthetic_set(tmp_path_factory.mktemp("synthetic_set") / "synth", count=5, width=96, height=64,
                               seed=1, val_fraction=0.2, workers=1)


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    return root


@pytest.fixture
def run_cli(store_root: Path):
    """Invoke `bokehpipe --store <tmp> ...` in-process; returns click's Result (exit_code, output)."""
    from click.testing import CliRunner

    from bokehpipe.cli import cli

    def run(*args: str, store: Path | None = None, input: str | None = None):
        runner = CliRunner()
        return runner.invoke(cli, ["--store", str(store or store_root), *map(str, args)], input=input,
                             catch_exceptions=False)

    return run


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for tiny models: on 2 shared cores, OpenMP threads spinning against each other (or
    against a DataLoader worker) make a 5-second test take minutes. Use with
    `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def bokehpipe_exe() -> list[str]:
    """The CLI as a subprocess (for kill -9 and torchrun tests): the same interpreter as pytest."""
    return [sys.executable, "-m", "bokehpipe"]
