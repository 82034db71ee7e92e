"""The one `WxH` parser (bokehpipe/sizes.py) and its click option type: the same words on every command."""

from __future__ import annotations

import pytest

from bokehpipe.errors import BokehpipeError
from bokehpipe.sizes import parse_size, parse_sizes


def test_parse_size_reads_width_then_height():
    assert parse_size("1536x1024") == (1536, 1024)
    assert parse_size(" 64X48 ") == (64, 48)
    assert parse_sizes("768x512,1536x1024,") == [(768, 512), (1536, 1024)]


@pytest.mark.parametrize("text, words", [("big", "expected WxH"), ("12x", "expected WxH"), ("1x2x3", "expected WxH"),
                                         ("8x8", "too small; use at least 16x16"),
                                         ("20x16", "multiples of 8")])
def test_parse_size_names_the_value_and_the_fix(text, words):
    with pytest.raises(BokehpipeError, match=words) as info:
        parse_size(text, minimum=16, multiple=8)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("argv", [["synth", "s", "--size", "8x8"], ["bench", "--size", "big"],
                                  ["bokehnet", "train", "--dataset", "d", "--run", "r", "--crop", "100x64"]])
def test_every_size_option_is_a_usage_error_naming_the_option(run_cli, argv):
    result = run_cli(*argv)
    assert result.exit_code == 2, result.output
    option = argv[-2]
    assert f"Invalid value for '{option}'" in result.output and repr(argv[-1]) in result.output
