"""Where things live: the storage root and the Dagster instance, with local defaults.

``MEDIA_PLATFORM_HOME`` is the storage root (a folder, or ``s3://bucket/prefix``); it defaults
to ``~/.media-platform``. The Dagster instance follows ``DAGSTER_HOME``; when unset, the
command-line tool uses ``$MEDIA_PLATFORM_HOME/dagster`` (local root) so that the CLI and
``dagster dev`` started by the demo script share one instance.
"""

from __future__ import annotations

from pathlib import Path

from media_platform.settings import DEFAULT_HOME, get_settings

EPISODES_PARTITIONS_NAME = "episodes"


def media_home() -> str:
    """The storage root: ``$MEDIA_PLATFORM_HOME`` or ``~/.media-platform``."""
    return get_settings().media_home


def dagster_home() -> Path:
    """The Dagster instance folder: ``$DAGSTER_HOME`` or a folder under the local storage root."""
    return get_settings().dagster_home


def episode_key(partition_key: str, name: str) -> str:
    """Storage key of a per-episode output, e.g. ``episodes/<partition>/shots.parquet``."""
    return f"episodes/{partition_key}/{name}"


def master_key(partition_key: str, suffix: str) -> str:
    """Storage key of an episode's master file."""
    return f"masters/{partition_key}/master{suffix.lower()}"


CATALOGUE_KEY = "catalogue/episodes.parquet"
