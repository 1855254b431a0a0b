"""dbt test severity in the metadata build: a ``warn`` test that fails is reported and the build
is kept (the new file is swapped in; in Dagster the asset check has severity WARN and the run
succeeds), while an ``error`` test that fails refuses the build and leaves the database
byte-identical. The home is the benchmark's synthetic one (``benchmarks/metadata_build.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import benchmark_modules
import dagster as dg
import duckdb
import polars as pl
import pytest

from media_platform.metadata import build_metadata_db
from media_platform.metadata.build import MetadataBuildError, project_dir

bench = benchmark_modules.load("metadata_build")

WARN_TESTS = {"accepted_values_fct_audio_events_label__speech__music__speech_over_music__noise__silence",
              "shots_tile_episode_duration"}


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _spoil_warn_level(home: Path) -> None:
    """A label no detector had before (ep-000001) and a gap between two shots (ep-000002)."""
    events = home / "episodes" / "ep-000001" / "audio_events.parquet"
    pl.read_parquet(events).with_columns(pl.lit("applause").alias("label")).write_parquet(events)
    shots = home / "episodes" / "ep-000002" / "shots.parquet"
    frame = pl.read_parquet(shots)
    frame.with_columns(pl.when(pl.col("shot") == 1).then(pl.col("start_s") + 0.5).otherwise(pl.col("start_s"))
                       .alias("start_s")).write_parquet(shots)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path]:
    """Three episodes and their database, built once (each test works on a copy)."""
    root = tmp_path_factory.mktemp("severity")
    bench.add_episodes(root / "home", 0, 3)
    build_metadata_db(home=root / "home", db_path=root / "metadata.duckdb")
    return root / "home", root / "metadata.duckdb"


@pytest.fixture
def home(base: tuple[Path, Path], tmp_path: Path) -> Path:
    shutil.copytree(base[0], tmp_path / "home")
    shutil.copy2(base[1], tmp_path / "metadata.duckdb")
    return tmp_path / "home"


def test_a_warn_level_failure_keeps_the_build_and_is_reported(home: Path, tmp_path: Path) -> None:
    db = tmp_path / "metadata.duckdb"
    _spoil_warn_level(home)
    report = build_metadata_db(home=home, db_path=db)
    assert {w.name for w in report.warnings} == WARN_TESTS, report.tests
    assert all(w.kind == "test" and w.message for w in report.warnings)
    assert {s for n, s in report.tests.items() if n not in WARN_TESTS} == {"pass"}
    # the file was swapped in: the new rows are there
    assert _query(db, "select count(*) from fct_audio_events where label = 'applause'")[0][0] > 0
    assert _query(db, "select count(*) from fct_audio_events where partition_key = 'ep-000001' "
                      "and label <> 'applause'") == [(0,)]


def test_an_error_level_failure_leaves_the_database_unchanged(home: Path, tmp_path: Path) -> None:
    db = tmp_path / "metadata.duckdb"
    before = db.read_bytes()
    shots = home / "episodes" / "ep-000000" / "shots.parquet"
    frame = pl.read_parquet(shots)
    pl.concat([frame, frame.head(1)]).write_parquet(shots)  # a shot twice: its shot_id is not unique
    with pytest.raises(MetadataBuildError, match="unique_fct_shots_shot_id: fail"):
        build_metadata_db(home=home, db_path=db)
    assert db.read_bytes() == before


def test_in_dagster_a_warn_check_fails_without_blocking(home: Path, tmp_path: Path, monkeypatch) -> None:
    from dagster_dbt import DbtCliResource

    from assets.metadata import metadata_models
    from resources import MediaStorage

    db = tmp_path / "db" / "metadata.duckdb"
    monkeypatch.setenv("MEDIA_PLATFORM_METADATA_DB", str(db))
    _spoil_warn_level(home)
    result = dg.materialize([metadata_models], resources={
        "dbt": DbtCliResource(project_dir=str(project_dir())), "storage": MediaStorage(root=str(home))},
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = {name: e.severity for name, e in checks.items() if not e.passed}
    assert failed == dict.fromkeys(WARN_TESTS, dg.AssetCheckSeverity.WARN)
    assert checks["unique_fct_shots_shot_id"].severity == dg.AssetCheckSeverity.ERROR
    assert _query(db, "select count(*) from fct_audio_events where label = 'applause'")[0][0] > 0
