"""Pretrained checkpoints bokehpipe can use: where they come from, how they are verified, where they live.

A table, not code paths: each entry names the official URL, the file name in `store/weights/`, and the
sha256 where the publisher gives one (torchvision encodes the first hex digits of it in the file name;
MiDaS publishes none, so its files are checked by size and recorded by their measured sha256).
`resolve` never downloads: offline it explains exactly what to fetch and where to put it.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bokehpipe.errors import BokehpipeError, WeightsMissingError
from bokehpipe.store import ArtifactStore, atomic_path


@dataclass(frozen=True)
class WeightsSpec:
    name: str
    filename: str
    url: str
    sha256: str | None = None  # full hex digest when known
    sha256_prefix: str | None = None  # torchvision-style prefix in the file name
    size: int | None = None  # bytes, when known
    description: str = ""

    def check_digest(self, digest: str) -> bool:
        if self.sha256 is not None:
            return digest == self.sha256
        if self.sha256_prefix is not None:
            return digest.startswith(self.sha256_prefix)
        return True


# The table. Add a checkpoint by adding a row here (no registration by import side effect).
_SPECS: tuple[WeightsSpec, ...] = (
    WeightsSpec("vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                sha256_prefix="dcbb9e9d", size=574673361,
                description="torchvision VGG-19 (ImageNet); relu5_4 content loss at PyNET level 1"),
    WeightsSpec("alexnet", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                sha256_prefix="7be5be79", size=244408911,
                description="torchvision AlexNet (ImageNet); LPIPS v0.1 backbone"),
    WeightsSpec("lpips_alex_v0.1", "lpips-alex-v0.1.pth",
                "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
                sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", size=6009,
                description="LPIPS v0.1 linear layers on AlexNet (Zhang et al. 2018); eval metric, needs alexnet"),
    # MiDaS checkpoints (bokehpipe/depth): one row per variant.
    WeightsSpec("midas_v21_small_256", "midas_v21_small_256.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21_small_256.pt",
                description="MiDaS v2.1 small, EfficientNet-Lite3 (21M params); depth on a CPU"),
    WeightsSpec("midas_v21_384", "midas_v21_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21_384.pt",
                description="MiDaS v2.1, ResNeXt-101 32x8d WSL (105M params)"),
    WeightsSpec("dpt_hybrid_384", "dpt_hybrid_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3/dpt_hybrid_384.pt",
                description="MiDaS v3.0 DPT-Hybrid, ViT-B/16 + ResNet-50 (123M params); depth on a GPU"),
    WeightsSpec("dpt_large_384", "dpt_large_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3/dpt_large_384.pt",
                description="MiDaS v3.0 DPT-Large, ViT-L/16 (344M params)"),
    WeightsSpec("dpt_beit_large_512", "dpt_beit_large_512.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_beit_large_512.pt",
                description="MiDaS v3.1 DPT, BEiT-L/16 at 512 (345M params)"),
    WeightsSpec("dpt_beit_large_384", "dpt_beit_large_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_beit_large_384.pt",
                description="MiDaS v3.1 DPT, BEiT-L/16 at 384 (344M params)"),
    WeightsSpec("dpt_beit_base_384", "dpt_beit_base_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_beit_base_384.pt",
                description="MiDaS v3.1 DPT, BEiT-B/16 at 384 (112M params)"),
    WeightsSpec("dpt_swin2_large_384", "dpt_swin2_large_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_swin2_large_384.pt",
                description="MiDaS v3.1 DPT, SwinV2-L, window 24 (213M params)"),
    WeightsSpec("dpt_swin2_base_384", "dpt_swin2_base_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_swin2_base_384.pt",
                description="MiDaS v3.1 DPT, SwinV2-B, window 24 (102M params)"),
    WeightsSpec("dpt_swin2_tiny_256", "dpt_swin2_tiny_256.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_swin2_tiny_256.pt",
                description="MiDaS v3.1 DPT, SwinV2-T, window 16 (42M params)"),
    WeightsSpec("dpt_swin_large_384", "dpt_swin_large_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_swin_large_384.pt",
                description="MiDaS v3.1 DPT, Swin-L, window 12 (213M params)"),
    WeightsSpec("dpt_levit_224", "dpt_levit_224.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_levit_224.pt",
                description="MiDaS v3.1 DPT, LeViT-384 (51M params), 3 levels"),
    WeightsSpec("dpt_next_vit_large_384", "dpt_next_vit_large_384.pt",
                "https://github.com/isl-org/MiDaS/releases/download/v3_1/dpt_next_vit_large_384.pt",
                description="MiDaS v3.1 DPT, Next-ViT-L, ImageNet-1K-6M (72M params)"),
)

REGISTRY: dict[str, WeightsSpec] = {spec.name: spec for spec in _SPECS}
if len(REGISTRY) != len(_SPECS):  # pragma: no cover - caught by the first test run
    raise RuntimeError("duplicate names in bokehpipe.weights._SPECS")


def get_spec(name: str) -> WeightsSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise BokehpipeError(f"unknown weights {name!r}; known: {', '.join(sorted(REGISTRY))} "
                             "(see `bokehpipe weights list`)") from None


def sha256_file(path: str | os.PathLike[str]) -> str:
    from bokehpipe.store import file_digest

    return file_digest(path)[0]


def missing_message(spec: WeightsSpec, expected: Path, flag: str = "--weights PATH") -> str:
    return (f"{expected}: {spec.name} weights not found. Download {spec.url} and save it as {expected} "
            f"(or run `bokehpipe weights fetch {spec.name}` where there is internet), or pass {flag}")


def resolve(name: str, store: ArtifactStore, explicit: str | os.PathLike[str] | None = None,
            *, flag: str = "--weights PATH") -> Path:
    """The checkpoint path to load: `explicit` if given (must exist), else the store's copy."""
    spec = get_spec(name)
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsMissingError(f"{path}: weights file not found (given by {flag.split()[0]})")
        return path
    path = store.weights(spec.filename)
    if not path.is_file():
        raise WeightsMissingError(missing_message(spec, path, flag))
    return path


def fetch(name: str, store: ArtifactStore, *, progress: Callable[[int, int | None], None] | None = None,
          timeout: float = 60.0) -> Path:
    """Download into the store, verify the digest, then move into place; a failed fetch leaves nothing."""
    spec = get_spec(name)
    final = store.weights(spec.filename)
    digest = hashlib.sha256()
    with atomic_path(final) as tmp:
        try:
            with urllib.request.urlopen(spec.url, timeout=timeout) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or spec.size
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    if progress is not None:
                        progress(len(block), total)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise BokehpipeError(f"{spec.url}: download failed ({exc}); download it by hand and save it as "
                                 f"{final}") from None
        got = digest.hexdigest()
        if not spec.check_digest(got):
            expected = spec.sha256 or f"{spec.sha256_prefix}..."
            raise BokehpipeError(f"{spec.url}: sha256 mismatch (got {got}, expected {expected}); nothing was "
                                 "saved, try again or download by hand")
    store.record(final, "weights", name=spec.name, url=spec.url, sha256=got)
    return final


def status(store: ArtifactStore) -> list[dict]:
    """One row per registered checkpoint for `bokehpipe weights list`."""
    rows = []
    for spec in sorted(REGISTRY.values(), key=lambda s: s.name):
        path = store.weights(spec.filename)
        rows.append({"name": spec.name, "url": spec.url, "sha256": spec.sha256 or
                     (f"{spec.sha256_prefix}..." if spec.sha256_prefix else None), "size": spec.size,
                     "path": str(path), "present": path.is_file(), "description": spec.description})
    return rows
