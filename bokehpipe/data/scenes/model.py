"""The scene data model: RGBA layers with disparity, the scene that stacks them, and the pinhole camera.

Kept apart so every element builder (`background`, `ground`, `objects`, `subjects`) and the renderer in
`bokehpipe.data.synthetic` share one definition of a layer without importing any drawing code. The camera is
EBB!'s (Ignatov et al., CVPR-W 2020, section 3: Canon 7D, 50 mm) as a pinhole over a flat ground: a ground
pixel `rows` below the horizon lies at disparity `rows / (camera_height * f_px)` (inverse metres), and an
object's size falls as 1/distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("garden", "street", "hedge", "path", "dusk")


@dataclass
class Layer:
    """One RGBA layer: premultiplied linear colour (h, w, 3), alpha (h, w), disparity, offset in the canvas."""

    name: str
    premult: np.ndarray
    alpha: np.ndarray
    disparity: float | np.ndarray
    y0: int = 0
    x0: int = 0


@dataclass
class Scene:
    """Layers back to front on a canvas `margin` pixels larger than the photo on every side (blur needs the
    world beyond the frame); disparities are inverse metres until `synthetic` normalises them."""

    kind: str
    width: int
    height: int
    margin: int
    focus: float
    layers: list[Layer] = field(default_factory=list)
    coc_per_disparity: float = 0.0  # CoC radius in px per inverse metre at the target aperture
    exposure: float = 0.15  # target mean linear luminance of the photo
    subject: str = ""

    @property
    def canvas(self) -> tuple[int, int]:
        return self.height + 2 * self.margin, self.width + 2 * self.margin


@dataclass
class Camera:
    width: int
    height: int
    margin: int
    f_px: float
    cam_h: float
    horizon: float  # canvas row of the horizon at the centre column
    roll: float  # horizon slope (rows per column)

    @property
    def cx(self) -> float:
        return self.margin + self.width / 2

    def row_at(self, z: float, x: float | None = None) -> float:
        """Canvas row where the ground at distance `z` metres meets column `x`."""
        x = self.cx if x is None else x
        return self.horizon + self.roll * (x - self.cx) + self.cam_h * self.f_px / z

    def size(self, metres: float, z: float) -> float:
        return metres * self.f_px / z
