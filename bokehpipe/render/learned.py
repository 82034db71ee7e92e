"""The learned default renderer: `scatter` at full resolution, corrected by BokehNet at working scale.

`render_bokehnet(image, disparity, model, focus=..., aperture=...)` computes the classical scatter render S
of the photo (`bokehpipe.render.render`), resizes photo, S and disparity to the network's working width
(`bokehpipe.models.bokehnet.NET_WIDTH`), runs the network there (a fixed, small size whatever the photo's:
memory and time of the network part are bounded), upsamples its blend mask and residual to the photo and
returns `S + m (I - S) + r`. Everything at full resolution is elementwise. The shipped weights live in
`bokehpipe/pretrained/bokehnet.pt` (fp16, loaded with `weights_only=True`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bokehpipe.torch_files import load_checkpoint

SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "pretrained" / "bokehnet.pt"
FORMAT = "bokehpipe-bokehnet/1"


def load_bokehnet(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """BokehNet in eval mode (float32) from an exported file (default: the shipped weights) + its provenance."""
    from bokehpipe.models.bokehnet import BokehNet

    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    payload = load_checkpoint(path, format=FORMAT, what="BokehNet weights file",
                              fix="reinstall bokehpipe or rebuild them with `bokehpipe experiment bokehnet`")
    model = BokehNet(channels=tuple(payload["config"]["channels"]))
    model.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    return model.eval(), {"path": str(path), **payload.get("provenance", {})}


def working_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of the network's view of a `width` x `height` photo: NET_WIDTH wide, aspect kept."""
    from bokehpipe.models.bokehnet import NET_WIDTH

    return NET_WIDTH, max(8, round(height * NET_WIDTH / width))


def render_bokehnet(image: np.ndarray, disparity: np.ndarray, model: Any, *, focus: float | None = None,
                    aperture: float | None = None) -> np.ndarray:
    """sRGB (H, W, 3) + disparity (H, W), near = 1 -> BokehNet's render (H, W, 3) float32 in [0, 1].

    focus None = auto-focus (`choose_focus`); aperture None = the calibrated f/1.8 (internal scale otherwise).
    """
    from bokehpipe.render import choose_focus, render
    from bokehpipe.render.calibration import DEFAULT_APERTURE

    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    disparity = np.asarray(disparity, np.float32)
    focus = choose_focus(image, disparity).disparity if focus is None else float(focus)
    aperture = DEFAULT_APERTURE if aperture is None else float(aperture)
    s = render(image, disparity, "scatter", focus=focus, aperture=aperture)
    return correct(model, image, disparity, s, focus=focus, aperture=aperture)


def correct(model: Any, image: np.ndarray, disparity: np.ndarray, scatter: np.ndarray, *, focus: float,
            aperture: float) -> np.ndarray:
    """Apply BokehNet to a scatter render made with `focus` and `aperture`: `S + m (I - S) + r`, full size.

    The network runs at working scale (`working_size`), so its time and memory do not grow with the photo;
    at full size only elementwise work remains.
    """
    import torch

    from bokehpipe.models.bokehnet import MULTIPLE, network_input

    h, w = disparity.shape
    wn, hn = working_size(w, h)
    interp = cv2.INTER_AREA if wn < w else cv2.INTER_LINEAR

    def small(a: np.ndarray) -> Any:
        r = cv2.resize(np.ascontiguousarray(a, dtype=np.float32), (wn, hn), interpolation=interp)
        return torch.from_numpy(r.reshape(hn, wn, -1)).permute(2, 0, 1)[None]

    with torch.inference_mode():
        x = network_input(small(image), small(scatter), small(disparity), torch.tensor([float(focus)]),
                          torch.tensor([float(aperture)]))
        ph, pw = -hn % MULTIPLE, -wn % MULTIPLE
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        mask, residual = model(x)
        out = torch.cat([mask, residual], 1)[0, :, :hn, :wn].permute(1, 2, 0).numpy()
    big = cv2.resize(np.ascontiguousarray(out), (w, h), interpolation=cv2.INTER_LINEAR)
    m, r = big[..., :1], big[..., 1:]
    return np.clip(scatter + m * (image - scatter) + r, 0.0, 1.0).astype(np.float32)
