"""Shared fixtures: a throwaway store, the real photos (BOKEHPIPE_REALDATA, else ../shared/realdata beside the
checkout; tests that need them skip where they are absent), CLI runs. The repository's studies/ scripts are
importable by module name (`import calibrate`), as they import each other when run as scripts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("BOKEHPIPE_REALDATA", REPO.parent / "shared" / "realdata"))
MIDAS_SPECS = REALDATA.parent / "midas"
STUDIES = REPO / "studies"
if str(STUDIES) not in sys.path:
    sys.path.insert(0, str(STUDIES))


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


@pytest.fixture
def midas_specs() -> Path:
    if not (MIDAS_SPECS / "index.json").is_file():
        pytest.skip(f"{MIDAS_SPECS} not present (official MiDaS checkpoint key lists live outside the repo)")
    return MIDAS_SPECS


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
