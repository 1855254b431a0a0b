"""Hostile feeds never stall the others: per-feed deadlines (fetch and parse), a time budget per
sensor tick that rotates through the feeds, back-off of failing feeds reported once per state
change, and feed URLs (which carry tokens) never logged or stored in full. Real servers on
127.0.0.1, the sensor driven with ``dg.build_sensor_context``."""

from __future__ import annotations

import json
import time

import dagster as dg
import pytest

from media_platform.ingest.feeds import feed_id
from sensors.rss import decode_rss_cursor
from tests import test_sensor_rss
from tests._http_server import Route
from tests.test_sensor_rss import Harness

RSS_TYPE = "application/rss+xml"
harness = test_sensor_rss.harness  # the sensor harness fixture: real instance, feeds on 127.0.0.1


def _feed(title: str, n: int = 2) -> bytes:
    items = "".join(
        f"<item><title>{title} {i}</title><guid>{title}-{i}</guid>"
        f"<pubDate>Mon, 0{i + 1} Jan 2024 00:00:00 GMT</pubDate>"
        f'<enclosure url="/media/{i}.mp3" type="audio/mpeg" length="100"/></item>'
        for i in range(n)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}'
        "</channel></rss>"
    ).encode()


def _pathological_feed() -> bytes:
    """Well-formed, under 4 MiB, shallow, and minutes of feedparser CPU: a million elements in one
    item (measured: ~30 s for feedparser alone on this machine)."""
    return (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>p</title><item><title>p</title>'
        b'<enclosure url="/m.mp3" type="audio/mpeg"/>' + b"<x/>" * 1_000_000 + b"</item></channel></rss>"
    )


def _deep_feed() -> bytes:
    return (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>d</title><item>'
        + b"<d>" * 200_000 + b"</d>" * 200_000 + b"</item></channel></rss>"
    )


def _keys_by_feed(h: Harness, result: dg.SensorResult) -> dict[str, int]:
    catalogue = h.catalogue()
    counts: dict[str, int] = {}
    for request in result.run_requests:
        title = catalogue.get(request.partition_key).metadata["feed_title"]
        counts[title] = counts.get(title, 0) + 1
    return counts


def test_slow_and_pathological_feeds_do_not_stall_a_good_one(harness: Harness) -> None:
    """A server trickling its feed, a feed that costs feedparser half a minute and a deeply
    nested feed come first in the file; the good feed after them is still ingested in the same
    tick, and the tick stays within its budget."""
    server = harness.server
    server.routes["/slow.xml"] = Route(body=_feed("Slow"), content_type=RSS_TYPE, trickle_s=0.2)
    server.routes["/cpu.xml"] = Route(body=_pathological_feed(), content_type=RSS_TYPE)
    server.routes["/deep.xml"] = Route(body=_deep_feed(), content_type=RSS_TYPE)
    server.routes["/good.xml"] = Route(body=_feed("Good"), content_type=RSS_TYPE)
    harness.write_feeds([
        {"url": server.url(f"/{name}.xml"), "title": name} for name in ("slow", "cpu", "deep", "good")
    ])
    harness.feed_deadline_s, harness.tick_budget_s = 2.0, 10.0
    started = time.monotonic()
    result = harness.tick()
    elapsed = time.monotonic() - started
    assert _keys_by_feed(harness, result) == {"Good": 2}
    assert elapsed < 10.0, elapsed
    warnings = "\n".join(harness.warnings())
    for name in ("slow", "cpu", "deep"):
        assert f"{server.url(f'/{name}.xml')}: feed failing (1 consecutive failures)" in warnings
    assert "longer than 2 s" in warnings and "nested deeper than" in warnings
    cursor = decode_rss_cursor(result.cursor)
    assert {k: v for k, v in cursor.failures.items()} == {
        feed_id(server.url(f"/{n}.xml")): 1 for n in ("slow", "cpu", "deep")
    }


def test_the_tick_budget_rotates_through_the_feeds(harness: Harness) -> None:
    """Two slow feeds fill a tick's budget; the next ticks start where the last one stopped, so
    the good feed listed after them gets its turn instead of starving."""
    server = harness.server
    for name in ("slow1", "slow2"):
        server.routes[f"/{name}.xml"] = Route(body=_feed(name), content_type=RSS_TYPE, trickle_s=0.2)
    server.routes["/good.xml"] = Route(body=_feed("Good"), content_type=RSS_TYPE)
    harness.write_feeds([
        {"url": server.url(f"/{name}.xml"), "title": name, "poll_interval_s": 60}
        for name in ("slow1", "slow2", "good")
    ])
    harness.feed_deadline_s, harness.tick_budget_s = 1.0, 1.5
    first = harness.tick(advance=60)
    assert first.run_requests == [] and server.routes["/good.xml"].hits == 0
    assert server.routes["/slow1.xml"].hits == 1 and server.routes["/slow2.xml"].hits == 0
    assert decode_rss_cursor(first.cursor).start == feed_id(server.url("/slow2.xml"))
    second = harness.tick(advance=1)
    assert server.routes["/slow2.xml"].hits == 1 and server.routes["/good.xml"].hits == 0
    third = harness.tick(advance=1)
    assert _keys_by_feed(harness, third) == {"Good": 2}
    assert server.routes["/slow1.xml"].hits == 1  # backed off: not due again yet
    assert "failing" in str(second.skip_reason) and "slow1.xml (1 failures)" in str(second.skip_reason)


def test_failing_feed_is_backed_off_and_reported_once_per_state_change(harness: Harness) -> None:
    server = harness.server
    route = Route(body=_feed("Flaky"), content_type=RSS_TYPE, statuses=[500])
    server.routes["/flaky.xml"] = route
    url = server.url("/flaky.xml")
    harness.write_feeds([{"url": url, "title": "Flaky", "poll_interval_s": 60}])
    harness.tick(advance=60)  # failure 1: next try after 60 s
    harness.tick(advance=60)  # failure 2: next try after 120 s
    assert route.hits == 2
    harness.tick(advance=60)  # 60 s after failure 2: backing off, not fetched
    assert route.hits == 2
    harness.tick(advance=60)  # 120 s: failure 3, next try after 240 s
    assert route.hits == 3
    for _ in range(3):
        harness.tick(advance=60)
    assert route.hits == 3
    cursor = decode_rss_cursor(harness.cursor)
    assert cursor.failures == {feed_id(url): 3}
    failing = [m for m in harness.warnings() if "feed failing" in m]
    assert len(failing) == 1 and "HTTP 500" in failing[0]  # reported once, not every time
    assert sum("consecutive failures" in m for _, m in harness.logs) == 3

    route.statuses, route.hits = [200], 0
    recovered = harness.tick(advance=60)
    assert route.hits == 1 and _keys_by_feed(harness, recovered) == {"Flaky": 2}
    assert any("recovered after 3 consecutive failures" in m for m in harness.warnings())
    assert decode_rss_cursor(harness.cursor).failures == {}


def test_feed_urls_with_tokens_are_never_logged_or_stored(harness: Harness) -> None:
    server = harness.server
    server.routes["/private.xml"] = Route(body=_feed("Private"), content_type=RSS_TYPE)
    server.routes["/broken.xml"] = Route(body=b"", content_type=RSS_TYPE, statuses=[503])
    secret = "s3cret-token-0123456789"
    good = server.url(f"/private.xml?token={secret}")
    bad = server.url(f"/broken.xml?api_key={secret}#frag")
    harness.write_feeds([{"url": good, "title": "Private"}, {"url": bad, "title": "Broken"}])
    result = harness.tick()
    assert _keys_by_feed(harness, result) == {"Private": 2}
    assert server.routes["/private.xml"].request_headers  # the full URL was used to fetch
    rows = [e.metadata for e in harness.catalogue().episodes()]
    assert {r["feed_url"] for r in rows} == {server.url("/private.xml")}
    assert {r["feed_id"] for r in rows} == {feed_id(good)}
    stored = json.dumps(rows) + str(result.cursor) + str(result.skip_reason)
    logged = "\n".join(m for _, m in harness.logs)
    assert secret not in stored and secret not in logged
    assert f"{server.url('/broken.xml')}: feed failing" in logged


def test_previous_cursor_layout_is_read_once(harness: Harness) -> None:
    """A cursor keyed by full URLs (version 1) is converted: nothing is ingested again, and the
    new cursor holds no URL."""
    server = harness.server
    server.routes["/show.xml"] = Route(body=_feed("Show"), content_type=RSS_TYPE, etag='"v1"')
    url = server.url("/show.xml?token=abc")
    harness.write_feeds([{"url": url, "title": "Show", "poll_interval_s": 60}])
    harness.cursor = json.dumps({
        "v": 1,
        "feeds": {"v": 1, "feeds": {url: {"etag": None, "modified": None, "seen": ["Show-0", "Show-1"]}}},
        "polled": {url: 0.0},
        "backlog": [],
    })
    result = harness.tick()
    assert result.run_requests == [] and server.routes["/show.xml"].hits == 1
    assert "token" not in str(result.cursor) and json.loads(result.cursor)["v"] == 2
    assert decode_rss_cursor(result.cursor).states[feed_id(url)].etag == '"v1"'


def test_sensor_never_turns_an_internal_response_into_rows(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the opt-in, a feed on 127.0.0.1 is refused before any request: no row, no run."""
    monkeypatch.delenv("MEDIA_PLATFORM_ALLOW_PRIVATE_URLS", raising=False)
    harness.server.routes["/internal.xml"] = Route(body=_feed("Internal"), content_type=RSS_TYPE)
    harness.write_feeds([{"url": harness.server.url("/internal.xml"), "title": "Internal"}])
    result = harness.tick()
    assert result.run_requests == [] and harness.catalogue().episodes() == []
    assert harness.server.routes["/internal.xml"].hits == 0
    assert any("feed not fetched" in m and "internal address" in m for m in harness.warnings())


def test_a_feed_deadline_as_long_as_the_tick_budget_still_polls_a_feed(harness: Harness) -> None:
    """With the per-feed deadline equal to (or above) the tick budget, the first feed of a tick
    still starts (it gets what is left of the budget); the next feed waits for the next tick."""
    server = harness.server
    for name in ("one", "two"):
        server.routes[f"/{name}.xml"] = Route(body=_feed(name), content_type=RSS_TYPE)
    harness.write_feeds([
        {"url": server.url(f"/{name}.xml"), "title": name, "poll_interval_s": 60}
        for name in ("one", "two")
    ])
    harness.feed_deadline_s, harness.tick_budget_s = 5.0, 5.0
    first = harness.tick(advance=60)
    assert _keys_by_feed(harness, first) == {"one": 2}
    second = harness.tick(advance=1)
    assert _keys_by_feed(harness, second) == {"two": 2}
    harness.feed_deadline_s = 30.0  # above the budget
    server.routes["/one.xml"] = Route(body=_feed("one", 3), content_type=RSS_TYPE)
    third = harness.tick(advance=60)
    assert _keys_by_feed(harness, third) == {"one": 1}


def test_a_failed_catalogue_write_loses_no_item(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue write of the 2nd of 3 items fails once: the others are requested in that
    tick, the failed one in the next, so every item gets its row, partition and run."""
    from media_platform.catalogue import Catalogue

    calls = {"n": 0}

    def failing_once(original):
        def write(self, episode):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("disk hiccup")
            return original(self, episode)
        return write

    monkeypatch.setattr(Catalogue, "insert", failing_once(Catalogue.insert))
    monkeypatch.setattr(Catalogue, "upsert", failing_once(Catalogue.upsert))
    server = harness.server
    server.routes["/three.xml"] = Route(body=_feed("three", 3), content_type=RSS_TYPE)
    harness.write_feeds([{"url": server.url("/three.xml"), "title": "three", "poll_interval_s": 60}])
    requested: list[str] = []
    partitions: list[str] = []
    for _ in range(2):
        result = harness.tick(advance=3600)
        requested += [r.partition_key for r in result.run_requests]
        partitions += [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]
    rows = {e.partition_key for e in harness.catalogue().episodes()}
    assert len(rows) == 3
    assert sorted(requested) == sorted(rows) == sorted(partitions)
    assert any("not recorded, retried" in m and "disk hiccup" in m for m in harness.warnings())


def test_feed_user_info_authenticates_the_feed_and_is_never_stored(harness: Harness) -> None:
    """A feed URL with user info: the feed is fetched with Basic auth, and items' relative
    enclosure, transcript and chapters URLs (resolved against the feed's URL) do not carry the
    credentials into the catalogue."""
    import base64

    server = harness.server
    body = (
        b'<?xml version="1.0"?><rss version="2.0" '
        b'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Private</title>'
        b"<item><title>ep1</title><guid>p-1</guid>"
        b'<enclosure url="/p/ep1.mp3" type="audio/mpeg" length="100"/>'
        b'<podcast:transcript url="/p/ep1.vtt" type="text/vtt"/>'
        b'<podcast:chapters url="/p/ep1.json" type="application/json+chapters"/>'
        b"</item></channel></rss>"
    )
    server.routes["/private.xml"] = Route(body=body, content_type=RSS_TYPE)
    url = server.url("/private.xml").replace("http://", "http://alice:s3cret@")
    harness.write_feeds([{"url": url, "title": "Private"}])
    result = harness.tick()
    assert len(result.run_requests) == 1
    sent = server.routes["/private.xml"].request_headers[0]
    assert sent["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    episode = harness.catalogue().get(result.run_requests[0].partition_key)
    stored = json.dumps([episode.master_uri, episode.metadata], default=str)
    assert "s3cret" not in stored and "alice" not in stored, stored
    assert episode.master_uri == server.url("/p/ep1.mp3")
    assert episode.metadata["transcript_urls"] == [[server.url("/p/ep1.vtt"), "text/vtt"]]
    assert episode.metadata["chapters_url"] == server.url("/p/ep1.json")


def test_skip_reasons_never_log_enclosure_urls_in_full(harness: Harness) -> None:
    """Items skipped for a bad enclosure URL (control characters, wrong scheme) or as duplicates
    of an untitled, GUID-less item (its identity is the enclosure URL) are reported with the
    URL redacted: enclosure URLs carry tokens too."""
    server = harness.server
    items = (
        b'<item><guid>a</guid><title>ctl</title><enclosure url="http://cdn.example/a.mp3?token=SECRET1&#x7;" type="audio/mpeg"/></item>'
        b'<item><guid>b</guid><title>ftp</title><enclosure url="ftp://cdn.example/b.mp3?token=SECRET2" type="audio/mpeg"/></item>'
        b'<item><enclosure url="http://cdn.example/c.mp3?token=SECRET3" type="audio/mpeg"/></item>'
        b'<item><enclosure url="http://cdn.example/c.mp3?token=SECRET3" type="audio/mpeg"/></item>'
    )
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>' + items + b"</channel></rss>"
    server.routes["/t.xml"] = Route(body=body, content_type=RSS_TYPE)
    harness.write_feeds([{"url": server.url("/t.xml"), "title": "T"}])
    harness.tick()
    logged = "\n".join(m for _, m in harness.logs)
    assert "skipped" in logged and "duplicate guid 'http://cdn.example/c.mp3'" in logged
    assert "SECRET" not in logged, logged


@pytest.mark.parametrize(
    "override", [{"feed_deadline_s": 0}, {"tick_budget_s": -1.0}, {"max_feed_bytes": 0}]
)
def test_invalid_limits_are_refused_not_silently_replaced(override: dict, tmp_path) -> None:
    """A zero or negative override used to fall back to the setting unnoticed (``x or
    setting``); it is an error naming the limit."""
    from media_platform.errors import InvalidInputError
    from sensors.rss import build_rss_sensor

    with pytest.raises(InvalidInputError, match=next(iter(override))):
        build_rss_sensor(path=tmp_path / "feeds.yaml", **override)
