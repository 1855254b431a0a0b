"""The RSS sensor drains a long backlog in bounded batches, tick after tick, with no run key
requested twice: a real 1,000-item feed on a loopback HTTP server, the real sensor ticked like the
daemon (cursor carried over, partition requests applied; ``benchmarks/scale_sensor.py``'s
:func:`drain`, which measures the same at 10,000 items).

The GUIDs are 500 characters long (URL GUIDs often are), so the cursor's bounded window of seen
GUIDs (256 KiB) holds only ~520 of them: the backlog outgrows it. Before the fix, items that had
left the window came back as "new" oldest first, took the whole cap and requested nothing, and the
backfill stalled for good past window + cap items (at 10,000 items with short GUIDs: at 6,000).
"""

from __future__ import annotations

import math
from pathlib import Path

import dagster as dg
import pytest

from benchmarks.scale_sensor import backlog_feed, backlog_guid, drain, write_feeds
from media_platform.ingest.feeds.cursor import DEFAULT_SEEN_LIMIT, MAX_SEEN_CHARS
from tests._http_server import LocalServer, Route
from tests._sensor_stubs import stub_definitions

ITEMS = 1000
CAP = 250
GUID_CHARS = 500


@pytest.fixture
def backlog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(home))
    monkeypatch.setenv("MEDIA_PLATFORM_ALLOW_PRIVATE_URLS", "1")  # the feed is on 127.0.0.1
    monkeypatch.delenv("MEDIA_PLATFORM_LICENCES", raising=False)
    with LocalServer() as server, dg.instance_for_test() as instance:
        server.routes["/backlog.xml"] = Route(
            body=backlog_feed(ITEMS, server.url(""), guid_chars=GUID_CHARS),
            content_type="application/rss+xml", etag='"v1"',
        )
        feeds = tmp_path / "feeds.yaml"
        write_feeds(feeds, server.url("/backlog.xml"), CAP)
        yield instance, home, feeds, server


def test_a_backlog_longer_than_the_seen_window_drains_in_bounded_batches(backlog) -> None:
    instance, home, feeds, server = backlog
    window = min(DEFAULT_SEEN_LIMIT, MAX_SEEN_CHARS // len(backlog_guid(0, GUID_CHARS)))
    assert window + CAP < ITEMS  # the backlog outgrows the cursor's window

    result = drain(instance, home, feeds, stub_definitions(["master", "media_probe"]), max_ticks=12)

    working = [t for t in result.ticks if t.runs]
    assert [t.runs for t in working] == [CAP] * math.ceil(ITEMS / CAP)  # bounded, full batches
    assert len(result.ticks) == len(working) + 1  # then a tick with nothing left
    assert result.duplicate_run_keys == 0
    assert not result.backlog_left
    assert sorted(result.partition_keys) == sorted(set(result.partition_keys))
    assert len(set(instance.get_dynamic_partitions("episodes"))) == ITEMS
    assert len(set(result.run_keys)) == ITEMS
    assert {k.removeprefix("rss:") for k in result.run_keys} == set(result.partition_keys)

    # a lost cursor starts again from the whole feed: nothing is requested twice
    again = drain(instance, home, feeds, stub_definitions(["master", "media_probe"]), max_ticks=2)
    assert sum(t.runs for t in again.ticks) == 0
