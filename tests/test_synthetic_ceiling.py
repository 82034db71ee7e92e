"""`studies/synthetic_ceiling.py`: a perfect renderer of the generator's optics, scored against the
defect-laden targets, is the ceiling the synthetic benchmark allows (BokehNet's +1 dB goal is read against it)."""

from __future__ import annotations

import json

import pytest

from bokehpipe.errors import BokehpipeError
from synthetic_ceiling import ceiling, main


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    from click.testing import CliRunner

    from bokehpipe.cli import cli

    root = tmp_path_factory.mktemp("ceilstore")
    for name, extra in (("tiny", []), ("clean", ["--no-defects"])):
        result = CliRunner().invoke(cli, ["--store", str(root), "synth", name, "--count", "4", "--size", "192x128",
                                          "--seed", "3", "--val-fraction", "0.5", "--workers", "1",
                                          "--aperture-range", "0.05,1.5", *extra], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root / "datasets"


def test_the_exact_optics_beat_scatter_and_the_json_is_written(tiny_set, tmp_path):
    """The regenerated clean target matches the stored pair (same scene) and is nearer the target than
    scatter's render of the stored input is: the room above scatter that the benchmark leaves."""
    import numpy as np

    from bokehpipe.data.ebb import load_index
    from bokehpipe.data.io import read_image, read_map
    from bokehpipe.metrics import PROTOCOL, score_pair
    from bokehpipe.render import render

    out = tmp_path / "ceiling.json"
    assert main(["--data", str(tiny_set / "tiny"), "--split", "val", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["n_images"] == 2 and all(r["input_match_psnr"] > 30 for r in data["rows"])
    meta = json.loads((tiny_set / "tiny" / "metadata.json").read_text())["images"]
    scatter = []
    for pair in load_index(tiny_set / "tiny").split("val"):
        m = meta[pair.id]
        pred = render(read_image(pair.input), read_map(pair.depth), "scatter", focus=m["focus"], aperture=m["aperture"])
        scatter.append(score_pair(np.clip(pred, 0, 1), read_image(pair.target), PROTOCOL)["psnr"])
    assert data["methods"]["exact_optics"]["psnr"] > float(np.mean(scatter))
    assert data["methods"]["exact_optics_oracle_gain"]["psnr"] > data["methods"]["exact_optics"]["psnr"]


def test_sets_it_cannot_regenerate_are_refused(tiny_set, tmp_path):
    with pytest.raises(BokehpipeError, match="no pair defects"):
        ceiling(tiny_set / "clean", "val")
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_set / "tiny", other)
    meta = json.loads((other / "metadata.json").read_text())
    meta["seed"] = 4  # claims another seed: the regenerated scenes are not the stored ones
    (other / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BokehpipeError, match="not made by this generator"):
        ceiling(other, "val")
