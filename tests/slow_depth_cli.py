"""`python tests/slow_depth_cli.py SECONDS ARGS...`: the `bokehpipe` CLI whose map producer sleeps SECONDS per
map, so a kill -9 test lands midway through a depth pass. The seam lives here, not in library code."""

from __future__ import annotations

import sys
import time


def main() -> None:
    delay = float(sys.argv[1])
    from bokehpipe.depth.producers import MapProducer

    entry = MapProducer.entry

    def slow_entry(self, pair):
        time.sleep(delay)
        return entry(self, pair)

    MapProducer.entry = slow_entry
    sys.argv = ["bokehpipe", *sys.argv[2:]]
    from bokehpipe.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
