"""Experiment pipelines: steps run in order, finished ones are reused, failures stop the run with one line."""

from __future__ import annotations

import json


def _write(path, body: str):
    path.parent.mkdir(parents=True, exist_ok=True)
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


SCRIPT = """import json, os, sys
out = sys.argv[1]
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump({"store": os.environ.get("BOKEHPIPE_STORE"), "python": sys.executable, "argv": sys.argv[1:]},
          open(out, "w"))
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


def test_script_step_runs_the_file_with_this_interpreter_and_the_store(run_cli, tmp_path, store_root):
    """A study outside the package is a step: its path is relative to the pipeline file, its arguments are
    expanded like a command's, it sees the store, and a finished one is reused."""
    import sys

    _write(tmp_path / "studies" / "make.py", SCRIPT)
    pipe = _write(tmp_path / "pipelines" / "exp.toml", """
[[steps]]
name = "study"
script = "../studies/make.py"
run = ["{store}/reports/study/out.json"]
creates = ["reports/study/out.json"]
""")
    dry = run_cli("experiment", pipe, "--dry-run")
    assert f"run   study: python {tmp_path / 'studies' / 'make.py'} {store_root}/reports/study/out.json" in dry.stdout
    result = run_cli("experiment", pipe)
    assert result.exit_code == 0, result.output
    out = json.loads((store_root / "reports" / "study" / "out.json").read_text())
    assert out == {"store": str(store_root), "python": sys.executable, "argv": [f"{store_root}/reports/study/out.json"]}
    log = json.loads((store_root / "reports" / "experiments" / "exp.json").read_text())
    assert log["steps"]["study"]["script"] == str(tmp_path / "studies" / "make.py")
    again = run_cli("experiment", pipe)
    assert again.exit_code == 0 and "study (reused)" in again.stderr


def test_failing_or_missing_script_stops_with_one_line(run_cli, tmp_path):
    _write(tmp_path / "make.py", SCRIPT)
    pipe = _write(tmp_path / "exp.toml", f"""
[[steps]]
name = "fails"
script = "make.py"
run = ["{tmp_path / 'out.json'}", "3"]

[[steps]]
name = "never"
run = ["info"]
""")
    result = run_cli("experiment", pipe)
    assert result.exit_code == 1 and "make.py" in result.stderr and "exited with 3" in result.stderr
    assert "never" not in result.stderr
    gone = _write(tmp_path / "gone.toml", '[[steps]]\nname = "gone"\nscript = "nowhere.py"\nrun = []\n')
    result = run_cli("experiment", gone)
    assert result.exit_code == 1 and f"script {tmp_path / 'nowhere.py'} not found" in result.output


def test_realdata_steps_need_the_variable(run_cli, tmp_path, monkeypatch):
    """No guessed folder: `{realdata}` is BOKEHPIPE_REALDATA or a one-line error naming it."""
    pipe = _write(tmp_path / "real.toml", '[[steps]]\nname = "check"\nrun = ["data", "check", "{realdata}/ebb"]\n')
    monkeypatch.delenv("BOKEHPIPE_REALDATA", raising=False)
    result = run_cli("experiment", pipe)
    assert result.exit_code == 1 and "set BOKEHPIPE_REALDATA" in result.output
    monkeypatch.setenv("BOKEHPIPE_REALDATA", str(tmp_path / "absent"))
    result = run_cli("experiment", pipe)
    assert result.exit_code == 1 and f"{tmp_path / 'absent'}: no such folder" in result.output


def test_the_shipped_pipelines_name_scripts_that_exist():
    from pathlib import Path

    from bokehpipe.config import load_pipeline
    from bokehpipe.experiments import load_steps

    scripts = []
    for path in sorted((Path(__file__).resolve().parents[1] / "pipelines").glob("*.toml")):
        _, pipeline = load_pipeline(path)
        scripts += [s.script for s in load_steps(pipeline, path) if s.script] if "steps" in pipeline else []
    assert scripts and all(s.is_file() and s.parent.name == "studies" for s in scripts), scripts


def test_two_processes_keep_each_others_log_entries(tmp_path):
    """A long step and its ablation run as two `experiment` processes on one pipeline: the log written last must
    still hold the other process's steps (each write re-reads the file under a lock), and CPU seconds are kept."""
    from bokehpipe.experiments import Step, run_steps
    from bokehpipe.store import ArtifactStore

    store = ArtifactStore(tmp_path / "store")

    def step(name: str) -> Step:
        return Step(name=name, argv=("info",), creates=(), script=None)

    def nested(_: Step) -> None:  # the other process finishes its step while this one runs
        run_steps("exp", [step("ablation")], store, lambda s: None)

    log = run_steps("exp", [step("main")], store, nested)
    assert set(log["steps"]) == {"main", "ablation"}
    saved = json.loads((store.reports_dir / "experiments" / "exp.json").read_text())
    assert set(saved["steps"]) == {"main", "ablation"} and saved["steps"]["main"]["cpu_s"] >= 0
