"""Read-only SQL against the metadata database: one SELECT only, no file reads, bounded rows and
time, and a database that stays readable while another process swaps in a rebuilt file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from media_platform.errors import InvalidInputError
from media_platform.metadata.query import (
    MetadataDatabaseError,
    QueryResult,
    check_select,
    run_query,
    shorten,
)


def make_db(path: Path, rows: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE shots AS SELECT range AS shot, range * 1.5 AS duration_s, "
                 "'title-' || (range % 3) AS title FROM range(?)", [rows])
    conn.execute("CREATE SEQUENCE seq")
    conn.close()
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "metadata" / "metadata.duckdb")


@pytest.fixture
def outside_files(tmp_path: Path) -> dict[str, Path]:
    """Files next to (not inside) the database that untrusted SQL must not read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    conn = duckdb.connect()
    conn.execute(f"COPY (SELECT 42 AS secret) TO '{outside / 'secret.parquet'}' (FORMAT parquet)")
    conn.close()
    (outside / "secret.csv").write_text("secret\n42\n")
    (outside / "secret.json").write_text('{"secret": 42}\n')
    return {"parquet": outside / "secret.parquet", "csv": outside / "secret.csv",
            "json": outside / "secret.json", "dir": outside}


def test_select_returns_columns_and_rows(db: Path):
    result = run_query(db, "SELECT shot, duration_s FROM shots WHERE shot < 3 ORDER BY shot")
    assert result == QueryResult(columns=["shot", "duration_s"], rows=[(0, 0.0), (1, 1.5), (2, 3.0)], truncated=False)


@pytest.mark.parametrize("sql", [
    "WITH t AS (SELECT title, count(*) AS n FROM shots GROUP BY title) SELECT * FROM t ORDER BY title",
    "FROM shots SELECT title, count(*) AS n GROUP BY title ORDER BY title",
    "SELECT title, count(*) AS n FROM shots GROUP BY title ORDER BY title;",
    "  -- a comment\nSELECT title, count(*) AS n FROM shots GROUP BY ALL ORDER BY 1",
])
def test_select_forms_are_accepted(db: Path, sql: str):
    result = run_query(db, sql)
    assert result.columns == ["title", "n"]
    assert result.rows == [("title-0", 34), ("title-1", 33), ("title-2", 33)]


def test_describe_and_show_tables_are_reads(db: Path):
    assert run_query(db, "SHOW TABLES").rows == [("shots",)]
    assert [r[0] for r in run_query(db, "DESCRIBE shots").rows] == ["shot", "duration_s", "title"]


@pytest.mark.parametrize(("sql", "problem"), [
    ("ATTACH '{dir}/other.duckdb' AS other", "ATTACH statement refused"),
    ("DETACH metadata", "DETACH statement refused"),
    ("COPY shots TO '{dir}/leak.csv'", "COPY statement refused"),
    ("COPY shots FROM '{csv}'", "COPY statement refused"),
    ("INSTALL httpfs", "statement refused"),
    ("LOAD httpfs", "statement refused"),
    ("PRAGMA enable_profiling", "PRAGMA statement refused"),
    ("SET enable_external_access = true", "SET statement refused"),
    ("RESET threads", "statement refused"),
    ("USE memory", "statement refused"),
    ("EXPORT DATABASE '{dir}/dump'", "EXPORT statement refused"),
    ("CALL pragma_version()", "CALL statement refused"),
    ("CHECKPOINT", "statement refused"),
    ("CREATE TABLE t (a INT)", "CREATE statement refused"),
    ("CREATE VIEW v AS SELECT 1", "CREATE statement refused"),
    ("INSERT INTO shots VALUES (1, 1.0, 'x')", "INSERT statement refused"),
    ("UPDATE shots SET title = 'x'", "UPDATE statement refused"),
    ("DELETE FROM shots", "DELETE statement refused"),
    ("DROP TABLE shots", "DROP statement refused"),
    ("EXPLAIN SELECT 1", "EXPLAIN statement refused"),
    ("SELECT 1; DROP TABLE shots", "2 statements"),
    ("SELECT 1; SELECT 2", "2 statements"),
    ("-- only a comment", "no SQL statement"),
    ("", "no SQL statement"),
    ("SELEC 1", "syntax error"),
    ("SELECT * FROM read_parquet('{parquet}')", "disabled by configuration"),
    ("SELECT * FROM '{parquet}'", "disabled by configuration"),
    ("SELECT * FROM read_csv('{csv}')", "disabled by configuration"),
    ("SELECT * FROM read_csv_auto('{csv}')", "disabled by configuration"),
    ("SELECT * FROM read_json_auto('{json}')", "disabled by configuration"),
    ("SELECT * FROM read_text('{csv}')", "disabled by configuration"),
    ("SELECT * FROM read_blob('{csv}')", "disabled by configuration"),
    ("SELECT * FROM glob('{dir}/*')", "disabled by configuration"),
    ("SELECT * FROM parquet_metadata('{parquet}')", "disabled by configuration"),
    ("SELECT * FROM sniff_csv('{csv}')", "disabled by configuration"),
    ("SELECT * FROM query('ATTACH ''{dir}/x.duckdb''')", "single SELECT"),
    ("SELECT nextval('seq')", "read-only"),
    ("SELECT * FROM no_such_table", "no_such_table does not exist"),
])
def test_refused(db: Path, outside_files: dict[str, Path], sql: str, problem: str):
    sql = sql.format(**outside_files)
    before = db.read_bytes()
    listing = sorted(p.name for p in outside_files["dir"].iterdir())
    with pytest.raises(InvalidInputError) as info:
        run_query(db, sql)
    message = str(info.value)
    assert problem in message, message
    assert message.startswith(shorten(sql) + ": ")
    assert "42" not in message  # nothing of the outside files leaks
    assert db.read_bytes() == before
    assert sorted(p.name for p in outside_files["dir"].iterdir()) == listing


def test_refused_before_running(tmp_path: Path):
    """The statement type is judged by DuckDB's parser before any connection exists."""
    with pytest.raises(InvalidInputError, match="COPY statement refused"):
        check_select("copy (select 1) to 'x.csv'")
    with pytest.raises(InvalidInputError, match="COPY statement refused"):
        run_query(tmp_path / "missing.duckdb", "copy (select 1) to 'x.csv'")


def test_error_shortens_long_sql(db: Path):
    sql = "SELECT " + ", ".join(f"col_{i}" for i in range(200)) + " FROM shots"
    with pytest.raises(InvalidInputError) as info:
        run_query(db, sql)
    head = str(info.value).split(": ", 1)[0]
    assert head.startswith("SELECT col_0, col_1") and head.endswith("...") and len(head) <= 60


def test_control_characters_and_huge_sql_refused(db: Path):
    with pytest.raises(InvalidInputError, match="control characters"):
        run_query(db, "SELECT 1\x00")
    with pytest.raises(InvalidInputError, match="longer than"):
        run_query(db, "SELECT 1" + " " * 200_000)


def test_limit_truncates(db: Path):
    exact = run_query(db, "SELECT shot FROM shots ORDER BY shot", limit=100)
    assert len(exact.rows) == 100 and not exact.truncated
    cut = run_query(db, "SELECT shot FROM shots ORDER BY shot", limit=7)
    assert cut.rows == [(i,) for i in range(7)] and cut.truncated
    huge = run_query(db, "SELECT * FROM range(100000000)", limit=5)
    assert len(huge.rows) == 5 and huge.truncated


@pytest.mark.parametrize("limit", [0, -1, 10_000_000, True])
def test_bad_limit(db: Path, limit: int):
    with pytest.raises(InvalidInputError, match="limit"):
        run_query(db, "SELECT 1", limit=limit)


def test_timeout_interrupts_an_expensive_query(db: Path):
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match=r"stopped after 0.5 s \(time limit\)"):
        run_query(db, "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b", timeout_s=0.5)
    assert time.monotonic() - started < 20
    # the next query, on a fresh connection, is not disturbed by the timer
    assert run_query(db, "SELECT count(*) FROM shots", timeout_s=0.5).rows == [(100,)]


def test_duplicate_column_names_kept_apart(db: Path):
    result = run_query(db, "SELECT 1 AS a, 2 AS a, 3 AS a_2")
    assert result.columns == ["a", "a", "a_2"]
    assert result.as_dicts() == [{"a": 1, "a_2": 2, "a_2_2": 3}]


def test_missing_database_says_how_to_build_it(tmp_path: Path):
    with pytest.raises(MetadataDatabaseError, match=r"missing\.duckdb: no metadata database yet.*media-platform run"):
        run_query(tmp_path / "missing.duckdb", "SELECT 1")


def test_corrupt_database_is_named(tmp_path: Path):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"not a duckdb file" * 1000)
    with pytest.raises(MetadataDatabaseError, match=r"bad\.duckdb: cannot open the metadata database"):
        run_query(bad, "SELECT 1")
    assert bad.read_bytes() == b"not a duckdb file" * 1000


WRITER = textwrap.dedent("""
    import os, sys, duckdb
    db, generations = sys.argv[1], int(sys.argv[2])
    for gen in range(1, generations + 1):
        build = f"{db}.build-{os.getpid()}.duckdb"
        conn = duckdb.connect(build)
        conn.execute("CREATE TABLE shots AS SELECT range AS shot, ? AS gen, 'x' || range AS title "
                     "FROM range(20000 + 1000 * ?)", [gen, gen])
        conn.execute("CREATE TABLE info AS SELECT ? AS gen", [gen])
        conn.close()
        assert not os.path.exists(build + ".wal")
        os.replace(build, db)
""")

READER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from media_platform.metadata.query import run_query
    db, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    results, errors = [], []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = stop.exists()
        try:
            r = run_query(db, "SELECT i.gen, count(*), min(s.gen), max(s.gen), sum(s.shot) "
                              "FROM shots s, info i GROUP BY i.gen")
            results.append(list(r.rows[0]))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        if done:
            break
    out.write_text(json.dumps({"results": results, "errors": errors}))
""")


def test_readable_while_another_process_swaps_in_new_builds(tmp_path: Path):
    """A reader process queries in a loop while a writer process builds new database files and
    swaps each in with os.replace: every query succeeds and sees one whole generation."""
    db = tmp_path / "metadata.duckdb"
    build = duckdb.connect(str(db))
    build.execute("CREATE TABLE shots AS SELECT range AS shot, 0 AS gen, 'x' AS title FROM range(20000)")
    build.execute("CREATE TABLE info AS SELECT 0 AS gen")
    build.close()
    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), str(stop), str(out)])
    try:
        time.sleep(1.0)  # the reader is querying before the first swap
        generations = 25
        writer = subprocess.run([sys.executable, "-c", WRITER, str(db), str(generations)],
                                capture_output=True, text=True, timeout=300, check=False)
        assert writer.returncode == 0, writer.stderr
        stop.touch()
        assert reader.wait(timeout=120) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    report = json.loads(out.read_text())
    assert report["errors"] == []
    results = report["results"]
    assert len(results) >= 10
    seen = set()
    for gen, count, min_gen, max_gen, total in results:
        rows = 20000 + 1000 * gen if gen else 20000
        assert (count, min_gen, max_gen, total) == (rows, gen, gen, rows * (rows - 1) // 2)
        seen.add(gen)
    assert generations in seen  # the last query ran after the last swap
    assert len(seen) >= 3, seen  # the reader saw the swaps while they happened
    assert sorted(seen) == sorted(seen & set(range(generations + 1)))
    assert not list(tmp_path.glob("*.build-*"))


def test_the_dbt_built_database_is_queryable_read_only(tmp_path: Path):
    """The database that dbt builds (an empty home here) answers through run_query: its marts
    are tables, readable with external access disabled."""
    from media_platform.metadata import build_metadata_db

    home = tmp_path / "home"
    home.mkdir()
    db = tmp_path / "metadata" / "metadata.duckdb"
    build_metadata_db(home=home, db_path=db)
    tables = run_query(db, "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'")
    names = {name for (name,) in tables.rows}
    assert {"dim_titles", "dim_episodes", "fct_shots", "fct_transcript_segments", "fct_audio_events",
            "fct_previews", "title_summary"} <= names
    for name in sorted(names):
        assert run_query(db, f"SELECT count(*) FROM {name}").rows == [(0,)] or name.startswith("stg_")
    with pytest.raises(InvalidInputError, match="query the tables"):
        run_query(db, f"SELECT * FROM read_parquet('{home}/episodes/*/shots.parquet')")
