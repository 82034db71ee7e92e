"""`bokehpipe bench` writes the cost table the report reads; numbers are measured, never asserted as times."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_bench_tiny_writes_every_row(run_cli, store_root):
    result = run_cli("bench", "--models", "pynet-xs", "--renderers", "gaussian,scatter", "--depth-models", "",
                     "--train-levels", "5", "--size", "192x128", "--crop", "64", "--batch", "1", "--repeats", "1")
    assert result.exit_code == 0, result.output
    data = json.loads((store_root / "reports" / "bench.json").read_text())
    assert [r["name"] for r in data["models"]] == ["pynet-xs"]
    assert [r["name"] for r in data["renderers"]] == ["gaussian", "scatter"]
    assert data["train"][0]["level"] == 5 and data["train"][0]["images_per_s"] > 0
    assert data["models"][0]["params"] > 1e6 and all(r["peak_mb"] > 0 for r in data["models"] + data["renderers"])
    assert data["image_size"] == "192x128" and data["machine"]["cores"] >= 1
    assert "model pynet-xs" in result.stdout
    settings = data["settings"]  # how it was made: every option, with where its value came from
    assert settings["models"] == {"value": "pynet-xs", "source": "commandline"}
    assert settings["size"]["value"] == [192, 128] and settings["repeats"]["value"] == 1
    assert settings["device"] == {"value": "auto", "source": "default"}  # the one --device default


def test_bad_size_is_one_line(run_cli):
    result = run_cli("bench", "--size", "big")
    assert result.exit_code == 2 and "expected WxH" in result.output


@pytest.mark.slow
def test_bench_depth_pass_alone_keeps_cache_size_and_reads(run_cli, store_root):
    """`bench --depth-models` is the one road for the depth benchmark (`depth bench` is gone)."""
    result = run_cli("bench", "--models", "", "--renderers", "", "--train-levels", "", "--depth-models",
                     "midas_v21_small_256", "--size", "64x48", "--repeats", "1", "--threads", "1")
    assert result.exit_code == 0, result.output
    data = json.loads((store_root / "reports" / "bench.json").read_text())
    assert [r["name"] for r in data["depth"]] == ["midas_v21_small_256"] and data["depth"][0]["verify_ok"]
    assert data["depth_cache"]["raw_float16_bytes_per_map"] == 64 * 48 * 2
    assert data["depth_cache"]["read_maps_per_s_half_size"] > 0
    assert "depth midas_v21_small_256" in result.stdout and "HDF5 reads" in result.stdout
    assert run_cli("depth", "bench").exit_code == 2
