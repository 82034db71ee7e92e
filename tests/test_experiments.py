"""Experiment pipelines: steps run in order, finished ones are reused, failures stop the run with one line."""

from __future__ import annotations

import json


def _write(path, body: str):
    path.write_text(body)
    return path


def test_steps_run_reuse_and_log_wall_times(run_cli, tmp_path, store_root, synthetic_set):
    pipe = _write(tmp_path / "exp.toml", f"""
[data.check]
json = true

[[steps]]
name = "check"
run = ["data", "check", "{synthetic_set}"]

[[steps]]
name = "already-there"
run = ["data", "check", "/definitely/missing"]
creates = ["datasets"]
""")
    (store_root / "datasets").mkdir()
    result = run_cli("experiment", pipe)
    assert result.exit_code == 0, result.output
    assert '"layout": "ebb-released"' in result.stdout  # the pipeline's [data.check] table applied to the step
    assert "already-there (reused)" in result.stderr
    log = json.loads((store_root / "reports" / "experiments" / "exp.json").read_text())
    assert log["steps"]["check"]["wall_s"] >= 0 and "wall_s" not in log["steps"]["already-there"]


def test_failing_step_stops_with_one_line(run_cli, tmp_path):
    pipe = _write(tmp_path / "bad.toml", """
[[steps]]
name = "broken"
run = ["data", "check", "/definitely/missing"]

[[steps]]
name = "never"
run = ["info"]
""")
    result = run_cli("experiment", pipe)
    assert result.exit_code != 0
    assert "never" not in result.stderr
    dry = run_cli("experiment", pipe, "--dry-run")
    assert "run   broken" in dry.stdout and "run   never" in dry.stdout


def test_pipeline_without_steps_is_a_clear_error(run_cli, tmp_path):
    result = run_cli("experiment", _write(tmp_path / "none.toml", "[train]\nseed = 1\n"))
    assert result.exit_code == 1 and "no [[steps]]" in result.output
