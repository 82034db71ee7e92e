"""Test data: a tiny learnable set in the EBB! released layout, and a depth source over its PNG maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bokehpipe.errors import BokehpipeError


def write_toy_dataset(root: str | Path, *, n_train: int = 6, n_val: int = 2, size: tuple[int, int] = (128, 96),
                      seed: int = 0, jpeg: bool = False) -> Path:
    """A tiny learnable set in the EBB! released layout: `Training/{original,bokeh,depth}/<id>` + splits.json.

    Each scene is smooth texture plus a sharp near disc; the target blurs each pixel by how far it is from
    the near plane (a depth-weighted mix of the image and its Gaussian blur), so depth helps. `size` is
    (width, height) at full resolution.
    """
    import cv2

    from bokehpipe.data.io import write_jpeg, write_png
    from bokehpipe.store import atomic_write_json

    root = Path(root)
    w, h = size
    rng = np.random.default_rng(seed)
    ids = [str(i) for i in range(n_train + n_val)]
    for id_ in ids:
        noise = rng.random((h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
        img = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
        img += 0.25 * (rng.random((h, w, 3)).astype(np.float32) - 0.5)  # fine detail the blur removes
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy, r = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h, rng.uniform(0.15, 0.3) * min(w, h)
        near = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.float32)
        colour = rng.random(3).astype(np.float32)
        stripes = 0.5 + 0.5 * np.sin(xx / 2.0)[..., None]
        img = np.where(near[..., None] > 0, colour * stripes, img)
        img = np.clip(img, 0, 1)
        disp = np.clip(0.15 + 0.25 * yy / h + 0.6 * near, 0, 1)  # ground gets nearer downwards; disc nearest
        blur = cv2.GaussianBlur(img, (0, 0), sigmaX=max(1.0, w / 48))
        focus = cv2.GaussianBlur(near, (0, 0), sigmaX=1.0)[..., None]
        target = np.clip(focus * img + (1 - focus) * blur, 0, 1)
        writer = write_jpeg if jpeg else write_png
        ext = "jpg" if jpeg else "png"
        writer(root / "Training" / "original" / f"{id_}.{ext}", img)
        writer(root / "Training" / "bokeh" / f"{id_}.{ext}", target)
        write_png(root / "Training" / "depth" / f"{id_}.png", disp, bits=16)
    atomic_write_json(root / "splits.json", {"train": ids[:n_train], "val": ids[n_train:]})
    return root


class PngDepth:
    """A stand-in depth cache over `Training/depth/<id>.png`: a `DisparitySource` (bokehpipe.data.disparity)."""

    def __init__(self, pairs) -> None:
        self.maps = {p.id: p.depth for p in pairs if p.depth is not None}
        self.path = "png depth maps"
        self.description = self.path

    def has(self, photo) -> bool:
        return photo.id in self.maps

    def disparity(self, photo, rgb: np.ndarray | None = None) -> np.ndarray:
        from bokehpipe.data.disparity import normalise_map
        from bokehpipe.data.io import read_map

        if photo.id not in self.maps:
            raise BokehpipeError(f"{photo.path}: no depth for id {photo.id} in {self.path}")
        return normalise_map(read_map(self.maps[photo.id]), self.maps[photo.id])

    def protected(self) -> list:
        return list(self.maps.values())
