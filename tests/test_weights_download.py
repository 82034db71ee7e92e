"""Weights download on first use against a local http.server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import urllib.request
from pathlib import Path

import pytest

from bokehpipe import weights as registry
from bokehpipe.errors import WeightsMissingError
from bokehpipe.store import ArtifactStore

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD; `cut_after` bytes into the first plain GET it closes the connection mid-body."""

    cut_after: int | None = None
    requests: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None and not rng:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("BOKEHPIPE_OFFLINE", raising=False)
    handler = type("Handler", (_Handler,), {"cut_after": None, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/w.pt"
    httpd.shutdown()
    httpd.server_close()


def _use_spec(monkeypatch, url: str, sha256: str) -> registry.WeightsSpec:
    spec = registry.WeightsSpec("testw", "testw.pt", url, sha256=sha256, size=len(PAYLOAD))
    monkeypatch.setitem(registry.REGISTRY, "testw", spec)
    return spec


def test_good_file_progress_sha256_atomic(server, monkeypatch, tmp_path: Path):
    handler, url = server
    _use_spec(monkeypatch, url, hashlib.sha256(PAYLOAD).hexdigest())
    store = ArtifactStore(tmp_path)
    ticks: list[int] = []
    path = registry.resolve("testw", store, progress=lambda n, total: ticks.append(n))
    assert path == tmp_path / "weights" / "testw.pt" and path.read_bytes() == PAYLOAD
    assert sum(ticks) == len(PAYLOAD)
    assert not registry.partial_path(path).exists()
    assert registry.resolve("testw", store) == path and len(handler.requests) == 1  # no second download


def test_wrong_sha256_refused_nothing_left(server, monkeypatch, tmp_path: Path):
    _, url = server
    _use_spec(monkeypatch, url, "0" * 64)
    store = ArtifactStore(tmp_path)
    with pytest.raises(WeightsMissingError, match="sha256 mismatch"):
        registry.fetch("testw", store)
    assert not (tmp_path / "weights" / "testw.pt").exists()
    assert not registry.partial_path(tmp_path / "weights" / "testw.pt").exists()


def test_interrupted_transfer_resumes(server, monkeypatch, tmp_path: Path):
    handler, url = server
    handler.cut_after = 300_000
    _use_spec(monkeypatch, url, hashlib.sha256(PAYLOAD).hexdigest())
    store = ArtifactStore(tmp_path)
    final = tmp_path / "weights" / "testw.pt"
    with pytest.raises(WeightsMissingError, match="rerun") as exc:
        registry.fetch("testw", store)
    assert "\n" not in str(exc.value)
    assert not final.exists()
    assert registry.partial_path(final).stat().st_size == 300_000
    registry.fetch("testw", store)
    assert final.read_bytes() == PAYLOAD
    assert handler.requests == [None, "bytes=300000-"]
    assert not registry.partial_path(final).exists()


def test_offline_flag_one_line_no_network(monkeypatch, tmp_path: Path, run_cli, store_root):
    calls: list[object] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: calls.append(a))
    monkeypatch.delenv("BOKEHPIPE_OFFLINE", raising=False)
    monkeypatch.setenv("BOKEHPIPE_OFFLINE", "1")
    with pytest.raises(WeightsMissingError) as exc:
        registry.resolve("vgg19", ArtifactStore(tmp_path))
    message = str(exc.value)
    assert "\n" not in message and registry.get_spec("vgg19").url in message
    assert str(tmp_path / "weights" / "vgg19-dcbb9e9d.pth") in message and "--weights PATH" in message
    monkeypatch.delenv("BOKEHPIPE_OFFLINE")
    photos = tmp_path / "photos"
    photos.mkdir()
    import numpy as np

    from bokehpipe.data.io import write_image

    write_image(photos / "a.jpg", np.full((64, 96, 3), 0.5, np.float32))
    r = run_cli("--offline", "infer", photos, "--method", "scatter")
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "downloads are off" in r.output and "--depth DIR" in r.output
    assert calls == []
