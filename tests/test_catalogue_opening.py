"""Opening the catalogue's database: a healthy SQLite file that SQLite recovers from its WAL is
not refused, and on PostgreSQL a failed migration reports its own error, not the aborted
transaction's, and releases the migration lock."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from _postgres import postgres_server, require_postgres

from media_platform.catalogue import Catalogue, CatalogueError, database
from media_platform.catalogue.database import SQLITE_KEY, check_sqlite_file
from media_platform.storage import LocalStore


def _copy_with_wal(db: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(db, dest)
    shutil.copyfile(db.with_name(db.name + "-wal"), dest.with_name(dest.name + "-wal"))


def test_a_database_mid_checkpoint_is_opened_from_its_wal(tmp_path: Path) -> None:
    # as the reviewer did: a WAL database that grew, copied while its pages are in the WAL only
    db = tmp_path / "live" / SQLITE_KEY
    Catalogue(LocalStore(tmp_path / "live"))
    live = sqlite3.connect(db, isolation_level=None)
    live.execute("PRAGMA wal_autocheckpoint=0")
    for i in range(400):
        live.execute("INSERT INTO catalogue_episodes VALUES (?, 'T', NULL, 'audio', 'u', 'k', ?, 'cli', '{}', ?, 't', 't')",
                     (f"ep-{i:04d}", f"{i:064d}", '{"pad": "' + "x" * 400 + '"}'))
    # a checkpoint writes page 1 (the header with the new page count) before the pages that grow
    # the file: take page 1 as a finished checkpoint leaves it, the rest as before the checkpoint
    _copy_with_wal(db, tmp_path / "done" / "episodes.db")
    finished = sqlite3.connect(tmp_path / "done" / "episodes.db", isolation_level=None)
    finished.execute("PRAGMA wal_checkpoint(FULL)")
    finished.close()
    page_size = int.from_bytes((tmp_path / "done" / "episodes.db").read_bytes()[16:18], "big")
    copy = tmp_path / "copy" / SQLITE_KEY
    _copy_with_wal(db, copy)
    live.close()
    head = (tmp_path / "done" / "episodes.db").read_bytes()[:page_size]
    copy.write_bytes(head + copy.read_bytes()[page_size:])
    declared = int.from_bytes(head[28:32], "big")
    assert declared * page_size > copy.stat().st_size  # what the old check refused
    check_sqlite_file(copy)
    assert Catalogue(LocalStore(tmp_path / "copy")).count() == 400
    # without its WAL the same file is truncated, and still refused
    os.remove(copy.with_name(copy.name + "-wal"))
    copy.write_bytes(head + (tmp_path / "live" / SQLITE_KEY).read_bytes()[page_size:page_size * 2])
    with pytest.raises(CatalogueError, match="truncated: the header declares"):
        check_sqlite_file(copy)


def test_a_failed_migration_on_postgresql_reports_its_own_error(tmp_path: Path, monkeypatch) -> None:
    require_postgres()

    def failing(self: database.Database, conn: sa.Connection) -> None:
        conn.execute(sa.text("CREATE TABLE catalogue_probe (x int)"))
        conn.execute(sa.text("SELECT 1 / 0"))  # the migration's real error: the transaction aborts

    with postgres_server() as server:
        url = server.create_database()
        monkeypatch.setenv("MEDIA_PLATFORM_CATALOGUE_URL", url)
        with monkeypatch.context() as patched:
            patched.setattr(database.Database, "_migrate", failing)
            with pytest.raises(CatalogueError) as error:
                Catalogue(LocalStore(tmp_path))
        assert "division by zero" in str(error.value), str(error.value)
        # the failed migration was rolled back and the lock released: the next open migrates
        cat = Catalogue(LocalStore(tmp_path))
        assert cat.count() == 0
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            probe = conn.execute(sa.text("SELECT to_regclass('catalogue_probe')")).scalar_one()
            locks = conn.execute(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar_one()
        engine.dispose()
        assert probe is None and locks == 0


@pytest.mark.parametrize("url", ["not a url", "postgresql+psycopg://mp:s3cret@db.example:port/catalogue"])
def test_an_invalid_catalogue_url_is_named_by_the_cli(tmp_path: Path, url: str) -> None:
    import subprocess

    env = {**os.environ, "MEDIA_PLATFORM_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster"),
           "MEDIA_PLATFORM_CATALOGUE_URL": url}
    result = subprocess.run(["media-platform", "list"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode in (1, 2), result
    assert result.stderr.startswith("error: ") and "MEDIA_PLATFORM_CATALOGUE_URL" in result.stderr, result.stderr
    assert "not an SQLAlchemy database URL" in result.stderr and "Traceback" not in result.stderr
    assert "s3cret" not in result.stderr  # the password is never printed
    assert not (tmp_path / "home").exists()  # refused before anything was created
