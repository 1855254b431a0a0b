"""Downloads against a local HTTP server, and the decode probe, with real media."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_platform.errors import InvalidInputError, MediaError
from media_platform.ingest.download import (
    DownloadError,
    DownloadTooLargeError,
    decode_probe,
    download_to_file,
)
from tests._http_server import LocalServer, Route


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    """A local HTTP server on 127.0.0.1 (see tests/_http_server.py)."""
    with LocalServer() as server:
        yield server


MB = 1024 * 1024


@pytest.fixture(scope="module")
def flac(shared_media: Path) -> bytes:
    return (shared_media / "audio" / "whisper_jfk" / "jfk.flac").read_bytes()


@pytest.fixture(scope="module")
def mp4(shared_media: Path) -> bytes:
    return (shared_media / "video" / "pyscenedetect" / "counter.mp4").read_bytes()


def _dl(url: str, dest: Path, **kw: object):
    kw.setdefault("max_bytes", 5 * MB)
    kw.setdefault("timeout_s", 5)
    kw.setdefault("backoff_s", 0.01)
    return download_to_file(url, dest, **kw)  # type: ignore[arg-type]


def _no_leftovers(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]


def test_normal_download_and_probe(http_server: LocalServer, tmp_path: Path, flac: bytes) -> None:
    http_server.routes["/jfk.flac"] = Route(body=flac, content_type="audio/flac")
    dest = tmp_path / "sub" / "master.flac"
    result = _dl(http_server.url("/jfk.flac"), dest, expected_length=len(flac))
    assert dest.read_bytes() == flac
    assert result.sha256 == hashlib.sha256(flac).hexdigest()
    assert (result.bytes, result.content_type, result.attempts) == (len(flac), "audio/flac", 1)
    assert result.expected_length_matched is True
    assert http_server.routes["/jfk.flac"].request_headers[0]["Accept-Encoding"] == "identity"
    _no_leftovers(dest.parent)
    probe = decode_probe(dest)
    assert probe.has_audio and not probe.has_video
    assert probe.duration_s == pytest.approx(11, abs=0.5)


def test_video_probe(http_server: LocalServer, tmp_path: Path, mp4: bytes) -> None:
    http_server.routes["/v.mp4"] = Route(body=mp4, content_type="video/mp4; charset=binary")
    result = _dl(http_server.url("/v.mp4"), tmp_path / "v.mp4", expected_length=1)
    assert result.content_type == "video/mp4" and result.expected_length_matched is False
    assert decode_probe(result.path).has_video


def test_too_big_declared(http_server: LocalServer, tmp_path: Path, flac: bytes) -> None:
    http_server.routes["/a"] = Route(body=flac, content_type="audio/flac")
    with pytest.raises(DownloadTooLargeError, match="Content-Length"):
        _dl(http_server.url("/a"), tmp_path / "a.flac", max_bytes=1000)
    assert http_server.routes["/a"].hits == 1  # not retried
    assert not (tmp_path / "a.flac").exists()


def test_too_big_without_content_length(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/a"] = Route(
        body=b"\0" * (2 * MB), content_type="audio/mpeg", content_length=-1
    )
    with pytest.raises(DownloadTooLargeError, match="body exceeds"):
        _dl(http_server.url("/a"), tmp_path / "a.mp3", max_bytes=MB)
    assert not (tmp_path / "a.mp3").exists()
    _no_leftovers(tmp_path)


def test_lying_content_length_small(http_server: LocalServer, tmp_path: Path) -> None:
    """Content-Length claims 1000 bytes but the server sends 2 MB: never more than the limit."""
    http_server.routes["/a"] = Route(
        body=b"\0" * (2 * MB), content_type="audio/mpeg", content_length=1000
    )
    result = _dl(http_server.url("/a"), tmp_path / "a.mp3", max_bytes=MB)
    assert result.bytes == 1000 == (tmp_path / "a.mp3").stat().st_size


def test_truncated_body_is_retried_then_fails(
    http_server: LocalServer, tmp_path: Path, flac: bytes
) -> None:
    http_server.routes["/a"] = Route(
        body=flac, content_type="audio/flac", send_bytes=len(flac) // 2
    )
    with pytest.raises(DownloadError) as info:
        _dl(http_server.url("/a"), tmp_path / "a.flac", retries=2)
    assert info.value.retryable and http_server.routes["/a"].hits == 3
    assert not (tmp_path / "a.flac").exists()
    _no_leftovers(tmp_path)


def test_404_not_retried(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/a"] = Route(statuses=[404])
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        _dl(http_server.url("/a"), tmp_path / "a")
    assert not info.value.retryable and info.value.status == 404
    assert http_server.routes["/a"].hits == 1


def test_500_then_200_retried(http_server: LocalServer, tmp_path: Path, flac: bytes) -> None:
    http_server.routes["/a"] = Route(body=flac, content_type="audio/flac", statuses=[500, 503, 200])
    sleeps: list[float] = []
    result = _dl(http_server.url("/a"), tmp_path / "a.flac", backoff_s=0.5, sleep=sleeps.append)
    assert result.attempts == 3 and result.bytes == len(flac)
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_500_forever_gives_up(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/a"] = Route(statuses=[500])
    with pytest.raises(DownloadError, match="gave up after 2 attempts") as info:
        _dl(http_server.url("/a"), tmp_path / "a", retries=1)
    assert info.value.retryable and http_server.routes["/a"].hits == 2


def test_connection_refused_retried(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="gave up after 2 attempts"):
        _dl("http://127.0.0.1:9/a.mp3", tmp_path / "a", retries=1, timeout_s=2)


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/json", "image/jpeg", "text/html; charset=utf-8"]
)
def test_wrong_content_type(http_server: LocalServer, tmp_path: Path, content_type: str) -> None:
    http_server.routes["/a"] = Route(body=b"<html>", content_type=content_type)
    with pytest.raises(DownloadError, match="content type"):
        _dl(http_server.url("/a"), tmp_path / "a")
    assert http_server.routes["/a"].hits == 1
    assert not (tmp_path / "a").exists()


def test_missing_content_type_is_octet_stream(
    http_server: LocalServer, tmp_path: Path, flac: bytes
) -> None:
    http_server.routes["/a"] = Route(body=flac, content_type=None)
    assert _dl(http_server.url("/a"), tmp_path / "a").content_type == "application/octet-stream"
    with pytest.raises(DownloadError, match="content type"):
        _dl(http_server.url("/a"), tmp_path / "b", allowed_content_types=("audio/",))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://e.org/a.mp3",
        "data:audio/mpeg;base64,AAAA",
        "gopher://x/",
        "/local/path",
        "",
        "http://",
        "http://e.org/a b",
    ],
)
def test_bad_scheme(tmp_path: Path, url: str) -> None:
    with pytest.raises(InvalidInputError):
        _dl(url, tmp_path / "a")


def test_redirect_to_file_refused(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/r"] = Route(redirect="file:///etc/passwd")
    with pytest.raises(InvalidInputError):
        _dl(http_server.url("/r"), tmp_path / "a")


def test_failed_download_keeps_previous_file(http_server: LocalServer, tmp_path: Path) -> None:
    dest = tmp_path / "a.mp3"
    dest.write_bytes(b"previous")
    http_server.routes["/a"] = Route(
        body=b"\0" * (2 * MB), content_type="audio/mpeg", content_length=-1
    )
    with pytest.raises(DownloadTooLargeError):
        _dl(http_server.url("/a"), dest, max_bytes=MB)
    assert dest.read_bytes() == b"previous"


def test_non_media_body_fails_probe(http_server: LocalServer, tmp_path: Path) -> None:
    http_server.routes["/a"] = Route(
        body=b"<html>not audio</html>" * 100, content_type="audio/mpeg"
    )
    result = _dl(http_server.url("/a"), tmp_path / "a.mp3")
    with pytest.raises(MediaError):
        decode_probe(result.path)


def test_truncated_media_fails_probe(tmp_path: Path, mp4: bytes, flac: bytes) -> None:
    head = tmp_path / "head.mp4"
    head.write_bytes(mp4[:2000])  # moov/mdat cut off
    with pytest.raises(MediaError):
        decode_probe(head)
    flac_head = tmp_path / "head.flac"
    flac_head.write_bytes(flac[:100])  # header only, no audio frame
    with pytest.raises(MediaError):
        decode_probe(flac_head)


def test_probe_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        decode_probe(tmp_path / "nope.mp3")
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        decode_probe(tmp_path / "empty.mp3")


def test_probe_image_is_not_media(tmp_path: Path) -> None:
    """A text file PyAV opens as some demuxer must still fail: no audio/video frame."""
    p = tmp_path / "x.srt"
    p.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    with pytest.raises(MediaError):
        decode_probe(p)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.8", "[::1]"])
def test_internal_addresses_are_refused(host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enclosure URLs come from feed publishers: they must not reach internal services."""
    monkeypatch.delenv("MEDIA_PLATFORM_ALLOW_PRIVATE_URLS", raising=False)
    with pytest.raises(InvalidInputError, match="internal address"):
        download_to_file(f"http://{host}:9/x.mp3", tmp_path / "x.mp3", max_bytes=1000, timeout_s=1, retries=0)


def test_redirect_to_an_internal_address_is_refused(http_server: LocalServer, tmp_path: Path, monkeypatch) -> None:
    """Each redirect hop is checked before it is requested: the first server stands in for a
    public host, its redirect to the cloud metadata address is refused without a request."""
    import ipaddress

    import media_platform.ingest.addresses as addresses

    monkeypatch.delenv("MEDIA_PLATFORM_ALLOW_PRIVATE_URLS", raising=False)
    real = addresses.is_public_address
    monkeypatch.setattr(
        addresses, "is_public_address", lambda a: a == ipaddress.ip_address("127.0.0.1") or real(a)
    )
    http_server.routes["/hop"] = Route(redirect="http://169.254.169.254/latest/meta-data?token=s3cret")
    with pytest.raises(InvalidInputError, match="internal address") as info:
        download_to_file(http_server.url("/hop"), tmp_path / "x.mp3", max_bytes=1000, timeout_s=2, retries=0)
    assert "169.254.169.254/latest/meta-data" in str(info.value) and "s3cret" not in str(info.value)
    assert http_server.routes["/hop"].hits == 1
    assert not list(tmp_path.iterdir())


class _SilentListener:
    """A TCP listener on 127.0.0.1 that accepts connections and, after ``preamble`` (if any),
    never sends another byte; connections stay open until it is closed."""

    def __init__(self, preamble: bytes = b"") -> None:
        import socket
        import threading

        self.preamble = preamble
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.conns: list = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            conn.recv(65536)
            if self.preamble:
                conn.sendall(self.preamble)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}{path}"

    def __enter__(self) -> _SilentListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.mark.parametrize(
    "preamble",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Type: audio/flac\r\nContent-Length: 1000\r\n\r\nfLaC"],
    ids=["no-headers", "silent-mid-body"],
)
def test_a_silent_server_is_given_up_after_timeout_s_not_the_total_deadline(
    tmp_path: Path, preamble: bytes
) -> None:
    """``timeout_s`` is the longest wait for headers and the longest silence between reads;
    before, the socket waited the whole remaining deadline (an hour for enclosures)."""
    import time

    with _SilentListener(preamble) as silent:
        started = time.monotonic()
        with pytest.raises(DownloadError) as info:
            _dl(silent.url("/a.flac"), tmp_path / "a.flac", timeout_s=0.5, max_total_s=30,
                retries=1)
        elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
    assert info.value.retryable and silent.accepted == 2
    assert "0.5 s" in info.value.problem
    _no_leftovers(tmp_path)
