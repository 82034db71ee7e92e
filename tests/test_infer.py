"""`bokehpipe infer`: any size and orientation, tiles without seams, skipped files, never overwriting.

The photos are synthetic scenes the suite generates (conftest's `synthetic_photos`), so a clone without the
real photos runs every test here but the one marked as a real-photo extra."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_nets import LocalNet
from torch import nn

from bokehpipe.data.io import read_image, read_map, resize, write_jpeg, write_png
from bokehpipe.errors import BokehpipeError
from bokehpipe.infer.files import find_inputs, plan_jobs
from bokehpipe.render.learned import LearnedRenderer
from bokehpipe.render.tiling import TilePolicy, axis_starts, axis_window, tiled_apply

REAL_PHOTOS_WITH_DEPTH = {  # the real-photo extra: folder, its maps, and the sizes it must keep
    "pynet_samples/images": ("pynet_samples/depth_maps",
                             {"2": (1536, 1024), "4": (1600, 1024), "5": (1536, 1024), "12": (1536, 1024)}),
    "portraits": ("portraits/disparity", {"13": (976, 1050), "21": (1080, 1350)}),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- stand-ins and helpers -------------------------------------------------------------------------------

class UpsampleNet(nn.Module):
    """Returns its RGB input upsampled x2: the pipeline's geometry must give the photo back."""

    multiple = 32

    def forward(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        return nn.functional.interpolate(x[:, :3], scale_factor=2, mode="bilinear", align_corners=False)


def _tiny_checkpoint(path: Path, *, in_chans: int = 4, width: float = 0.0625, level: int = 1) -> Path:
    """A random-init PyNET-xs (~0.19M parameters at width 1/16) in the training loop's checkpoint format."""
    from bokehpipe.models import create_model
    from bokehpipe.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("pynet-xs", in_chans=in_chans, width=width)
    info = {"model": "pynet-xs", "width": width, "in_chans": in_chans, "levels": [level], "with_depth": in_chans == 4,
            "depth_source": "test", "multiple": 32}
    return save_checkpoint(path, {"model": model.state_dict(), "level": level, "step": 0, "config": {}, "info": info})


def _generated(index: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic scene's sharp photo and its true disparity at half the photo's size."""
    from bokehpipe.data.synthetic import generate_pair

    pair = generate_pair(7, index, width, height, defects=False)
    return pair.input, resize(pair.disparity, (width // 2, height // 2))


def _size(path: Path) -> tuple[int, int]:
    img = read_image(path)
    return img.shape[1], img.shape[0]


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _exif_rotated_jpeg(path: Path, stored: np.ndarray, orientation: int = 6) -> None:
    """A JPEG whose pixels are stored sideways with an EXIF orientation tag, as phones write portraits."""
    write_jpeg(path, stored, quality=98)
    data = path.read_bytes()
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += b"\x00\x00\x00\x00"
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(data[:2] + app1 + data[2:])


# --- tiling ------------------------------------------------------------------------------------------------

def test_axis_starts_cover_and_align():
    assert axis_starts(100, 200, 16, 8) == [0]
    starts = axis_starts(200, 64, 16, 8)
    assert starts[0] == 0 and starts[-1] == 200 - 64 and all(s % 8 == 0 for s in starts)
    assert all(b - a <= 64 - 16 for a, b in zip(starts, starts[1:], strict=False))
    w = axis_window(64, 16, low_interior=True, high_interior=False)
    assert w[:4].max() == 0.0 and w[12:].min() == 1.0 and np.all(np.diff(w) >= 0)


@pytest.mark.parametrize("tile,overlap", [(40, 32), (64, 32), (48, 40)])
def test_tiled_apply_is_exact_for_a_local_network(tile, overlap):
    net = LocalNet().eval()
    x = torch.rand(2, 4, 96, 136, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        whole = net(x)
    tiled = tiled_apply(net, x, tile=tile, overlap=overlap, align=8)
    assert tiled.shape == whole.shape
    assert float((tiled - whole).abs().max()) < 1e-5


def test_tiles_with_too_little_overlap_differ():
    """The exactness above is earned by the overlap: with 8 px (2 px clean margin) the seams show."""
    net = LocalNet().eval()
    x = torch.rand(1, 4, 96, 136, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        whole = net(x)
    assert float((tiled_apply(net, x, tile=40, overlap=8, align=8) - whole).abs().max()) > 1e-3


# --- the learned engine with stand-ins ------------------------------------------------------------------

@pytest.mark.parametrize("size", [(37, 53), (64, 96), (101, 30), (2, 3)])
def test_learned_renderer_pads_and_crops_any_size(size):
    h, w = size
    rgb = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    rgb = resize(resize(rgb, (max(1, w // 4), max(1, h // 4))), (w, h))  # smooth: x0.5 then x2 is near identity
    out = LearnedRenderer(UpsampleNet(), with_depth=False).render_batch([rgb], [None])[0]
    assert out.shape == (h, w, 3) and out.dtype == np.float32
    if min(h, w) >= 16:
        assert float(np.abs(out - rgb)[4:-4, 4:-4].mean()) < 0.02


def test_learned_renderer_tiled_matches_untiled_on_a_generated_photo():
    """Full pipeline (x0.5 input, reflect pad, tiles, crop) on a 401x256 scene with a half-size map and a local
    stand-in network: six tiles give the whole photo's output."""
    rgb, disp = _generated(0, 401, 256)
    whole = LearnedRenderer(LocalNet()).render_batch([rgb], [disp])[0]
    tiled_r = LearnedRenderer(LocalNet(), tiles=TilePolicy(max_pixels=160 * 160, overlap=64))
    tiled = tiled_r.render_batch([rgb], [disp])[0]
    assert tiled_r.tiled_count == 1 and whole.shape == tiled.shape == (256, 401, 3)
    assert float(np.abs(whole - tiled)[16:-16, 16:-16].max()) < 1e-3
    assert float(np.abs(whole - rgb).mean()) > 0.01  # the stand-in changed the photo: the comparison means something


class SmallMemoryNet(LocalNet):
    """Raises CUDA's out-of-memory error above a pixel budget, like a GPU that is too small for the photo."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget, self.calls = budget, []

    def forward(self, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        if x.shape[0] * x.shape[-1] * x.shape[-2] > self.budget:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return super().forward(x, level)


def test_out_of_memory_falls_back_to_tiles_and_remembers():
    rng = np.random.default_rng(5)
    rgbs = [rng.random((256, 384, 3), dtype=np.float32) for _ in range(2)]
    disps = [rng.random((128, 192), dtype=np.float32) for _ in range(2)]
    reference = LearnedRenderer(LocalNet()).render_batch(rgbs, disps)
    net = SmallMemoryNet(budget=100 * 100)
    r = LearnedRenderer(net, tiles=TilePolicy(overlap=64))
    outs = r.render_batch(rgbs, disps)
    assert r.oom_tile is not None and r.tiled_count >= 2
    assert max(h * w for _, _, h, w in net.calls[-4:]) <= 100 * 100
    for ref, out in zip(reference, outs, strict=True):
        assert float(np.abs(ref - out)[16:-16, 16:-16].max()) < 1e-3
    with pytest.raises(BokehpipeError, match="out of GPU memory"):
        LearnedRenderer(SmallMemoryNet(budget=10), tiles=TilePolicy(overlap=64)).render_batch(rgbs[:1], disps[:1])


def test_batched_photos_match_one_by_one():
    rng = np.random.default_rng(3)
    rgbs = [rng.random((70, 90, 3), dtype=np.float32) for _ in range(3)]
    disps = [rng.random((35, 45), dtype=np.float32) for _ in range(3)]
    r = LearnedRenderer(LocalNet())
    batched = r.render_batch(rgbs, disps)
    for rgb, disp, out in zip(rgbs, disps, batched, strict=True):
        assert np.allclose(r.render_batch([rgb], [disp])[0], out, atol=1e-5)


# --- files -------------------------------------------------------------------------------------------------

def test_plan_mirrors_subfolders_and_never_targets_inputs(tmp_path):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    for rel in ("a.jpg", "a.png", "sub/b.jpg", ".hidden.jpg", "notes.txt"):
        (src / rel).write_bytes(b"x")
    assert [p.name for p in find_inputs(src)] == ["a.jpg", "a.png"]
    found = find_inputs(src, recursive=True)
    jobs = plan_jobs(found, src, tmp_path / "out", fmt="jpg")
    assert [j.output.relative_to(tmp_path / "out").as_posix() for j in jobs] == ["a_jpg.jpg", "a_png.jpg",
                                                                                   "sub/b.jpg"]
    with pytest.raises(BokehpipeError, match="overwrite an input"):
        plan_jobs(find_inputs(src / "sub"), src / "sub", src / "sub", fmt="jpg")
    assert find_inputs(src, recursive=True, exclude=[src / "sub"]) == found[:2]


# --- the command on generated photos ------------------------------------------------------------------------

@pytest.fixture
def generated(tmp_path, synthetic_photos):
    """Writable copies of the suite's four generated photos (odd widths, landscape, square and portrait) and
    their half-size maps: (photos folder, depth folder, {name: (width, height)})."""
    return synthetic_photos.copy_to(tmp_path / "input")


def test_learned_run_renders_every_photo_upright_at_its_size(run_cli, store_root, generated):
    photos, depth, sizes = generated
    _tiny_checkpoint(store_root / "runs/tiny/checkpoints/level1/best.pt")
    result = run_cli("infer", photos, "--run", "tiny", "--depth", depth)
    assert result.exit_code == 0, result.output
    out = store_root / "renders/tiny"
    for stem, size in sizes.items():
        assert _size(out / f"{stem}.jpg") == size
        assert _size(out / f"{stem}.depth.png") == size
    gallery = (out / "index.html").read_text()
    for stem in sizes:
        assert f'src="{stem}.jpg"' in gallery and f'src="{stem}.depth.png"' in gallery
    assert "http://" not in gallery and "https://" not in gallery
    assert len(json.loads((out / "gallery.json").read_text())["entries"]) == len(sizes)


def test_exif_orientation_is_applied_and_written_upright(run_cli, tmp_path, store_root):
    photos = tmp_path / "photos"
    photos.mkdir()
    stored = np.zeros((80, 128, 3), np.float32)  # landscape pixels, tag 6: displays as 80 wide, 128 tall
    stored[:, :16] = (1.0, 0.0, 0.0)  # red on the stored left edge -> the top after rotating 90 deg clockwise
    _exif_rotated_jpeg(photos / "phone.jpg", stored)
    _tiny_checkpoint(tmp_path / "tiny.pt", in_chans=3)
    result = run_cli("infer", photos, "--checkpoint", tmp_path / "tiny.pt", "--out", tmp_path / "out",
                     "--format", "png")
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "out/phone.png")
    assert out.shape[:2] == (128, 80)
    assert not (tmp_path / "out/phone.depth.png").exists()  # RGB-only model, no depth asked for
    upright = read_image(photos / "phone.jpg")
    assert upright[:8, :, 0].mean() > 0.8 and upright[-8:, :, 0].mean() < 0.2  # the fixture is what we think


def test_a_run_trained_to_a_coarse_level_is_brought_to_full_size(run_cli, tmp_path, generated):
    photos, depth, sizes = generated
    ck = _tiny_checkpoint(tmp_path / "runs/coarse/checkpoints/level3/best.pt", level=3)
    result = run_cli("infer", photos, "--checkpoint", ck, "--depth", depth, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "trained only to level 3" in result.stderr and "with coarse" in result.stdout  # name from the run folder
    for stem, size in sizes.items():
        assert _size(tmp_path / f"out/{stem}.jpg") == size


def test_corrupt_files_are_skipped_and_the_exit_is_non_zero(run_cli, tmp_path, generated):
    photos, depth, sizes = generated
    (photos / "broken.jpg").write_bytes((photos / "landscape.jpg").read_bytes()[:2000])
    (photos / "empty.png").write_bytes(b"")
    (depth / "broken.png").write_bytes((depth / "landscape.png").read_bytes())
    _tiny_checkpoint(tmp_path / "tiny.pt")
    result = run_cli("infer", photos, "--checkpoint", tmp_path / "tiny.pt", "--depth", depth,
                     "--out", tmp_path / "out")
    assert result.exit_code != 0
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 2 and "broken.jpg" in skipped[0] + skipped[1] and "empty.png" in skipped[0] + skipped[1]
    assert f"2 of {len(sizes) + 2} photo(s) could not be rendered" in result.stderr
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.jpg")) == sorted(sizes)


def test_second_run_keeps_finished_renders_and_changes_nothing(run_cli, tmp_path, generated):
    photos, depth, sizes = generated
    _tiny_checkpoint(tmp_path / "tiny.pt")
    args = ("infer", photos, "--checkpoint", tmp_path / "tiny.pt", "--depth", depth, "--out", tmp_path / "out")
    assert run_cli(*args).exit_code == 0
    before = _snapshot(tmp_path / "out")
    again = run_cli(*args)
    assert again.exit_code == 0, again.output
    assert f"kept {len(sizes)} finished" in again.output and "rendered 0 of" in again.stdout
    assert _snapshot(tmp_path / "out") == before
    assert run_cli(*args, "--overwrite").exit_code == 0
    assert set(_snapshot(tmp_path / "out")) == set(before)


def test_out_equal_to_the_input_folder_never_touches_inputs(run_cli, tmp_path, generated):
    photos, depth, sizes = generated
    inputs = _snapshot(photos)
    _tiny_checkpoint(tmp_path / "tiny.pt")
    base = ("infer", photos, "--checkpoint", tmp_path / "tiny.pt", "--depth", depth, "--out", photos)
    refused = run_cli(*base)  # landscape.jpg -> landscape.jpg would replace the photo
    assert refused.exit_code != 0 and "overwrite an input" in refused.output
    assert _snapshot(photos) == inputs
    assert run_cli(*base, "--format", "png").exit_code == 0
    again = run_cli(*base, "--format", "png", "--overwrite")  # earlier renders are not taken as photos
    assert again.exit_code == 0, again.output
    assert f"rendered {len(sizes)} of {len(sizes)}" in again.stdout
    after = _snapshot(photos)
    assert {k: v for k, v in after.items() if k in inputs} == inputs
    assert {k for k in after if k not in inputs} == ({f"{s}.png" for s in sizes} | {f"{s}.depth.png" for s in sizes}
                                                     | {"index.html", "gallery.json"})


def test_recursive_mirrors_subfolders_and_skips_the_depth_folder_inside(run_cli, store_root, generated):
    photos, depth, sizes = generated
    (photos / "trip").mkdir()
    (photos / "wide.jpg").rename(photos / "trip/wide.jpg")
    depth.rename(photos / "maps")  # maps inside FOLDER: never taken for photos
    flat = run_cli("infer", photos, "--method", "gaussian", "--depth", photos / "maps")
    assert flat.exit_code == 0 and f"rendered {len(sizes) - 1} of {len(sizes) - 1}" in flat.stdout
    deep = run_cli("infer", photos, "--recursive", "--method", "gaussian", "--depth", photos / "maps", "--overwrite")
    assert deep.exit_code == 0, deep.output
    out = store_root / "renders/gaussian"
    assert _size(out / "trip/wide.jpg") == sizes["wide"] and _size(out / "trip/wide.depth.png") == sizes["wide"]
    assert not list(out.glob("maps*")) and 'src="trip/wide.jpg"' in (out / "index.html").read_text()
    assert "renders/gaussian" in json.loads((store_root / "manifest.json").read_text())["entries"]


def test_missing_depth_map_fails_that_photo_only(run_cli, tmp_path, generated):
    photos, depth, sizes = generated
    (depth / "wide.png").unlink()
    _tiny_checkpoint(tmp_path / "tiny.pt")
    result = run_cli("infer", photos, "--checkpoint", tmp_path / "tiny.pt", "--depth", depth,
                     "--out", tmp_path / "out")
    assert result.exit_code != 0
    assert re.search(r"skipped: .*wide\.jpg: no depth map", result.stderr)
    assert len(list((tmp_path / "out").glob("*.jpg"))) == len(sizes) - 1


def test_option_conflicts_are_usage_errors(run_cli, tmp_path, generated):
    photos, depth, _ = generated
    assert "at most one of" in run_cli("infer", photos, "--run", "a", "--method", "scatter").output
    ck = _tiny_checkpoint(tmp_path / "tiny.pt")
    assert "at most one of" in run_cli("infer", photos, "--checkpoint", ck, "--method", "scatter").output
    steered = run_cli("infer", photos, "--checkpoint", ck, "--focus", "0.5")
    assert "a trained PyNET run learned its own focus" in steered.output
    res = run_cli("infer", photos, "--run", "nope", "--depth", depth)
    assert res.exit_code != 0 and "no run 'nope'" in res.output


# --- classical renderers -------------------------------------------------------------------------------------

def _most_common_disparity(disp: np.ndarray) -> float:
    """The centre of the fullest of 20 disparity bins: a focus plane that surely has something on it."""
    counts, edges = np.histogram(disp, bins=20, range=(0.0, 1.0))
    i = int(np.argmax(counts))
    return float(edges[i] + edges[i + 1]) / 2


def test_scatter_renders_each_photo_at_its_size_sharp_at_its_focus(run_cli, tmp_path, generated):
    """Focused on a depth plane, scatter keeps what lies on it as it was and blurs what lies far from it; every
    render and saved map has the photo's size."""
    import cv2

    photos, depth, sizes = generated
    kernel = np.ones((7, 7), np.uint8)  # stay clear of depth edges, where blur from the other side spills over
    for name, size in sizes.items():
        focus = _most_common_disparity(read_map(depth / f"{name}.png"))
        (tmp_path / name).mkdir()
        (photos / f"{name}.jpg").rename(tmp_path / name / f"{name}.jpg")
        out = tmp_path / f"out-{name}"
        result = run_cli("infer", tmp_path / name, "--method", "scatter", "--depth", depth, "--out", out,
                         "--format", "png", "--focus", f"{focus:.4f}", "--aperture", "2")
        assert result.exit_code == 0, result.output
        rendered, photo = read_image(out / f"{name}.png"), read_image(tmp_path / name / f"{name}.jpg")
        assert (rendered.shape[1], rendered.shape[0]) == size and _size(out / f"{name}.depth.png") == size
        disp = read_map(out / f"{name}.depth.png")  # the normalised map the render used, at the photo's size
        focused = cv2.erode((np.abs(disp - focus) < 0.05).astype(np.uint8), kernel).astype(bool)
        far = cv2.erode((np.abs(disp - focus) > 0.3).astype(np.uint8), kernel).astype(bool)
        assert focused.sum() > 100 and far.sum() > 100, name
        change = np.abs(rendered - photo).mean(axis=2)
        assert change[focused].mean() < 0.01 and change[far].mean() > 3 * change[focused].mean(), name


@pytest.mark.slow
def test_scatter_at_full_size_on_real_photos(run_cli, tmp_path, realdata):
    """Real-photo extra: the real sizes (1600x1024, 976x1050, the 1080x1350 portrait), untouched; portraits
    without a map fail alone (three of the five have none) and make the exit non-zero."""
    for folder, (depth, expect) in REAL_PHOTOS_WITH_DEPTH.items():
        out = tmp_path / folder.replace("/", "-")
        result = run_cli("infer", realdata / folder, "--method", "scatter", "--depth", realdata / depth, "--out", out)
        missing = sorted({p.stem for p in (realdata / folder).glob("*.jpg")} - set(expect))
        assert (result.exit_code != 0) == bool(missing), result.output
        assert len([ln for ln in result.stderr.splitlines() if ln.startswith("skipped:")]) == len(missing)
        for stem, size in expect.items():
            rendered, photo = read_image(out / f"{stem}.jpg"), read_image(realdata / folder / f"{stem}.jpg")
            assert (rendered.shape[1], rendered.shape[0]) == size and _size(out / f"{stem}.depth.png") == size
            assert 0.005 < float(np.abs(rendered - photo).mean()) < 0.2  # blurred somewhere, still the same photo
        gallery = (out / "index.html").read_text()
        assert all(f'src="{s}.jpg"' in gallery for s in expect)
        assert gallery.count('class="card"') == len(expect)


def test_scatter_tiles_match_the_whole_photo():
    from bokehpipe.data.disparity import fit_to_photo
    from bokehpipe.render.classical import ClassicalRenderer

    rgb, half = _generated(1, 271, 338)  # portrait, odd width on purpose
    disp = fit_to_photo(half, rgb.shape)
    whole = ClassicalRenderer("scatter").render_batch([rgb], [disp])[0]
    tiled_r = ClassicalRenderer("scatter", tiles=TilePolicy(max_pixels=100 * 100))
    tiled = tiled_r.render_batch([rgb], [disp])[0]
    assert tiled_r.tiled_count == 1
    assert float(np.abs(whole - tiled).max()) < 1e-3
    assert float(np.abs(whole - rgb).mean()) > 0.005


def test_cli_tiling_reports_and_agrees(run_cli, tmp_path, generated):
    photos, depth, sizes = generated
    base = ("infer", photos, "--method", "scatter", "--depth", depth, "--format", "png", "--aperture", "2")
    whole = run_cli(*base, "--out", tmp_path / "whole")
    tiled = run_cli(*base, "--out", tmp_path / "tiled", "--max-pixels", 100 * 100)
    assert whole.exit_code == 0 and tiled.exit_code == 0, tiled.output
    assert f"{len(sizes)} tiled" in tiled.stdout and "tiled" not in whole.stdout
    for stem in sizes:
        a, b = read_image(tmp_path / f"whole/{stem}.png"), read_image(tmp_path / f"tiled/{stem}.png")
        assert float(np.abs(a - b).max()) <= 1.01 / 255  # 8-bit files: equal up to one rounding step


def test_gaussian_renders_and_focus_aperture_are_honoured(run_cli, tmp_path, generated):
    photos, depth, sizes = generated
    soft = run_cli("infer", photos, "--method", "gaussian", "--depth", depth, "--out", tmp_path / "g1",
                   "--format", "png", "--aperture", "0.5")
    strong = run_cli("infer", photos, "--method", "gaussian", "--depth", depth, "--out", tmp_path / "g2",
                     "--format", "png", "--aperture", "3", "--focus", "1.0")
    assert soft.exit_code == 0 and strong.exit_code == 0
    for stem in sizes:
        photo = read_image(photos / f"{stem}.jpg")
        d1 = np.abs(read_image(tmp_path / f"g1/{stem}.png") - photo).mean()
        d2 = np.abs(read_image(tmp_path / f"g2/{stem}.png") - photo).mean()
        assert d2 > d1


# --- depth sources ---------------------------------------------------------------------------------------------

def test_depth_cache_source(run_cli, tmp_path, generated):
    import h5py

    from bokehpipe.depth.cache import Entry, make_provenance, set_root_attrs, write_entries

    photos, depth, sizes = generated
    cache = tmp_path / "cache.h5"
    with h5py.File(cache, "w") as h5:
        set_root_attrs(h5, make_provenance(source="png", model="png", dataset="t", split="all", dataset_root="",
                                           normalisation="test"))
        write_entries(h5, [Entry(stem, read_map(depth / f"{stem}.png").astype(np.float16), size, "", "", 0, 0.0, 1.0)
                           for stem, size in sizes.items()])
    via_cache = run_cli("infer", photos, "--method", "scatter", "--depth-cache", cache, "--out", tmp_path / "c",
                        "--format", "png")
    via_dir = run_cli("infer", photos, "--method", "scatter", "--depth", depth, "--out", tmp_path / "d",
                      "--format", "png")
    assert via_cache.exit_code == 0 and via_dir.exit_code == 0, via_cache.output
    for stem in sizes:  # float16 storage aside, the same maps give the same renders
        a, b = read_image(tmp_path / f"c/{stem}.png"), read_image(tmp_path / f"d/{stem}.png")
        assert float(np.abs(a - b).mean()) < 2e-3


def test_missing_midas_weights_stop_before_anything_is_written(run_cli, tmp_path, generated):
    photos, _, _ = generated
    result = run_cli("infer", photos, "--method", "scatter", "--out", tmp_path / "out")
    assert result.exit_code != 0
    assert "depth_anything_v2_vits" in result.output and "weights not found" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_midas_on_the_fly_with_local_weights(run_cli, tmp_path, generated):
    """A random-init MiDaS v2.1 small saved locally stands in for the official file (nothing downloaded)."""
    from bokehpipe.depth.model import create_midas

    photos, _, sizes = generated
    weights = tmp_path / "midas_small_random.pt"
    torch.manual_seed(0)
    torch.save(create_midas("midas_v21_small_256").state_dict(), weights)
    result = run_cli("infer", photos, "--method", "scatter", "--depth-model", "midas_v21_small_256",
                     "--weights", weights, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "midas_v21_small_256 on the fly" in result.stdout
    for stem, size in sizes.items():
        assert _size(tmp_path / f"out/{stem}.depth.png") == size
        assert float(read_image(tmp_path / f"out/{stem}.depth.png").std()) > 0.01  # a map, not a constant


def test_tiff_photo_gets_a_preview_and_npy_maps_are_read(run_cli, tmp_path):
    import cv2

    photos, maps = tmp_path / "photos", tmp_path / "maps"
    photos.mkdir()
    maps.mkdir()
    rng = np.random.default_rng(7)
    img = resize(rng.random((12, 18, 3), dtype=np.float32), (90, 60))
    cv2.imwrite(str(photos / "scan.tif"), (img[..., ::-1] * 65535).astype(np.uint16))  # 16-bit TIFF
    disp = np.tile(np.linspace(-3.0, 5.0, 45, dtype=np.float32), (30, 1))  # raw units, a third of the size
    np.save(maps / "scan.npy", disp)
    result = run_cli("infer", photos, "--method", "gaussian", "--depth", maps, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert _size(out / "scan.jpg") == (90, 60) and _size(out / "scan.input.jpg") == (90, 60)
    saved = read_image(out / "scan.depth.png")[..., 0]
    assert saved[:, 0].mean() < 0.03 and saved[:, -1].mean() > 0.97  # min-max normalised, left far, right near
    assert 'src="scan.input.jpg"' in (out / "index.html").read_text()


def test_a_half_size_map_is_fitted_to_the_photo_once_per_photo(tmp_path, monkeypatch):
    """The classical renderers and the saved depth PNG share one fit of a half-size map (not one each)."""
    import bokehpipe.infer.engine as engine
    from bokehpipe.infer.depth_inputs import DirDepth
    from bokehpipe.render.classical import ClassicalRenderer

    rng = np.random.default_rng(1)
    write_jpeg(tmp_path / "in" / "a.jpg", rng.random((48, 64, 3), dtype=np.float32))
    write_png(tmp_path / "depth" / "a.png", rng.random((24, 32), dtype=np.float32), bits=16)
    resampled: list[tuple[int, ...]] = []
    real = engine.fit_to_photo

    def counting(disp, shape, *args):
        if np.shape(disp) != tuple(shape[:2]):
            resampled.append(np.shape(disp))
        return real(disp, shape, *args)

    monkeypatch.setattr(engine, "fit_to_photo", counting)
    jobs = plan_jobs(find_inputs(tmp_path / "in"), tmp_path / "in", tmp_path / "out")
    [done] = engine.run_jobs(jobs, ClassicalRenderer("gaussian"), DirDepth(str(tmp_path / "depth")))
    assert done.ok and resampled == [(24, 32)]
    assert read_map(tmp_path / "out" / "a.depth.png").shape == (48, 64)
