"""Building the metadata database on PostgreSQL (dbt-postgres, target ``postgres``): the raw
tables are synced from the store (:mod:`~media_platform.metadata.postgres_load`), then
``dbt build`` runs the same models and tests there.

There is no file to swap: each model is built in dbt's own transaction. Builders serialize on a
PostgreSQL advisory lock held for the whole load and build, so two builds never interleave. A
test failing at severity ``error`` raises :class:`MetadataBuildError` after the models were
built (unlike the DuckDB build, whose file is then left as it was); ``warn`` is reported.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.metadata.build import (
    BuildReport,
    MetadataBuildError,
    dbt_args,
    node_results,
    project_dir,
    run_dbt,
)
from media_platform.metadata.postgres_load import RAW_SCHEMA, LoadReport, load_raw_tables
from media_platform.storage import Store

#: pg_advisory_lock key of the metadata builders (a fixed 64-bit number: "mp-metadata").
BUILD_LOCK = 0x6D702D6D65746164


def postgres_vars(url: str, *, schema: str, raw_schema: str = RAW_SCHEMA) -> dict[str, Any]:
    """The dbt vars of the ``postgres`` target for ``url`` (a SQLAlchemy or libpq URL)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise InvalidInputError("metadata PostgreSQL URL: not a database URL; expected "
                                "postgresql://user:password@host:5432/database") from None
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        raise InvalidInputError(f"{parsed.render_as_string(hide_password=True)}: "
                                "not a PostgreSQL URL with a database name")
    return {
        "pg_host": parsed.host or "127.0.0.1",
        "pg_port": int(parsed.port or 5432),
        "pg_user": parsed.username or "postgres",
        "pg_password": parsed.password or "",
        "pg_dbname": parsed.database,
        "pg_schema": schema,
        "raw_schema": raw_schema,
    }


def connect(target: dict[str, Any]) -> Any:
    """A psycopg connection (autocommit: the loader opens its own transactions)."""
    import psycopg

    try:
        return psycopg.connect(host=target["pg_host"], port=target["pg_port"], user=target["pg_user"],
                               password=target["pg_password"] or None, dbname=target["pg_dbname"],
                               autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        where = f"{target['pg_host']}:{target['pg_port']}/{target['pg_dbname']}"
        raise MetadataBuildError(f"{where}: cannot connect to the metadata PostgreSQL: {exc}") from exc


@contextmanager
def locked(target: dict[str, Any]) -> Iterator[Any]:
    """A connection holding the builders' advisory lock (waits for another builder to finish);
    closing the session releases it."""
    conn = connect(target)
    try:
        conn.execute("select pg_advisory_lock(%s)", [BUILD_LOCK])
        yield conn
    finally:
        conn.close()


@contextmanager
def private_profiles(target: dict[str, Any]) -> Iterator[Path]:
    """A profiles folder (owner-only) whose ``postgres`` target holds the password, for a dbt
    subprocess (the Dagster dbt resource): the password never appears in its arguments."""
    import yaml

    with tempfile.TemporaryDirectory(prefix="dbt-profiles-") as folder:
        path = Path(folder) / "profiles.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump({"media_platform": {"target": "postgres", "outputs": {"postgres": {
                "type": "postgres", "host": target["pg_host"], "port": target["pg_port"], "user": target["pg_user"],
                "password": target["pg_password"], "dbname": target["pg_dbname"], "schema": target["pg_schema"],
                "threads": 1}}}}, handle)
        yield Path(folder)


def public_vars(target: dict[str, Any]) -> dict[str, Any]:
    """The dbt vars of ``target`` without the password."""
    return {k: v for k, v in target.items() if k != "pg_password"}


def build_metadata_postgres(
    *, store: Store, url: str, schema: str = "media_metadata", select: str | None = None,
    full_refresh: bool = False,
) -> tuple[BuildReport, LoadReport]:
    """Sync the raw tables from ``store`` and run ``dbt build --target postgres`` into
    ``schema`` of the database at ``url``, under the builders' advisory lock.

    Raises:
        InvalidInputError: a bad URL, an unreadable output or catalogue export.
        MetadataBuildError: no connection, a model failed or a test failed at severity ``error``.
    """
    start = time.perf_counter()
    target = postgres_vars(url, schema=schema)
    with locked(target) as conn:
        loaded = load_raw_tables(conn, store, project_dir(), schema=target["raw_schema"], full_refresh=full_refresh)
        outcome = run_dbt(dbt_args(target, target="postgres", select=select, full_refresh=full_refresh))
    nodes = node_results(outcome.result)
    where = f"{target['pg_host']}:{target['pg_port']}/{target['pg_dbname']} schema {schema}"
    failed = [n for n in nodes if n.status in ("error", "fail")]
    if failed or not outcome.success:
        detail = "; ".join(f"{n.name}: {n.status}: {n.message}" for n in failed) or "dbt build failed"
        raise MetadataBuildError(f"{where}: metadata build failed: {detail}")
    return BuildReport(db_path=None, seconds=time.perf_counter() - start, nodes=nodes, where=where), loaded
