"""The CLI surface: lazy imports, every --help, pipeline defaults, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bokehpipe.cli import COMMANDS, cli


def _all_command_paths():
    """Every (sub)command as an argv prefix, walking click groups."""
    import click

    ctx = click.Context(cli)
    paths = []
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        paths.append([name])
        if isinstance(cmd, click.Group):
            paths += [[name, sub] for sub in cmd.list_commands(ctx)]
    return paths


def test_help_does_not_import_torch():
    code = ("import sys; from click.testing import CliRunner; from bokehpipe.cli import cli, COMMANDS; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
            "import click; ctx = click.Context(cli); "
            "[CliRunner().invoke(cli, [n, '--help']) for n in COMMANDS]; "
            "heavy = [m for m in ('torch', 'timm', 'cv2', 'h5py', 'numpy', 'matplotlib') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"--help imported heavy modules: {out.stdout}"


@pytest.mark.parametrize("argv", _all_command_paths(), ids=lambda a: " ".join(a))
def test_every_subcommand_help_works(run_cli, argv):
    result = run_cli(*argv, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_console_script_help_runs(bokehpipe_exe):
    out = subprocess.run([*bokehpipe_exe, "--help"], capture_output=True, text=True, check=True)
    for name in COMMANDS:
        assert name in out.stdout


def test_pipeline_tables_give_defaults_and_command_line_wins(run_cli, tmp_path, synthetic_set):
    pipe = tmp_path / "p.toml"
    pipe.write_text('[data.check]\njson = true\n')
    result = run_cli("--pipeline", pipe, "data", "check", synthetic_set)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["layout"] == "ebb-released"  # the pipeline turned --json on
    pipe.write_text("[data.check\n")
    bad = run_cli("--pipeline", pipe, "data", "check", synthetic_set)
    assert bad.exit_code != 0 and "not valid TOML" in bad.output


def test_info_json_lists_versions_and_store(run_cli, store_root):
    (store_root / "weights").mkdir()
    (store_root / "weights" / "vgg19-dcbb9e9d.pth").write_bytes(b"0" * 1024)
    result = run_cli("info", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["versions"]["bokehpipe"] and report["versions"]["torch"] != "not installed"
    assert report["store"]["root"] == str(store_root)
    assert [w["name"] for w in report["store"]["weights"]] == ["vgg19-dcbb9e9d.pth"]
