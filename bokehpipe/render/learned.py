"""The learned default renderer: `scatter` at full resolution, corrected by BokehNet at working scale.

`render_bokehnet(image, disparity, model, focus=..., aperture=...)` computes the classical scatter render S
of the photo (`bokehpipe.render.render`), resizes photo, S and disparity to the network's working width
(`bokehpipe.models.bokehnet.NET_WIDTH`), runs the network there (a fixed, small size whatever the photo's:
memory and time of the network part are bounded), upsamples its blend mask and residual to the photo and
returns `S + m (I - S) + r`. Everything at full resolution is elementwise, and done in strips of rows into
S's own memory (`compose`): at 54 MP no full-size temporary exists beside the photo, its map and S. The
shipped weights live in `bokehpipe/pretrained/bokehnet.pt` (fp16, loaded with `weights_only=True`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bokehpipe.physics import clip_unit
from bokehpipe.render.calibration import DEFAULT_APERTURE
from bokehpipe.torch_files import load_checkpoint

SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "pretrained" / "bokehnet.pt"
COMPOSE_ROWS = 256  # full-resolution rows composed at a time


def load_bokehnet(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """BokehNet in eval mode (float32) from an exported file (default: the shipped weights) + its provenance."""
    from bokehpipe.models.bokehnet import BokehNet
    from bokehpipe.models.checkpoint import WEIGHTS_FORMAT

    fix = ("reinstall bokehpipe or rebuild them with `bokehpipe experiment bokehnet`" if path is None else
           "give a file made by `bokehpipe bokehnet export --run NAME --out FILE` (a run's checkpoints resume "
           "training; they are not weights files)")
    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    payload = load_checkpoint(path, format=WEIGHTS_FORMAT, what="BokehNet weights file", fix=fix)
    model = BokehNet(channels=tuple(payload["config"]["channels"]))
    model.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    return model.eval(), {"path": str(path), **payload.get("provenance", {})}


def is_bokehnet_weights(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a BokehNet weights file (`bokehnet export`'s, like the shipped one): lets `infer
    --checkpoint` take a retrained BokehNet as well as a PyNET checkpoint, told apart by the file's format tag."""
    from bokehpipe.models.checkpoint import WEIGHTS_FORMAT
    from bokehpipe.torch_files import load_weights_only

    path = Path(path)
    if not path.is_file():
        return False
    payload = load_weights_only(path, what="checkpoint", fix="pass a bokehpipe checkpoint or BokehNet weights file",
                                mmap=True)  # the tag only: a PyNET checkpoint's tensors are mapped, not read
    return isinstance(payload, dict) and payload.get("format") == WEIGHTS_FORMAT


def working_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of the network's view of a `width` x `height` photo: NET_WIDTH wide, aspect kept."""
    from bokehpipe.models.bokehnet import NET_WIDTH

    return NET_WIDTH, max(8, round(height * NET_WIDTH / width))


def to_working_size(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A photo-sized array (H, W[, C]) at the network's working `size` (w, h), float32: area when shrinking,
    bilinear otherwise. Inference and real-pair training examples (`train.bokehnet_data`) both go through it."""
    from bokehpipe.data.io import resize

    return resize(np.ascontiguousarray(a, dtype=np.float32), size, "area" if size[0] < a.shape[1] else "linear",
                  clip=False)


def render_bokehnet(image: np.ndarray, disparity: np.ndarray, model: Any, *, focus: float | None = None,
                    aperture: float = DEFAULT_APERTURE) -> np.ndarray:
    """sRGB (H, W, 3) + disparity (H, W), near = 1 -> BokehNet's render (H, W, 3) float32 in [0, 1].

    focus None = auto-focus (`choose_focus`); aperture: internal scale, by default the calibrated f/1.8 like
    `render`'s (commands go through `infer.engine.BokehNetRenderer`, which takes None for it).
    """
    image = clip_unit(image)
    disparity = np.asarray(disparity, np.float32)
    focus, s = scatter_at(image, disparity, focus, aperture)
    return correct(model, image, disparity, s, focus=focus, aperture=float(aperture))


def scatter_at(image: np.ndarray, disparity: np.ndarray, focus: float | None, aperture: float
               ) -> tuple[float, np.ndarray]:
    """The classical half of the default renderer: the focus (the auto-focus when None) and scatter's render at
    it, full size. `render_bokehnet` and the real-pair training examples (`train.bokehnet_data`) share it."""
    from bokehpipe.render import choose_focus, render

    focus = choose_focus(image, disparity).disparity if focus is None else float(focus)
    return focus, render(image, disparity, "scatter", focus=focus, aperture=float(aperture))


def correct(model: Any, image: np.ndarray, disparity: np.ndarray, scatter: np.ndarray, *, focus: float,
            aperture: float) -> np.ndarray:
    """Apply BokehNet to a scatter render made with `focus` and `aperture`: `S + m (I - S) + r`, full size.

    The network runs at working scale (`working_size`), so its time and memory do not grow with the photo;
    at full size only elementwise work remains (`compose`, which writes the result into `scatter`'s memory:
    the caller hands its scatter render over).
    """
    import torch

    from bokehpipe.models.bokehnet import MULTIPLE, network_input

    h, w = disparity.shape
    wn, hn = working_size(w, h)

    def small(a: np.ndarray) -> Any:
        return torch.from_numpy(to_working_size(a, (wn, hn)).reshape(hn, wn, -1)).permute(2, 0, 1)[None]

    with torch.inference_mode():
        x = network_input(small(image), small(scatter), small(disparity), torch.tensor([float(focus)]),
                          torch.tensor([float(aperture)]))
        ph, pw = -hn % MULTIPLE, -wn % MULTIPLE
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        mask, residual = model.correction(x)
        out = torch.cat([mask, residual], 1)[0, :, :hn, :wn].permute(1, 2, 0).numpy()
    return compose(image, scatter, np.ascontiguousarray(out, dtype=np.float32))


def linear_rows(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of `dst` output rows: the two source rows and the weight of the second, as OpenCV's bilinear
    resize (INTER_LINEAR, pixel centres aligned) takes them, so a resize can be done a strip at a time."""
    f = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    lo = np.floor(f).astype(np.int64)
    f = (f - lo).astype(np.float32)
    f[lo < 0] = 0.0
    lo = np.clip(lo, 0, src - 1)
    f[lo >= src - 1] = 0.0
    return lo, np.minimum(lo + 1, src - 1), f


def compose(image: np.ndarray, scatter: np.ndarray, small: np.ndarray) -> np.ndarray:
    """`S + m (I - S) + r` clipped to [0, 1], with m and r (`small`, (hn, wn, 4)) upsampled bilinearly to the
    photo's size, a strip of rows at a time and written into `scatter` (a float32 C-contiguous S is reused,
    anything else copied once). Equal to one whole-photo `cv2.resize` to within 1e-5."""
    h, w = scatter.shape[:2]
    out = scatter if scatter.dtype == np.float32 and scatter.flags.c_contiguous and scatter.flags.writeable else \
        np.array(scatter, dtype=np.float32)
    cols = cv2.resize(small, (w, small.shape[0]), interpolation=cv2.INTER_LINEAR)  # (hn, W, 4): width only
    lo, hi, frac = linear_rows(small.shape[0], h)
    for y0 in range(0, h, COMPOSE_ROWS):
        rows = slice(y0, y0 + COMPOSE_ROWS)
        f = frac[rows, None, None]
        big = cols[lo[rows]] * (np.float32(1.0) - f) + cols[hi[rows]] * f
        s = out[rows]
        res = image[rows] - s
        res *= big[..., :1]
        res += s
        res += big[..., 1:]
        np.clip(res, 0.0, 1.0, out=s)
    return out
