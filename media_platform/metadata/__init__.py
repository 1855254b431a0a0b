"""The metadata database: the dbt project ``dbt_metadata/`` built over the per-episode outputs
and the catalogue export, into one DuckDB file (:mod:`~media_platform.metadata.build`), which
the search API and ``media-platform sql`` read, or into PostgreSQL
(:mod:`~media_platform.metadata.postgres_build`, over raw tables synced by
:mod:`~media_platform.metadata.postgres_load`)."""

from media_platform.metadata.build import (
    BuildReport,
    MetadataBuildError,
    NodeResult,
    build_metadata_db,
    project_dir,
)

__all__ = ["BuildReport", "MetadataBuildError", "NodeResult", "build_metadata_db", "project_dir"]
