"""The metadata models on PostgreSQL (dbt-postgres), against the real server of
``tests/_postgres.py``: the benchmark's synthetic home (``benchmarks/metadata_build.py``: the
platform's layout and schemas) is built into DuckDB and into PostgreSQL, and the marts agree
(rows, keys, tags, words, chapters, title figures); every dbt test passes there; one new
episode reloads only its partition; a purged or unlicensed episode's rows leave the database;
two builders serialize on the advisory lock."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import benchmark_modules
import duckdb
import psycopg
import pytest

from media_platform.catalogue import Catalogue
from media_platform.errors import InvalidInputError
from media_platform.metadata import build_metadata_db
from media_platform.metadata.postgres_build import (
    BUILD_LOCK,
    build_metadata_postgres,
    postgres_vars,
)
from media_platform.storage import LocalStore

bench = benchmark_modules.load("metadata_build")

SCHEMA = "media_metadata"
FACTS = ("fct_shots", "fct_shot_tags", "fct_transcript_segments", "fct_audio_events", "fct_previews")
KEYS = {"dim_titles": "title_id", "dim_episodes": "partition_key", "fct_shots": "shot_id",
        "fct_transcript_segments": "segment_id", "fct_audio_events": "event_id", "fct_previews": "partition_key",
        "title_summary": "title_id"}


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pg(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute(f"set search_path to {SCHEMA}")
        return conn.execute(sql, params).fetchall()


def _duck(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory, postgres):
    """Five synthetic episodes (ep-000000's title forbids search indexing) built into DuckDB
    and into a fresh PostgreSQL database."""
    root = tmp_path_factory.mktemp("metadata-pg")
    home = root / "home"
    bench.add_episodes(home, 0, 5)
    db = root / "metadata.duckdb"
    build_metadata_db(home=home, db_path=db)
    url = postgres.create_database()
    report, loaded = build_metadata_postgres(store=LocalStore(home), url=url)
    return home, db, url, report, loaded


def test_every_model_and_dbt_test_on_postgresql(built) -> None:
    _, _, url, report, loaded = built
    assert set(report.models.values()) == {"success"} and len(report.models) >= 17
    assert len(report.tests) >= 30 and set(report.tests.values()) == {"pass"}, report.tests
    assert report.db_path is None and SCHEMA in report.where
    assert sorted(loaded.loaded) == [f"ep-{i:06d}" for i in range(5)] and loaded.unchanged == 0
    assert loaded.rows["shots"] == _pg(url, "select count(*) from media_raw.shots")[0][0] > 0


def test_the_marts_agree_with_duckdb(built) -> None:
    _, db, url, _, _ = built
    for table, key in KEYS.items():
        assert sorted(_pg(url, f"select {key} from {table}")) == sorted(_duck(db, f"select {key} from {table}")), table
    assert _pg(url, "select count(*) from fct_shot_tags") == _duck(db, "select count(*) from fct_shot_tags")
    shots = "select shot_id, start_s, end_s, duration_s, keyframe_uri, tag_names, chapter, words, spoken_text, searchable, " \
            "transition, transition_start_s, transition_end_s from fct_shots order by shot_id"
    pg_shots, duck_shots = _pg(url, shots), _duck(db, shots)
    assert [tuple(r) for r in pg_shots] == [tuple(r) for r in duck_shots]
    assert sum(len(r[7]) for r in pg_shots) > 0 and sum(len(r[5]) for r in pg_shots) > 0
    assert {r[10] for r in pg_shots} == {None, "cut", "dissolve"} and any(r[11] is not None for r in pg_shots)
    tags = "select shot_id, tags from fct_shots order by shot_id"
    pg_tags = [[(t["tag"], t["score"]) for t in tags] for _, tags in _pg(url, tags)]
    duck_tags = [[(t["tag"], t["score"]) for t in tags] for _, tags in _duck(db, tags)]
    assert pg_tags == duck_tags
    segments = "select segment_id, text, word_count, searchable from fct_transcript_segments order by 1"
    assert _pg(url, segments) == _duck(db, segments)
    summary = ("select title, episodes, hours, shots_per_minute, speech_share, music_share, top_tags, "
               "episodes_with_preview, preview_status, licences, searchable from title_summary order by title")
    pg_rows, duck_rows = _pg(url, summary), _duck(db, summary)
    assert len(pg_rows) == len(duck_rows) == 5
    for p, d in zip(pg_rows, duck_rows, strict=True):
        assert p[:2] == d[:2] and p[6:] == d[6:]
        assert p[2:6] == pytest.approx(d[2:6])
    assert {s for (s,) in _pg(url, "select distinct searchable from fct_shots where partition_key = 'ep-000000'")} == {False}


def test_one_new_episode_reloads_only_its_partition_and_removed_rows_leave(built, tmp_path, monkeypatch) -> None:
    home, _, url, _, _ = built
    before = dict(_pg(url, "select partition_key, max(loaded_at) from fct_shots group by 1"))
    bench.add_episodes(home, 5, 6)
    report, loaded = build_metadata_postgres(store=LocalStore(home), url=url)
    assert loaded.loaded == ["ep-000005"] and loaded.unchanged == 5 and not loaded.removed
    assert set(report.tests.values()) == {"pass"}
    after = dict(_pg(url, "select partition_key, max(loaded_at) from fct_shots group by 1"))
    assert {k: v for k, v in after.items() if k != "ep-000005"} == before
    assert after["ep-000005"] > max(before.values())

    # licence_expiry purges ep-000003 (its outputs are gone) and the operator withdraws
    # Show 4's analysis (ep-000004's outputs stay; the export says what it allows today)
    shutil.rmtree(home / "episodes" / "ep-000003")
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences:\n  Show 4:\n    uses: []\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    Catalogue(LocalStore(home)).export_parquet()
    report, loaded = build_metadata_postgres(store=LocalStore(home), url=url)
    assert sorted(loaded.loaded) == ["ep-000003", "ep-000004"] and set(report.tests.values()) == {"pass"}
    for fact in FACTS:
        assert _pg(url, f"select count(*) from {fact} where partition_key in ('ep-000003', 'ep-000004')") == [(0,)], fact
    assert _pg(url, "select count(*) from media_raw.shots where partition_key in ('ep-000003', 'ep-000004')") == [(0,)]
    assert _pg(url, "select count(*) from fct_shots where partition_key = 'ep-000002'")[0][0] > 0
    assert "Show 4" not in {t for (t,) in _pg(url, "select title from title_summary")}


def test_builders_serialize_on_the_advisory_lock(built) -> None:
    home, _, url, _, _ = built
    done: list[float] = []
    with psycopg.connect(_libpq(url), autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", [BUILD_LOCK])
        worker = threading.Thread(target=lambda: (build_metadata_postgres(store=LocalStore(home), url=url),
                                                  done.append(time.monotonic())))
        worker.start()
        time.sleep(3)
        released = time.monotonic()
        assert not done  # waiting for the lock
        holder.execute("select pg_advisory_unlock(%s)", [BUILD_LOCK])
    worker.join(timeout=300)
    assert done and done[0] > released


def test_a_url_that_is_not_postgresql_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a PostgreSQL URL"):
        postgres_vars("sqlite:////tmp/x.db", schema=SCHEMA)
    with pytest.raises(InvalidInputError, match="not a database URL"):
        postgres_vars("::nonsense", schema=SCHEMA)


def test_the_dagster_dbt_assets_build_the_postgres_target(built, postgres, monkeypatch) -> None:
    import dagster as dg
    from dagster_dbt import DbtCliResource

    from assets.metadata import metadata_models
    from media_platform.metadata.build import project_dir
    from resources import MediaStorage

    home = built[0]
    url = postgres.create_database()
    monkeypatch.setenv("MEDIA_PLATFORM_METADATA_TARGET", "postgres")
    monkeypatch.setenv("MEDIA_PLATFORM_METADATA_POSTGRES_URL", url)
    result = dg.materialize([metadata_models], resources={
        "dbt": DbtCliResource(project_dir=str(project_dir())), "storage": MediaStorage(root=str(home))},
        instance=dg.DagsterInstance.ephemeral())
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert len(checks) >= 30 and all(checks.values()), {k for k, v in checks.items() if not v}
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"fct_shots", "dim_episodes", "title_summary"} <= materialized
    shots = {k for (k,) in _pg(url, "select distinct partition_key from fct_shots")}
    assert shots and shots == {p.name for p in (home / "episodes").iterdir()}  # every episode with outputs
