"""One feed of an RSS sensor tick: fetch, parse, and record its new items (``sensors/rss.py``).

Each item is handled on its own: an item whose catalogue write fails is left unseen (it is tried
again on a later tick, the feed is then refetched in full and backed off like a failing feed),
and an item is marked seen only once its partition and run request are queued, so no row is
ever left without its partition and run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from media_platform.catalogue import PartitionKeyTakenError
from media_platform.errors import InvalidInputError
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds import (
    FeedConfig,
    FeedCursorState,
    FeedError,
    FeedSecurityError,
    fetch_feed,
    new_items,
    parse_feed_within,
)
from media_platform.ingest.feeds.parsing import shown_guid
from media_platform.ingest.feeds.schedule import RssCursor
from media_platform.ingest.rss_episodes import rss_episode, rss_partition_key

MAX_SKIP_LOGS = 20

Queue = Callable[[Any, bool], None]
"""Queues an episode's partition (when new) and run request."""


class FeedFailed(Exception):
    """A feed could not be used this time; the message says why (redacted), ``kind`` what
    sort of problem it is."""

    def __init__(self, kind: str, problem: str) -> None:
        super().__init__(problem)
        self.kind = kind


def ingest_feed(
    context: dg.SensorEvaluationContext,
    config: FeedConfig,
    state: FeedCursorState,
    catalogue: Any,
    licences: dict,
    known: set[str],
    cursor: RssCursor,
    deadline: Deadline,
    max_feed_bytes: int,
    queue: Queue,
) -> None:
    """Fetch, parse and record one feed's new items, handing each to ``queue`` before it is
    marked seen. Updates ``state`` and the cursor's backlog in place.

    Raises:
        FeedFailed: the feed failed (counted by the caller), with the stage and the problem;
            also when some items could not be recorded (the others are queued already).
    """
    log = context.log
    shown = config.display_url
    try:
        fetched = fetch_feed(
            config.url,
            etag=state.etag,
            modified=state.modified,
            timeout=deadline,
            max_bytes=max_feed_bytes,
        )
    except FeedError as exc:
        raise FeedFailed(type(exc).__name__, f"feed not fetched: {exc.problem}") from None
    except InvalidInputError as exc:
        raise FeedFailed("refused", f"feed not fetched: {getattr(exc, 'problem', exc)}") from None
    if fetched.status == 304:
        state.etag, state.modified = fetched.etag, fetched.modified
        log.debug(f"{shown}: not modified")
        return
    try:
        parsed = parse_feed_within(fetched.body, fetched.url, deadline)
    except FeedSecurityError as exc:
        raise FeedFailed(
            "unsafe", f"feed rejected, unsafe XML (entities/DTD are never expanded): {exc.problem}"
        ) from None
    except FeedError as exc:
        raise FeedFailed(type(exc).__name__, f"feed not parsed: {exc.problem}") from None
    if parsed.bozo_reason:
        log.warning(f"{shown}: feed is not well-formed, parsed leniently: {parsed.bozo_reason}")
    seen = set(state.seen_guids)
    for skipped in parsed.skipped[:MAX_SKIP_LOGS]:
        if skipped.guid and skipped.guid in seen:
            continue
        label = skipped.title or shown_guid(skipped.guid) or f"#{skipped.index}"
        log.warning(f"{shown}: item {label!r} skipped: {skipped.reason}")
    if len(parsed.skipped) > MAX_SKIP_LOGS:
        log.warning(f"{shown}: {len(parsed.skipped) - MAX_SKIP_LOGS} more items skipped")

    # An item whose partition exists was ingested on an earlier tick, even when its GUID has left
    # the cursor's bounded window: it is not new, and never takes a place under the cap.
    seen |= _ingested_guids(parsed, config, known, seen)
    unseen = sum(1 for item in parsed.items if item.guid not in seen)
    fresh = new_items(parsed, seen, config.max_new_items_per_tick)
    failed: list[str] = []
    recorder = _Recorder(context, config, state, catalogue, licences, known, queue)
    for item in fresh:
        try:
            _ingest_item(recorder, parsed, item)
        except Exception as exc:  # noqa: BLE001 - one bad item never loses the others
            problem = f"{type(exc).__name__}: {exc}"
            label = item.title or shown_guid(item.guid)
            log.warning(f"{shown}: item {label!r} not recorded, retried: {problem}")
            failed.append(problem)
    if failed or unseen > len(fresh):
        # more to do: fetch the whole feed again next tick, without validators
        cursor.backlog.add(config.feed_id)
        state.etag = state.modified = None
        if unseen > len(fresh):
            log.info(f"{shown}: {unseen - len(fresh)} older items left for the next ticks")
    else:
        cursor.backlog.discard(config.feed_id)
        state.etag, state.modified = fetched.etag, fetched.modified
    if failed:
        raise FeedFailed("items", f"{len(failed)} items not recorded: {failed[0]}")


def _ingested_guids(parsed: Any, config: FeedConfig, known: set[str], seen: set[str]) -> set[str]:
    """GUIDs of the feed's items not in ``seen`` whose stable partition key is already a
    partition (ingested before; keys are per feed and GUID)."""
    out: set[str] = set()
    for item in parsed.items:
        if item.guid in seen:
            continue
        try:
            if rss_partition_key(item, config) in known:
                out.add(item.guid)
        except InvalidInputError:  # an invalid item is reported when it is recorded
            continue
    return out


@dataclass
class _Recorder:
    """What recording one feed's items needs: where the rows, partitions and runs go."""

    context: dg.SensorEvaluationContext
    config: FeedConfig
    state: FeedCursorState
    catalogue: Any
    licences: dict
    known: set[str]
    queue: Queue


def _ingest_item(rec: _Recorder, parsed: Any, item: Any) -> None:
    """Record one new item (catalogue row, then queue its partition and run), then mark it seen.
    An item that can never be ingested (invalid, key held by another episode) is marked seen."""
    context, config, state, catalogue = rec.context, rec.config, rec.state, rec.catalogue
    licences, known, queue = rec.licences, rec.known, rec.queue
    log = context.log
    shown = config.display_url
    try:
        episode = rss_episode(
            item, config, feed_title=parsed.title or None, catalogue_licences=licences
        )
    except InvalidInputError as exc:
        log.warning(f"{shown}: item {item.title or shown_guid(item.guid)!r} skipped: {exc}")
        state.mark_seen([item.guid])
        return
    existing = catalogue.get(episode.partition_key)
    if existing is None:
        try:
            episode = catalogue.insert(episode)
        except PartitionKeyTakenError as exc:  # inserted meanwhile (another tick or process)
            existing = exc.existing or catalogue.get(episode.partition_key)
            if existing is None:
                raise
    if existing is not None:
        same_feed = existing.metadata.get("feed_id") == config.feed_id or (
            existing.metadata.get("feed_url") == config.url  # rows stored before redaction
        )
        if not (same_feed and existing.metadata.get("guid") == item.guid):
            log.warning(
                f"{shown}: item {item.title!r} skipped: partition {episode.partition_key!r} "
                f"already holds another episode ({existing.title!r})"
            )
            state.mark_seen([item.guid])
            return
        if episode.partition_key in known:
            log.info(
                f"{shown}: item {item.title!r} already in the catalogue as {episode.partition_key}"
            )
            state.mark_seen([item.guid])
            return
        episode = existing  # recorded but its partition was never added: finish the job
    log.info(
        f"{shown}: new item {item.title!r} -> partition {episode.partition_key} "
        f"({episode.kind}, licence {episode.licence.get('identifier', 'custom')})"
    )
    queue(episode, episode.partition_key not in known)
    state.mark_seen([item.guid])
