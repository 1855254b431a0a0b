"""The catalogue as a database: uniqueness enforced by the database, keyset pages, migrations,
the one-time import of the old Parquet layout, the Parquet export, and corrupt files giving a
clear error that names them while staying byte-identical (issue 9, defect 6)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from media_platform.catalogue import (
    Catalogue,
    CatalogueError,
    DuplicateContentError,
    Episode,
    PartitionKeyTakenError,
)
from media_platform.catalogue.database import SQLITE_KEY
from media_platform.catalogue.export import EXPORT_KEY
from media_platform.catalogue.legacy import LEGACY_KEY
from media_platform.storage import LocalStore

LEGACY_SCHEMA = {name: pl.Utf8 for name in (
    "partition_key", "title", "episode_id", "kind", "master_uri", "master_key", "content_hash",
    "source", "licence_json", "metadata_json", "ingested_at", "updated_at")}


def _episode(key: str, digest: str | None = None, source: str = "cli") -> Episode:
    return Episode(partition_key=key, title=key.title(), kind="audio", master_uri=f"file:///{key}",
                   master_key=f"masters/{key}/master.mp3",
                   content_hash=digest if digest is not None else hashlib.sha256(key.encode()).hexdigest(),
                   source=source, licence={"analysis": True}, metadata={"n": 1})


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_database_refuses_a_second_row_with_the_same_content(tmp_path: Path) -> None:
    cat = Catalogue(LocalStore(tmp_path))
    cat.upsert(_episode("a", "h" * 64))
    engine = sa.create_engine(f"sqlite:///{tmp_path / SQLITE_KEY}")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # not the code: the schema
        conn.execute(sa.text(
            "INSERT INTO catalogue_episodes VALUES ('b','B',NULL,'audio','u','k',:h,'cli','{}','{}','t','t')"
        ), {"h": "h" * 64})
    engine.dispose()
    with pytest.raises(DuplicateContentError, match="already catalogued as 'a'"):
        cat.upsert(_episode("b", "h" * 64))
    cat.upsert(_episode("c"))
    with pytest.raises(DuplicateContentError):
        cat.modify("c", lambda e: replace(e, content_hash="h" * 64))
    assert cat.get("c").content_hash == _episode("c").content_hash
    assert [e.partition_key for e in cat.episodes()] == ["a", "c"]


def test_rss_rows_before_download_may_share_the_empty_hash(tmp_path: Path) -> None:
    cat = Catalogue(LocalStore(tmp_path))
    for key in ("feed-a", "feed-b"):
        cat.upsert(replace(_episode(key, ""), source="rss", master_key=""))
    assert [e.content_hash for e in cat.episodes()] == ["", ""]
    assert cat.find_by_hash("") is None


def test_new_content_never_replaces_a_row_holding_other_content(tmp_path: Path) -> None:
    # the old catalogue replaced the row: one master overwritten, one row lost (defect 3)
    cat = Catalogue(LocalStore(tmp_path))
    first, created = cat.insert_new_content(_episode("same-title", "1" * 64))
    with pytest.raises(PartitionKeyTakenError, match="same-title"):
        cat.insert_new_content(_episode("same-title", "2" * 64))
    assert created and cat.get("same-title").content_hash == "1" * 64
    again, created = cat.insert_new_content(_episode("other-key", "1" * 64))
    assert not created and again.partition_key == "same-title"


def test_pages_in_key_order(tmp_path: Path) -> None:
    cat = Catalogue(LocalStore(tmp_path))
    keys = [f"ep-{i:03d}" for i in range(25)]
    for key in reversed(keys):
        cat.upsert(_episode(key))
    assert [e.partition_key for e in cat.page(limit=10)] == keys[:10]
    assert [e.partition_key for e in cat.page(after="ep-019", limit=10)] == keys[20:]
    assert [e.partition_key for e in cat.iter_episodes(page_size=7)] == keys
    assert cat.count() == 25
    assert cat.remove("ep-000", content_hash="0" * 64) is False and cat.get("ep-000") is not None


def test_modify_of_an_unknown_key_raises_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        Catalogue(LocalStore(tmp_path)).modify("nope", lambda e: e)


def _legacy_file(store: LocalStore, episodes: list[Episode]) -> bytes:
    rows = []
    for e in episodes:
        row = e.to_row()
        row["content_hash"] = row["content_hash"] or ""
        rows.append(row)
    buf = io.BytesIO()
    pl.DataFrame(rows, schema=LEGACY_SCHEMA).write_parquet(buf, compression="zstd")
    store.write_bytes(LEGACY_KEY, buf.getvalue())
    return buf.getvalue()


def test_the_old_parquet_layout_is_imported_once_and_kept(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    old = [replace(_episode("a"), ingested_at="2026-01-01T00:00:00+00:00", updated_at="2026-01-02T00:00:00+00:00"),
           replace(_episode("rss-item", ""), source="rss", master_key="")]
    data = _legacy_file(store, old)
    cat = Catalogue(store)
    assert cat.episodes() == old
    assert store.read_bytes(LEGACY_KEY) == data
    engine = sa.create_engine(f"sqlite:///{tmp_path / SQLITE_KEY}")
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM catalogue_alembic_version").scalar_one()
        marker = json.loads(conn.exec_driver_sql("SELECT value FROM catalogue_meta").scalar_one())
    engine.dispose()
    assert version == "0002" and marker["rows"] == 2 and marker["sha256"] == hashlib.sha256(data).hexdigest()
    cat.remove("a")
    # a new process opens it again: the import is not repeated (the removal stands)
    code = ("from media_platform.catalogue import Catalogue; from media_platform.storage import LocalStore;"
            f"print([e.partition_key for e in Catalogue(LocalStore({str(tmp_path)!r})).episodes()])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['rss-item']"
    assert store.read_bytes(LEGACY_KEY) == data


def test_a_corrupt_legacy_file_names_itself_imports_nothing_and_stays(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    data = _legacy_file(store, [_episode(f"ep-{i}") for i in range(50)])
    torn = data[: len(data) // 2]
    store.write_bytes(LEGACY_KEY, torn)
    for _ in range(2):
        with pytest.raises(CatalogueError, match=r"episodes\.parquet: not a readable Parquet catalogue"):
            Catalogue(store)
    assert store.read_bytes(LEGACY_KEY) == torn
    store.write_bytes(LEGACY_KEY, data)  # repaired: imported
    assert len(Catalogue(store).episodes()) == 50


def _broken_database(tmp_path: Path, how: str) -> Path:
    store = LocalStore(tmp_path)
    cat = Catalogue(store)
    for i in range(300):
        cat.upsert(replace(_episode(f"ep-{i:04d}"), metadata={"pad": "x" * 400}))
    db = tmp_path / SQLITE_KEY
    # a clean copy of the file at rest (checkpointed into a fresh file by VACUUM INTO)
    clean = tmp_path / "clean.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"VACUUM INTO '{clean}'")
    engine.dispose()
    data = clean.read_bytes()
    broken = tmp_path / "broken" / SQLITE_KEY
    broken.parent.mkdir(parents=True)
    if how == "truncated":
        broken.write_bytes(data[: len(data) // 2])
    elif how == "torn-page":
        broken.write_bytes(data[: len(data) // 2 + 100])
    elif how == "garbage":
        broken.write_bytes(b"\x00garbage" * 1000)
    else:  # pages overwritten in the middle
        middle = len(data) // 2 // 4096 * 4096
        broken.write_bytes(data[:middle] + b"\xff" * 8192 + data[middle + 8192:])
    return broken


@pytest.mark.parametrize("how", ["truncated", "torn-page", "garbage", "scribbled"])
def test_a_corrupt_database_gives_a_clear_error_and_stays_byte_identical(tmp_path: Path, how: str) -> None:
    broken = _broken_database(tmp_path, how)
    before = broken.read_bytes()
    with pytest.raises(CatalogueError) as error:
        Catalogue(LocalStore(tmp_path / "broken"))
    assert str(error.value).startswith(f"{broken}: ")
    assert "left untouched" in str(error.value)
    assert broken.read_bytes() == before
    assert sorted(p.name for p in broken.parent.iterdir() if not p.name.startswith(".")) == ["episodes.db"]


def test_the_cli_reports_a_corrupt_database_without_a_traceback(tmp_path: Path) -> None:
    broken = _broken_database(tmp_path, "truncated")
    before = broken.read_bytes()
    env = {**os.environ, "MEDIA_PLATFORM_HOME": str(tmp_path / "broken"), "DAGSTER_HOME": str(tmp_path / "dagster")}
    env.pop("MEDIA_PLATFORM_CATALOGUE_URL", None)
    for _ in range(2):  # every command says the same, and nothing is overwritten
        result = subprocess.run(["media-platform", "list"], capture_output=True, text=True,
                                env=env, timeout=120)
        assert result.returncode != 0
        assert result.stderr.startswith(f"error: {broken}: truncated"), result.stderr
        assert "Traceback" not in result.stderr
        assert broken.read_bytes() == before


def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    Catalogue(LocalStore(tmp_path))
    db = tmp_path / SQLITE_KEY
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE catalogue_alembic_version SET version_num = '9999'")
    engine.dispose()
    code = ("from media_platform.catalogue import Catalogue; from media_platform.storage import LocalStore;"
            f"Catalogue(LocalStore({str(tmp_path)!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "schema version '9999' is newer than this code knows" in result.stderr


def test_parquet_export_for_analytics(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    cat = Catalogue(store)
    for key in ("b", "a"):
        cat.upsert(_episode(key))
    cat.upsert(replace(_episode("rss", ""), source="rss"))
    uri = cat.export_parquet()
    assert uri == store.uri(EXPORT_KEY)
    df = pl.read_parquet(store.path(EXPORT_KEY))
    assert df["partition_key"].to_list() == ["a", "b", "rss"]
    assert [Episode.from_row(r) for r in df.iter_rows(named=True)] == cat.episodes()
    assert not store.exists(LEGACY_KEY)  # the export never poses as the legacy catalogue


def test_the_catalogue_url_setting_chooses_the_database(tmp_path: Path, monkeypatch) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MEDIA_PLATFORM_CATALOGUE_URL", f"sqlite:///{elsewhere}")
    cat = Catalogue(LocalStore(tmp_path / "home"))
    cat.upsert(_episode("a"))
    assert elsewhere.is_file() and not (tmp_path / "home" / SQLITE_KEY).exists()
    assert cat.where == str(elsewhere)


def test_a_forked_child_uses_its_own_connections(tmp_path: Path) -> None:
    cat = Catalogue(LocalStore(tmp_path))
    cat.upsert(_episode("parent"))
    pid = os.fork()
    if pid == 0:  # the child writes through the same Catalogue object
        try:
            cat.upsert(_episode("child"))
            os._exit(0 if cat.get("parent") is not None else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    cat.upsert(_episode("parent-again"))
    assert [e.partition_key for e in cat.episodes()] == ["child", "parent", "parent-again"]


def test_where_the_database_is_by_default(tmp_path: Path, monkeypatch) -> None:
    from media_platform.catalogue.database import catalogue_url
    from media_platform.storage import S3Store

    monkeypatch.delenv("MEDIA_PLATFORM_CATALOGUE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert catalogue_url(LocalStore(tmp_path / "home")) == f"sqlite:///{tmp_path / 'home' / SQLITE_KEY}"
    # SQLite cannot live on S3: beside the Dagster instance, one file per bucket and prefix
    first, other = catalogue_url(S3Store(None, "bucket", "a")), catalogue_url(S3Store(None, "bucket", "b"))
    assert first.startswith(f"sqlite:///{tmp_path / 'dagster' / 'catalogue'}/s3-") and first != other
    monkeypatch.setenv("MEDIA_PLATFORM_CATALOGUE_URL", "postgresql+psycopg://u@127.0.0.1/c")
    assert catalogue_url(S3Store(None, "bucket", "a")) == "postgresql+psycopg://u@127.0.0.1/c"


def test_many_catalogues_in_one_process_keep_few_connections(tmp_path: Path) -> None:
    from media_platform.catalogue import database

    catalogues = [Catalogue(LocalStore(tmp_path / f"home-{i}")) for i in range(database.MAX_OPEN_DATABASES + 4)]
    for i, cat in enumerate(catalogues):
        cat.upsert(_episode(f"ep-{i}"))
    assert len(database._DATABASES) <= database.MAX_OPEN_DATABASES
    # the evicted ones still work (they reconnect)
    assert [c.get(f"ep-{i}").partition_key for i, c in enumerate(catalogues)] == [f"ep-{i}" for i in range(len(catalogues))]


def test_the_episode_catalogue_asset_writes_the_analytics_export(tmp_path: Path) -> None:
    import dagster as dg

    from assets.catalogue import episode_catalogue
    from resources import MediaStorage

    store = LocalStore(tmp_path / "home")
    for key in ("b", "a"):
        Catalogue(store).upsert(_episode(key))
    with dg.instance_for_test() as instance:
        result = dg.materialize([episode_catalogue], instance=instance,
                                resources={"storage": MediaStorage(root=str(store.root))})
    metadata = result.asset_materializations_for_node("episode_catalogue")[0].metadata
    assert metadata["episodes"].value == 2 and metadata["export"].value == store.uri(EXPORT_KEY)
    assert pl.read_parquet(store.path(EXPORT_KEY))["partition_key"].to_list() == ["a", "b"]
