"""The PostgreSQL loader of the metadata build: PostgreSQL cannot read Parquet, so the outputs
are copied into raw tables (schema ``media_raw``: one table per output, named like its dbt
source, holding the spec's raw columns plus ``partition_key``; see
:mod:`~media_platform.metadata.columns`) that the dbt models read on the ``postgres`` target.

The files are read through the platform's :class:`~media_platform.storage.Store`, so a local
and an S3 home load alike. A partition is reloaded only when its fingerprint changed (its
output files' stamps and its licence decisions, like ``stg_partition_state`` on DuckDB): the
delete and the COPY of its rows, and its ``media_raw.partition_state`` row, are one
transaction. Partitions no longer catalogued lose their rows; partitions whose licence forbids
analysis keep a state row but no output rows. The catalogue export is replaced in one
transaction on every load (one row per episode).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.layout import episode_key
from media_platform.metadata.columns import (
    CATALOGUE,
    OUTPUT_FILES,
    RawColumn,
    raw_columns,
    spec_digest,
)
from media_platform.storage import LocalStore, Store

EXPORT_KEY = "exports/episodes.parquet"
RAW_SCHEMA = "media_raw"
STATE_TABLE = "partition_state"


@dataclass
class LoadReport:
    """What a load did: partitions (re)loaded, removed and left as they were, rows copied per
    raw table, seconds."""

    loaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Partition:
    key: str
    allows_analysis: bool
    allows_search_indexing: bool
    files: tuple[str, ...]  # "<partition>/<file name>", sorted
    fingerprint: str


def _sql(conn: Any):  # noqa: ANN202 - psycopg.sql, imported lazily with psycopg
    from psycopg import sql

    return sql


def _create_tables(conn: Any, project: Path, schema: str) -> None:
    """The raw tables of the spec; all dropped and created again when the spec changed."""
    sql = _sql(conn)
    digest = spec_digest(project)
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("create table if not exists {}.load_spec (digest text not null)").format(sql.Identifier(schema)))
    row = conn.execute(sql.SQL("select digest from {}.load_spec").format(sql.Identifier(schema))).fetchone()
    if row is not None and row[0] == digest:
        return
    for table in [*OUTPUT_FILES, CATALOGUE, STATE_TABLE]:
        conn.execute(sql.SQL("drop table if exists {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    for table in [*OUTPUT_FILES, CATALOGUE]:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.postgres_type)) for c in raw_columns(project, table))
        conn.execute(sql.SQL("create table {}.{} ({})").format(sql.Identifier(schema), sql.Identifier(table), columns))
        conn.execute(sql.SQL("create index on {}.{} (partition_key)").format(sql.Identifier(schema), sql.Identifier(table)))
    conn.execute(sql.SQL(
        "create table {}.{} (partition_key text primary key, allows_analysis boolean not null, "
        "allows_search_indexing boolean not null, files text[] not null, fingerprint text not null)"
    ).format(sql.Identifier(schema), sql.Identifier(STATE_TABLE)))
    conn.execute(sql.SQL("delete from {}.load_spec").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("insert into {}.load_spec values (%s)").format(sql.Identifier(schema)), [digest])


def _read_parquet(data: bytes, where: str) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is named with its problem
        raise InvalidInputError(f"{where}: unreadable Parquet output: {exc}") from exc


def _rows(table: Any, partition: str | None, columns: list[RawColumn]) -> Iterator[tuple]:
    """The raw columns of a pyarrow table (a column the file lacks is null), ``partition``
    first unless None (the catalogue holds its own ``partition_key``)."""
    from psycopg.types.json import Jsonb

    values = []
    for c in columns:
        if c.name == "partition_key" and partition is not None:
            values.append([partition] * table.num_rows)
        elif c.name in table.column_names:
            data = table.column(c.name).to_pylist()
            values.append([Jsonb(v) if v is not None else None for v in data] if c.type == "words" else data)
        else:
            values.append([None] * table.num_rows)
    return zip(*values, strict=True)


def _copy(conn: Any, schema: str, table: str, columns: list[RawColumn], rows: Iterable[tuple]) -> int:
    sql = _sql(conn)
    statement = sql.SQL("copy {}.{} ({}) from stdin").format(
        sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns))
    n = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _stamp(store: Store, key: str) -> str | None:
    """Name, size and modification time of a local file; the content's SHA-256 elsewhere.
    None when the file does not exist."""
    if isinstance(store, LocalStore):
        try:
            stat = store.path(key).stat()
        except FileNotFoundError:
            return None
        return f"{key}:{stat.st_size}:{stat.st_mtime_ns}"
    if not store.exists(key):
        return None
    return f"{key}:{hashlib.sha256(store.read_bytes(key)).hexdigest()}"


def _partitions(store: Store, catalogue: Any) -> list[_Partition]:
    keys = catalogue.column("partition_key").to_pylist()
    analysis = catalogue.column("allows_analysis").to_pylist()
    indexing = catalogue.column("allows_search_indexing").to_pylist()
    found = []
    for key, allows_analysis, allows_indexing in zip(keys, analysis, indexing, strict=True):
        stamps, files = [], []
        for name in sorted(OUTPUT_FILES.values()):
            stamp = _stamp(store, episode_key(key, name))
            if stamp is not None:
                stamps.append(stamp)
                files.append(f"{key}/{name}")
        text = f"{','.join(stamps)}|{bool(allows_analysis)}|{bool(allows_indexing)}"
        found.append(_Partition(key, bool(allows_analysis), bool(allows_indexing), tuple(files),
                                hashlib.md5(text.encode()).hexdigest()))  # noqa: S324 - a fingerprint
    return found


def _delete_partition(conn: Any, schema: str, key: str) -> None:
    sql = _sql(conn)
    for table in [*OUTPUT_FILES, STATE_TABLE]:
        conn.execute(sql.SQL("delete from {}.{} where partition_key = %s").format(
            sql.Identifier(schema), sql.Identifier(table)), [key])


def _load_partition(conn: Any, store: Store, project: Path, schema: str, p: _Partition, report: LoadReport) -> None:
    sql = _sql(conn)
    with conn.transaction():
        _delete_partition(conn, schema, p.key)
        if p.allows_analysis:
            for table, name in OUTPUT_FILES.items():
                if f"{p.key}/{name}" not in p.files:
                    continue
                key = episode_key(p.key, name)
                data = store.read_bytes(key)
                columns = raw_columns(project, table)
                if name.endswith(".json"):
                    try:
                        value = json.loads(data)
                    except ValueError as exc:
                        raise InvalidInputError(f"{store.uri(key)}: unreadable JSON output: {exc}") from exc
                    rows: Iterable[tuple] = [tuple(p.key if c.name == "partition_key" else value.get(c.name)
                                                   for c in columns)] if isinstance(value, dict) else []
                else:
                    rows = _rows(_read_parquet(data, store.uri(key)), p.key, columns)
                report.rows[table] = report.rows.get(table, 0) + _copy(conn, schema, table, columns, rows)
        conn.execute(sql.SQL("insert into {}.{} values (%s, %s, %s, %s, %s)").format(
            sql.Identifier(schema), sql.Identifier(STATE_TABLE)),
            [p.key, p.allows_analysis, p.allows_search_indexing, list(p.files), p.fingerprint])


def load_raw_tables(conn: Any, store: Store, project: Path, *, schema: str = RAW_SCHEMA, full_refresh: bool = False) -> LoadReport:
    """Bring the raw tables in ``schema`` up to date with ``store``'s outputs and catalogue
    export, over ``conn`` (a psycopg connection; the caller holds the builders' lock).

    Raises:
        InvalidInputError: an unreadable output or export (the partitions loaded before it stay
            loaded; that partition keeps its previous rows).
    """
    start = time.perf_counter()
    sql = _sql(conn)
    report = LoadReport()
    with conn.transaction():
        _create_tables(conn, project, schema)
        if full_refresh:
            conn.execute(sql.SQL("delete from {}.{}").format(sql.Identifier(schema), sql.Identifier(STATE_TABLE)))
    catalogue_columns = raw_columns(project, CATALOGUE)
    if store.exists(EXPORT_KEY):
        export = _read_parquet(store.read_bytes(EXPORT_KEY), store.uri(EXPORT_KEY))
        missing = {"partition_key", "allows_analysis", "allows_search_indexing"} - set(export.column_names)
        if missing:
            raise InvalidInputError(f"{store.uri(EXPORT_KEY)}: the catalogue export lacks {', '.join(sorted(missing))}; "
                                    "materialize episode_catalogue again")
    else:
        import pyarrow as pa

        export = pa.table({"partition_key": pa.array([], pa.string()), "allows_analysis": pa.array([], pa.bool_()),
                           "allows_search_indexing": pa.array([], pa.bool_())})
    with conn.transaction():
        conn.execute(sql.SQL("delete from {}.{}").format(sql.Identifier(schema), sql.Identifier(CATALOGUE)))
        report.rows[CATALOGUE] = _copy(conn, schema, CATALOGUE, catalogue_columns, _rows(export, None, catalogue_columns))
    stored = dict(conn.execute(sql.SQL("select partition_key, fingerprint from {}.{}").format(
        sql.Identifier(schema), sql.Identifier(STATE_TABLE))).fetchall())
    current = _partitions(store, export)
    for p in current:
        if stored.get(p.key) == p.fingerprint:
            report.unchanged += 1
            continue
        _load_partition(conn, store, project, schema, p, report)
        report.loaded.append(p.key)
    for key in sorted(set(stored) - {p.key for p in current}):
        with conn.transaction():
            _delete_partition(conn, schema, key)
        report.removed.append(key)
    report.seconds = time.perf_counter() - start
    return report
