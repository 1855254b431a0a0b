"""The code location loads, validates and holds what the platform promises: the episode job,
the three sensors, the asset checks and the resources (as ``dagster definitions validate``
and the command-line tool load it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parent.parent


def _load():
    from dagster._core.code_pointer import load_python_file

    return load_python_file(REPO / "definitions.py", working_directory=str(REPO))


def test_definitions_load_and_validate() -> None:
    module = _load()
    defs = module.defs
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("episode_pipeline")
    assert job.partitions_def is not None and job.partitions_def.name == "episodes"
    names = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"master", "media_probe", "shots", "transcript", "preview"} <= names
    assert "preview_ranker" not in names and "episode_catalogue" not in names
    repo = defs.get_repository_def()
    assert {s.name for s in repo.sensor_defs} == {"rss_feeds", "upload_landing", "licence_expiry",
                                                   "tags_follow_classifiers", "metadata_follows_outputs",
                                                  "markers_follow_series"}
    assert all(s.job_name == "episode_pipeline" for s in repo.sensor_defs if s.name in {"rss_feeds", "upload_landing"})
    assert repo.get_sensor_def("licence_expiry").job_name == "metadata_database"
    automation = repo.get_sensor_def("tags_follow_classifiers")
    assert automation.default_status == dg.DefaultSensorStatus.RUNNING
    train = defs.resolve_job_def("train_tag_classifier")
    assert train.partitions_def is not None and train.partitions_def.name == "labels"
    assert {k.to_user_string() for k in train.asset_layer.executable_asset_keys} == {"tag_classifier"}
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"content_hash_matches_catalogue", "shots_tile_duration", "preview_is_clean", "licence_compliance",
            "features_match_layout", "tag_scores_in_range", "classifier_is_evaluated",
            "classifiers_in_use_are_evaluated", "tags_only_where_analysis_allowed"} <= checks
    assert set(defs.resources) == {"storage", "clip", "vector_index", "transcriber", "dbt"}
    # the dbt models sit below the Python assets that feed them; their tests are asset checks
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey("shots") in graph.get(dg.AssetKey("stg_shots")).parent_keys
    assert {"fct_shots", "dim_episodes", "title_summary"} <= {k.to_user_string() for k in graph.get_all_asset_keys()}
    fct_shots_checks = {c.name for c in graph.asset_check_keys if c.asset_key == dg.AssetKey("fct_shots")}
    assert {"unique_fct_shots_shot_id", "shots_tile_episode_duration",
            "no_searchable_rows_without_indexing_licence"} <= fct_shots_checks


def test_the_optional_ranker_blocks_nothing() -> None:
    graph = _load().defs.resolve_asset_graph()
    downstream = dg.AssetSelection.assets("preview_ranker").downstream().resolve(graph)
    assert {k.to_user_string() for k in downstream} == {"preview_ranker"}


def test_sensors_never_import_assets() -> None:
    """Loading the sensors alone imports no asset module (they share resources.partitions)."""
    code = "import sys, sensors; print(sorted(m for m in sys.modules if m == 'assets' or m.startswith('assets.')))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(["dagster", "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
