"""`bokehpipe demo` end to end on a shrunken copy of pipelines/demo.toml: every step says what it does and how long
it took, the brief run is scored against its input, the refocus gallery is written, the next commands are listed;
a second run reuses everything. The long demo's [train] is the short one's (both are `train`'s CPU default)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bokehpipe.config import load_pipeline

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def _tiny_demo(tmp_path: Path) -> Path:
    """demo.toml with a 10-pair set, 2 training steps and one small sample photo: the same steps, in seconds."""
    text = (REPO / "pipelines" / "demo.toml").read_text(encoding="utf-8")
    for old, new in (('count = 48', 'count = 10'), ('"--steps", "60"', '"--steps", "2"'),
                     ('"--count", "3"', '"--count", "1"'), ('"768x512"', '"192x128"'), ('size = "384x256"',
                                                                                         'size = "192x128"')):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_runs_every_step_and_writes_the_refocus_gallery(run_cli, store_root, tmp_path, monkeypatch):
    import bokehpipe.cli.demo as demo

    monkeypatch.setattr(demo, "DEMO_PIPELINE", str(_tiny_demo(tmp_path)))
    result = run_cli("demo")
    assert result.exit_code == 0, result.output
    err, out = result.stderr, result.stdout
    steps = load_pipeline(REPO / "pipelines" / "demo.toml")[1]["steps"]
    total = len(steps)
    for i, step in enumerate(steps, 1):
        assert f"[{i}/{total}] {demo.SAYS[step['name']]}" in err
        assert re.search(rf"{step['name']}: \d+\.\d s wall, \d+\.\d s CPU", err), step["name"]
    assert re.search(r"refocus \S+: \d+ focus planes", err)  # infer --refocus, the demo's last step
    assert "from scratch" in err  # the choice of phase two, said on screen

    assert re.search(r"^identity +\d", out, re.M) and re.search(r"^bokehnet +\d", out, re.M)
    assert re.search(rf"^{demo.DEMO_RUN}: held-out PSNR [\d.]+ dB, [+-][\d.]+ dB, (not )?above its input's", out, re.M)
    page = store_root / "renders" / demo.DEMO_RENDERS / demo.REFOCUS / "index.html"
    assert page.is_file() and page.as_uri() in out
    assert (store_root / "renders" / demo.DEMO_RENDERS / "index.html").is_file()  # infer's before/after gallery
    assert "bokehpipe infer" in page.read_text(encoding="utf-8") and "full-size" in page.read_text()
    for command, _ in demo.NEXT:
        assert command in out
    assert re.search(r"bokehpipe demo: \d+ s wall \(load average [\d.]+ at the start\), \d+ s CPU", out)

    again = run_cli("demo")
    assert again.exit_code == 0, again.output
    assert again.stderr.count("reused") == total


def test_long_demo_trains_with_the_short_demos_cpu_defaults():
    short, long = (load_pipeline(REPO / "pipelines" / f"{n}.toml")[1] for n in ("demo", "demo_full"))
    assert short["train"] == long["train"]  # `bokehpipe train` on a CPU reads demo.toml's; demo_full trains with it
    names = {arg for step in long["steps"] for arg in step["run"] + step["creates"]}
    assert not {"demo", "demo-depth", "datasets/demo"} & names  # its own names: both demos fit in one store
