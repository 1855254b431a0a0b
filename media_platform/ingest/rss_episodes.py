"""RSS items as catalogue episodes, recorded *before* their enclosure is downloaded (pure).

The RSS sensor turns each new :class:`~media_platform.ingest.feeds.FeedItem` into an
:class:`~media_platform.catalogue.Episode` with ``master_key=""`` (not downloaded yet) and
``master_uri`` = the enclosure URL; the ``master`` asset downloads it later and fills in the
master key, content hash and kind.

* Partition key: :func:`rss_partition_key` =
  ``partition_key_for(item title, episode number, content_hash=sha256(feed_url + "\\n" + guid))``,
  so it is stable per (feed, GUID): a republished or reordered feed maps an item to the same key,
  and two feeds' items never collide. Keys are always valid (lowercase, digits, dashes) and can
  never traverse a path.
* Kind: ``video`` when the enclosure type is ``video/*`` (or, with no useful type, the URL ends in
  a video extension), else ``audio``.
* Licence (:func:`rss_licence`, the rule of :mod:`media_platform.licences.policy`): the ceiling
  is the operator's licence catalogue (every entry matching the partition key, the item's title
  or the feed's title applies), else the feed's configured ``default_licence``, else the
  conservative no-use licence. What the publisher wrote can only restrict it: the item's
  ``podcast:license`` (when recognised, and not "all rights reserved") and any entry found under
  the item's title (never a ceiling: an item title never lifts the item above its feed). The row
  records the operator's keys, the feed's default, the title keys and the claims apart, so the
  run-time gate applies the operator's current file (a grant as well as a withdrawal).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from media_platform.catalogue import Episode, EpisodeKind
from media_platform.errors import InvalidInputError
from media_platform.ingest.feeds import FeedConfig, FeedItem
from media_platform.keys import partition_key_for
from media_platform.licences import (
    Licence,
    Resolution,
    feed_claim,
    licence_record,
    recognise_licence_string,
    resolve_entries,
)

_VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ts")


def item_identity_hash(feed_url: str, guid: str) -> str:
    """Hex SHA-256 of the feed URL and the item's GUID (the item's identity across feeds)."""
    return hashlib.sha256(f"{feed_url}\n{guid}".encode("utf-8", "surrogatepass")).hexdigest()


def item_episode_id(item: FeedItem, feed_url: str) -> str:
    """The catalogue episode id: the episode number (``"12"``, or ``"S02E12"`` with a season),
    else ``"guid-"`` plus 12 hex digits of :func:`item_identity_hash`."""
    if item.episode is not None:
        if item.season is not None:
            return f"S{item.season:02d}E{item.episode:02d}"
        return str(item.episode)
    return "guid-" + item_identity_hash(feed_url, item.guid)[:12]


def item_title(item: FeedItem, feed: FeedConfig) -> str:
    """The item's title, else the feed's title."""
    return item.title.strip() or feed.title


def rss_partition_key(item: FeedItem, feed: FeedConfig) -> str:
    """Stable, valid partition key of ``item`` in ``feed`` (see the module docstring)."""
    episode = None
    if item.episode is not None:
        episode = item_episode_id(item, feed.url)
    return partition_key_for(
        item_title(item, feed), episode, content_hash=item_identity_hash(feed.url, item.guid)
    )


def guess_kind(enclosure_type: str | None, enclosure_url: str) -> EpisodeKind:
    """``video`` for a ``video/*`` type, or a video file extension when the type says nothing
    (missing or ``application/octet-stream``); ``audio`` otherwise."""
    mime = (enclosure_type or "").split(";", 1)[0].strip().lower()
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    if mime in ("", "application/octet-stream", "binary/octet-stream"):
        path = urlsplit(enclosure_url).path.lower()
        if path.endswith(_VIDEO_EXTENSIONS):
            return "video"
    return "audio"


def feed_default_licence(feed: FeedConfig) -> Licence | None:
    """The feed's configured ``default_licence`` as a licence (None when not configured)."""
    if not feed.default_licence:
        return None
    licence = recognise_licence_string(feed.default_licence, source="default")
    if licence is None:  # load_feed_configs validates this; be strict anyway
        raise InvalidInputError(f"{feed.display_url}: unknown default_licence {feed.default_licence!r}")
    return licence


def rss_licence_keys(item: FeedItem, feed: FeedConfig, partition_key: str) -> list[str]:
    """The operator-file keys of a feed item: its partition key, its title, the feed's title."""
    return list(dict.fromkeys([partition_key, *_keys(item_title(item, feed)), *_keys(feed.title)]))


def _keys(title: str | None) -> list[str]:
    try:
        return [partition_key_for(title)] if title else []
    except (InvalidInputError, ValueError):
        return []


def rss_resolution(
    item: FeedItem,
    feed: FeedConfig,
    partition_key: str,
    catalogue_licences: Mapping[str, Licence] | None = None,
) -> Resolution:
    """How the licence of a feed item is resolved (see the module docstring).

    ``catalogue_licences`` is :func:`media_platform.licences.load_catalogue` output (keys are
    partition keys; titles were turned into keys with ``partition_key_for``). The operator's
    keys are the partition key and the feed's title from ``feeds.yaml``; the item's title is
    the publisher's, so an entry under it only restricts.
    """
    default = feed_default_licence(feed)
    if default is not None and default.identifier == "all-rights-reserved":
        default = replace(default, identifier="none")  # as a ceiling too: no use at all
    return resolve_entries(
        catalogue_licences or {},
        operator_keys=[partition_key, *_keys(feed.title)],
        title_keys=_keys(item_title(item, feed)),
        default=default,
        claims=(feed_claim(item.licence),),
    )


def rss_licence(
    item: FeedItem,
    feed: FeedConfig,
    partition_key: str,
    catalogue_licences: Mapping[str, Licence] | None = None,
) -> Licence:
    """The licence in force for a feed item (see :func:`rss_resolution`)."""
    return rss_resolution(item, feed, partition_key, catalogue_licences).licence


def rss_episode(
    item: FeedItem,
    feed: FeedConfig,
    *,
    feed_title: str | None = None,
    catalogue_licences: Mapping[str, Licence] | None = None,
) -> Episode:
    """The catalogue record of a feed item before download (``master_key=""``,
    ``content_hash=""``, ``source="rss"``); metadata as agreed with the ``master`` asset."""
    key = rss_partition_key(item, feed)
    resolution = rss_resolution(item, feed, key, catalogue_licences)
    licence = resolution.licence
    metadata: dict[str, Any] = {
        "feed_url": feed.display_url,  # redacted: feed URLs often carry tokens
        "feed_id": feed.feed_id,
        "feed_title": feed_title or feed.title,
        "guid": item.guid,
        "enclosure_url": item.enclosure_url,
        "enclosure_type": item.enclosure_type,
        "enclosure_length": item.enclosure_length,
        "published": item.published,
        "duration_s": item.duration_s,
        "season": item.season,
        "episode": item.episode,
        "explicit": item.explicit,
        "item_type": item.item_type,
        "transcript_urls": [[url, mime] for url, mime in item.transcript_urls],
        "chapters_url": item.chapters_url,
        "licence_string": item.licence,
        **resolution.metadata(),
    }
    return Episode(
        partition_key=key,
        title=item_title(item, feed),
        kind=guess_kind(item.enclosure_type, item.enclosure_url),
        master_uri=item.enclosure_url,
        master_key="",
        content_hash="",
        source="rss",
        episode_id=item_episode_id(item, feed.url),
        licence=licence_record(licence),
        metadata=metadata,
    )


__all__ = [
    "feed_default_licence",
    "guess_kind",
    "item_episode_id",
    "item_identity_hash",
    "item_title",
    "rss_episode",
    "rss_licence",
    "rss_licence_keys",
    "rss_partition_key",
    "rss_resolution",
]
