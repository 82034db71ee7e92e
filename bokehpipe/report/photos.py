"""A real photo and its depth map as every renderer gets them, for the report's figures of real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_photo(image: Path, depth: Path, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A photo and its map as every renderer gets them (one normalisation, one aspect rule, photo size), float32,
    optionally shrunk (area) to `width` keeping the aspect."""
    from bokehpipe.data.disparity import fit_to_photo, normalise_map
    from bokehpipe.data.io import read_image, read_map, resize

    rgb = read_image(image)
    disp = fit_to_photo(normalise_map(read_map(depth), depth), rgb.shape)
    if width is not None and width < rgb.shape[1]:
        size = (width, max(1, round(rgb.shape[0] * width / rgb.shape[1])))
        rgb, disp = resize(rgb, size), np.clip(resize(disp, size), 0.0, 1.0)
    return rgb, disp.astype(np.float32)
