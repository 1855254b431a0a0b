"""Series grouping from the catalogue: which episodes are aligned with which, in which order.

An episode's series is its ``series`` metadata when a sidecar or the ingest gave one, else the
title of the feed it came from (``feed_title``), else its own title (episodes ingested by hand
as ``--title "Show" --episode 3`` group by title). Names compare case- and space-insensitively.
Order inside a series: season, then episode number (from the metadata or the episode id), then
ingestion time, then partition key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from media_platform.catalogue import Episode

__all__ = ["episode_order", "follow_up_partitions", "series_members", "series_name"]


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def series_name(episode: Episode) -> str:
    """The series an episode belongs to (see the module docstring)."""
    meta = episode.metadata or {}
    return _text(meta.get("series")) or _text(meta.get("feed_title")) or episode.title


def _norm(name: str) -> str:
    return " ".join(name.casefold().split())


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        found = re.findall(r"\d+(?:\.\d+)?", value)
        return float(found[-1]) if found else None
    return None


def episode_order(episode: Episode) -> tuple[Any, ...]:
    """Sort key of an episode inside its series."""
    meta = episode.metadata or {}
    season = _number(meta.get("season"))
    number = _number(meta.get("episode"))
    if number is None:
        number = _number(episode.episode_id)
    return (season if season is not None else 0.0, number if number is not None else float("inf"),
            episode.ingested_at or "", episode.partition_key)


def series_members(episodes: Iterable[Episode], partition_key: str) -> list[Episode]:
    """The episodes of ``partition_key``'s series (itself included), in order; empty when the
    partition is not among ``episodes``."""
    everyone = list(episodes)
    me = next((e for e in everyone if e.partition_key == partition_key), None)
    if me is None:
        return []
    name = _norm(series_name(me))
    return sorted((e for e in everyone if _norm(series_name(e)) == name), key=episode_order)


def follow_up_partitions(
    episodes: Iterable[Episode], changed: Iterable[str], fingerprinted: Callable[[str], bool]
) -> list[str]:
    """Every partition whose markers depend on the ``changed`` ones (the members of their
    series, themselves included) and that has a fingerprint, sorted."""
    everyone = list(episodes)
    out: set[str] = set()
    for key in changed:
        out.update(e.partition_key for e in series_members(everyone, key))
    return sorted(p for p in out if fingerprinted(p))
