"""The episode catalogue: upserts, lookups by hash, and concurrent writers losing nothing."""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import replace
from pathlib import Path

from media_platform.catalogue import Catalogue, Episode
from media_platform.storage import LocalStore


def _episode(key: str, digest: str = "h") -> Episode:
    return Episode(partition_key=key, title=key.title(), kind="video", master_uri=f"file:///{key}",
                   master_key=f"masters/{key}/master.mp4", content_hash=digest + key, source="cli",
                   licence={"derivatives": False}, metadata={"n": 1})


def test_upsert_get_and_find_by_hash(tmp_path: Path) -> None:
    cat = Catalogue(LocalStore(tmp_path))
    assert cat.episodes() == []
    first = cat.upsert(_episode("b"))
    cat.upsert(_episode("a"))
    assert [e.partition_key for e in cat.episodes()] == ["a", "b"]
    again = cat.upsert(_episode("b", digest="other"))
    assert again.ingested_at == first.ingested_at  # ingestion time survives updates
    assert cat.get("b").content_hash == "otherb"
    assert cat.find_by_hash("ha").partition_key == "a"
    assert cat.get("b").licence == {"derivatives": False}
    assert cat.update_metadata("a", chapters=3).metadata == {"n": 1, "chapters": 3}
    assert cat.remove("a") and not cat.remove("a")


def _writer(root: str, start: int) -> None:
    cat = Catalogue(LocalStore(root))
    for i in range(start, start + 10):
        cat.upsert(_episode(f"ep-{i:03d}"))


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), s)) for s in (0, 10, 20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(Catalogue(LocalStore(tmp_path)).episodes()) == 30


def test_concurrent_ingests_of_the_same_content_create_one_episode(tmp_path: Path) -> None:
    # the same content hash under two keys: only the first insert wins
    cat = Catalogue(LocalStore(tmp_path))
    first, created = cat.insert_new_content(replace(_episode("a"), content_hash="h"))
    again, created_again = cat.insert_new_content(replace(_episode("b"), content_hash="h"))
    assert created and not created_again and again.partition_key == "a"
    assert [e.partition_key for e in cat.episodes()] == ["a"]


def test_locked_updates_merge(tmp_path: Path) -> None:
    cat = Catalogue(LocalStore(tmp_path))
    cat.upsert(_episode("a"))
    cat.update_metadata("a", x=1)
    cat.update_licence("a", {"identifier": "cc-by-nd-4.0"}, licence_source="catalogue")
    row = cat.get("a")
    assert row.metadata == {"n": 1, "x": 1, "licence_source": "catalogue"} and row.licence == {"identifier": "cc-by-nd-4.0"}


def test_insert_never_replaces_a_row_another_process_created(tmp_path: Path) -> None:
    # the RSS sensor's get() then insert(): a row created in between must survive untouched
    import pytest

    from media_platform.catalogue import DuplicateContentError, PartitionKeyTakenError

    mine, theirs = Catalogue(LocalStore(tmp_path)), Catalogue(LocalStore(tmp_path))
    assert mine.get("a") is None
    theirs.insert(_episode("a", digest="theirs"))
    with pytest.raises(PartitionKeyTakenError) as taken:
        mine.insert(_episode("a", digest="mine"))
    assert taken.value.existing.content_hash == "theirsa"
    assert mine.get("a").content_hash == "theirsa"
    with pytest.raises(DuplicateContentError):
        mine.insert(replace(_episode("b"), content_hash="theirsa"))
    stored = mine.insert(_episode("c"))
    assert stored.ingested_at and mine.get("c") == stored
