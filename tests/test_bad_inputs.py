"""Issue 13: one line instead of a traceback, and no silent wrong result, for each reported bad input."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bokehpipe.data.io import read_map, write_png
from bokehpipe.errors import ImageReadError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """photos/good.png with maps/good.png, and a symlink loop beside it."""
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    (tmp_path / "maps").mkdir()
    write_png(tmp_path / "photos/good.png", rng.random((48, 64, 3)).astype(np.float32))
    write_png(tmp_path / "maps/good.png", rng.random((48, 64)).astype(np.float32), bits=16)
    os.symlink("loop_b.jpg", tmp_path / "photos/loop_a.jpg")
    os.symlink("loop_a.jpg", tmp_path / "photos/loop_b.jpg")
    return tmp_path


def _skipped(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("skipped:")]


def test_symlink_loop_is_skipped_by_name_and_the_good_photo_renders_infer(run_cli, folder):
    result = run_cli("infer", folder / "photos", "--method", "scatter", "--depth", folder / "maps", "--out",
                     folder / "out")
    assert result.exit_code != 0 and "Traceback" not in result.output
    skipped = _skipped(result.output)
    assert len(skipped) == 2 and all("symbolic link loop" in s for s in skipped)
    assert "loop_a.jpg" in skipped[0] + skipped[1] and "loop_b.jpg" in skipped[0] + skipped[1]
    assert (folder / "out/good.jpg").is_file()


def test_symlink_loop_is_skipped_by_name_and_the_good_photo_renders_render(run_cli, folder):
    result = run_cli("render", folder / "photos", "--depth", folder / "maps", "--out", folder / "out")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert len([s for s in _skipped(result.output) if "symbolic link loop" in s]) == 2
    assert (folder / "out/good.png").is_file()


def test_other_aspect_map_is_refused_by_infer_and_render_with_the_same_rule(run_cli, folder):
    rng = np.random.default_rng(1)
    write_png(folder / "maps/good.png", rng.random((48, 96)).astype(np.float32), bits=16)  # 2:1 for a 4:3 photo
    (folder / "photos/loop_a.jpg").unlink()
    (folder / "photos/loop_b.jpg").unlink()
    infer = run_cli("infer", folder / "photos", "--method", "scatter", "--depth", folder / "maps", "--out",
                    folder / "o1")
    render = run_cli("render", folder / "photos", "--depth", folder / "maps", "--out", folder / "o2")
    rule = "depth map is 96x48 but the photo is 64x48 (another aspect ratio)"
    assert infer.exit_code != 0 and rule in infer.output and not (folder / "o1/good.jpg").exists()
    assert render.exit_code != 0 and rule in render.output and not (folder / "o2/good.png").exists()
    write_png(folder / "maps/good.png", rng.random((24, 32)).astype(np.float32), bits=16)  # half size: fine
    assert run_cli("infer", folder / "photos", "--method", "scatter", "--depth", folder / "maps", "--out",
                   folder / "o1").exit_code == 0


def test_colour_mapped_depth_png_is_refused_and_gray_rgb_is_accepted(tmp_path):
    import cv2

    gray = (np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "gray_rgb.png"), np.dstack([gray] * 3))
    assert np.allclose(read_map(tmp_path / "gray_rgb.png"), gray / 255.0)
    cv2.imwrite(str(tmp_path / "turbo.png"), cv2.applyColorMap(gray, cv2.COLORMAP_TURBO))
    with pytest.raises(ImageReadError, match="turbo.png: a colour depth map .*colour-mapped visualisation.*"
                                             "single-channel 8/16-bit PNG or .npy"):
        read_map(tmp_path / "turbo.png")


class _Half(nn.Module):
    multiple = 32

    def forward(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        return nn.functional.interpolate(x[:, :3], scale_factor=2)


def test_too_small_photo_line_names_the_file(tmp_path):
    from bokehpipe.infer.engine import run_jobs
    from bokehpipe.infer.files import find_inputs, plan_jobs
    from bokehpipe.render.learned import LearnedRenderer

    write_png(tmp_path / "in/tiny.png", np.zeros((1, 1, 3), np.float32))
    inputs = find_inputs(tmp_path / "in")
    jobs = plan_jobs(inputs, tmp_path / "in", tmp_path / "out")
    [outcome] = run_jobs(jobs, LearnedRenderer(_Half(), with_depth=False), None)
    assert not outcome.ok and outcome.message == f"{inputs[0].resolve()}: photo of 1x1 pixels is too small to render"


def test_over_long_run_name_is_one_line(run_cli, tmp_path):
    from toy_data import write_toy_dataset

    data = write_toy_dataset(tmp_path / "toy", n_train=2, n_val=1, size=(128, 128))
    result = run_cli("train", "--data", data, "--run", "r" * 300, "--no-depth", "--model", "pynet-xs")
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code != 0 and "Traceback" not in result.output and len(errors) == 1
    assert "300 bytes long; use at most 100" in errors[0]


def test_os_errors_about_a_path_become_one_line_and_others_keep_their_traceback():
    from bokehpipe.cli import os_error_line

    line = os_error_line(PermissionError(errno.EACCES, "Permission denied", "/out/x.png"))
    assert line == "/out/x.png: Permission denied; check its permissions or choose another folder"
    assert "use a shorter name" in os_error_line(OSError(errno.ENAMETOOLONG, "File name too long", "/x" * 200))
    assert os_error_line(OSError(errno.EBADF, "Bad file descriptor")) is None  # a bug, not a user's path


def _unprivileged(argv: list[str]) -> list[str]:
    """Root ignores permission bits: run the child as root without CAP_DAC_OVERRIDE (setpriv), so a read-only
    folder is read-only to it; skip where that is not possible."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permission bits cannot be made to apply")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *argv]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["infer", "render"])
def test_read_only_out_is_one_line_before_any_work(command):
    work = Path(tempfile.mkdtemp(prefix="bokehpipe-ro-"))
    try:
        os.chmod(work, 0o755)
        rng = np.random.default_rng(0)
        write_png(work / "photos/a.png", rng.random((32, 32, 3)).astype(np.float32))
        write_png(work / "maps/a.png", rng.random((32, 32)).astype(np.float32))
        for p in (work / "photos", work / "maps"):
            os.chmod(p, 0o755)
        (work / "ro").mkdir(mode=0o555)
        os.chmod(work / "ro", 0o555)
        args = {"infer": ["infer", "photos", "--method", "scatter", "--depth", "maps", "--out", "ro/out"],
                "render": ["render", "photos", "--depth", "maps", "--out", "ro/out"]}[command]
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        result = subprocess.run(_unprivileged([sys.executable, "-m", "bokehpipe", "--store", "store", *args]),
                                cwd=work, env=env, capture_output=True, text=True, timeout=300)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode != 0 and len(lines) == 1, result.stderr
        assert lines[0].startswith(f"Error: {work / 'ro/out'}: cannot write there"), lines[0]
        assert not (work / "ro/out").exists()
    finally:
        shutil.rmtree(work, ignore_errors=True)
