"""The metadata database: the dbt project ``dbt_metadata/`` (dbt-duckdb) as assets, downstream
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
from media_platform.metadata.build import building, dbt_build_args, local_home, project_dir
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
    """``dbt build`` of the selected models and their tests over the episodes' outputs, into a
    copy of the metadata database that replaces it when the build succeeds. The catalogue
    export the models read is refreshed first, with each licence's decisions of today."""
    store = storage.get_store()
    try:
        home = local_home(storage.root)
    except Exception as exc:  # an S3 home: not supported by this slice
        raise dg.Failure(description=str(exc)) from None
    Catalogue(store).export_parquet()
    db_path = get_settings().metadata_db_path
    with building(db_path) as build_path:
        yield from dbt.cli(dbt_build_args(home, build_path), context=context).stream()
    context.log.info(f"metadata database updated: {db_path}")
