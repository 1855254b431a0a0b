"""Enclosure downloads and the one-content-one-episode rule: an RSS item whose enclosure holds
the same bytes as another episode is not stored twice; its run fails with the reason, the row
says which partition holds the content, and no master is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_platform.catalogue import Catalogue
from media_platform.errors import MediaError
from media_platform.ingest.enclosures import fetch_enclosure
from media_platform.ingest.feeds import FeedConfig, FeedItem
from media_platform.ingest.rss_episodes import rss_episode
from media_platform.storage import LocalStore
from tests._http_server import LocalServer, Route


def _row(server: LocalServer, guid: str, path: str):
    feed = FeedConfig(url=server.url("/feed.xml"), title="Speeches", default_licence="full")
    item = FeedItem(guid=guid, title=f"Speech {guid}", enclosure_url=server.url(path),
                    enclosure_type="audio/flac")
    return rss_episode(item, feed)


def test_same_enclosure_content_is_one_episode(tmp_path: Path, shared_media: Path) -> None:
    flac = (shared_media / "audio/whisper_jfk/jfk.flac").read_bytes()
    store = LocalStore(tmp_path / "home")
    catalogue = Catalogue(store)
    with LocalServer() as server:
        server.routes["/a.flac"] = Route(body=flac, content_type="audio/flac")
        server.routes["/b.flac"] = Route(body=flac, content_type="audio/flac")
        first, second = _row(server, "one", "/a.flac"), _row(server, "two", "/b.flac")
        catalogue.upsert(first)
        catalogue.upsert(second)
        stored = fetch_enclosure(store, catalogue, first)
        assert stored.master_key and len(stored.content_hash) == 64
        with pytest.raises(MediaError) as err:
            fetch_enclosure(store, catalogue, second)
    assert f"same content as partition {first.partition_key!r}" in err.value.problem
    assert err.value.path.endswith("/b.flac")
    row = catalogue.get(second.partition_key)
    assert row.master_key == "" and not row.content_hash
    assert row.metadata["same_content_as"] == first.partition_key
    assert not list((tmp_path / "home" / "masters").glob(f"{second.partition_key}/*"))
    # the first episode is untouched and still the one holding the content
    assert catalogue.find_by_hash(stored.content_hash).partition_key == first.partition_key


@pytest.mark.parametrize("failure", ["row removed meanwhile", "database unreachable"])
def test_any_failure_to_record_the_download_leaves_no_master(tmp_path: Path, failure: str) -> None:
    from test_register import _tone

    from media_platform.catalogue import CatalogueError

    tone = _tone(tmp_path / "tone.mp3", 440).read_bytes()
    store = LocalStore(tmp_path / "home")
    catalogue = Catalogue(store)
    real_modify = catalogue.modify

    def modify(partition_key, change):
        if failure == "row removed meanwhile":
            catalogue.remove(partition_key)
            return real_modify(partition_key, change)
        raise CatalogueError(catalogue.where, "database is locked")

    catalogue.modify = modify
    with LocalServer() as server:
        server.routes["/a.mp3"] = Route(body=tone, content_type="audio/mpeg")
        row = _row(server, "one", "/a.mp3")
        catalogue.upsert(row)
        with pytest.raises(KeyError if failure == "row removed meanwhile" else CatalogueError):
            fetch_enclosure(store, catalogue, row)
    assert store.list_keys("masters") == []
