"""``podcast:transcript`` links: ingest fetches them through the safe HTTP client, lazily, and
audio only parses the bytes it is given (media understanding never downloads)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from media_platform.audio.sidecars import is_supported_link, load_sidecar_transcript
from media_platform.ingest.transcripts import fetch_linked_transcripts
from media_platform.storage import LocalStore
from tests._http_server import LocalServer, Route

REPO = Path(__file__).resolve().parent.parent
VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nask not what your country\n\n00:00:02.000 --> 00:00:04.000\ncan do for you\n"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s


def test_first_usable_link_is_parsed_and_the_rest_never_fetched(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/t.html"] = Route(body=b"<html/>", content_type="text/html")
    server.routes["/gone.vtt"] = Route(body=b"", statuses=[404])
    server.routes["/t.vtt"] = Route(body=VTT, content_type="text/vtt")
    server.routes["/later.srt"] = Route(body=b"1\n00:00:00,000 --> 00:00:01,000\nx\n", content_type="application/x-subrip")
    links = [
        [server.url("/t.html?token=abc"), "text/html"],  # not a format audio reads: not fetched
        [server.url("/gone.vtt"), "text/vtt"],
        [server.url("/t.vtt?token=abc"), "text/vtt"],
        [server.url("/later.srt"), "application/x-subrip"],
    ]
    linked = fetch_linked_transcripts(links, wanted=is_supported_link)
    transcript, note = load_sidecar_transcript(LocalStore(tmp_path), {}, 4.0, linked)
    assert transcript is not None and transcript.source == "subtitle:vtt"
    assert transcript.text.split() == "ask not what your country can do for you".split()
    assert note == f"transcript from {server.url('/t.vtt')}"  # redacted: no token
    hits = {path: route.hits for path, route in server.routes.items()}
    assert hits == {"/t.html": 0, "/gone.vtt": 1, "/t.vtt": 1, "/later.srt": 0}


def test_problems_are_reported_and_whisper_runs_instead(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/t.vtt"] = Route(body=VTT, content_type="text/vtt")
    server.routes["/bin.vtt"] = Route(body=b"\x00\x01binary", content_type="text/vtt")
    server.routes["/page.vtt"] = Route(body=VTT, content_type="image/png")
    links = [[server.url("/bin.vtt"), "text/vtt"], [server.url("/page.vtt"), "text/vtt"]]
    transcript, note = load_sidecar_transcript(
        LocalStore(tmp_path), {}, 4.0, fetch_linked_transcripts(links, wanted=is_supported_link)
    )
    assert transcript is None
    assert "bin.vtt unusable" in note and "binary" in note
    assert "page.vtt: " in note and "not a transcript" in note

    monkeypatch.delenv("MEDIA_PLATFORM_ALLOW_PRIVATE_URLS", raising=False)
    transcript, note = load_sidecar_transcript(
        LocalStore(tmp_path), {}, 4.0,
        fetch_linked_transcripts([[server.url("/t.vtt"), "text/vtt"]], wanted=is_supported_link),
    )
    assert transcript is None and "internal address" in note
    assert server.routes["/t.vtt"].hits == 0


def test_media_understanding_never_imports_ingest() -> None:
    """ARCHITECTURE.md: video, audio, text and previews never download; fetching is ingest's."""
    offenders = []
    for folder in ("audio", "video", "text", "previews"):
        for path in sorted((REPO / "media_platform" / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [node.module or ""] if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names] if isinstance(node, ast.Import) else []
                )
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names
                              if n.startswith(("media_platform.ingest", "requests", "urllib3", "httpx"))]
    assert offenders == []


def test_transcript_links_are_capped_per_item_at_parse_time() -> None:
    """A hostile item with thousands of ``podcast:transcript`` links (many repeated) keeps at
    most four distinct ones, in feed order; stored rows with more are read capped too."""
    import time

    from media_platform.ingest.feeds import parse_feed
    from media_platform.ingest.feeds.model import MAX_TRANSCRIPT_LINKS
    from media_platform.ingest.transcripts import transcript_links

    links = b"".join(
        b'<podcast:transcript url="/t%d.vtt" type="text/vtt"/>' % (i % 7) for i in range(20_000)
    )
    body = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        b"<channel><title>t</title><item><title>a</title><guid>1</guid>"
        b'<enclosure url="http://h/a.mp3" type="audio/mpeg"/>' + links + b"</item></channel></rss>"
    )
    started = time.monotonic()
    item = parse_feed(body, "http://h/f.xml").items[0]
    assert time.monotonic() - started < 10
    assert MAX_TRANSCRIPT_LINKS == 4
    assert [u for u, _ in item.transcript_urls] == [f"http://h/t{i}.vtt" for i in range(4)]
    stored = [[f"http://h/{i}.vtt", "text/vtt"] for i in range(100)]
    assert len(transcript_links(stored)) == 4


def test_linked_transcripts_share_one_total_deadline(server: LocalServer) -> None:
    """Each link trickles slowly: all of them together stop at the total deadline, and the links
    left are reported as not fetched instead of each getting its own 30 s."""
    import time

    for i in range(4):
        server.routes[f"/slow{i}.vtt"] = Route(body=VTT, content_type="text/vtt", trickle_s=0.2)
    links = [[server.url(f"/slow{i}.vtt"), "text/vtt"] for i in range(4)]
    started = time.monotonic()
    results = list(fetch_linked_transcripts(links, wanted=is_supported_link, total_deadline_s=1.5))
    assert time.monotonic() - started < 4
    assert all(r.data is None for r in results) and len(results) == 4
    assert "not fetched" in (results[-1].problem or "")
