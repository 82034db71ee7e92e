"""What `bokehpipe info` reports: versions and a summary of every artefact in the store."""

from __future__ import annotations

import platform
from typing import Any

from bokehpipe import __version__
from bokehpipe.store import ArtifactStore
from bokehpipe.versions import package_version


def versions() -> dict[str, str]:
    out = {"bokehpipe": __version__, "python": platform.python_version()}
    try:
        import torch

        out["torch"] = torch.__version__
        out["cuda"] = (f"available ({torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda})"
                       if torch.cuda.is_available() else "not available (CPU only)")
    except ImportError:
        out["torch"], out["cuda"] = "not installed", "unknown"
    out["timm"] = package_version("timm", "not installed")
    return out


def _dataset_summary(store: ArtifactStore, name: str) -> str:
    from bokehpipe.data.ebb import load_index
    from bokehpipe.errors import BokehpipeError

    try:
        index = load_index(store.dataset(name))
    except BokehpipeError as exc:
        return f"unreadable: {exc}"
    counts = ", ".join(f"{k}={v}" for k, v in index.split_counts().items())
    return f"{index.layout}: {counts}"


def _depth_summary(path) -> dict[str, Any]:
    try:
        from bokehpipe.depth.cache import attrs_dict, open_read_only

        with open_read_only(path) as fh:
            attrs = attrs_dict(fh.attrs)
            count = len(fh.keys())
    except (OSError, ImportError) as exc:
        return {"summary": f"unreadable: {exc}"}
    return {"summary": f"{count} maps", "provenance": {k: str(v) for k, v in attrs.items()}}


def describe(store: ArtifactStore) -> dict[str, Any]:
    caches = []
    for path in store.list_depth_caches():
        caches.append({"name": str(path.relative_to(store.depth_dir)), **_depth_summary(path)})
    runs = []
    for name in store.list_runs():
        levels = sorted(p.name for p in (store.run(name) / "checkpoints").glob("level*") if p.is_dir())
        runs.append({"name": name, "summary": ", ".join(levels) if levels else "no checkpoints yet"})
    return {
        "versions": versions(),
        "store": {
            "root": str(store.root),
            "exists": store.root.is_dir(),
            "datasets": [{"name": n, "summary": _dataset_summary(store, n)} for n in store.list_datasets()],
            "depth_caches": caches,
            "runs": runs,
            "weights": [{"name": n, "summary": f"{store.weights(n).stat().st_size / 2**20:.1f} MiB"}
                        for n in store.list_weights()],
        },
    }
