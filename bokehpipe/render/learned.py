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

from bokehpipe.errors import BokehpipeError

SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "pretrained" / "bokehnet.pt"
FORMAT = "bokehpipe-bokehnet/1"


def load_bokehnet(path: str | os.PathLike[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """BokehNet in eval mode (float32) from an exported file (default: the shipped weights) + its provenance."""
    import torch

    from bokehpipe.models.bokehnet import BokehNet

    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    if not path.is_file():
        raise BokehpipeError(f"{path}: BokehNet weights not found; reinstall bokehpipe or rebuild them with "
                             "`bokehpipe experiment bokehnet`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file gets one clear line
        raise BokehpipeError(f"{path}: not a readable BokehNet weights file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BokehpipeError(f"{path}: not a BokehNet weights file (expected format {FORMAT})")
    model = BokehNet(channels=tuple(payload["config"]["channels"]))
    model.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    return model.eval(), {"path": str(path), **payload.get("provenance", {})}


def working_size(width: int, height: int) -> tuple[int, int]:
    """(w, h) of the network's view of a `width` x `height` photo: NET_WIDTH wide, aspect kept."""
    from bokehpipe.models.bokehnet import NET_WIDTH

    return NET_WIDTH, max(8, round(height * NET_WIDTH / width))


def render_bokehnet(image: np.ndarray, disparity: np.ndarray, model: Any, *, focus: float | None = None,
                    aperture: float = 1.0, scatter: np.ndarray | None = None) -> np.ndarray:
    """sRGB (H, W, 3) + disparity (H, W), near = 1 -> the corrected render (H, W, 3) float32 in [0, 1].

    focus None = auto-focus (as `bokehpipe.render.render`); `scatter` may pass a scatter render already made
    with the same focus and aperture.
    """
    import torch

    from bokehpipe.models.bokehnet import MULTIPLE, network_input
    from bokehpipe.render import auto_focus, render

    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    disparity = np.asarray(disparity, np.float32)
    if focus is None:
        focus = auto_focus(disparity)
    s = render(image, disparity, "scatter", focus=focus, aperture=aperture) if scatter is None else scatter
    h, w = disparity.shape
    wn, hn = working_size(w, h)
    interp = cv2.INTER_AREA if wn < w else cv2.INTER_LINEAR

    def small(a: np.ndarray) -> Any:
        r = cv2.resize(a, (wn, hn), interpolation=interp)
        return torch.from_numpy(r.reshape(hn, wn, -1)).permute(2, 0, 1)[None].float()

    with torch.inference_mode():
        i_s, s_s, d_s = small(image), small(s), small(disparity)
        f_t, a_t = torch.tensor([float(focus)]), torch.tensor([float(aperture)])
        ph, pw = -hn % MULTIPLE, -wn % MULTIPLE
        x = network_input(i_s, s_s, d_s, f_t, a_t)
        if ph or pw:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        mask, residual = model(x)
        out = torch.cat([mask, residual], 1)[0, :, :hn, :wn].permute(1, 2, 0).numpy()
    big = cv2.resize(np.ascontiguousarray(out), (w, h), interpolation=cv2.INTER_LINEAR)
    m, r = big[..., :1], big[..., 1:]
    return np.clip(s + m * (image - s) + r, 0.0, 1.0).astype(np.float32)
