"""Where things live: the storage root and the Dagster instance, with local defaults.

``MEDIA_PLATFORM_HOME`` is the storage root (a folder, or ``s3://bucket/prefix``); it defaults
to ``~/.media-platform``. The Dagster instance follows ``DAGSTER_HOME``; when unset, the
command-line tool uses ``$MEDIA_PLATFORM_HOME/dagster`` (local root) so that the CLI and
``dagster dev`` started by the demo script share one instance.
"""

from __future__ import annotations

from pathlib import Path

from media_platform.layout import episode_key, master_key  # noqa: F401 - their home is the registry
from media_platform.settings import DEFAULT_HOME, get_settings

EPISODES_PARTITIONS_NAME = "episodes"


def media_home() -> str:
    """The storage root: ``$MEDIA_PLATFORM_HOME`` or ``~/.media-platform``."""
    return get_settings().media_home


def dagster_home() -> Path:
    """The Dagster instance folder: ``$DAGSTER_HOME`` or a folder under the local storage root."""
    return get_settings().dagster_home


CATALOGUE_KEY = "catalogue/episodes.parquet"
