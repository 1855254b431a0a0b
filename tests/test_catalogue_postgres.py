"""The catalogue on PostgreSQL (production), against a real server started on a loopback port:
the same API, concurrent ingest from several processes, the same content from two processes at
once, concurrent first opens (one migration), and the import of the old Parquet layout.
The concurrency tests run against the embedded SQLite default too."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_catalogue_database import _episode, _legacy_file
from test_register import _assert_consistent, _race, _tone

from media_platform.catalogue import Catalogue, DuplicateContentError, PartitionKeyTakenError
from media_platform.catalogue.legacy import LEGACY_KEY
from media_platform.storage import LocalStore


def test_the_api_on_postgresql(postgres, monkeypatch, tmp_path: Path) -> None:
    url = postgres.create_database()
    monkeypatch.setenv("MEDIA_PLATFORM_CATALOGUE_URL", url)
    cat = Catalogue(LocalStore(tmp_path))
    assert cat.where == url and cat.episodes() == []
    first = cat.upsert(_episode("b"))
    cat.upsert(_episode("a"))
    cat.upsert(replace(_episode("rss-1", ""), source="rss"))
    cat.upsert(replace(_episode("rss-2", ""), source="rss"))
    again = cat.upsert(replace(_episode("b"), title="B again"))
    assert again.ingested_at == first.ingested_at and cat.get("b").title == "B again"
    assert [e.partition_key for e in cat.page(after="a", limit=2)] == ["b", "rss-1"]
    assert cat.find_by_hash(_episode("a").content_hash).partition_key == "a"
    with pytest.raises(DuplicateContentError):
        cat.upsert(_episode("c", _episode("a").content_hash))
    with pytest.raises(PartitionKeyTakenError):
        cat.insert_new_content(_episode("a", "0" * 64))
    assert cat.update_metadata("a", x=1).metadata == {"n": 1, "x": 1}
    assert cat.remove("a") and not cat.remove("a") and cat.count() == 3
    assert not (tmp_path / "catalogue").exists()  # nothing local with a PostgreSQL URL


def test_the_old_parquet_layout_is_imported_into_postgresql(postgres, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIA_PLATFORM_CATALOGUE_URL", postgres.create_database())
    store = LocalStore(tmp_path)
    data = _legacy_file(store, [_episode(f"ep-{i}") for i in range(20)])
    assert [e.partition_key for e in Catalogue(store).episodes()] == sorted(f"ep-{i}" for i in range(20))
    assert store.read_bytes(LEGACY_KEY) == data


def _open(root: str, barrier) -> None:
    barrier.wait(60)
    Catalogue(LocalStore(root)).upsert(_episode(f"from-{os.getpid()}"))


def _writer(root: str, start: int, barrier) -> None:
    cat = Catalogue(LocalStore(root))
    barrier.wait(60)
    for i in range(start, start + 15):
        cat.upsert(_episode(f"ep-{i:03d}"))
        cat.update_metadata(f"ep-{i:03d}", writer=start)


def _insert_same(root: str, key: str, barrier, queue) -> None:
    cat = Catalogue(LocalStore(root))
    barrier.wait(60)
    row, created = cat.insert_new_content(_episode(key, "c" * 64))
    queue.put((row.partition_key, created))


def _run(target, args_list) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0


def test_first_opens_from_four_processes_migrate_once(backend: str, tmp_path: Path) -> None:
    barrier = mp.get_context("spawn").Barrier(4)
    _run(_open, [(str(tmp_path), barrier)] * 4)
    cat = Catalogue(LocalStore(tmp_path))
    assert cat.count() == 4
    with cat._db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM catalogue_alembic_version")).scalars().all() == ["0002"]


def test_concurrent_writers_from_several_processes_lose_nothing(backend: str, tmp_path: Path) -> None:
    Catalogue(LocalStore(tmp_path))
    barrier = mp.get_context("spawn").Barrier(3)
    _run(_writer, [(str(tmp_path), start, barrier) for start in (0, 15, 30)])
    episodes = Catalogue(LocalStore(tmp_path)).episodes()
    assert [e.partition_key for e in episodes] == [f"ep-{i:03d}" for i in range(45)]
    assert all(e.metadata["writer"] == int(e.partition_key[3:]) // 15 * 15 for e in episodes)


def test_the_same_content_inserted_by_processes_at_once_is_one_row(backend: str, tmp_path: Path) -> None:
    Catalogue(LocalStore(tmp_path))
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    _run(_insert_same, [(str(tmp_path), f"key-{i}", barrier, queue) for i in range(4)])
    results = [queue.get(timeout=5) for _ in range(4)]
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert len({key for key, _ in results}) == 1
    assert Catalogue(LocalStore(tmp_path)).count() == 1


def test_concurrent_registration_of_files_and_copies(backend: str, tmp_path: Path) -> None:
    # three different files with one title and a copy of one of them, registered at once
    files = [_tone(tmp_path / f"{i}.mp3", 300 + 100 * i) for i in range(3)]
    copy = tmp_path / "copy.mp3"
    copy.write_bytes(files[0].read_bytes())
    results = _race(tmp_path, [*files, copy], "One Title")
    assert sorted(created for _, created in results) == [False, True, True, True]
    store = LocalStore(tmp_path / "home")
    catalogue = Catalogue(store)
    assert catalogue.count() == 3
    assert {e.content_hash for e in catalogue.episodes()} == {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    _assert_consistent(store, catalogue)


def test_the_catalogue_shares_a_database_with_dagsters_storage(postgres, monkeypatch, tmp_path: Path) -> None:
    # Dagster's instance storage keeps its own Alembic head in ``alembic_version``: the
    # catalogue's tables and version table are prefixed, so neither touches the other's
    url = postgres.create_database()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('dagster-head')")
        conn.exec_driver_sql("CREATE TABLE runs (id SERIAL PRIMARY KEY)")
    monkeypatch.setenv("MEDIA_PLATFORM_CATALOGUE_URL", url)
    Catalogue(LocalStore(tmp_path)).upsert(_episode("a"))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == ["dagster-head"]
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    assert tables == {"alembic_version", "runs", "catalogue_alembic_version", "catalogue_episodes", "catalogue_meta",
                      "catalogue_shot_labels"}


def test_concurrent_cli_ingests_with_a_postgresql_catalogue(postgres, tmp_path: Path) -> None:
    import subprocess

    url = postgres.create_database()
    env = {**os.environ, "MEDIA_PLATFORM_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "MEDIA_PLATFORM_CATALOGUE_URL": url}
    files = [_tone(tmp_path / f"{i}.mp3", 300 + 100 * i) for i in range(3)]
    procs = [subprocess.Popen(["media-platform", "--no-progress", "ingest", str(f), "--title", "Same Title"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    listing = subprocess.run(["media-platform", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and listing.stdout.count("Same Title") == 3, listing
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        hashes = set(conn.execute(sa.text("SELECT content_hash FROM catalogue_episodes")).scalars())
    engine.dispose()
    assert hashes == {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    assert not (tmp_path / "home" / "catalogue").exists()
