"""The one safe HTTP client (media_platform.ingest.http) against real servers on 127.0.0.1:
internal addresses refused on every hop without the opt-in, no DNS-rebinding window, a total
deadline that holds against a trickling server, size caps, bounded redirects, TLS names."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import media_platform.ingest.addresses as addresses
import media_platform.ingest.http as http_client
from media_platform.errors import InvalidInputError
from media_platform.ingest.download import DownloadError, download_to_file
from media_platform.ingest.feeds import FeedTimeoutError, fetch_feed
from media_platform.ingest.http import (
    HttpError,
    HttpTimeoutError,
    HttpTooLargeError,
    UnsafeUrlError,
    is_public_address,
    open_url,
    redact_url,
)
from tests._http_server import LocalServer, Route

PRIVATE = "MEDIA_PLATFORM_ALLOW_PRIVATE_URLS"


def fetch_bytes(url: str, **kwargs: object) -> tuple[http_client.HttpResponse, bytes]:
    with open_url(url, **kwargs) as response:  # type: ignore[arg-type]
        return response, response.read()


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production behaviour: internal addresses are refused."""
    monkeypatch.delenv(PRIVATE, raising=False)


# ------------------------------------------------------------------------------------------
# Internal addresses


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]"])
def test_feed_on_loopback_is_refused_without_the_opt_in(
    http_server: LocalServer, no_opt_in: None, host: str
) -> None:
    """The RSS sensor's fetch reached internal services; now nothing is sent to them."""
    http_server.routes["/feed.xml"] = Route(body=b"<rss/>", content_type="application/rss+xml")
    with pytest.raises(InvalidInputError, match="internal address"):
        fetch_feed(f"http://{host}:{http_server.port}/feed.xml", timeout=5, max_bytes=1000)
    assert http_server.routes["/feed.xml"].hits == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.8/feed.xml",
        "http://192.168.1.1/feed.xml",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/feed.xml",
        "http://[fc00::1]/feed.xml",
        "http://0.0.0.0/feed.xml",
        "http://100.64.0.1/feed.xml",
        "http://[64:ff9b::7f00:1]/feed.xml",
        "http://[2002:7f00:1::]/feed.xml",
        "http://224.0.0.1/feed.xml",
    ],
)
def test_private_and_link_local_feeds_are_refused(no_opt_in: None, url: str) -> None:
    with pytest.raises(UnsafeUrlError, match="internal address"):
        fetch_feed(url, timeout=2, max_bytes=1000)


def test_opt_in_allows_loopback(http_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRIVATE, "1")
    http_server.routes["/f"] = Route(body=b"ok", content_type="text/plain")
    response, body = fetch_bytes(http_server.url("/f"), deadline=5, max_bytes=100)
    assert (response.status, body) == (200, b"ok")


def test_public_looking_redirect_to_loopback_is_refused(
    http_server: LocalServer, no_opt_in: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Redirects are followed by the client itself, and every hop is checked before it is
    requested. The first server stands in for a public host (only its exact address is treated
    as public); it redirects to another loopback address, where nothing may arrive."""
    real = addresses.is_public_address
    first = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(addresses, "is_public_address", lambda a: a == first or real(a))
    with LocalServer(host="127.0.0.2") as internal:
        internal.routes["/admin"] = Route(body=b"secret", content_type="text/plain")
        http_server.routes["/feed.xml"] = Route(redirect=internal.url("/admin"))
        with pytest.raises(UnsafeUrlError, match="internal address"):
            fetch_feed(http_server.url("/feed.xml"), timeout=5, max_bytes=1000)
        with pytest.raises(UnsafeUrlError, match="internal address"):
            download_to_file(http_server.url("/feed.xml"), tmp_path / "x.mp3", max_bytes=9,
                             timeout_s=2, retries=0)
        assert http_server.routes["/feed.xml"].hits == 2
        assert internal.routes["/admin"].hits == 0


def test_dns_rebinding_connects_to_the_checked_address(
    http_server: LocalServer, no_opt_in: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The name resolves to a public address when checked and to loopback afterwards: the
    client resolves once and connects to the address it checked, never to the second answer."""
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "rebind.example.com":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        # the first lookup answers public, every later one loopback: a second lookup within the
        # request (the check, then the connect) would reach the loopback server
        address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    connected: list[str] = []
    real_connect = socket.create_connection

    def connect(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        connected.append(address[0])
        if address[0] == "93.184.216.34":  # no internet in tests: the public host is unreachable
            raise ConnectionRefusedError("test: public address unreachable")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", connect)
    http_server.routes["/x.mp3"] = Route(body=b"internal", content_type="audio/mpeg")
    url = f"http://rebind.example.com:{http_server.port}/x.mp3"
    requests = [
        (HttpError, lambda: open_url(url, deadline=5, max_bytes=100)),
        (DownloadError, lambda: download_to_file(url, tmp_path / "x.mp3", max_bytes=100,
                                                 timeout_s=2, retries=0)),
        (Exception, lambda: fetch_feed(url, timeout=5, max_bytes=100)),
    ]
    for error, request in requests:
        lookups.clear()
        connected.clear()
        with pytest.raises(error, match="connection failed"):
            request()
        assert lookups == ["rebind.example.com"]  # resolved once
        assert connected == ["93.184.216.34"]  # and connected to what was checked
    assert http_server.routes["/x.mp3"].hits == 0


# ------------------------------------------------------------------------------------------
# Deadline, size cap, redirects


def test_trickling_body_is_stopped_at_the_deadline(http_server: LocalServer, tmp_path: Path) -> None:
    """One byte every 0.2 s of a 1000-byte body would take 200 s; the deadline is 1.5 s."""
    http_server.routes["/slow"] = Route(body=b"x" * 1000, content_type="audio/mpeg", trickle_s=0.2)
    for fetch in (
        lambda: fetch_feed(http_server.url("/slow"), timeout=1.5, max_bytes=10_000),
        lambda: download_to_file(http_server.url("/slow"), tmp_path / "s.mp3", max_bytes=10_000,
                                 timeout_s=5, retries=0, max_total_s=1.5),
        lambda: fetch_bytes(http_server.url("/slow"), deadline=1.5, max_bytes=10_000),
    ):
        started = time.monotonic()
        with pytest.raises((HttpTimeoutError, FeedTimeoutError, DownloadError), match="longer than"):
            fetch()
        assert time.monotonic() - started < 2.5
    assert not list(tmp_path.iterdir())


def test_trickling_headers_are_stopped_at_the_deadline(http_server: LocalServer) -> None:
    http_server.routes["/slow"] = Route(body=b"x", trickle_s=0.2, trickle_headers=True)
    started = time.monotonic()
    with pytest.raises(HttpTimeoutError, match="longer than 1 s"):
        open_url(http_server.url("/slow"), deadline=1.0, max_bytes=100)
    assert time.monotonic() - started < 2.0


def test_a_hanging_resolver_does_not_hold_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hanging(*args, **kwargs):  # type: ignore[no-untyped-def]
        release.wait(10)
        raise socket.gaierror("released")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    started = time.monotonic()
    try:
        with pytest.raises(HttpTimeoutError, match="resolving 'slow-dns.example.com'"):
            open_url("http://slow-dns.example.com/feed.xml", deadline=1.0, max_bytes=100)
        assert time.monotonic() - started < 1.8
    finally:
        release.set()


def test_size_cap_declared_and_counted(http_server: LocalServer) -> None:
    http_server.routes["/declared"] = Route(body=b"x" * 5000)
    http_server.routes["/undeclared"] = Route(body=b"x" * 300_000, content_length=-1)
    with pytest.raises(HttpTooLargeError, match="Content-Length 5000 exceeds"):
        fetch_bytes(http_server.url("/declared"), deadline=5, max_bytes=1000)
    with pytest.raises(HttpTooLargeError, match="body exceeds limit 100000"):
        fetch_bytes(http_server.url("/undeclared"), deadline=5, max_bytes=100_000)


def test_truncated_body_is_an_error(http_server: LocalServer) -> None:
    http_server.routes["/cut"] = Route(body=b"x" * 1000, send_bytes=100)
    with pytest.raises(HttpError, match="truncated: got 100 of 1000 bytes") as info:
        fetch_bytes(http_server.url("/cut"), deadline=5, max_bytes=10_000)
    assert info.value.retryable


def test_redirects_are_bounded_and_relative_ones_resolved(http_server: LocalServer) -> None:
    http_server.routes["/loop"] = Route(redirect="/loop")
    with pytest.raises(HttpError, match="more than 5 redirects"):
        open_url(http_server.url("/loop"), deadline=5, max_bytes=100)
    assert http_server.routes["/loop"].hits == 6
    http_server.routes["/a"] = Route(redirect="b?x=1#frag")
    http_server.routes["/b"] = Route(body=b"done", content_type="text/plain")
    response, body = fetch_bytes(http_server.url("/a"), deadline=5, max_bytes=100)
    assert body == b"done" and response.url == http_server.url("/b?x=1")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://e.org/f", "gopher://x/", "http:///nohost", "http://a b/",
            "http://e.org:99999/"]
)
def test_bad_urls_are_refused_before_any_lookup(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("resolved"))
    with pytest.raises(UnsafeUrlError):
        open_url(url, deadline=5, max_bytes=100)


# ------------------------------------------------------------------------------------------
# Redaction and address classes


def test_redact_url_drops_secrets() -> None:
    assert redact_url("https://user:pw@Feeds.Example.com:8443/a/b.xml?token=s3cret#x") == (
        "https://feeds.example.com:8443/a/b.xml"
    )
    assert redact_url("http://[::1]/x?k=v") == "http://[::1]/x"
    assert redact_url("not a url") == "<invalid URL>"
    error = HttpError("https://e.org/feed?token=s3cret", "HTTP 500")
    assert "s3cret" not in str(error) and str(error) == "https://e.org/feed: HTTP 500"


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("::1", False),
     ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True), ("2002:a00:1::", False),
     ("64:ff9b::a9fe:a9fe", False), ("169.254.169.254", False), ("239.1.1.1", False),
     ("ff02::1", False), ("240.0.0.1", False), ("100.64.0.1", False), ("0.0.0.0", False),
     ("fec0::1", False), ("feff::1", False), ("64:ff9b::8.8.8.8", True),
     ("64:ff9b::7f00:1", False)],
)
def test_address_classes(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


# ------------------------------------------------------------------------------------------
# TLS: the connection goes to the checked address, SNI and the certificate use the name


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Hello(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")


@pytest.mark.parametrize(("cert_name", "ok"), [("localhost", True), ("other.example", False)])
def test_tls_checks_the_name_on_the_pinned_connection(tmp_path: Path, cert_name: str, ok: bool) -> None:
    cert, key = _certificate(tmp_path, cert_name)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.hosts = []  # type: ignore[attr-defined]
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        client_context = ssl.create_default_context(cafile=str(cert))
        url = f"https://localhost:{server.server_address[1]}/"
        if ok:
            with open_url(url, deadline=5, max_bytes=100, ssl_context=client_context) as response:
                assert (response.status, response.read()) == (200, b"hello")
            assert server.hosts == [f"localhost:{server.server_address[1]}"]  # type: ignore[attr-defined]
        else:
            with pytest.raises(HttpError, match="certificate"):
                open_url(url, deadline=5, max_bytes=100, ssl_context=client_context)
        assert names and names[0] == "localhost"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_user_info_is_sent_as_basic_auth_to_its_own_origin_only(http_server: LocalServer) -> None:
    """``https://alice:s3cret@host/feed``: the credentials go as ``Authorization: Basic`` to the
    feed's own origin (also after a same-origin redirect), never to another origin a redirect
    leads to, and the response's URL holds no user info."""
    import base64

    expected = "Basic " + base64.b64encode(b"alice:s3 cret").decode()
    with LocalServer() as other:
        other.routes["/elsewhere"] = Route(body=b"other", content_type="text/plain")
        http_server.routes["/feed"] = Route(redirect="/moved")
        http_server.routes["/moved"] = Route(body=b"feed", content_type="text/plain")
        http_server.routes["/away"] = Route(redirect=other.url("/elsewhere"))
        base = http_server.url("").replace("http://", "http://alice:s3%20cret@")
        response, body = fetch_bytes(base + "/feed", deadline=5, max_bytes=100,
                                     headers={"Cookie": "c=1"})
        assert body == b"feed" and response.url == http_server.url("/moved")
        assert http_server.routes["/feed"].request_headers[0]["Authorization"] == expected
        assert http_server.routes["/moved"].request_headers[0]["Authorization"] == expected
        response, body = fetch_bytes(base + "/away", deadline=5, max_bytes=100,
                                     headers={"Cookie": "c=1"})
        assert body == b"other" and "@" not in response.url
        assert http_server.routes["/away"].request_headers[0]["Authorization"] == expected
        sent = other.routes["/elsewhere"].request_headers[0]
        assert "Authorization" not in sent and "Cookie" not in sent
