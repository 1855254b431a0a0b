"""The RSS sensor: new podcast/RSS episodes become catalogue rows, partitions and runs.

Configuration
-------------
Feeds are listed in one YAML file: ``$MEDIA_PLATFORM_FEEDS``, default
``$MEDIA_PLATFORM_HOME/feeds.yaml`` (with an ``s3://`` home, ``~/.media-platform/feeds.yaml``).
See ``feeds.example.yaml`` and :func:`media_platform.ingest.feeds.load_feed_configs`: per feed
its URL, title, default licence, backfill cap (``max_new_items_per_tick``) and polling interval
(``poll_interval_s``).

The sensor is on by default (``DefaultSensorStatus.RUNNING``) when that file exists when the code
location loads, off otherwise. Dagster needs its ``minimum_interval_seconds`` at definition time,
so it is the smallest ``poll_interval_s`` of the file as read at import (300 s without a file or
with an invalid one); each feed is then fetched at most once per its own ``poll_interval_s``. The
file itself is re-read on every tick, and so is the operator's licence catalogue.

One tick
--------
For each feed that is due: one conditional GET (``If-None-Match``/``If-Modified-Since`` from the
cursor) through the safe HTTP client (http(s) only, no internal addresses, size cap
``MEDIA_PLATFORM_FEED_MAX_BYTES``, 4 MiB by default), safe parsing (DTDs and entity declarations
are rejected unparsed, nesting is capped), then the oldest unseen items up to the backfill cap.
Each new item is recorded in the catalogue *before* download (``master_key=""``; the ``master``
asset downloads the enclosure), its dynamic partition is added and a run of ``episode_pipeline``
is requested for it in the same tick, selecting only the assets its licence allows.

Hostile feeds never stall the others
------------------------------------
* Each feed has a deadline covering fetch *and* parse (``MEDIA_PLATFORM_FEED_DEADLINE_S``, 15 s):
  the HTTP client enforces it on the wire, and the parser runs in a worker process that is
  killed when it passes (:func:`~media_platform.ingest.feeds.parse_feed_within`).
* A tick spends at most ``MEDIA_PLATFORM_RSS_TICK_BUDGET_S`` (40 s, well under Dagster's 60 s) on
  feeds: the first due feed always starts, later ones only while a whole feed deadline still
  fits in the budget, and no feed's deadline outlasts the budget. The cursor remembers where the
  tick stopped and the next tick starts there, so every feed gets its turn.
* A feed that fails (unreachable, too large, too slow, unsafe, not a feed) is backed off
  exponentially: after ``n`` consecutive failures it is tried again no sooner than
  ``poll_interval_s * 2 ** (n - 1)``, at most a day. It is reported with a warning naming the
  feed (redacted) and its consecutive failures when it starts failing, when its problem changes
  and when it recovers, not on every tick.

Feed URLs often carry tokens: logs, errors and stored rows only ever hold the redacted URL
(:func:`~media_platform.ingest.http.redact_url`), and the cursor is keyed by
:func:`~media_platform.ingest.feeds.feed_id` (a hash of the URL).

The cursor
----------
Per feed (by id): the ETag/Last-Modified validators and the GUIDs already ingested
(:func:`~media_platform.ingest.feeds.encode_cursor`), when it was last polled, whether it still
has a backlog, its consecutive failures; plus the feed the next tick starts with. A cursor of the
previous layout (keyed by full URL) is read once and converted, so nothing is ingested twice. A
304, a republished feed with a new ETag, or reordered items never ingest an item twice; neither
does a lost cursor (partition keys are stable per feed and GUID, and an item already in the
catalogue is not recorded again). While a feed has more unseen items than its cap, the sensor
does not send validators for it and does not wait for its polling interval, so the backfill
proceeds tick by tick, oldest first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from media_platform.errors import InvalidInputError
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds import (
    FeedConfig,
    FeedCursorState,
    FeedError,
    load_feed_configs,
)
from media_platform.ingest.feeds.schedule import (
    RssCursor,
    backoff_s,
    decode_rss_cursor,
    encode_rss_cursor,
    rotated,
)
from media_platform.settings import get_settings
from resources import MediaStorage
from resources.partitions import episodes_partitions
from sensors.common import EPISODE_JOB_NAME, episode_run_request, load_licence_catalogue
from sensors.rss_feed import FeedFailed, ingest_feed

DEFAULT_INTERVAL_S = 300


def feeds_path() -> Path:
    """The feeds file: ``$MEDIA_PLATFORM_FEEDS`` or ``feeds.yaml`` in the (local) home."""
    return get_settings().feeds_path


def interval_from_config(path: Path) -> int:
    """The smallest ``poll_interval_s`` of the feeds file, or 300 s when it is missing or bad."""
    try:
        configs = load_feed_configs(path) if path.is_file() else []
    except InvalidInputError:
        configs = []
    return min((c.poll_interval_s for c in configs), default=DEFAULT_INTERVAL_S)


# --------------------------------------------------------------------------------------------
# The sensor


def build_rss_sensor(
    *,
    name: str = "rss_feeds",
    path: Path | str | None = None,
    clock: Callable[[], float] = time.time,
    max_feed_bytes: int | None = None,
    feed_deadline_s: float | None = None,
    tick_budget_s: float | None = None,
) -> dg.SensorDefinition:
    """The RSS sensor (see the module docstring).

    Args:
        name: sensor name.
        path: the feeds file; None reads :func:`feeds_path` at import (interval, default status)
            and again on every tick (so tests and operators can point the variable elsewhere).
        clock: seconds since the epoch, for polling intervals and back-off (tests).
        max_feed_bytes, feed_deadline_s, tick_budget_s: override the settings
            ``feed_max_bytes``, ``feed_deadline_s`` and ``rss_tick_budget_s`` (read per tick).
    """
    FeedLimits(  # overrides are checked now (the settings validate themselves)
        1 if max_feed_bytes is None else max_feed_bytes,
        1.0 if feed_deadline_s is None else feed_deadline_s,
        1.0 if tick_budget_s is None else tick_budget_s,
    )
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
        settings = get_settings()
        return evaluate_rss(
            context,
            storage,
            Path(path) if path is not None else feeds_path(),
            now=clock(),
            limits=FeedLimits(
                settings.feed_max_bytes if max_feed_bytes is None else max_feed_bytes,
                settings.feed_deadline_s if feed_deadline_s is None else feed_deadline_s,
                settings.rss_tick_budget_s if tick_budget_s is None else tick_budget_s,
            ),
        )

    return _rss_sensor


@dataclass(frozen=True)
class FeedLimits:
    """How much one feed, and one tick, may cost."""

    max_feed_bytes: int
    feed_deadline_s: float
    tick_budget_s: float

    def __post_init__(self) -> None:
        for name in ("max_feed_bytes", "feed_deadline_s", "tick_budget_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{name} must be a positive number, got {value!r}")


def evaluate_rss(
    context: dg.SensorEvaluationContext,
    storage: MediaStorage,
    path: Path,
    *,
    now: float,
    limits: FeedLimits,
) -> dg.SensorResult:
    """One tick of the RSS sensor."""
    budget = Deadline(limits.tick_budget_s)
    log = context.log
    if not path.is_file():
        return dg.SensorResult(skip_reason=f"no feeds file at {path}", cursor=context.cursor)
    try:
        configs = load_feed_configs(path)
    except InvalidInputError as exc:
        log.warning(f"feeds file not used: {exc}")
        return dg.SensorResult(skip_reason=f"invalid feeds file: {exc}", cursor=context.cursor)
    try:
        cursor = decode_rss_cursor(context.cursor)
    except InvalidInputError as exc:
        log.warning(f"starting from an empty cursor: {exc}")
        cursor = RssCursor()
    try:
        licences = load_licence_catalogue(context)
    except InvalidInputError as exc:
        log.warning(f"no feed ingested this tick: {exc}")
        return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)

    catalogue = storage.get_catalogue()
    known = set(context.instance.get_dynamic_partitions(episodes_partitions.name))
    new_partitions: list[str] = []
    run_requests: list[dg.RunRequest] = []
    cursor.forget_all_but({c.feed_id for c in configs})
    per_feed_s = min(limits.feed_deadline_s, limits.tick_budget_s)
    order = rotated(configs, cursor.start)
    cursor.start = None
    started = 0

    def queue(episode: Any, is_new_partition: bool) -> None:
        if is_new_partition:
            new_partitions.append(episode.partition_key)
            known.add(episode.partition_key)
        run_requests.append(episode_run_request(context, episode, f"rss:{episode.partition_key}"))

    for position, config in enumerate(order):
        fid = config.feed_id
        state = cursor.states.setdefault(fid, FeedCursorState())
        wait = backoff_s(config, cursor.failures.get(fid, 0))
        due = now - cursor.polled.get(fid, float("-inf")) >= wait
        if not due and (fid not in cursor.backlog or cursor.failures.get(fid)):
            continue
        if started and budget.remaining() < per_feed_s:
            # the rest waits for the next tick, which starts with this feed
            cursor.start = fid
            skipped = len(order) - position
            log.info(f"tick budget of {limits.tick_budget_s:g} s spent; {skipped} feeds next tick")
            break
        cursor.polled[fid] = now
        started += 1
        # the first feed of a tick always starts, and no feed may outlive the tick's budget
        deadline = Deadline(max(0.001, min(limits.feed_deadline_s, budget.remaining())))
        try:
            ingest_feed(
                context, config, state, catalogue, licences, known, cursor, deadline,
                limits.max_feed_bytes, queue,
            )
        except FeedFailed as exc:
            _record_failure(log, config, cursor, exc.kind, str(exc))
            continue
        except FeedError as exc:
            _record_failure(log, config, cursor, type(exc).__name__, exc.problem)
            continue
        except Exception as exc:  # noqa: BLE001 - one bad feed never blocks the others
            _record_failure(log, config, cursor, type(exc).__name__, f"{type(exc).__name__}: {exc}")
            continue
        _record_success(log, config, cursor)

    encoded = encode_rss_cursor(cursor)
    if not run_requests:
        failing = sorted(
            f"{c.display_url} ({cursor.failures[c.feed_id]} failures)"
            for c in configs
            if cursor.failures.get(c.feed_id)
        )
        reason = "no new feed items" + (f"; failing: {', '.join(failing)}" if failing else "")
        return dg.SensorResult(skip_reason=reason, cursor=encoded)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [episodes_partitions.build_add_request(new_partitions)] if new_partitions else []
        ),
        cursor=encoded,
    )


def _record_failure(
    log: Any, config: FeedConfig, cursor: RssCursor, kind: str, problem: str
) -> None:
    """Count a failed poll; warn when the feed starts failing or its kind of problem changes
    (later failures of the same kind are logged at info level)."""
    fid = config.feed_id
    failures = cursor.failures.get(fid, 0) + 1
    cursor.failures[fid] = failures
    retry = backoff_s(config, failures)
    message = (
        f"{config.display_url}: feed failing ({failures} consecutive failures), "
        f"next try in {retry:.0f} s: {problem}"
    )
    if failures == 1 or cursor.problems.get(fid) != kind:
        log.warning(message)
    else:
        log.info(message)
    cursor.problems[fid] = kind


def _record_success(log: Any, config: FeedConfig, cursor: RssCursor) -> None:
    fid = config.feed_id
    failures = cursor.failures.pop(fid, 0)
    cursor.problems.pop(fid, None)
    if failures:
        log.warning(f"{config.display_url}: feed recovered after {failures} consecutive failures")


rss_sensor = build_rss_sensor()
