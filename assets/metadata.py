"""The metadata database: the dbt project ``dbt_metadata/`` (dbt-duckdb, or dbt-postgres with
``MEDIA_PLATFORM_METADATA_TARGET=postgres``) as assets, downstream
of the media assets that feed it.

Every dbt source names its Dagster asset (``meta.dagster.asset_key``: ``shots``, ``shot_tags``,
``transcript``...), so the models sit in the asset graph below the Python assets, and the dbt
tests are asset checks (a test at severity ``error`` fails the build and leaves the database as
it was; ``warn`` does not). A build runs into a copy of the DuckDB file that replaces it only
when it succeeds (:func:`media_platform.metadata.build.building`), so readers never see a half
build. Declarative automation rebuilds the models when an episode's outputs change; the
command-line tool's ``run`` builds them right after the episode's run.

The dbt manifest is prepared at load time (``dbt parse``, no network, no packages) when it is
missing or older than the project's files.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from assets.common import OWNERS
from media_platform.catalogue import Catalogue
from media_platform.errors import InvalidInputError
from media_platform.metadata.build import (
    building,
    dbt_args,
    dbt_build_args,
    local_home,
    project_dir,
)
from media_platform.metadata.postgres_build import (
    locked,
    postgres_vars,
    private_profiles,
    public_vars,
)
from media_platform.metadata.postgres_load import load_raw_tables
from media_platform.settings import get_settings
from resources import MediaStorage

METADATA_GROUP = "metadata"

METADATA_AUTOMATION = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild when an episode's outputs change")
"""Any episode's outputs updated (or the models upstream in this build) -> rebuild. Not
``eager()``: an unpartitioned model below episode partitions would wait for every partition of
every source to exist, and audio-only episodes never have shots."""


def _project_files_newer_than(path: Path) -> bool:
    if not path.exists():
        return True
    built = path.stat().st_mtime
    root = path.parents[1]
    return any(p.stat().st_mtime > built for p in root.rglob("*")
               if p.suffix in {".sql", ".yml"} and "target" not in p.parts)


METADATA_PROJECT = DbtProject(project_dir=project_dir(), profiles_dir=project_dir())
if _project_files_newer_than(METADATA_PROJECT.manifest_path):
    METADATA_PROJECT.preparer.prepare(METADATA_PROJECT)


class MetadataTranslator(DagsterDbtTranslator):
    """Models and tests in the ``metadata`` group, owned by the team, rebuilt by automation;
    sources keep the asset keys their ``meta.dagster.asset_key`` names."""

    def get_group_name(self, dbt_resource_props):  # noqa: ANN001, ANN201 - dagster-dbt's signature
        return METADATA_GROUP

    def get_owners(self, dbt_resource_props):  # noqa: ANN001, ANN201
        return OWNERS

    def get_automation_condition(self, dbt_resource_props):  # noqa: ANN001, ANN201
        return METADATA_AUTOMATION


@dbt_assets(
    manifest=METADATA_PROJECT.manifest_path,
    project=METADATA_PROJECT,
    dagster_dbt_translator=MetadataTranslator(),
)
def metadata_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, storage: MediaStorage
) -> Iterator:
    """``dbt build`` of the selected models and their tests over the episodes' outputs, into
    the configured target (``MEDIA_PLATFORM_METADATA_TARGET``): a copy of the DuckDB file that
    replaces it when the build succeeds, or PostgreSQL after its raw tables are synced (under
    the builders' advisory lock). The catalogue export the models read is refreshed first, with
    each licence's decisions of today."""
    settings = get_settings()
    store = storage.get_store()
    if settings.metadata_target == "postgres":
        yield from _build_postgres(context, dbt, store, settings)
        return
    try:
        home = local_home(storage.root)
    except Exception as exc:  # an S3 home: the DuckDB target reads a local home only
        raise dg.Failure(description=str(exc)) from None
    Catalogue(store).export_parquet()
    db_path = settings.metadata_db_path
    new_database = not db_path.exists()
    with building(db_path) as build_path:
        if _is_partial(context):  # a new database gets every model first, so the subset's tests find them
            dbt.cli(dbt_build_args(home, build_path, select=None if new_database else STAGING),
                    manifest=METADATA_PROJECT.manifest_path).wait()
        yield from dbt.cli(dbt_build_args(home, build_path), context=context).stream()
    context.log.info(f"metadata database updated: {db_path}")


STAGING = "path:models/staging"
"""The staging models: views over the outputs and the partitions' fingerprints, which every
fact reads."""


def _is_partial(context: dg.AssetExecutionContext) -> bool:
    """True when the run builds only some of the models (declarative automation requests those
    whose sources changed). Their staging inputs are then refreshed first (a fact built on
    stale fingerprints would skip the change), and on a new database every model is (a fact or
    a test reading a missing table fails)."""
    return set(context.selected_asset_keys) != set(metadata_models.keys)


def _build_postgres(context: dg.AssetExecutionContext, dbt: DbtCliResource, store, settings) -> Iterator:  # noqa: ANN001
    if not settings.metadata_postgres:
        raise dg.Failure(description="metadata target postgres: no PostgreSQL URL (set MEDIA_PLATFORM_METADATA_POSTGRES_URL, "
                                     "or a PostgreSQL MEDIA_PLATFORM_CATALOGUE_URL)")
    try:
        target = postgres_vars(settings.metadata_postgres, schema=settings.metadata_postgres_schema)
    except InvalidInputError as exc:
        raise dg.Failure(description=str(exc)) from None
    Catalogue(store).export_parquet()
    with locked(target) as conn, private_profiles(target) as profiles:
        loaded = load_raw_tables(conn, store, project_dir(), schema=target["raw_schema"])
        context.log.info(f"raw tables: {len(loaded.loaded)} partitions loaded, {len(loaded.removed)} removed, "
                         f"{loaded.unchanged} unchanged")
        profile_args = ["--profiles-dir", str(profiles)]
        if _is_partial(context):
            dbt.cli([*dbt_args(public_vars(target), target="postgres", select=STAGING), *profile_args],
                    manifest=METADATA_PROJECT.manifest_path).wait()
        yield from dbt.cli([*dbt_args(public_vars(target), target="postgres"), *profile_args], context=context).stream()
