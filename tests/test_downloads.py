"""``models pull``: a real HTTP download from a server on 127.0.0.1, with resume, sha256 and the XDG cache."""

import dataclasses
import hashlib
import http.server
import threading

import pytest

from latentedit.errors import WeightsError
from latentedit.files.downloads import DownloadedWeights, cache_dir, download
from latentedit.models.generators import MODELS, load_generator

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class Server(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD at /file with Range support; ``cut_at`` makes the next full response break off there."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[str | None] = []
        self.cut_at: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/file"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server: Server = self.server
        wanted = self.headers.get("Range")
        server.requests.append(wanted)
        if self.path != "/file":
            self.send_error(404)
            return
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
        body = PAYLOAD[start:]
        self.send_response(206 if wanted else 200)
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_at is not None:
            body, server.cut_at = body[: server.cut_at], None
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_cache_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("LATENTEDIT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "latentedit"
    monkeypatch.setenv("LATENTEDIT_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_broken_download_resumes_with_a_range_request(server, tmp_path):
    target = tmp_path / "cache" / "model.pth"
    server.cut_at = 300_000
    with pytest.raises(WeightsError, match="run the command again to resume"):
        download(server.url, target, DIGEST, progress=False)
    partial = target.with_name("model.pth.part")
    assert not target.exists() and partial.stat().st_size == 300_000
    assert download(server.url, target, DIGEST, progress=False) == target
    assert server.requests == [None, "bytes=300000-"]
    assert target.read_bytes() == PAYLOAD and not partial.exists()


def test_wrong_digest_is_not_kept(server, tmp_path):
    target = tmp_path / "model.pth"
    with pytest.raises(WeightsError, match="corrupted"):
        download(server.url, target, "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_pull_fills_the_cache_and_offline_errors_say_where_to_put_the_file(server, monkeypatch, tmp_path, run_cli):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("LATENTEDIT_CACHE", raising=False)
    real = MODELS["stylegan-ffhq"]
    weights = DownloadedWeights("stylegan-ffhq", "stylegan_ffhq.pth", server.url, "a test server", DIGEST)
    monkeypatch.setitem(MODELS, "stylegan-ffhq", dataclasses.replace(real, weights=weights))
    expected = tmp_path / "latentedit" / "stylegan_ffhq.pth"

    with pytest.raises(WeightsError) as missing:
        load_generator("stylegan-ffhq", device="cpu")
    message = str(missing.value)
    assert str(expected) in message and server.url in message and "latentedit models pull stylegan-ffhq" in message

    code, stdout, stderr = run_cli("models", "pull", "stylegan-ffhq")
    assert code == 0, stderr
    assert expected.read_bytes() == PAYLOAD and str(expected) in stdout
    code, stdout, _ = run_cli("models", "pull", "stylegan-ffhq")  # already there: nothing is downloaded
    assert code == 0 and len(server.requests) == 1
    assert f"available ({expected})" in run_cli("models")[1]
    unpinned = dataclasses.replace(weights, sha256=None)
    monkeypatch.setitem(MODELS, "stylegan-ffhq", dataclasses.replace(real, weights=unpinned))
    assert "unpinned" in MODELS["stylegan-ffhq"].weights_status()
    code, stdout, _ = run_cli("models", "pull", "stylegan-ffhq")
    assert code == 0 and DIGEST in stdout and len(server.requests) == 1

    expected.unlink()
    server.shutdown()
    server.server_close()
    code, _, stderr = run_cli("models", "pull", "stylegan-ffhq")
    assert code == 3 and len(stderr.strip().splitlines()) == 1
    assert server.url in stderr and str(expected) in stderr and "--weights" in stderr
