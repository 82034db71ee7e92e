"""Synthetic EBB!-style pairs: thin-lens renders of layered scenes at f/16 (input) and f/1.8 (target).

EBB! (Ignatov et al., CVPR-W 2020) pairs a Canon 7D shot at f/16 with one at f/1.8 from a tripod. Here each
procedural scene (`bokehpipe.data.scenes`) is rendered twice with the thin-lens CoC of
`bokehpipe.physics`: every RGBA layer is blurred in linear light with its own disc CoC (a per-pixel
CoC for the ground plane) and the layers are composited back to front with premultiplied alpha, so a
blurred foreground edge reveals the background it hid and HDR highlights become bokeh discs. The CoC
diameter scales with 1/N, so the f/16 input's CoC is 1.8/16 of the target's (nearly all sharp).

Disparity is written normalised to [0, 1] over the visible scene (near = 1), like a MiDaS map; the per-image
`aperture` in metadata.json converts it back: `radius_px = aperture * K_REF * (width / 1536) * |d - focus|`.

Optional EBB!-like pair defects: a global target shift of up to 2 px, a slight target exposure and colour
gain, sensor noise and JPEG compression on both images. Each image's RNG is derived from (seed, id), so a
set is byte-identical for a seed whatever the number of workers. A set is built in a hidden sibling folder
(resumable after a crash: every file is written atomically) and renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bokehpipe.data.io import write_jpeg, write_png
from bokehpipe.data.scenes import Layer, Scene, make_scene
from bokehpipe.errors import BokehpipeError
from bokehpipe.physics import (
    F_NUMBER_INPUT,
    F_NUMBER_TARGET,
    INPUT_APERTURE,
    K_REF,
    REF_WIDTH,
    blur_varying,
    linear_to_srgb,
)
from bokehpipe.store import atomic_write_json

GENERATOR_VERSION = 1
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclass
class SynthPair:
    """One rendered pair: sRGB float images in [0, 1], normalised disparity (near = 1) and its metadata."""

    input: np.ndarray
    target: np.ndarray
    disparity: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


def _trim(layer: Layer) -> Layer | None:
    """The layer cropped to where its alpha is non-zero (a few lights need not blur a whole canvas)."""
    rows, cols = np.flatnonzero(layer.alpha.any(1)), np.flatnonzero(layer.alpha.any(0))
    if len(rows) == 0:
        return None
    sl = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    disp = layer.disparity[sl] if np.ndim(layer.disparity) else layer.disparity
    return Layer(layer.name, layer.premult[sl], layer.alpha[sl], disp, layer.y0 + int(rows[0]), layer.x0 + int(cols[0]))


def render_layers(scene: Scene, aperture: float) -> np.ndarray:
    """Linear-light photo (H, W, 3) of `scene` with the CoC scaled by `aperture` (1 = the scene's f-number).

    Each layer is blurred with its own CoC (summing radius levels within a layer) and composited back to front
    over the canvas; the margin keeps the world beyond the frame in the blur.
    """
    ch, cw = scene.canvas
    acc = np.zeros((ch, cw, 4), np.float32)
    k = scene.coc_per_disparity * aperture
    for layer in map(_trim, scene.layers):
        if layer is None:
            continue
        h, w = layer.alpha.shape
        radius = k * np.abs(np.asarray(layer.disparity, np.float32) - np.float32(scene.focus))
        pad = int(math.ceil(float(np.max(radius)))) + 2
        y0, x0 = max(0, layer.y0 - pad), max(0, layer.x0 - pad)
        y1, x1 = min(ch, layer.y0 + h + pad), min(cw, layer.x0 + w + pad)
        rgba = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
        inner = rgba[layer.y0 - y0:layer.y0 - y0 + h, layer.x0 - x0:layer.x0 - x0 + w]
        inner[..., :3] = layer.premult
        inner[..., 3] = layer.alpha
        if radius.ndim:
            radius = cv2.copyMakeBorder(radius, layer.y0 - y0, y1 - layer.y0 - h, layer.x0 - x0, x1 - layer.x0 - w,
                                        cv2.BORDER_REPLICATE)
        blurred = blur_varying(rgba, radius if radius.ndim else float(radius))
        region = acc[y0:y1, x0:x1]  # a view: 'over' (premultiplied) in place
        region *= 1.0 - blurred[..., 3:4]
        region += blurred
    m = scene.margin
    return acc[m:m + scene.height, m:m + scene.width, :3]


def visible_disparity(scene: Scene) -> np.ndarray:
    """The sharp scene's disparity (inverse metres), alpha-composited so that object edges are anti-aliased."""
    ch, cw = scene.canvas
    disp = np.zeros((ch, cw), np.float32)
    for layer in scene.layers:
        h, w = layer.alpha.shape
        sl = np.s_[layer.y0:layer.y0 + h, layer.x0:layer.x0 + w]
        disp[sl] = layer.alpha * np.asarray(layer.disparity, np.float32) + (1 - layer.alpha) * disp[sl]
    m = scene.margin
    return disp[m:m + scene.height, m:m + scene.width]


TARGET_GAIN_RANGE = (0.97, 1.12)
"""With defects, each target's linear exposure gain is drawn uniformly from this range (EBB!'s targets run
brighter than their inputs): a renderer can expect its mean, never know its draw."""


def _defects(rng: np.random.Generator, lin_in: np.ndarray, lin_tgt: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """EBB!-like misalignment (up to 2 px at 1536 wide, scaled down for smaller sets), exposure/colour drift
    and sensor noise (linear light)."""
    h, w = lin_tgt.shape[:2]
    ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0, 2.0 * min(1.0, w / REF_WIDTH))
    shift = [round(float(dist * np.cos(ang)), 3), round(float(dist * np.sin(ang)), 3)]
    lin_tgt = cv2.warpAffine(lin_tgt, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (w, h),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    gain = float(rng.uniform(*TARGET_GAIN_RANGE))
    colour = np.clip(rng.normal(1.0, 0.02, 3), 0.94, 1.06).astype(np.float32)
    lin_tgt = lin_tgt * gain * colour
    shot, read = float(rng.uniform(2e-4, 1.5e-3)), float(rng.uniform(1e-6, 2e-5))
    out = []
    for lin in (lin_in, lin_tgt):
        sigma = np.sqrt(shot * np.clip(lin, 0, 1) + read)
        out.append(lin + sigma * rng.standard_normal(lin.shape, dtype=np.float32))
    meta = {"shift_px": shift, "gain": round(gain, 4), "colour_gain": [round(float(c), 4) for c in colour],
            "noise": {"shot": round(shot, 6), "read": round(read, 7)}}
    return out[0], out[1], meta


APERTURE_HEADROOM = 2.0
"""With --aperture-range, scenes are built for f/(1.8 / APERTURE_HEADROOM) so the canvas margin covers the blur."""


def _target_scale(scene: Scene, disp: np.ndarray, width: int, aperture_range: tuple[float, float], seed: int,
                  index: int) -> float:
    """The CoC scale (relative to the scene's f-number) that gives an internal aperture drawn log-uniformly
    from `aperture_range`, given the scene's `visible_disparity`; its own RNG stream, so the scene is the one
    the default set would draw."""
    lo, hi = aperture_range
    a = float(np.exp(np.random.default_rng([int(seed), int(index), GENERATOR_VERSION, 1]).uniform(
        np.log(lo), np.log(hi))))
    span = max(float(disp.max() - disp.min()), 1e-6)  # float32 difference: the published sets' rounding
    native = scene.coc_per_disparity * span / (K_REF * width / REF_WIDTH)
    return min(1.0, a / max(native, 1e-6))


def generate_pair(seed: int, index: int, width: int, height: int, *, defects: bool = True,
                  kind: str | None = None, aperture_range: tuple[float, float] | None = None) -> SynthPair:
    """Render pair `index` of the set with `seed`; the RNG depends only on (seed, index).

    aperture_range: draw each target's internal aperture (the CoC scale in metadata) log-uniformly from
    (lo, hi) instead of the scene's f/1.8, so a set teaches a range of apertures (`bokehpipe bokehnet`).
    """
    rng = np.random.default_rng([int(seed), int(index), GENERATOR_VERSION])
    f_scene = F_NUMBER_TARGET if aperture_range is None else F_NUMBER_TARGET / APERTURE_HEADROOM
    scene = make_scene(rng, width, height, f_number=f_scene, kind=kind)
    disp = visible_disparity(scene)  # once per pair: rendering changes only the CoC scale, never the layers
    d_min, d_max = float(disp.min()), float(disp.max())
    span = max(d_max - d_min, 1e-6)
    scale = 1.0 if aperture_range is None else _target_scale(scene, disp, width, aperture_range, seed, index)
    lin_in = render_layers(scene, f_scene / F_NUMBER_INPUT if aperture_range else INPUT_APERTURE)
    lin_tgt = render_layers(scene, scale)
    scene.coc_per_disparity *= scale  # metadata below describes the target
    gain = scene.exposure / max(float(np.mean(lin_in @ LUMA)), 1e-4)
    cast = rng.normal(1.0, 0.03, 3).astype(np.float32)
    lin_in, lin_tgt = lin_in * gain * cast, lin_tgt * gain * cast
    meta: dict[str, Any] = {
        "focus": round((scene.focus - d_min) / span, 6),
        "aperture": round(scene.coc_per_disparity * span / (K_REF * width / REF_WIDTH), 6),
        "layers": len(scene.layers), "kind": scene.kind, "subject": scene.subject,
        "disparity_range_per_m": [round(d_min, 6), round(d_max, 6)], "defects": {}}
    quality = [95, 95]
    if defects:
        lin_in, lin_tgt, meta["defects"] = _defects(rng, lin_in, lin_tgt)
        quality = [int(q) for q in rng.integers(88, 98, 2)]
        meta["defects"]["jpeg_quality"] = quality
    meta["jpeg_quality"] = quality
    return SynthPair(linear_to_srgb(lin_in), linear_to_srgb(lin_tgt), ((disp - d_min) / span).astype(np.float32),
                     meta)


# --- writing a set ----------------------------------------------------------------------------------------------
def _paths(root: Path, i: int) -> tuple[Path, Path, Path, Path]:
    t = root / "Training"
    return t / "original" / f"{i}.jpg", t / "bokeh" / f"{i}.jpg", t / "depth" / f"{i}.png", root / "meta" / f"{i}.json"


def _write_one(args: tuple[str, int, dict[str, Any]]) -> int:
    root, i, p = Path(args[0]), args[1], args[2]
    rng_ap = p.get("aperture_range")
    pair = generate_pair(p["seed"], i, p["width"], p["height"], defects=p["defects"],
                         aperture_range=tuple(rng_ap) if rng_ap else None)
    inp, tgt, depth, meta = _paths(root, i)
    write_jpeg(inp, pair.input, quality=pair.meta["jpeg_quality"][0])
    write_jpeg(tgt, pair.target, quality=pair.meta["jpeg_quality"][1])
    write_png(depth, pair.disparity, bits=16)
    atomic_write_json(meta, pair.meta)  # last: its presence marks the id as complete
    return i


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would only compete


def split_ids(count: int, val_fraction: float) -> dict[str, list[str]]:
    """The last `val_fraction` of ids (at least one when there are two or more) form `val`, like EBB!'s Val294."""
    n_val = min(count - 1, max(1, round(count * val_fraction))) if count > 1 and val_fraction > 0 else 0
    return {"train": [str(i) for i in range(count - n_val)], "val": [str(i) for i in range(count - n_val, count)]}


def _check_replaceable(root: Path, overwrite: bool) -> None:
    """`--overwrite` replaces only a set this command wrote (its metadata.json says so): never a folder of the
    user's that happens to be named as the output."""
    if not root.exists():
        return
    if root.is_dir() and not any(root.iterdir()):
        return  # an empty folder holds nothing to lose
    ours = False
    with contextlib.suppress(OSError, ValueError):
        ours = json.loads((root / "metadata.json").read_text()).get("generator") == "bokehpipe synth"
    if not ours:
        raise BokehpipeError(f"{root}: exists and is not a set made by `bokehpipe synth`, so it is left as it is "
                             "(--overwrite replaces only such sets); choose another --out or name")
    if not overwrite:
        raise BokehpipeError(f"{root}: dataset already exists; pass --overwrite to replace it or choose another name")


def write_synthetic_set(root: str | os.PathLike[str], *, count: int, width: int, height: int, seed: int,
                        val_fraction: float = 0.06, defects: bool = True, workers: int = 2, overwrite: bool = False,
                        progress: Callable[[int], None] | None = None,
                        aperture_range: tuple[float, float] | None = None) -> Path:
    """Write a synthetic set in the EBB! released layout at `root` (plus depth, splits.json, metadata.json).

    The set is built in `.<name>.partial` next to `root`; a crashed run with the same parameters resumes there,
    and `root` appears (by one rename) only when every pair is written.
    """
    root = Path(root)
    if count < 1 or width < 16 or height < 16:
        raise BokehpipeError(f"synth needs --count >= 1 and a size of at least 16x16, got {count} and {width}x{height}")
    if not 0 <= val_fraction < 1:
        raise BokehpipeError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    from bokehpipe.data.io import MAX_PIXELS_ENV, max_pixels

    if width * height > max_pixels():
        raise BokehpipeError(f"--size {width}x{height} is {width * height / 1e6:.0f} MP per image, above the pixel "
                             f"budget of {max_pixels() / 1e6:.0f} MP; choose a smaller size (EBB!'s is 1536x1024) "
                             f"or raise {MAX_PIXELS_ENV}")
    _check_replaceable(root, overwrite)
    params = {"seed": int(seed), "count": int(count), "width": int(width), "height": int(height),
              "defects": bool(defects), "generator_version": GENERATOR_VERSION}
    if aperture_range is not None:
        lo, hi = (float(v) for v in aperture_range)
        if not 0 < lo <= hi:
            raise BokehpipeError(f"--aperture-range needs 0 < LO <= HI, got {lo},{hi}")
        params["aperture_range"] = [lo, hi]
    partial = root.parent / f".{root.name}.partial"
    params_file = partial / "params.json"
    if partial.exists() and not (params_file.exists() and json.loads(params_file.read_text()) == params):
        shutil.rmtree(partial)
    for sub in ("Training/original", "Training/bokeh", "Training/depth", "meta"):
        (partial / sub).mkdir(parents=True, exist_ok=True)
    atomic_write_json(params_file, params)
    todo = [i for i in range(count) if not all(p.exists() for p in _paths(partial, i))]
    if progress is not None and count - len(todo):
        progress(count - len(todo))
    jobs = [(str(partial), i, params) for i in todo]
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _write_one(job)
            if progress is not None:
                progress(1)
    else:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_init_worker) as pool:
            for _ in pool.imap_unordered(_write_one, jobs):
                if progress is not None:
                    progress(1)
    images = {str(i): json.loads(_paths(partial, i)[3].read_text()) for i in range(count)}
    atomic_write_json(partial / "splits.json", split_ids(count, val_fraction))
    atomic_write_json(partial / "metadata.json", {
        "generator": "bokehpipe synth", "generator_version": GENERATOR_VERSION, "seed": int(seed), "count": count,
        "size": [width, height], "defects": bool(defects), "val_fraction": val_fraction,
        "aperture_range": params.get("aperture_range"),
        "disparity": "normalised inverse depth of the visible scene, [0, 1], near = 1 (Training/depth, 16-bit PNG)",
        "coc": "radius_px = aperture * k_ref * (width / ref_width) * |disparity - focus|",
        "k_ref": K_REF, "ref_width": REF_WIDTH, "f_number_input": F_NUMBER_INPUT, "f_number_target": F_NUMBER_TARGET,
        "images": images})
    shutil.rmtree(partial / "meta")
    params_file.unlink()
    old = root.parent / f".{root.name}.old"
    if root.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(root, old)
    os.replace(partial, root)
    if old.exists():
        shutil.rmtree(old)
    return root
