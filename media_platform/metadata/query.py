"""Read-only queries against the metadata database (the DuckDB file that dbt builds).

:func:`run_query` is what ``media-platform sql`` and the search API use to run SQL that a user
wrote. The text is untrusted, so:

- DuckDB's own parser (``duckdb.extract_statements``) must find exactly one statement, of type
  SELECT (``SELECT``, ``WITH ... SELECT``, ``FROM t``, ``VALUES``, ``DESCRIBE``, ``SHOW``,
  ``SUMMARIZE``). ATTACH, COPY, INSTALL/LOAD, PRAGMA, SET, EXPORT, CALL, CREATE, INSERT... are
  refused before anything runs.
- Each call opens its own connection, ``read_only=True``, with ``enable_external_access=false``
  (no file, glob or URL reads: ``read_parquet``, ``read_csv``, ``read_text``, ``glob``...; no
  extension loading) and the configuration locked. The marts must therefore be tables, not views
  over Parquet files.
- The work is bounded: at most ``limit`` rows are fetched (``truncated`` says more existed) and
  the query is interrupted after ``timeout_s`` seconds.

The builder writes a new file and swaps it in with ``os.replace``, so a connection opened here
keeps reading the file it opened (a consistent snapshot) while the next call sees the new one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from media_platform.errors import InvalidInputError, MediaPlatformError
from media_platform.keys import printable, require_text

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 1_000_000
DEFAULT_TIMEOUT_S = 30.0
MAX_SQL_CHARS = 100_000

#: Connection settings of every query: read-only file, no outside world, settings frozen.
READ_ONLY_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "lock_configuration": True,
}

_BUILD_HINT = (
    "build it first: `media-platform run PARTITION` (it materializes the dbt models) or "
    "materialize the metadata (dbt) assets in Dagster"
)


class MetadataDatabaseError(MediaPlatformError):
    """The metadata database is missing or cannot be opened."""


@dataclass(frozen=True)
class QueryResult:
    """Column names, at most ``limit`` rows (tuples of Python values), and whether there were more."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool

    def unique_columns(self) -> list[str]:
        """The column names, a repeated one suffixed ``_2``, ``_3``... (``SELECT 1, 1``)."""
        seen: set[str] = set()
        names = []
        for name in self.columns:
            unique, n = name, 1
            while unique in seen:
                n += 1
                unique = f"{name}_{n}"
            seen.add(unique)
            names.append(unique)
        return names

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}``, keyed by :meth:`unique_columns`."""
        names = self.unique_columns()
        return [dict(zip(names, row, strict=True)) for row in self.rows]


def shorten(sql: str, width: int = 60) -> str:
    """``sql`` on one line, printable, cut to ``width`` characters (for error messages)."""
    one_line = " ".join(printable(sql).split())
    return one_line if len(one_line) <= width else one_line[: width - 3] + "..."


def _problem(exc: BaseException) -> str:
    """DuckDB's message without its caret diagram: the first line."""
    text = str(exc).strip()
    return printable(text.splitlines()[0] if text else type(exc).__name__)


def check_select(sql: str) -> str:
    """The text of the one SELECT statement in ``sql``; else InvalidInputError
    ``<sql, shortened>: <problem>``."""
    require_text(sql, "sql", max_length=MAX_SQL_CHARS)
    where = shorten(sql)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise InvalidInputError(f"{where}: {_problem(exc)}") from None
    if not statements:
        raise InvalidInputError(f"{where}: no SQL statement")
    if len(statements) > 1:
        raise InvalidInputError(f"{where}: {len(statements)} statements; give exactly one SELECT")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name
        raise InvalidInputError(f"{where}: {kind} statement refused; only one read-only SELECT (or WITH ... SELECT)")
    return statement.query


def _check_bounds(limit: int, timeout_s: float) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit: {limit!r}: expected a whole number from 1 to {MAX_LIMIT}")
    if not 0 < timeout_s <= 3600:
        raise InvalidInputError(f"timeout: {timeout_s!r}: expected seconds, more than 0, at most 3600")


def connect_read_only(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the metadata database with external access disabled."""
    path = Path(db_path)
    if not path.is_file():
        raise MetadataDatabaseError(f"{printable(path)}: no metadata database yet; {_BUILD_HINT}")
    try:
        return duckdb.connect(str(path), read_only=True, config=dict(READ_ONLY_CONFIG))
    except duckdb.Error as exc:
        raise MetadataDatabaseError(f"{printable(path)}: cannot open the metadata database: {_problem(exc)}") from None


class _Deadline:
    """Interrupts ``conn`` after ``seconds`` unless stopped first (never after it is stopped)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, seconds: float) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._stopped = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._lock:
            if not self._stopped:
                self.fired = True
                self._conn.interrupt()

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._stopped = True
        self._timer.cancel()


def run_query(
    db_path: Path, sql: str, *, limit: int = DEFAULT_LIMIT, timeout_s: float = DEFAULT_TIMEOUT_S
) -> QueryResult:
    """Run one read-only SELECT against the DuckDB file ``db_path``.

    Raises:
        InvalidInputError: ``<sql, shortened>: <problem>`` for SQL that is not one SELECT, that
            DuckDB rejects (unknown table, type error, a file read...) or that runs past
            ``timeout_s``; also for a bad ``limit``.
        MetadataDatabaseError: the file is missing (build it first) or cannot be opened.
    """
    _check_bounds(limit, timeout_s)
    query = check_select(sql)
    where = shorten(sql)
    conn = connect_read_only(db_path)
    try:
        deadline = _Deadline(conn, timeout_s)
        try:
            with deadline:
                cursor = conn.execute(query)
                columns = [d[0] for d in cursor.description or []]
                rows = cursor.fetchmany(limit + 1)
        except duckdb.InterruptException:
            raise InvalidInputError(f"{where}: stopped after {timeout_s:g} s (time limit)") from None
        except duckdb.Error as exc:
            if deadline.fired:
                raise InvalidInputError(f"{where}: stopped after {timeout_s:g} s (time limit)") from None
            hint = ""
            if isinstance(exc, duckdb.PermissionException):
                hint = " (no file, URL or extension access here: query the tables, e.g. dim_episodes, fct_shots)"
            raise InvalidInputError(f"{where}: {_problem(exc)}{hint}") from None
    finally:
        conn.close()
    truncated = len(rows) > limit
    return QueryResult(columns=columns, rows=[tuple(r) for r in rows[:limit]], truncated=truncated)
