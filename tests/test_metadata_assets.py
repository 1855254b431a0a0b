"""The metadata database's dbt models as Dagster assets: downstream of the media assets, built
by ``dg.materialize`` into the database with their dbt tests as asset checks, and requested by
declarative automation when an episode's outputs change."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster_dbt import DbtCliResource
from platform_harness import check_results, platform_for_test

from assets import audio, catalogue, ingest, metadata, previews, tags, video
from media_platform.catalogue import Catalogue
from media_platform.layout import SHOTS, episode_key
from media_platform.metadata.build import project_dir
from media_platform.metadata.query import run_query
from media_platform.storage import read_table

METADATA = dg.AssetSelection.groups("metadata")


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    root = tmp_path_factory.mktemp("metadata")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIA_PLATFORM_METADATA_DB", str(root / "db" / "metadata.duckdb"))
        modules = [ingest, video, audio, previews, tags, catalogue, metadata]
        with platform_for_test(root, shared_media, modules) as p:
            p.resources["dbt"] = DbtCliResource(project_dir=str(project_dir()))
            p.db_path = root / "db" / "metadata.duckdb"
            yield p


def test_episode_outputs_flow_into_the_metadata_database(platform) -> None:
    defs = dg.Definitions(assets=platform.definitions, resources=platform.resources)
    start = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance)  # the cursor starts
    key = platform.ingest(platform.media / "video/pyscenedetect/issue-134-rotate.mp4", "GoldenEye")
    episode_run = platform.run(key, selection=dg.AssetSelection.all() - dg.AssetSelection.groups("models", "metadata", "catalogue"))
    assert episode_run.success
    # the episode's new outputs ask for the models that read them, through declarative automation
    after = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=start.cursor)
    assert after.get_num_requested(dg.AssetKey("stg_shots")) == 1
    assert after.get_num_requested(dg.AssetKey("fct_shots")) == 1

    built = dg.materialize(platform.definitions, instance=platform.instance, resources=platform.resources,
                           selection=METADATA)
    assert built.success
    checks = check_results(built)
    assert checks and all(checks.values()), {k: v for k, v in checks.items() if not v}
    assert {"shots_tile_episode_duration", "unique_fct_shots_shot_id"} <= set(checks)
    materialized = {e.asset_key.to_user_string() for e in built.get_asset_materialization_events()}
    assert {"fct_shots", "dim_episodes", "title_summary"} <= materialized

    shots = read_table(platform.store, episode_key(key, SHOTS))
    rows = run_query(platform.db_path, f"SELECT shot, duration_s FROM fct_shots WHERE partition_key = '{key}' ORDER BY shot")
    assert [r[0] for r in rows.rows] == shots["shot"].to_list()
    assert [round(r[1], 6) for r in rows.rows] == [round(e - s, 6) for s, e in zip(shots["start_s"], shots["end_s"])]


def test_a_purged_episode_leaves_the_metadata_database(platform, tmp_path, monkeypatch) -> None:
    """The operator withdraws the title's licence: licence_expiry removes its outputs and asks
    for the metadata job; that build leaves none of its rows."""
    from sensors.licence_expiry import build_licence_expiry_sensor

    key = next(e.partition_key for e in Catalogue(platform.store).episodes() if e.title == "GoldenEye")
    assert run_query(platform.db_path, f"SELECT count(*) FROM fct_shots WHERE partition_key = '{key}'").rows[0][0] > 0
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences:\n  GoldenEye:\n    uses: []\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    sensor = build_licence_expiry_sensor()
    request = sensor(dg.build_sensor_context(instance=platform.instance, resources=platform.resources))
    assert isinstance(request, dg.RunRequest) and sensor.job_name == "metadata_database"
    assert not platform.store.exists(episode_key(key, SHOTS))
    rebuilt = dg.materialize(platform.definitions, instance=platform.instance, resources=platform.resources,
                             selection=METADATA)
    assert rebuilt.success and all(check_results(rebuilt).values())
    for table in ("fct_shots", "fct_shot_tags", "fct_transcript_segments", "fct_audio_events"):
        assert run_query(platform.db_path, f"SELECT count(*) FROM {table} WHERE partition_key = '{key}'").rows[0][0] == 0


def test_a_partial_automation_build_sees_the_changed_outputs(platform) -> None:
    """Declarative automation builds only the models whose sources changed. Their staging inputs
    (the views and the partitions' fingerprints) are refreshed first: on a new database the
    facts would find no view, and on an old one they would keep the stale rows."""
    import polars as pl

    from media_platform.layout import SHOT_TAGS
    from media_platform.storage import write_table

    key = platform.ingest(platform.media / "video/pyscenedetect/goldeneye-vfr-drop3.mp4", "Partial")
    assert platform.run(key, selection=dg.AssetSelection.all()
                        - dg.AssetSelection.groups("models", "metadata", "catalogue")).success
    platform.db_path.unlink(missing_ok=True)  # a new database: no view exists yet
    Catalogue(platform.store).export_parquet()
    first = dg.materialize(platform.definitions, instance=platform.instance, resources=platform.resources,
                           selection=dg.AssetSelection.assets("stg_shot_tags", "fct_shot_tags"))
    assert first.success
    before = run_query(platform.db_path, f"SELECT count(*) FROM fct_shot_tags WHERE partition_key = '{key}'").rows[0][0]
    assert before > 0

    tags = read_table(platform.store, episode_key(key, SHOT_TAGS))
    write_table(platform.store, episode_key(key, SHOT_TAGS), tags.with_columns(pl.lit(0.123456).alias("score")))
    again = dg.materialize(platform.definitions, instance=platform.instance, resources=platform.resources,
                           selection=dg.AssetSelection.assets("stg_shot_tags", "fct_shot_tags"))
    assert again.success
    scores = run_query(platform.db_path, f"SELECT DISTINCT score FROM fct_shot_tags WHERE partition_key = '{key}'").rows
    assert scores == [(0.123456,)]
