"""The RSS sensor against real feeds served from a local HTTP server (127.0.0.1), driven with
``dg.build_sensor_context`` on a temporary instance: partitions, licence-filtered run requests,
cursor, catalogue rows, conditional requests, backfill cap, bad feeds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
import yaml

from media_platform.catalogue import Catalogue
from media_platform.ingest.feeds import feed_id, new_items, parse_feed
from media_platform.keys import validate_partition_key
from media_platform.storage import LocalStore
from resources import MediaStorage
from sensors.rss import build_rss_sensor, decode_rss_cursor, interval_from_config
from tests._http_server import LocalServer, Route
from tests._sensor_stubs import CollectLogs, stub_definitions

RSS_TYPE = "application/rss+xml"
ALL_STUB_ASSETS = [
    "master", "media_probe", "shots", "keyframes", "shot_embeddings", "shot_index",
    "transcript", "chapters", "preview_selection", "preview",
]


STUB_DEFS = stub_definitions(ALL_STUB_ASSETS)


@dataclass
class Harness:
    """Runs ticks like the daemon: passes the cursor on and applies partition requests."""

    instance: dg.DagsterInstance
    home: Path
    feeds_file: Path
    server: LocalServer
    definitions: dg.Definitions = STUB_DEFS
    now: float = 1_000_000.0
    cursor: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    max_feed_bytes: int = 20 * 1024 * 1024
    feed_deadline_s: float | None = None
    tick_budget_s: float | None = None

    def write_feeds(self, feeds: list[dict]) -> None:
        self.feeds_file.write_text(yaml.safe_dump({"feeds": feeds}))

    def tick(self, advance: float = 3600.0) -> dg.SensorResult:
        self.now += advance
        sensor = build_rss_sensor(
            path=self.feeds_file, clock=lambda: self.now, max_feed_bytes=self.max_feed_bytes,
            feed_deadline_s=self.feed_deadline_s, tick_budget_s=self.tick_budget_s,
        )
        ctx = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"storage": MediaStorage(root=str(self.home))},
            definitions=self.definitions,
        )
        handler = CollectLogs()
        ctx.log.addHandler(handler)
        result = sensor(ctx)
        self.logs.extend(handler.records)
        assert isinstance(result, dg.SensorResult)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        return result

    def warnings(self) -> list[str]:
        return [m for level, m in self.logs if level == "WARNING"]

    def catalogue(self) -> Catalogue:
        return Catalogue(LocalStore(self.home))


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    home = tmp_path / "home"
    monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(home))
    monkeypatch.delenv("MEDIA_PLATFORM_LICENCES", raising=False)
    with LocalServer() as server, dg.instance_for_test() as instance:
        yield Harness(instance, home, tmp_path / "feeds.yaml", server)


def _serve(h: Harness, path: str, body: bytes, etag: str | None = '"v1"') -> str:
    h.server.routes[path] = Route(body=body, content_type=RSS_TYPE, etag=etag)
    return h.server.url(path)


def _names(request: dg.RunRequest) -> set[str]:
    return {k.path[-1] for k in request.asset_selection or []}


def _new_keys(result: dg.SensorResult) -> list[str]:
    return [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]


def _reversed_items(body: bytes) -> bytes:
    """The same feed republished with its items in the opposite order."""
    text = body.decode("utf-8")
    items = re.findall(r"<item>.*?</item>", text, flags=re.S)
    start, end = text.index(items[0]), text.index(items[-1]) + len(items[-1])
    return (text[:start] + "\n".join(reversed(items)) + text[end:]).encode("utf-8")


# ------------------------------------------------------------------------------------------


def test_backfill_cap_oldest_first_then_conditional_requests(harness: Harness, shared_media: Path) -> None:
    body = (shared_media / "rss/real_feed_99pi/99percentinvisible.xml").read_bytes()
    url = _serve(harness, "/99pi.xml", body)
    harness.write_feeds([{"url": url, "title": "99% Invisible", "default_licence": "analysis-only",
                          "max_new_items_per_tick": 5, "poll_interval_s": 600}])
    expected_order = [i.guid for i in new_items(parse_feed(body, url), [], 1000)]
    assert len(expected_order) == 91

    first = harness.tick()
    keys = _new_keys(first)
    assert len(first.run_requests) == 5 and len(keys) == 5
    assert all(validate_partition_key(k) == k for k in keys)
    assert [r.partition_key for r in first.run_requests] == keys
    catalogue = harness.catalogue()
    guids = [catalogue.get(k).metadata["guid"] for k in keys]
    assert guids == expected_order[:5]  # oldest first
    for request in first.run_requests:
        # analysis-only: no search index, no preview; unknown assets need analysis
        assert _names(request) == {"master", "media_probe", "shots", "keyframes", "shot_embeddings",
                                   "transcript", "chapters", "preview_selection"}
        assert request.run_key == f"rss:{request.partition_key}"
    row = catalogue.get(keys[0])
    assert row.source == "rss" and row.master_key == "" and row.content_hash == ""
    assert row.kind == "audio" and row.master_uri.startswith("http://www.podtrac.com/")
    assert row.master_uri == row.metadata["enclosure_url"]
    assert row.licence["identifier"] == "analysis-only" and row.licence["analysis"] is True
    assert row.metadata["feed_url"] == url and row.metadata["feed_title"] == "99% Invisible"
    assert row.metadata["enclosure_type"] == "audio/mpeg" and row.metadata["published"]
    cursor, fid = decode_rss_cursor(first.cursor), feed_id(url)
    assert cursor.states[fid].seen_guids == expected_order[:5]
    assert cursor.backlog == {fid} and cursor.states[fid].etag is None  # backlog: no validators yet
    assert cursor.polled[fid] == harness.now

    # next ticks continue the backfill without waiting for the poll interval
    second = harness.tick(advance=30)
    third = harness.tick(advance=30)
    got = [harness.catalogue().get(k).metadata["guid"] for k in _new_keys(second) + _new_keys(third)]
    assert got == expected_order[5:15]

    # raise the cap: the rest in one tick, then the validators are stored
    harness.write_feeds([{"url": url, "title": "99% Invisible", "default_licence": "analysis-only",
                          "max_new_items_per_tick": 1000, "poll_interval_s": 600}])
    rest = harness.tick(advance=30)
    assert len(rest.run_requests) == 76
    cursor = decode_rss_cursor(rest.cursor)
    assert cursor.backlog == set() and cursor.states[fid].etag == '"v1"'
    assert len(cursor.states[fid].seen_guids) == 91 and len(harness.catalogue().episodes()) == 91
    assert len(set(harness.instance.get_dynamic_partitions("episodes"))) == 91

    # not due yet: no request at all
    hits = harness.server.routes["/99pi.xml"].hits
    assert harness.tick(advance=60).run_requests == [] and harness.server.routes["/99pi.xml"].hits == hits

    # due: conditional GET, 304, nothing new
    quiet = harness.tick(advance=600)
    assert quiet.run_requests == [] and not quiet.dynamic_partitions_requests
    route = harness.server.routes["/99pi.xml"]
    assert route.request_headers[-1].get("If-None-Match") == '"v1"'

    # republished, reordered, new ETag: fetched again (200), nothing ingested twice
    harness.server.routes["/99pi.xml"] = Route(body=_reversed_items(body), content_type=RSS_TYPE, etag='"v2"')
    again = harness.tick(advance=600)
    assert again.run_requests == [] and harness.server.routes["/99pi.xml"].hits == 1
    assert decode_rss_cursor(again.cursor).states[fid].etag == '"v2"'
    assert len(harness.catalogue().episodes()) == 91


def test_licences_select_assets_and_transcripts_recorded(harness: Harness, shared_media: Path) -> None:
    body = (shared_media / "rss/podcast_namespace/example.xml").read_bytes()
    assert b"my-podcast-license-v1" in body  # not a licence we recognise
    nd_body = body.replace(b"my-podcast-license-v1", b"cc-by-nd-4.0")
    plain = _serve(harness, "/example.xml", body)
    search = _serve(harness, "/example-search.xml", body)
    nd = _serve(harness, "/example-nd.xml", nd_body)
    harness.write_feeds([
        {"url": plain, "title": "Namespace example"},  # no default: conservative
        {"url": search, "title": "Namespace example (licensed)", "default_licence": "analysis-and-search"},
        # the operator allows everything; the publisher's ND claim can only restrict that
        {"url": nd, "title": "Namespace example (ND)", "default_licence": "full"},
    ])
    result = harness.tick()
    assert len(result.run_requests) == 9
    catalogue = harness.catalogue()
    by_feed: dict[str, list[dg.RunRequest]] = {}
    for request in result.run_requests:
        by_feed.setdefault(catalogue.get(request.partition_key).metadata["feed_url"], []).append(request)
    assert {len(v) for v in by_feed.values()} == {3}
    # the same items in three feeds never share a partition
    assert len({r.partition_key for r in result.run_requests}) == 9
    for request in by_feed[plain]:
        assert _names(request) == {"master", "media_probe"}
        assert catalogue.get(request.partition_key).licence["identifier"] == "none"
    for request in by_feed[search]:
        names = _names(request)
        assert "shot_index" in names and "preview" not in names and "shots" in names
    for request in by_feed[nd]:
        names = _names(request)
        assert "shot_index" in names and "preview" not in names and "preview_selection" in names
        assert catalogue.get(request.partition_key).licence["identifier"] == "cc-by-nd-4.0"

    ep3 = next(e for e in catalogue.episodes() if e.metadata["feed_url"] == plain and e.metadata["episode"] == 3)
    assert ep3.title == "Episode 3 - The Future" and ep3.episode_id == "S01E03"  # season 1
    assert ["https://example.com/episode1/transcript.vtt", "text/vtt"] in ep3.metadata["transcript_urls"]
    assert ep3.metadata["guid"] == "https://example.com/ep0003"
    assert ep3.metadata["licence_string"] == "my-podcast-license-v1"

    # a lost cursor does not ingest anything twice (stable keys, catalogue rows, partitions)
    harness.cursor = None
    assert harness.tick().run_requests == []


def test_licence_catalogue_beats_the_feed(harness: Harness, shared_media: Path, monkeypatch) -> None:
    body = (shared_media / "rss/podcast_namespace/example.xml").read_bytes()
    url = _serve(harness, "/example.xml", body.replace(b"my-podcast-license-v1", b"cc-by-4.0"))
    licences = harness.home.parent / "licences.yaml"
    licences.write_text(yaml.safe_dump({"licences": {
        "Episode 2 - The Present": {"uses": ["analysis"], "expires": "2999-12-31"},
    }}))
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    harness.write_feeds([{"url": url, "title": "Namespace example", "default_licence": "full"}])
    result = harness.tick()
    catalogue = harness.catalogue()
    names = {catalogue.get(r.partition_key).title: _names(r) for r in result.run_requests}
    assert names["Episode 3 - The Future"] == set(ALL_STUB_ASSETS)  # full, cc-by: everything
    assert "shot_index" not in names["Episode 2 - The Present"] and "shots" in names["Episode 2 - The Present"]
    row = next(e for e in catalogue.episodes() if e.title == "Episode 2 - The Present")
    assert row.licence["expires"] == "2999-12-31" and row.metadata["licence_source"] == "catalogue"



def test_broken_licence_catalogue_skips_the_tick(harness: Harness, shared_media: Path, monkeypatch) -> None:
    """A typo in the operator's licence catalogue must not silently drop its restrictions: the
    tick ingests nothing, says why and keeps the cursor; fixing the file resumes."""
    body = (shared_media / "rss/podcast_namespace/example.xml").read_bytes()
    url = _serve(harness, "/example.xml", body.replace(b"my-podcast-license-v1", b"cc-by-4.0"))
    licences = harness.home.parent / "licences.yaml"
    licences.write_text("licences:\n  Episode 2 - The Present: {uses: [analysis]\n")  # unclosed
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    harness.write_feeds([{"url": url, "title": "Namespace example"}])

    broken = harness.tick()
    assert broken.run_requests == [] and not broken.dynamic_partitions_requests
    assert "cannot read licence catalogue" in str(broken.skip_reason)
    assert str(licences) in str(broken.skip_reason)
    assert broken.cursor is None  # the last good cursor (none yet) is kept
    assert any("no feed ingested this tick" in m and str(licences) in m for m in harness.warnings())
    assert harness.catalogue().episodes() == [] and harness.server.routes["/example.xml"].hits == 0

    # an entry that parses as YAML but is not a licence: the same
    licences.write_text(yaml.safe_dump({"licences": {"Episode 2 - The Present": {"uses": ["analyse"]}}}))
    invalid = harness.tick()
    assert invalid.run_requests == [] and str(licences) in str(invalid.skip_reason)
    assert harness.catalogue().episodes() == []

    # fixed (an entry for the feed itself: an item title's entry could only restrict it)
    licences.write_text(yaml.safe_dump({"licences": {"Namespace example": {"uses": ["analysis"]}}}))
    fixed = harness.tick()
    assert len(fixed.run_requests) == 3
    catalogue = harness.catalogue()
    row = next(e for e in catalogue.episodes() if e.title == "Episode 2 - The Present")
    assert row.metadata["licence_source"] == "catalogue" and row.licence["analysis"] is True
    assert row.licence["derivatives"] is False


def test_bad_feeds_are_logged_and_do_not_block_good_ones(harness: Harness, shared_media: Path) -> None:
    good = _serve(harness, "/good.xml", (shared_media / "rss/podcast_namespace/example.xml").read_bytes())
    garbage = _serve(harness, "/garbage.xml", b"this is not a feed at all <<<<")
    laughs = _serve(harness, "/laughs.xml", (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n <!ENTITY lol "lol">\n'
        b' <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
        b' <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">\n]>\n'
        b'<rss version="2.0"><channel><title>&lol2;</title><item><title>x</title>'
        b'<enclosure url="http://example.com/a.mp3" type="audio/mpeg"/></item></channel></rss>'
    ))
    xxe = _serve(harness, "/xxe.xml", (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><title>&xxe;</title><item><title>y</title>'
        b'<enclosure url="http://example.com/b.mp3" type="audio/mpeg"/></item></channel></rss>'
    ))
    huge = _serve(harness, "/huge.xml", (shared_media / "rss/real_feed_99pi/99percentinvisible.xml").read_bytes())
    missing = harness.server.url("/missing.xml")  # 404
    unreachable = "http://127.0.0.1:9/feed.xml"
    mixed = _serve(harness, "/mixed.xml", (
        b'<rss version="2.0"><channel><title>Mixed</title>'
        b'<item><title>No enclosure</title><guid>n1</guid></item>'
        b'<item><title>Local file</title><guid>n2</guid><enclosure url="file:///etc/passwd" type="audio/mpeg"/></item>'
        b'<item><title>FTP</title><guid>n3</guid><enclosure url="ftp://example.com/a.mp3" type="audio/mpeg"/></item>'
        b'<item><title>Relative</title><guid>n4</guid><enclosure url="media/rel.mp4" type="video/mp4"/></item>'
        b'<item><title>Dup one</title><guid>d</guid><enclosure url="http://example.com/d1.mp3" type="audio/mpeg"/></item>'
        b'<item><title>Dup two</title><guid>d</guid><enclosure url="http://example.com/d2.mp3" type="audio/mpeg"/></item>'
        b"</channel></rss>"
    ))
    harness.max_feed_bytes = 100_000
    harness.write_feeds([{"url": u, "title": f"feed {i}"} for i, u in enumerate(
        [garbage, laughs, xxe, huge, missing, unreachable, mixed, good])])
    result = harness.tick()
    catalogue = harness.catalogue()
    titles = sorted(catalogue.get(r.partition_key).title for r in result.run_requests)
    assert titles == ["Dup one", "Episode 1 - The Past", "Episode 2 - The Present",
                      "Episode 3 - The Future", "Relative"]
    rel = next(e for e in catalogue.episodes() if e.title == "Relative")
    assert rel.master_uri == harness.server.url("/media/rel.mp4") and rel.kind == "video"
    warnings = "\n".join(harness.warnings())

    def failing(url: str, problem: str) -> bool:
        return any(
            m.startswith(f"{url}: feed failing (1 consecutive failures)") and problem in m
            for m in harness.warnings()
        )

    assert failing(garbage, "feed not parsed")
    assert failing(laughs, "feed rejected, unsafe XML")
    assert failing(xxe, "feed rejected, unsafe XML")
    assert failing(huge, "feed not fetched") and failing(huge, "exceeds limit 100000 bytes")
    assert failing(missing, "feed not fetched: HTTP 404")
    assert failing(unreachable, "feed not fetched")
    assert "'No enclosure' skipped: no enclosure" in warnings
    assert "'Local file' skipped" in warnings and "only http(s) allowed" in warnings
    assert "'FTP' skipped" in warnings
    assert "'Dup two' skipped: duplicate guid" in warnings
    assert not any("etc/passwd" in e.master_uri for e in catalogue.episodes())
    # nothing from the entity feeds reached the catalogue
    assert not any(e.metadata["feed_url"] in (laughs, xxe) for e in catalogue.episodes())


def test_sensor_definition_follows_the_feeds_file(tmp_path: Path, monkeypatch) -> None:
    feeds = tmp_path / "feeds.yaml"
    monkeypatch.setenv("MEDIA_PLATFORM_FEEDS", str(feeds))
    assert interval_from_config(feeds) == 300
    assert build_rss_sensor().default_status == dg.DefaultSensorStatus.STOPPED
    feeds.write_text(yaml.safe_dump({"feeds": [
        {"url": "https://a.example/feed.xml", "title": "A", "poll_interval_s": 900},
        {"url": "https://b.example/feed.xml", "title": "B", "poll_interval_s": 120},
    ]}))
    sensor = build_rss_sensor()
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 120
    feeds.write_text("feeds: [oops")
    assert interval_from_config(feeds) == 300


def test_missing_feeds_file_skips(harness: Harness) -> None:
    result = harness.tick()
    assert result.run_requests == [] and "no feeds file" in str(result.skip_reason)


def test_real_code_location_selection(harness: Harness, shared_media: Path) -> None:
    """Against the real definitions: an analysis-only feed gets no shot_index."""
    import definitions
    from sensors.common import EPISODE_JOB_NAME

    assert EPISODE_JOB_NAME == definitions.EPISODE_JOB_NAME
    assert {s.name for s in definitions.defs.sensors} >= {"rss_feeds", "upload_landing", "licence_expiry"}
    harness.definitions = definitions.defs
    url = _serve(harness, "/simple.xml", (shared_media / "rss/podcastparser_tests/simple.rss").read_bytes())
    harness.write_feeds([{"url": url, "title": "Simple", "default_licence": "analysis-only"}])
    result = harness.tick()
    (request,) = result.run_requests
    episode_job = definitions.defs.resolve_job_def(definitions.EPISODE_JOB_NAME)
    all_names = {k.path[-1] for k in episode_job.asset_layer.executable_asset_keys}
    assert "shot_index" in all_names
    assert _names(request) == {n for n in all_names if n not in ("shot_index", "preview")}
    assert request.partition_key in _new_keys(result)
    # the selection is a valid subset of the episode job
    job = definitions.defs.resolve_job_def(definitions.EPISODE_JOB_NAME)
    subset = job.get_subset(asset_selection=set(request.asset_selection))
    assert {k.path[-1] for k in subset.asset_layer.executable_asset_keys} >= _names(request)
