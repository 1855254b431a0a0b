"""``media-platform info`` and ``media-platform sql`` as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from cli_harness import cli, make_cli_env


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-metadata")


@pytest.fixture(scope="module")
def env(root: Path) -> dict[str, str]:
    return make_cli_env(root)


def _db_path(root: Path) -> Path:
    return (root / "home").resolve() / "metadata" / "metadata.duckdb"


@pytest.fixture(scope="module")
def with_db(root: Path, env: dict[str, str]) -> Path:
    path = _db_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE fct_shots AS SELECT 'demo-s01e01' AS partition_key, range AS shot, "
                 "range * 2.5 AS duration_s, ['music', 'speech'][1 + range % 2] AS top_tag FROM range(30)")
    conn.close()
    return path


def test_info_json_names_every_location(root: Path, env: dict[str, str]):
    result = cli(env, "info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    home = (root / "home").resolve()
    assert info == {
        "storage_home": str(home),
        "local_home": str(home),
        "catalogue": str(home / "catalogue" / "episodes.db"),
        "metadata_db": str(_db_path(root)),
        "metadata_db_exists": _db_path(root).is_file(),
        "vector_index": str(home / "vector_index"),
        "dagster_home": str((root / "dagster").resolve()),
    }
    text = cli(env, "info")
    assert text.returncode == 0, text.stderr
    assert f"metadata_db         {_db_path(root)}" in text.stdout


def test_info_honours_settings_and_hides_passwords(root: Path, env: dict[str, str]):
    custom = dict(env, MEDIA_PLATFORM_METADATA_DB=str(root / "elsewhere" / "m.duckdb"),
                  MEDIA_PLATFORM_CATALOGUE_URL="postgresql+psycopg://editor:s3cret@127.0.0.1:5432/catalogue",
                  MEDIA_PLATFORM_QDRANT_URL="http://127.0.0.1:6333")
    result = cli(custom, "info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["metadata_db"] == str((root / "elsewhere" / "m.duckdb").resolve())
    assert info["metadata_db_exists"] is False
    assert info["catalogue"] == "postgresql+psycopg://editor:***@127.0.0.1:5432/catalogue"
    assert info["vector_index"] == "http://127.0.0.1:6333"
    assert "s3cret" not in result.stdout + result.stderr


def test_sql_before_the_database_exists_says_how_to_build_it(root: Path, env: dict[str, str]):
    missing = dict(env, MEDIA_PLATFORM_METADATA_DB=str(root / "nowhere" / "m.duckdb"))
    result = cli(missing, "sql", "SELECT 1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "no metadata database yet" in result.stderr
    assert "media-platform run" in result.stderr


def test_sql_json_rows(env: dict[str, str], with_db: Path):
    result = cli(env, "sql", "SELECT shot, duration_s, top_tag FROM fct_shots WHERE shot < 3 ORDER BY shot", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"shot": 0, "duration_s": 0.0, "top_tag": "music"},
        {"shot": 1, "duration_s": 2.5, "top_tag": "speech"},
        {"shot": 2, "duration_s": 5.0, "top_tag": "music"},
    ]
    assert result.stderr == ""
    nested = cli(env, "sql", "SELECT 12.50::DECIMAL(6, 2) AS d, [1.5::DECIMAL(4, 1)] AS l, {'x': 7::DECIMAL(9, 0)} AS s", "--json")
    assert json.loads(nested.stdout) == [{"d": 12.5, "l": [1.5], "s": {"x": 7}}]  # numbers, not strings
    assert cli(env, "info", "--json").stdout.count('"metadata_db_exists": true') == 1


def test_sql_table_and_limit(env: dict[str, str], with_db: Path):
    result = cli(env, "sql", "WITH t AS (SELECT top_tag, count(*) AS shots FROM fct_shots GROUP BY ALL) "
                 "SELECT * FROM t ORDER BY top_tag")
    assert result.returncode == 0, result.stderr
    assert "top_tag" in result.stdout and "music" in result.stdout and "15" in result.stdout
    cut = cli(env, "sql", "SELECT shot FROM fct_shots ORDER BY shot", "--limit", "4", "--json")
    assert cut.returncode == 0, cut.stderr
    assert json.loads(cut.stdout) == [{"shot": i} for i in range(4)]
    assert "only the first 4 rows" in cut.stderr
    empty = cli(env, "sql", "SELECT shot FROM fct_shots WHERE shot < 0")
    assert empty.returncode == 0 and "no rows" in empty.stdout


@pytest.mark.parametrize(("args", "problem"), [
    (["DROP TABLE fct_shots"], "DROP statement refused"),
    (["SELECT 1; DELETE FROM fct_shots"], "2 statements"),
    (["COPY fct_shots TO 'leak.csv'"], "COPY statement refused"),
    (["SELECT * FROM read_csv('/etc/hostname')"], "disabled by configuration"),
    (["SELECT * FROM nope"], "nope does not exist"),
    (["SELEC 1"], "syntax error"),
    (["SELECT 1", "--limit", "0"], "--limit must be between"),
])
def test_sql_bad_input_exits_2(env: dict[str, str], with_db: Path, args: list[str], problem: str):
    before = with_db.read_bytes()
    result = cli(env, "sql", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: ") and problem in result.stderr, result.stderr
    assert result.stdout == ""
    assert with_db.read_bytes() == before
    assert json.loads(cli(env, "sql", "SELECT count(*) AS n FROM fct_shots", "--json").stdout) == [{"n": 30}]
