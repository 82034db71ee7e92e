"""Pipeline files are checked where they are loaded (issue 13): unknown tables/keys, wrong types, one line."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(run_cli, tmp_path: Path, text: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return run_cli("--pipeline", path, "info", store=tmp_path / "store"), path


@pytest.mark.parametrize("text, expected", [
    ("[train]\nlearning-rate = 0.01\n", "[train]: unknown key 'learning-rate'; did you mean 'lr'?"),
    ("[trian]\nlr = 0.01\n", "unknown table [trian]; did you mean 'train'?"),
    ("[train]\nbatch = 2.7\n", "[train] batch: expected an integer, got 2.7 (integers must be written without a"),
    ("train = 5\n", "[train] must be a table of `train` options"),
    ("[train.schedule]\n4 = {batch = \"eight\", steps = 10}\n", "batch = 'eight' must be an integer"),
    ("[train.schedule]\n4 = {batch = 8, step = 10}\n", "unknown key 'step'; did you mean 'steps'?"),
    ("[train]\nschedule = 3\n", "[train.schedule] must be a table of levels"),
    ("[train]\nprecision = \"fp8\"\n", "[train] precision: 'fp8' is not one of"),
    ("[train]\nperceptual = \"no\"\n", "[train] perceptual: expected true or false, got 'no'"),
    ("[depth.verfy]\njson = true\n", "[depth]: unknown key 'verfy'; did you mean 'verify'?"),
    ("[[steps]]\nname = \"a\"\nrun = [\"info\"]\ncreate = [\"x\"]\n", "unknown key 'create'; did you mean 'creates'?"),
])
def test_bad_pipeline_is_one_line_naming_file_and_closest_key(run_cli, tmp_path, text, expected):
    result, path = _run(run_cli, tmp_path, text)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}") and expected in lines[0], result.output


def test_good_tables_and_every_shipped_pipeline_pass(run_cli, tmp_path):
    result, _ = _run(run_cli, tmp_path, "[train]\nval-every = 0\nval_max = 3\nwith-depth = false\nlr = 1\n"
                                        "[train.schedule]\n4 = {batch = 8, steps = 10, lr = 1e-3}\n"
                                        "[depth.verify]\n[eval]\nsplit = \"val\"\n")
    assert result.exit_code == 0, result.output
    for path in sorted((REPO / "pipelines").glob("*.toml")):
        result = run_cli("--pipeline", path, "info", store=tmp_path / "store")
        assert result.exit_code == 0, (path, result.output)


def test_schedule_and_options_share_one_toml_type_rule():
    """parse_schedule checks its own table (any caller gets the one-line error, not an AttributeError) with the
    same value rule the pipeline check applies to options."""
    from bokehpipe.errors import ConfigError
    from bokehpipe.pipeline_check import toml_value_is
    from bokehpipe.train.config import parse_schedule

    for bad in (3, [1, 2], "4"):
        with pytest.raises(ConfigError, match=r"\[train.schedule\] must be a table of levels"):
            parse_schedule(bad)
    assert [toml_value_is(v, int) for v in (2, 2.0, True, "2")] == [True, False, False, False]
    assert [toml_value_is(v, float) for v in (2, 2.5, False, "2")] == [True, True, False, False]
    assert [toml_value_is(v, bool) for v in (True, 1)] == [True, False]
    assert [toml_value_is(v, str) for v in ("a", 4, 1.5, True, [1], {})] == [True, True, True, False, False, False]
    for value, ok in ((8, True), (8.0, False), (True, False)):
        if ok:
            assert parse_schedule({"4": {"batch": value}})[4].batch == value
        else:
            with pytest.raises(ConfigError, match="must be an integer"):
                parse_schedule({"4": {"batch": value}})
    assert parse_schedule({"4": {"lr": 1}})[4].lr == 1


def test_the_seed_pipeline_draws_the_shipped_runs_sets():
    """bokehnet_seeds.toml retrains on the sets of bokehnet.toml: same [synth] table, same test-set step."""
    import tomllib

    shipped, seeds = (tomllib.loads((REPO / "pipelines" / f"{n}.toml").read_text()) for n in ("bokehnet",
                                                                                            "bokehnet_seeds"))
    assert seeds["synth"] == shipped["synth"]
    steps = [{s["name"]: s["run"] for s in p["steps"]} for p in (shipped, seeds)]
    assert steps[0]["synth"] == steps[1]["synth"] and steps[0]["test-set"] == steps[1]["test-set"]
