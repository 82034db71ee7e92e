"""Procedural layered RGBA scenes in the spirit of EBB! photos (Ignatov et al., CVPR-W 2020, section 3).

A scene is a list of layers, back to front, each with full RGBA (premultiplied linear light, HDR where a
light shines) and its own disparity: a number for a flat object, a per-pixel map for the ground plane. Since
each layer is complete, what a foreground hides is known, which is what lets `bokehpipe.data.synthetic`
render a physically right wide-aperture target (and what no single-image renderer can see). Everything comes
from the `numpy.random.Generator` passed in, so a seed fixes the scene.

This package is one generator split by job: `model` (Layer, Scene, the pinhole Camera), `paint` (palettes,
noise, leaves, HDR lights, canvas -> Layer), `background` (sky, hills, treeline, skyline, hedge wall),
`ground` (the ground plane), `objects` (trees, bushes, rocks, poles, lamps, string lights, near foreground),
`subjects` (flower, sprig, vase, fruit) and `compose` (`make_scene`: camera, distances, layer order).
"""

from bokehpipe.data.scenes.compose import make_scene
from bokehpipe.data.scenes.model import KINDS, Layer, Scene

__all__ = ["KINDS", "Layer", "Scene", "make_scene"]
