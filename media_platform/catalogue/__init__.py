"""The episode catalogue: one row per episode partition in a transactional SQL database
(SQLite by default, PostgreSQL in production), with a Parquet export for analytics.

``schema`` holds the tables, ``database`` opens and migrates them, ``store`` is the
:class:`Catalogue` API, ``legacy`` imports the old Parquet layout once, ``export`` writes the
analytics copy.
"""

from media_platform.catalogue.episode import Episode, EpisodeKind, EpisodeSource
from media_platform.catalogue.errors import (
    CatalogueError,
    DuplicateContentError,
    PartitionKeyTakenError,
)
from media_platform.catalogue.store import Catalogue

__all__ = [
    "Catalogue",
    "CatalogueError",
    "DuplicateContentError",
    "Episode",
    "EpisodeKind",
    "EpisodeSource",
    "PartitionKeyTakenError",
]
