"""Pretrained checkpoints bokehpipe can use: where they come from, how they are verified, where they live.

A table, not code paths: each entry names the official URL, the file name in `store/weights/`, and the
sha256 where the publisher gives one (torchvision encodes the first hex digits of it in the file name;
MiDaS and Depth Anything V2 publish none with their code, so their files are recorded by their measured
sha256), and the licence where it limits use (Depth Anything V2 Base/Large: non-commercial).
`resolve` downloads a missing file on first use, as timm and torch.hub do: into `store/weights/`, through a
hidden `.<file>.part` that a rerun resumes with an HTTP Range request (or restarts when the server ignores
it), verified before one `os.replace` moves it under its final name, so a half or wrong file never sits
there. BOKEHPIPE_OFFLINE=1 (`bokehpipe --offline`) turns downloads off; then, or when the network fails,
the error is one line naming the file, the URL, where to put it and the alternative flags.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bokehpipe.errors import BokehpipeError, WeightsMissingError
from bokehpipe.store import _UMASK, ArtifactStore

OFFLINE_ENV = "BOKEHPIPE_OFFLINE"
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class WeightsSpec:
    name: str
    filename: str
    url: str
    sha256: str | None = None  # full hex digest when known
    sha256_prefix: str | None = None  # torchvision-style prefix in the file name
    size: int | None = None  # bytes, when known
    description: str = ""
    licence: str = ""  # the publisher's licence for the weights, where it restricts use (shown by `weights list`)

    def check_digest(self, digest: str) -> bool:
        if self.sha256 is not None:
            return digest == self.sha256
        if self.sha256_prefix is not None:
            return digest.startswith(self.sha256_prefix)
        return True


APACHE_2 = "Apache-2.0"
NON_COMMERCIAL = "CC BY-NC 4.0: non-commercial use only"

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
    # Depth Anything V2 checkpoints (bokehpipe/depth/depth_anything.py): one row per variant.
    WeightsSpec("depth_anything_v2_vits", "depth_anything_v2_vits.pth",
                "https://huggingface.co/depth-anything/Depth-Anything-V2-Small/resolve/main/depth_anything_v2_vits.pth",
                description="Depth Anything V2 Small, DINOv2 ViT-S/14 (25M params); relative depth",
                licence=APACHE_2),
    WeightsSpec("depth_anything_v2_vitb", "depth_anything_v2_vitb.pth",
                "https://huggingface.co/depth-anything/Depth-Anything-V2-Base/resolve/main/depth_anything_v2_vitb.pth",
                description="Depth Anything V2 Base, DINOv2 ViT-B/14 (97M params); relative depth",
                licence=NON_COMMERCIAL),
    WeightsSpec("depth_anything_v2_vitl", "depth_anything_v2_vitl.pth",
                "https://huggingface.co/depth-anything/Depth-Anything-V2-Large/resolve/main/depth_anything_v2_vitl.pth",
                description="Depth Anything V2 Large, DINOv2 ViT-L/14 (335M params); relative depth",
                licence=NON_COMMERCIAL),
    WeightsSpec("depth_anything_v2_metric_hypersim_vits", "depth_anything_v2_metric_hypersim_vits.pth",
                "https://huggingface.co/depth-anything/Depth-Anything-V2-Metric-Hypersim-Small/resolve/main/depth_anything_v2_metric_hypersim_vits.pth",
                description="Depth Anything V2 Small, metric (Hypersim, indoor, <= 20 m)",
                licence=APACHE_2),
    WeightsSpec("depth_anything_v2_metric_vkitti_vits", "depth_anything_v2_metric_vkitti_vits.pth",
                "https://huggingface.co/depth-anything/Depth-Anything-V2-Metric-VKITTI-Small/resolve/main/depth_anything_v2_metric_vkitti_vits.pth",
                description="Depth Anything V2 Small, metric (Virtual KITTI 2, outdoor, <= 80 m)",
                licence=APACHE_2),
    WeightsSpec("depth_anything_v2_metric_hypersim_vitb", "depth_anything_v2_metric_hypersim_vitb.pth",
                "https://huggingface.co/depth-anything/Depth-Anything-V2-Metric-Hypersim-Base/resolve/main/depth_anything_v2_metric_hypersim_vitb.pth",
                description="Depth Anything V2 Base, metric (Hypersim, indoor, <= 20 m)",
                licence=NON_COMMERCIAL),
    WeightsSpec("depth_anything_v2_metric_vkitti_vitl", "depth_anything_v2_metric_vkitti_vitl.pth",
                "https://huggingface.co/depth-anything/Depth-Anything-V2-Metric-VKITTI-Large/resolve/main/depth_anything_v2_metric_vkitti_vitl.pth",
                description="Depth Anything V2 Large, metric (Virtual KITTI 2, outdoor, <= 80 m)",
                licence=NON_COMMERCIAL),
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


def offline() -> bool:
    """Downloads are off when BOKEHPIPE_OFFLINE is set to anything but 0/false/no (`--offline` sets it)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in {"", "0", "false", "no", "off"}


def missing_message(spec: WeightsSpec, expected: Path, flag: str = "--weights PATH", why: str = "") -> str:
    return (f"{expected}: {spec.name} weights not found{why}. Download {spec.url} and save it as {expected} "
            f"(or run `bokehpipe weights fetch {spec.name}` where there is internet), or pass {flag}")


def resolve(name: str, store: ArtifactStore, explicit: str | os.PathLike[str] | None = None,
            *, flag: str = "--weights PATH", download: bool = True, progress: Progress | None = None) -> Path:
    """The checkpoint path to load: `explicit` if given (must exist), else the store's copy, downloaded on
    first use unless offline (`download=False` or BOKEHPIPE_OFFLINE)."""
    spec = get_spec(name)
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsMissingError(f"{path}: weights file not found (given by {flag.split()[0]})")
        return path
    path = store.weights(spec.filename)
    if path.is_file():
        return path
    if not download or offline():
        raise WeightsMissingError(missing_message(spec, path, flag, " and downloads are off (BOKEHPIPE_OFFLINE)"
                                                  if download else ""))
    return fetch(name, store, progress=progress if progress is not None else _default_progress(spec), flag=flag)


def _default_progress(spec: WeightsSpec) -> Progress:
    """A bar on stderr (a plain line every few seconds off a terminal), like torch.hub's download bar."""
    from bokehpipe.progress import progress_bar

    bar = progress_bar(spec.size, desc=f"downloading {spec.filename}", unit="B", unit_scale=True)

    def tick(n: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(n)
        if total and bar.n >= total:
            bar.close()

    return tick


def partial_path(final: Path) -> Path:
    """Where an unfinished download lives: hidden, beside the final name, never the final name."""
    return final.with_name(f".{final.name}.part")


def fetch(name: str, store: ArtifactStore, *, progress: Progress | None = None, timeout: float = 60.0,
          flag: str = "--weights PATH") -> Path:
    """Download into the store, verify the digest, then move into place; see `download`."""
    spec = get_spec(name)
    final = store.weights(spec.filename)
    got = download(spec, final, progress=progress, timeout=timeout, flag=flag)
    store.record(final, "weights", name=spec.name, url=spec.url, sha256=got)
    return final


def download(spec: WeightsSpec, final: Path, *, progress: Progress | None = None, timeout: float = 60.0,
             flag: str = "--weights PATH") -> str:
    """Fetch `spec.url` to `final`, resuming `.<name>.part` with a Range request; returns the sha256.

    A cut transfer keeps the part (a rerun resumes it); a wrong digest deletes it. Nothing is ever written
    under `final` except the whole, verified file, in one `os.replace`.
    """
    if offline():
        raise WeightsMissingError(missing_message(spec, final, flag, why=" and downloads are off (BOKEHPIPE_OFFLINE)"))
    final.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(final)
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(spec.url, headers={"Range": f"bytes={have}-"} if have else {})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = have > 0 and getattr(response, "status", 200) == 206
            length = int(response.headers.get("Content-Length") or 0)
            if resumed:
                with open(part, "rb") as fh:
                    while block := fh.read(1 << 20):
                        digest.update(block)
            else:
                have = 0
            total = (have + length) if length else spec.size
            if progress is not None and have:
                progress(have, total)
            with open(part, "ab" if resumed else "wb") as out:
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    if progress is not None:
                        progress(len(block), total)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and part.is_file():  # the part is no prefix of this file: start again next time
            part.unlink()
        raise WeightsMissingError(missing_message(spec, final, flag, why=f" and the download failed (HTTP {exc.code})")
                                  ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        kept = f"; rerun to resume from {part.stat().st_size} bytes" if part.is_file() and part.stat().st_size else ""
        raise WeightsMissingError(missing_message(spec, final, flag, why=f" and the download failed ({reason}{kept})")
                                  ) from None
    size = part.stat().st_size
    expected_size = (have + length) if length else spec.size
    if expected_size and size < expected_size:
        raise WeightsMissingError(missing_message(spec, final, flag, why=f" and the download stopped at {size} of "
                                                  f"{expected_size} bytes; rerun to resume it"))
    got = digest.hexdigest()
    if not spec.check_digest(got):
        part.unlink()
        expected = spec.sha256 or f"{spec.sha256_prefix}..."
        raise WeightsMissingError(f"{spec.url}: sha256 mismatch (got {got}, expected {expected}); nothing was saved "
                                  f"as {final}; try again or download it by hand")
    os.chmod(part, 0o666 & ~_UMASK)
    os.replace(part, final)
    return got


def status(store: ArtifactStore) -> list[dict]:
    """One row per registered checkpoint for `bokehpipe weights list`."""
    rows = []
    for spec in sorted(REGISTRY.values(), key=lambda s: s.name):
        path = store.weights(spec.filename)
        rows.append({"name": spec.name, "url": spec.url, "sha256": spec.sha256 or
                     (f"{spec.sha256_prefix}..." if spec.sha256_prefix else None), "size": spec.size,
                     "path": str(path), "present": path.is_file(), "description": spec.description,
                     "licence": spec.licence})
    return rows
