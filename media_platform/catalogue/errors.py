"""The catalogue's errors: each names the database file (or the redacted URL) and the problem."""

from __future__ import annotations

from typing import TYPE_CHECKING

from media_platform.errors import MediaPlatformError

if TYPE_CHECKING:
    from media_platform.catalogue.episode import Episode


class CatalogueError(MediaPlatformError):
    """The catalogue cannot be used: a corrupt or truncated database or legacy file, a
    database that cannot be reached, a schema newer than this code."""

    def __init__(self, where: str, problem: str) -> None:
        self.path = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class DuplicateContentError(CatalogueError):
    """A write would give a second episode the content hash of another (one content, one
    episode: the database's unique index on the hash refuses it)."""

    def __init__(self, where: str, content_hash: str, existing: Episode | None) -> None:
        self.content_hash = content_hash
        self.existing = existing
        owner = f" as {existing.partition_key!r}" if existing is not None else ""
        super().__init__(where, f"content {content_hash[:12]} is already catalogued{owner}")


class PartitionKeyTakenError(CatalogueError):
    """An insert of new content chose a partition key that another episode holds."""

    def __init__(self, where: str, partition_key: str, existing: Episode | None) -> None:
        self.partition_key = partition_key
        self.existing = existing
        super().__init__(where, f"partition {partition_key!r} already holds another episode")
