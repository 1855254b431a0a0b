"""The RSS sensor: new podcast/RSS episodes become catalogue rows, partitions and runs.

Configuration
-------------
Feeds are listed in one YAML file: ``$MEDIA_PLATFORM_FEEDS``, default
``$MEDIA_PLATFORM_HOME/feeds.yaml`` (``~/.media-platform/feeds.yaml``; with an ``s3://`` home,
``~/.media-platform/feeds.yaml``). See ``feeds.example.yaml`` and
:func:`media_platform.ingest.feeds.load_feed_configs`: per feed its URL, title, default licence,
backfill cap (``max_new_items_per_tick``) and polling interval (``poll_interval_s``).

The sensor is on by default (``DefaultSensorStatus.RUNNING``) when that file exists when the code
location loads, off otherwise. Dagster needs its ``minimum_interval_seconds`` at definition time,
so it is the smallest ``poll_interval_s`` of the file as read at import (300 s without a file or
with an invalid one); each feed is then fetched at most once per its own ``poll_interval_s``. The
file itself is re-read on every tick, and so is the operator's licence catalogue
(``$MEDIA_PLATFORM_LICENCES``, default ``$MEDIA_PLATFORM_HOME/licences.yaml``).

One tick
--------
For each feed that is due: one conditional GET (``If-None-Match``/``If-Modified-Since`` from the
cursor; http(s) only, 20 s timeout, 20 MiB limit), safe parsing (DTDs and entity declarations
are rejected unparsed), then the oldest unseen items up to the backfill cap. Each new item is
recorded in the catalogue *before* download (``master_key=""``; the ``master`` asset downloads
the enclosure), its dynamic partition is added and a run of ``episode_pipeline`` is requested
for it in the same tick, selecting only the assets its licence allows
(:func:`sensors.common.episode_run_request`). A ``podcast:transcript`` link is kept in the row's
metadata (``transcript_urls``).

The cursor remembers, per feed URL, the ETag/Last-Modified validators and the GUIDs already
ingested (:func:`~media_platform.ingest.feeds.encode_cursor`), plus when each feed was last
polled and which feeds still have a backlog. A 304, a republished feed with a new ETag, or
reordered items therefore never ingest an item twice; neither does a lost cursor (partition keys
are stable per feed and GUID, and an item already in the catalogue is not recorded again). While
a feed has more unseen items than its cap, the sensor does not send validators for it and does
not wait for its polling interval, so the backfill proceeds tick by tick, oldest first.

Failures are per feed: an unreachable, huge, malformed or unsafe feed, items without an
enclosure, with a relative or non-http(s) enclosure URL or a duplicate GUID are logged
(``context.log.warning``) with the reason and skipped; the other feeds and items go on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from media_platform.config import DEFAULT_HOME, media_home
from media_platform.errors import InvalidInputError
from media_platform.ingest.feeds import (
    DEFAULT_MAX_FEED_BYTES,
    FeedConfig,
    FeedCursorState,
    FeedError,
    FeedSecurityError,
    decode_cursor,
    encode_cursor,
    fetch_feed,
    load_feed_configs,
    new_items,
    parse_feed,
)
from media_platform.ingest.rss_episodes import rss_episode
from resources import MediaStorage
from resources.partitions import episodes_partitions
from sensors.common import EPISODE_JOB_NAME, episode_run_request, load_licence_catalogue

FEEDS_ENV = "MEDIA_PLATFORM_FEEDS"
DEFAULT_INTERVAL_S = 300
FETCH_TIMEOUT_S = 20.0
RSS_CURSOR_VERSION = 1
_MAX_SKIP_LOGS = 20


def feeds_path() -> Path:
    """The feeds file: ``$MEDIA_PLATFORM_FEEDS`` or ``feeds.yaml`` in the (local) home."""
    value = os.environ.get(FEEDS_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    home = media_home()
    base = DEFAULT_HOME.expanduser() if home.startswith("s3://") else Path(home)
    return base / "feeds.yaml"


def interval_from_config(path: Path) -> int:
    """The smallest ``poll_interval_s`` of the feeds file, or 300 s when it is missing or bad."""
    try:
        configs = load_feed_configs(path) if path.is_file() else []
    except InvalidInputError:
        configs = []
    return min((c.poll_interval_s for c in configs), default=DEFAULT_INTERVAL_S)


# --------------------------------------------------------------------------------------------
# Cursor: the feeds' states (encode_cursor) plus poll times and backlogs


def encode_rss_cursor(
    states: dict[str, FeedCursorState], polled: dict[str, float], backlog: set[str]
) -> str:
    """The sensor's cursor: ``{"v", "feeds": <encode_cursor payload>, "polled", "backlog"}``."""
    return json.dumps(
        {
            "v": RSS_CURSOR_VERSION,
            "feeds": json.loads(encode_cursor(states)),
            "polled": {u: round(t, 3) for u, t in sorted(polled.items())},
            "backlog": sorted(backlog),
        },
        separators=(",", ":"),
    )


def decode_rss_cursor(
    cursor: str | None,
) -> tuple[dict[str, FeedCursorState], dict[str, float], set[str]]:
    """Inverse of :func:`encode_rss_cursor`; ``None``/empty gives empty state.

    Raises:
        InvalidInputError: not a cursor of this sensor.
    """
    if not cursor:
        return {}, {}, set()
    try:
        payload = json.loads(cursor)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"rss cursor is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("v") != RSS_CURSOR_VERSION:
        raise InvalidInputError(f"rss cursor has unknown format: {cursor[:100]!r}")
    states = decode_cursor(json.dumps(payload.get("feeds")))
    polled_raw = payload.get("polled") or {}
    backlog_raw = payload.get("backlog") or []
    if not isinstance(polled_raw, dict) or not isinstance(backlog_raw, list):
        raise InvalidInputError("rss cursor: polled/backlog malformed")
    polled = {str(u): float(t) for u, t in polled_raw.items() if isinstance(t, (int, float))}
    return states, polled, {str(u) for u in backlog_raw}


# --------------------------------------------------------------------------------------------
# The sensor


def build_rss_sensor(
    *,
    name: str = "rss_feeds",
    path: Path | str | None = None,
    clock: Callable[[], float] = time.time,
    max_feed_bytes: int = DEFAULT_MAX_FEED_BYTES,
    fetch_timeout_s: float = FETCH_TIMEOUT_S,
) -> dg.SensorDefinition:
    """The RSS sensor (see the module docstring).

    Args:
        name: sensor name.
        path: the feeds file; None reads :func:`feeds_path` at import (interval, default status)
            and again on every tick (so tests and operators can point the variable elsewhere).
        clock: seconds since the epoch (tests).
        max_feed_bytes: largest feed body accepted.
        fetch_timeout_s: connect/read timeout of a feed request.
    """
    import_path = Path(path) if path is not None else feeds_path()

    @dg.sensor(
        name=name,
        job_name=EPISODE_JOB_NAME,
        minimum_interval_seconds=interval_from_config(import_path),
        default_status=(
            dg.DefaultSensorStatus.RUNNING
            if import_path.is_file()
            else dg.DefaultSensorStatus.STOPPED
        ),
        description="Polls the podcast/RSS feeds of the feeds file; new items become catalogue "
        "rows, episode partitions and licence-filtered runs.",
    )
    def _rss_sensor(context: dg.SensorEvaluationContext, storage: MediaStorage) -> dg.SensorResult:
        return evaluate_rss(
            context,
            storage,
            Path(path) if path is not None else feeds_path(),
            now=clock(),
            max_feed_bytes=max_feed_bytes,
            fetch_timeout_s=fetch_timeout_s,
        )

    return _rss_sensor


def evaluate_rss(
    context: dg.SensorEvaluationContext,
    storage: MediaStorage,
    path: Path,
    *,
    now: float,
    max_feed_bytes: int = DEFAULT_MAX_FEED_BYTES,
    fetch_timeout_s: float = FETCH_TIMEOUT_S,
) -> dg.SensorResult:
    """One tick of the RSS sensor."""
    log = context.log
    if not path.is_file():
        return dg.SensorResult(skip_reason=f"no feeds file at {path}", cursor=context.cursor)
    try:
        configs = load_feed_configs(path)
    except InvalidInputError as exc:
        log.warning(f"feeds file not used: {exc}")
        return dg.SensorResult(skip_reason=f"invalid feeds file: {exc}", cursor=context.cursor)
    try:
        states, polled, backlog = decode_rss_cursor(context.cursor)
    except InvalidInputError as exc:
        log.warning(f"starting from an empty cursor: {exc}")
        states, polled, backlog = {}, {}, set()
    try:
        licences = load_licence_catalogue(context)
    except InvalidInputError as exc:
        log.warning(f"no feed ingested this tick: {exc}")
        return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)

    catalogue = storage.get_catalogue()
    known = set(context.instance.get_dynamic_partitions(episodes_partitions.name))
    new_partitions: list[str] = []
    run_requests: list[dg.RunRequest] = []
    configured = {c.url for c in configs}

    for config in configs:
        state = states.setdefault(config.url, FeedCursorState())
        due = now - polled.get(config.url, float("-inf")) >= config.poll_interval_s
        if not due and config.url not in backlog:
            continue
        try:
            added = _ingest_feed(
                context,
                config,
                state,
                catalogue,
                licences,
                known,
                now,
                polled,
                backlog,
                max_feed_bytes,
                fetch_timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - one bad feed never blocks the others
            log.warning(f"{config.url}: feed skipped: {type(exc).__name__}: {exc}")
            polled[config.url] = now
            continue
        for episode, is_new_partition in added:
            if is_new_partition:
                new_partitions.append(episode.partition_key)
                known.add(episode.partition_key)
            run_requests.append(
                episode_run_request(context, episode, f"rss:{episode.partition_key}")
            )

    # forget feeds removed from the configuration
    states = {u: s for u, s in states.items() if u in configured}
    polled = {u: t for u, t in polled.items() if u in configured}
    backlog &= configured
    cursor = encode_rss_cursor(states, polled, backlog)
    if not run_requests:
        return dg.SensorResult(skip_reason="no new feed items", cursor=cursor)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [episodes_partitions.build_add_request(new_partitions)] if new_partitions else []
        ),
        cursor=cursor,
    )


def _ingest_feed(
    context: dg.SensorEvaluationContext,
    config: FeedConfig,
    state: FeedCursorState,
    catalogue: Any,
    licences: dict,
    known: set[str],
    now: float,
    polled: dict[str, float],
    backlog: set[str],
    max_feed_bytes: int,
    fetch_timeout_s: float,
) -> list[tuple[Any, bool]]:
    """Fetch, parse and record one feed's new items; returns (episode, new partition?) pairs
    to request runs for. Updates ``state``, ``polled`` and ``backlog`` in place."""
    log = context.log
    url = config.url
    try:
        fetched = fetch_feed(
            url,
            etag=state.etag,
            modified=state.modified,
            timeout=fetch_timeout_s,
            max_bytes=max_feed_bytes,
        )
    except (FeedError, InvalidInputError) as exc:
        log.warning(f"{url}: feed not fetched: {exc}")
        polled[url] = now
        return []
    polled[url] = now
    if fetched.status == 304:
        state.etag, state.modified = fetched.etag, fetched.modified
        log.debug(f"{url}: not modified")
        return []
    try:
        parsed = parse_feed(fetched.body, fetched.url)
    except FeedSecurityError as exc:
        log.warning(
            f"{url}: feed rejected, unsafe XML (entities/DTD are never expanded): {exc.problem}"
        )
        return []
    except FeedError as exc:
        log.warning(f"{url}: feed not parsed: {exc.problem}")
        return []
    if parsed.bozo_reason:
        log.warning(f"{url}: feed is not well-formed, parsed leniently: {parsed.bozo_reason}")
    seen = set(state.seen_guids)
    for skipped in parsed.skipped[:_MAX_SKIP_LOGS]:
        if skipped.guid and skipped.guid in seen:
            continue
        label = skipped.title or skipped.guid or f"#{skipped.index}"
        log.warning(f"{url}: item {label!r} skipped: {skipped.reason}")
    if len(parsed.skipped) > _MAX_SKIP_LOGS:
        log.warning(f"{url}: {len(parsed.skipped) - _MAX_SKIP_LOGS} more items skipped")

    unseen = sum(1 for item in parsed.items if item.guid not in seen)
    fresh = new_items(parsed, state.seen_guids, config.max_new_items_per_tick)
    added: list[tuple[Any, bool]] = []
    for item in fresh:
        try:
            episode = rss_episode(
                item, config, feed_title=parsed.title or None, catalogue_licences=licences
            )
        except InvalidInputError as exc:
            log.warning(f"{url}: item {item.title or item.guid!r} skipped: {exc}")
            state.mark_seen([item.guid])
            continue
        existing = catalogue.get(episode.partition_key)
        if existing is not None:
            same = (
                existing.metadata.get("feed_url") == url
                and existing.metadata.get("guid") == item.guid
            )
            if not same:
                log.warning(
                    f"{url}: item {item.title!r} skipped: partition {episode.partition_key!r} "
                    f"already holds another episode ({existing.title!r})"
                )
                state.mark_seen([item.guid])
                continue
            if episode.partition_key in known:
                log.info(
                    f"{url}: item {item.title!r} already in the catalogue as "
                    f"{episode.partition_key}"
                )
                state.mark_seen([item.guid])
                continue
            episode = existing  # recorded but its partition was never added: finish the job
        else:
            episode = catalogue.upsert(episode)
        log.info(
            f"{url}: new item {item.title!r} -> partition {episode.partition_key} "
            f"({episode.kind}, licence {episode.licence.get('identifier', 'custom')})"
        )
        added.append((episode, episode.partition_key not in known))
        state.mark_seen([item.guid])
    if unseen > len(fresh):
        # more to backfill: fetch the whole feed again next tick, without waiting
        backlog.add(url)
        state.etag = state.modified = None
        log.info(f"{url}: {unseen - len(fresh)} older items left for the next ticks")
    else:
        backlog.discard(url)
        state.etag, state.modified = fetched.etag, fetched.modified
    return added


rss_sensor = build_rss_sensor()
