"""Where the catalogue's database is, and opening it: one engine per URL and process, the file
checked before anything writes to it, the schema migrated under a lock.

The URL is ``get_settings().catalogue_url`` (``MEDIA_PLATFORM_CATALOGUE_URL``) when set, e.g.
``postgresql+psycopg://user@host/db`` in production (it may be the database of Dagster's
instance storage: every table is prefixed ``catalogue_``). Otherwise it is an SQLite file:
``catalogue/episodes.db`` under a local storage root, or, with an ``s3://`` root,
``catalogue/s3-<hash of the root>.db`` in the Dagster instance folder (``$DAGSTER_HOME``, whose
storage holds the episode partitions that the rows pair with), since SQLite cannot live on S3
(writers on several hosts then need the PostgreSQL URL).

SQLite runs in WAL mode with a busy timeout; writers open their transaction with
``BEGIN IMMEDIATE`` so they queue for the write lock instead of failing half-way. Before the
first connection writes anything, an existing file is checked (header, size, ``quick_check``):
a truncated or corrupt file raises :class:`CatalogueError` naming it, and is left untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock

from media_platform.catalogue.errors import CatalogueError
from media_platform.catalogue.schema import VERSION_TABLE
from media_platform.settings import get_settings
from media_platform.storage import LocalStore, Store

SQLITE_KEY = "catalogue/episodes.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 60_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ADVISORY_LOCK_ID = 0x6D70_6361_7400  # "mpcat": serializes catalogue migrations in PostgreSQL


def catalogue_url(store: Store) -> str:
    """The SQLAlchemy URL of ``store``'s catalogue (see the module docstring)."""
    configured = get_settings().catalogue_url
    if configured:
        return configured
    if isinstance(store, LocalStore):
        path = store.root / SQLITE_KEY
    else:
        identity = hashlib.sha256(store.uri("catalogue").encode()).hexdigest()[:16]
        path = get_settings().dagster_home / "catalogue" / f"s3-{identity}.db"
    return f"sqlite:///{path}"


def check_sqlite_file(path: Path) -> None:
    """Raise CatalogueError when ``path`` exists but is not a whole SQLite database: wrong
    header, a size that is not whole pages, or fewer pages than its header declares. The page
    count is not compared when a non-empty ``<db>-wal`` exists: SQLite recovers such a file
    from the WAL (a checkpoint writes the header before the pages that grow the file), and
    ``PRAGMA quick_check`` after opening judges it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return  # created, never written: SQLite treats it as empty
    with open(path, "rb") as fh:
        header = fh.read(100)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise CatalogueError(str(path), "not an SQLite database (overwritten or truncated); left untouched")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise CatalogueError(str(path), f"corrupt SQLite header (page size {page_size}); left untouched")
    if size % page_size:
        raise CatalogueError(str(path), f"truncated: {size} bytes is not a whole number of {page_size}-byte pages; left untouched")
    declared = int.from_bytes(header[28:32], "big")
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        return  # mid-checkpoint the header may count pages only the WAL holds yet: quick_check decides
    if header[92:96] == header[24:28] and declared * page_size > size:
        raise CatalogueError(
            str(path), f"truncated: the header declares {declared} pages, the file holds {size // page_size}; left untouched"
        )


class Database:
    """An engine for one catalogue URL in this process, prepared (checked and migrated)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pid = os.getpid()
        parsed = sa.engine.make_url(url)
        self.dialect = parsed.get_backend_name()
        self.path: Path | None = None
        if self.dialect == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise CatalogueError(url, "the catalogue needs an SQLite file, not an in-memory database")
            self.path = Path(parsed.database).expanduser().resolve()
            self.where = str(self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            check_sqlite_file(self.path)
            self.engine = sa.create_engine(f"sqlite:///{self.path}", pool_size=5, max_overflow=10)
            _sqlite_events(self.engine)
        else:
            self.where = parsed.render_as_string(hide_password=True)
            self.engine = sa.create_engine(url, pool_size=5, max_overflow=10)
        self.writer = self.engine.execution_options(catalogue_write=True)

    # ---- errors -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Turn driver errors (other than constraint violations, which callers handle) into
        CatalogueError naming the file or the (password-less) URL."""
        try:
            yield
        except sa.exc.IntegrityError:
            raise
        except sa.exc.DBAPIError as exc:
            problem = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            if "malformed" in problem or "not a database" in problem:
                problem = f"corrupt database ({problem}); left untouched"
            raise CatalogueError(self.where, problem) from None

    # ---- preparation --------------------------------------------------------------------------

    @contextlib.contextmanager
    def migration_lock(self, conn: sa.Connection | None = None) -> Iterator[None]:
        """Serialize schema changes and the legacy import between processes and hosts: a lock
        file beside an SQLite database, a session advisory lock in PostgreSQL."""
        if self.path is not None:
            with FileLock(str(self.path.parent / f".{self.path.name}.lock"), timeout=BUSY_TIMEOUT_MS / 1000):
                yield
        elif self.dialect == "postgresql" and conn is not None:
            conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
            conn.commit()
            try:
                yield
            except BaseException:
                # the failed transaction is rolled back first (in an aborted transaction the
                # unlock itself fails); a failed unlock never hides the original error
                try:
                    conn.rollback()
                    _pg_unlock(conn)
                except Exception:
                    conn.invalidate()  # closing the session releases its advisory lock
                raise
            _pg_unlock(conn)
        else:
            yield

    def prepare(self) -> None:
        """Check the file, switch SQLite to WAL and migrate the schema to the newest version."""
        with self.errors():
            if self.path is not None:
                with self.engine.connect() as conn:
                    status = conn.exec_driver_sql("PRAGMA quick_check").scalars().all()
                if status != ["ok"]:
                    raise CatalogueError(self.where, f"corrupt database ({'; '.join(status[:3])}); left untouched")
            with self.writer.connect() as conn, self.migration_lock(conn):
                if self.path is not None:  # outside any transaction: SQLite refuses it inside one
                    conn.connection.driver_connection.execute("PRAGMA journal_mode=WAL")
                self._migrate(conn)
                conn.commit()

    def _migrate(self, conn: sa.Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        script = ScriptDirectory.from_config(config)
        current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
        head = script.get_current_head()
        if current == head:
            return
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise CatalogueError(self.where, f"schema version {current!r} is newer than this code knows ({head!r}); upgrade media-platform")
        command.upgrade(config, "head")


def _pg_unlock(conn: sa.Connection) -> None:
    conn.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _ADVISORY_LOCK_ID})
    conn.commit()


def _sqlite_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("catalogue_write") else "BEGIN")


_DATABASES: OrderedDict[str, Database] = OrderedDict()
_GUARD = threading.Lock()
#: Databases kept open per process; the least recently opened beyond this give back their
#: pooled connections (a Catalogue still holding one reconnects on its next call).
MAX_OPEN_DATABASES = 16


def open_database(url: str) -> Database:
    """The prepared database of ``url`` in this process (created, checked and migrated once)."""
    with _GUARD:
        db = _DATABASES.get(url)
        if db is None or db.pid != os.getpid():
            db = Database(url)
            try:
                db.prepare()
            except BaseException:
                db.engine.dispose()
                raise
            _DATABASES[url] = db
        _DATABASES.move_to_end(url)
        while len(_DATABASES) > MAX_OPEN_DATABASES:
            _, evicted = _DATABASES.popitem(last=False)
            evicted.engine.dispose()
        return db


def _after_fork_in_child() -> None:
    # a forked child must not use the parent's pooled connections: drop them without closing
    for db in _DATABASES.values():
        db.engine.dispose(close=False)
    _DATABASES.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
