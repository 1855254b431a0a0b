"""From a feed to a transcript: the RSS sensor ingests an item served on 127.0.0.1, its run's
first asset downloads the enclosure, and the audio assets transcribe it. A broken enclosure
fails only its own episode, with an error naming the URL."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import jiwer
import pytest
import yaml
from platform_harness import check_results, materialized, platform_for_test

from assets import audio, ingest, previews, video
from media_platform.audio.wer import normalize_text
from media_platform.catalogue import Catalogue
from media_platform.cli.show import show_rows
from sensors.rss import build_rss_sensor
from tests._http_server import LocalServer, Route

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:podcast="https://podcastindex.org/namespace/1.0">
  <channel>
    <title>Speeches</title>
    <link>http://127.0.0.1/</link>
    <podcast:license>cc-by-nd-4.0</podcast:license>
    <item>
      <title>Inaugural address</title>
      <guid>speech-1</guid>
      <pubDate>Fri, 20 Jan 1961 12:00:00 GMT</pubDate>
      <enclosure url="/media/jfk.flac" type="audio/flac" length="{length}"/>
      <itunes:episode>1</itunes:episode>
    </item>
    <item>
      <title>Broken upload</title>
      <guid>speech-2</guid>
      <pubDate>Sat, 21 Jan 1961 12:00:00 GMT</pubDate>
      <enclosure url="/media/broken.mp3" type="audio/mpeg" length="100"/>
    </item>
  </channel>
</rss>
"""


@pytest.fixture
def world(tmp_path: Path, shared_media: Path, monkeypatch: pytest.MonkeyPatch):
    with platform_for_test(tmp_path, shared_media, [ingest, video, audio, previews]) as platform, LocalServer() as server:
        monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(platform.resources["storage"].root))
        monkeypatch.delenv("MEDIA_PLATFORM_LICENCES", raising=False)
        flac = (shared_media / "audio/whisper_jfk/jfk.flac").read_bytes()
        server.routes["/media/jfk.flac"] = Route(body=flac, content_type="audio/flac")
        server.routes["/media/broken.mp3"] = Route(body=b"<html>not audio</html>" * 5, content_type="audio/mpeg")
        server.routes["/feed.xml"] = Route(body=FEED.format(length=len(flac)).encode(), content_type="application/rss+xml")
        yield platform, server


def _tick(platform, feeds_file: Path) -> dg.SensorResult:
    sensor = build_rss_sensor(path=feeds_file)
    definitions = dg.Definitions(assets=platform.definitions, resources=platform.resources, jobs=[
        # as definitions.py: everything partitioned by episode, not the catalogue or the models
        dg.define_asset_job("episode_pipeline",
                            selection=dg.AssetSelection.all() - dg.AssetSelection.groups("models", "catalogue"))])
    context = dg.build_sensor_context(instance=platform.instance, resources={"storage": platform.resources["storage"]},
                                      definitions=definitions)
    result = sensor(context)
    for request in result.dynamic_partitions_requests or []:
        platform.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_feed_item_is_downloaded_and_transcribed(world, tmp_path: Path, shared_media: Path) -> None:
    platform, server = world
    feeds = tmp_path / "feeds.yaml"
    # the operator allows everything; the feed's CC BY-ND claim restricts that
    feeds.write_text(yaml.safe_dump({"feeds": [{"url": server.url("/feed.xml"), "title": "Speeches",
                                                "default_licence": "full"}]}))
    result = _tick(platform, feeds)
    requests = {r.partition_key: r for r in result.run_requests}
    assert len(requests) == 2
    episodes = {e.title: e for e in Catalogue(platform.store).episodes()}
    good, bad = episodes["Inaugural address"], episodes["Broken upload"]
    assert good.master_key == "" and good.source == "rss"

    # CC BY-ND: analysis yes, previews no; the sensor's selection says so.
    selected = {k.to_user_string() for k in requests[good.partition_key].asset_selection}
    assert "transcript" in selected and "preview" not in selected
    run = platform.run(good.partition_key, dg.AssetSelection.assets(*requests[good.partition_key].asset_selection))
    assert run.success
    assert {"master", "audio", "audio_events", "transcript"} <= materialized(run)
    assert all(check_results(run).values())
    stored = Catalogue(platform.store).get(good.partition_key)
    assert stored.master_key.startswith(f"masters/{good.partition_key}/") and len(stored.content_hash) == 64
    text = " ".join(r["text"] for r in show_rows(platform.store, good.partition_key, "transcript"))
    reference = (shared_media / "audio/whisper_jfk/jfk.txt").read_text()
    assert jiwer.wer(normalize_text(reference), normalize_text(text)) <= 0.10

    # The broken enclosure fails its own run with the URL in the error; the good one is intact.
    failed = platform.run(bad.partition_key, dg.AssetSelection.assets(*requests[bad.partition_key].asset_selection))
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert "/media/broken.mp3" in failure.step_failure_data.user_failure_data.description
    assert Catalogue(platform.store).get(bad.partition_key).master_key == ""
    assert show_rows(platform.store, good.partition_key, "transcript")
    assert json.loads(json.dumps(show_rows(platform.store, good.partition_key, "audio")))[0]["lufs_after"] > -17
