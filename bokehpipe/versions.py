"""Installed package versions: the one lookup, for provenance records (depth caches) and `bokehpipe info`.

A low module on purpose: the depth cache records versions and `inventory` summarises depth caches, so the
lookup lives below both rather than in either.
"""

from __future__ import annotations

import importlib.metadata


def package_version(dist: str, missing: str = "absent") -> str:
    """An installed distribution's version, or `missing`."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return missing
