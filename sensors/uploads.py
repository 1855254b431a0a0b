"""The upload sensor: masters dropped in a landing zone become episodes, partitions and runs.

Landing zone
------------
``$MEDIA_PLATFORM_LANDING`` (``get_settings().landing_location``): a local folder, or
``s3://bucket/prefix`` read with a boto3 client built from the ``storage`` resource's S3 settings
(endpoint, region, credentials). Default: ``landing/`` in the local home. The adapters live in
the domain (:mod:`media_platform.ingest.landing`). Only the top level of the zone is watched. The
sensor is on by default when ``MEDIA_PLATFORM_LANDING`` is set or the default folder exists when
the code location loads, and is evaluated every 30 s.

What is taken, and how
----------------------
See :mod:`media_platform.ingest.uploads` for the rules: a master is taken once complete (size
and modification time/ETag unchanged across two ticks, a ``<name>.done`` marker, or a
``<name>.json`` sidecar with ``"complete": true``); the optional sidecar gives title, episode,
licence and a sibling subtitle file. The master is registered with
:func:`media_platform.ingest.register.register_master` (``source="upload"``): probed, hashed,
stored under ``masters/<partition>/`` and catalogued. From S3 the object is first downloaded to a
temporary file (named with ``safe_filename``, never the raw key). A subtitle named by the sidecar
is stored as ``masters/<partition>/subtitle.<srt|vtt|json>`` and recorded in the row's metadata
(``subtitle_key``). Then the partition is added and a run requested, selecting the assets the
licence allows.

Licence of an upload (:func:`media_platform.ingest.uploads.upload_licence`): never wider than the
zone's own (``$MEDIA_PLATFORM_UPLOAD_LICENCE``, else the conservative no-use licence: master and
probe only). The operator's licence catalogue entries matching the upload's title or file name,
and the sidecar's ``licence``, only restrict it. The row records the licence, the zone's licence
(``licence_default``), the title keys and the sidecar's licence apart, for the run-time gate.

Errors
------
Landing names, sidecar fields and subtitle names are untrusted. Text that is not valid Unicode
(a file name that is not UTF-8, a JSON ``\\udc80`` escape), a file that is not media or is empty,
an invalid sidecar (unknown keys or licence, a subtitle name with a folder or ``..``, a missing
subtitle file) are permanent errors: refused before anything is stored, logged once with the
reason (names printed with :func:`media_platform.keys.printable`) and remembered in the cursor
under the file's name and signature, so they are not retried until the file (or its sidecar,
or its subtitle) changes. Other failures (storage or network hiccups) are transient: logged and
retried on the next tick.

Content already in the catalogue (same SHA-256) is recognised, logged and not processed again,
unless an earlier try failed after cataloguing it (a bad subtitle, a transient error, a tick
that timed out): then its partition, when not yet added, is added and its run requested, and a
subtitle the sidecar names is attached when the row has none. A subtitle that fails to attach
keeps the upload out of the runs (logged) until the subtitle file or the sidecar changes.
Landing names never reach a shell (ffprobe gets an absolute path after ``--``), symlinks are
ignored, and storage keys come from the validated partition key, never from the name.

Budget
------
Registration (probe, hash, copy) runs in the tick. A tick registers at most
``MEDIA_PLATFORM_UPLOAD_MAX_PER_TICK`` (default 5) masters and starts no new registration once
:data:`TICK_BUDGET_S` seconds have passed since it began (Dagster stops a tick after 60 s); the
rest wait for the next tick.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import dagster as dg

from media_platform.catalogue import Catalogue, Episode
from media_platform.errors import InvalidInputError, MediaError
from media_platform.ingest.landing import Landing, landing_for
from media_platform.ingest.register import attach_subtitles, register_master
from media_platform.ingest.upload_cursor import UploadCursor
from media_platform.ingest.uploads import (
    MAX_SIDECAR_BYTES,
    Candidate,
    LandingFile,
    Sidecar,
    check_landing_name,
    group_landing_files,
    parse_licence_value,
    parse_sidecar,
    title_from_name,
    upload_keys,
    upload_licence,
)
from media_platform.keys import printable
from media_platform.licences import Licence, licence_record
from media_platform.settings import get_settings
from media_platform.storage import Store
from resources import MediaStorage
from resources.partitions import episodes_partitions
from sensors.common import EPISODE_JOB_NAME, episode_run_request, load_licence_catalogue

INTERVAL_S = 30
TICK_BUDGET_S = 40.0
"""No new registration starts after this many seconds of a tick (Dagster's limit is 60 s)."""
_clock = time.monotonic


def s3_client_for(storage: MediaStorage) -> Any:
    """A boto3 S3 client with the storage resource's endpoint, region and credentials."""
    from dagster_aws.s3 import S3Resource

    return S3Resource(
        endpoint_url=storage.s3_endpoint_url,
        region_name=storage.s3_region,
        aws_access_key_id=storage.aws_access_key_id,
        aws_secret_access_key=storage.aws_secret_access_key,
    ).get_client()


def build_upload_sensor(*, name: str = "upload_landing") -> dg.SensorDefinition:
    """The upload sensor (see the module docstring)."""
    try:
        settings = get_settings()
        running = bool(settings.landing) or Path(settings.landing_location).is_dir()
    except InvalidInputError:
        running = True  # a bad variable: each tick reports it, the code location still loads

    @dg.sensor(
        name=name,
        job_name=EPISODE_JOB_NAME,
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING
        if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Registers complete masters dropped in the landing zone "
        "($MEDIA_PLATFORM_LANDING) and requests licence-filtered runs for them.",
    )
    def _upload_sensor(
        context: dg.SensorEvaluationContext, storage: MediaStorage
    ) -> dg.SensorResult:
        return evaluate_uploads(context, storage)

    return _upload_sensor


def _zone_licence(value: str) -> Licence | None:
    return (
        parse_licence_value(value, "MEDIA_PLATFORM_UPLOAD_LICENCE", source="default")
        if value
        else None
    )


def evaluate_uploads(
    context: dg.SensorEvaluationContext, storage: MediaStorage, location: str | None = None
) -> dg.SensorResult:
    """One tick of the upload sensor (``location``: the landing zone, default the settings')."""
    started = _clock()
    log = context.log
    try:
        settings = get_settings()
        location = location or settings.landing_location
        landing = landing_for(location, lambda: s3_client_for(storage))
        if not landing.exists():
            return dg.SensorResult(
                skip_reason=f"no landing folder at {printable(landing)}", cursor=context.cursor
            )
        files = landing.list()
    except InvalidInputError as exc:
        log.warning(f"no upload registered this tick: {exc}")
        return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)
    except Exception as exc:  # noqa: BLE001 - unreachable bucket, permissions...
        reason = f"{type(exc).__name__}: {printable(str(exc))}"
        log.warning(f"{printable(str(location))}: landing zone not listed: {reason}")
        return dg.SensorResult(skip_reason=f"landing zone not listed: {reason}", cursor=context.cursor)
    try:
        cursor = UploadCursor.decode(context.cursor)
    except InvalidInputError as exc:
        log.warning(f"starting from an empty cursor: {exc}")
        cursor = UploadCursor()
    try:
        licences = load_licence_catalogue(context)
        zone_licence = _zone_licence(settings.upload_licence)
    except InvalidInputError as exc:
        log.warning(f"no upload registered this tick: {exc}")
        return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)

    by_name = {f.name: f for f in files}
    candidates = group_landing_files(files)
    cursor.prune(c.master.name for c in candidates)
    store = storage.get_store()
    catalogue = Catalogue(store)
    known = set(context.instance.get_dynamic_partitions(episodes_partitions.name))
    budget = settings.upload_max_per_tick
    postponed = 0
    new_partitions: list[str] = []
    run_requests: list[dg.RunRequest] = []

    for candidate in candidates:
        name = candidate.master.name
        where = printable(f"{landing}/{name}")
        if cursor.status(candidate) in ("done", "bad"):
            continue
        sidecar, problem = _read_sidecar(landing, candidate)
        candidate = _with_subtitle_signature(candidate, sidecar, by_name)
        status = cursor.status(candidate, marked_complete=bool(sidecar and sidecar.complete))
        if status in ("done", "bad"):
            continue  # unchanged since handled, subtitle file included
        if status == "waiting" and problem is None:
            cursor.wait(candidate)
            log.debug(f"{where}: waiting until its size is stable")
            continue
        if problem is None:
            problem = _landing_problem(candidate, sidecar, by_name)
        if problem is not None:
            log.warning(f"{where}: not registered: {problem}")
            cursor.mark_bad(candidate, problem)
            continue
        if budget <= 0 or _clock() - started >= TICK_BUDGET_S:
            postponed += 1  # complete, but this tick's budget is spent: next tick
            continue
        budget -= 1
        try:
            episode, created = _register(
                landing, store, catalogue, candidate, sidecar, licences, zone_licence
            )
        except (MediaError, InvalidInputError, UnicodeError) as exc:
            reason = _reason(exc)
            log.warning(f"{where}: not registered: {reason}")
            cursor.mark_bad(candidate, reason)
            continue
        except Exception as exc:  # noqa: BLE001 - transient (network, storage): retry next tick
            log.warning(f"{where}: registration failed, will retry: {_reason(exc)}")
            continue
        key = episode.partition_key
        # The row exists from here on. Anything below may fail (a bad subtitle, a transient
        # error, a tick timeout); the next try finds the hash (created=False) and finishes the
        # job: the subtitle, the partition and the run are keyed on what is missing, not on
        # whether this tick created the row.
        try:
            episode = _attach_missing_subtitle(landing, store, catalogue, episode, sidecar)
        except (MediaError, InvalidInputError, UnicodeError) as exc:
            reason = _reason(exc)
            log.warning(
                f"{where}: catalogued as partition {key}, but its subtitle was not attached: "
                f"{reason}; no run until the subtitle file (or the sidecar) is fixed"
            )
            cursor.mark_bad(candidate, f"subtitle not attached: {reason}")
            continue
        except Exception as exc:  # noqa: BLE001 - transient: retry next tick
            log.warning(
                f"{where}: subtitle of partition {key} not attached, will retry: {_reason(exc)}"
            )
            continue
        cursor.mark_done(candidate, key)
        if not created and key in known:
            log.info(
                f"{where}: same content already ingested as partition {key}; "
                "not processed again"
            )
            continue
        if created:
            log.info(f"{where}: registered as partition {key} ({episode.kind})")
        else:
            log.info(
                f"{where}: already catalogued as partition {key} but its partition was never "
                "added (an earlier tick failed after registering it): adding it and requesting "
                "its run now"
            )
        if key not in known:
            new_partitions.append(key)
            known.add(key)
        run_requests.append(
            episode_run_request(context, episode, f"upload:{key}:{episode.content_hash[:16]}")
        )

    if postponed:
        log.info(
            f"{postponed} complete upload(s) wait for the next tick (at most "
            f"{settings.upload_max_per_tick} registrations or {TICK_BUDGET_S:.0f} s per tick)"
        )
    cursor_text = cursor.encode()
    if not run_requests:
        return dg.SensorResult(skip_reason="no new complete uploads", cursor=cursor_text)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=(
            [episodes_partitions.build_add_request(new_partitions)] if new_partitions else []
        ),
        cursor=cursor_text,
    )


def _reason(exc: BaseException) -> str:
    """A one-line, printable reason for ``exc``."""
    if isinstance(exc, MediaError):
        return printable(exc.problem)
    if isinstance(exc, InvalidInputError):
        return printable(str(exc))
    if isinstance(exc, UnicodeError):
        return "not valid UTF-8 text"
    return f"{type(exc).__name__}: {printable(str(exc))}"


def _read_sidecar(landing: Landing, candidate: Candidate) -> tuple[Sidecar | None, str | None]:
    """The candidate's validated sidecar, or the problem with it (or with the master's name)."""
    try:
        check_landing_name(candidate.master.name)
    except InvalidInputError as exc:
        return None, str(exc)
    if candidate.sidecar is None:
        return None, None
    where = printable(f"{landing}/{candidate.sidecar.name}")
    try:
        return parse_sidecar(landing.read_bytes(candidate.sidecar.name, MAX_SIDECAR_BYTES), where), None
    except InvalidInputError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"sidecar unreadable: {printable(str(exc))}"
    except Exception as exc:  # noqa: BLE001 - a hostile sidecar is marked bad once, never a failed tick
        return None, f"{where}: unreadable sidecar: {_reason(exc)}"


def _landing_problem(
    candidate: Candidate, sidecar: Sidecar | None, files: dict[str, LandingFile]
) -> str | None:
    if sidecar is not None and sidecar.subtitle is not None and sidecar.subtitle not in files:
        return (
            f"subtitle file {sidecar.subtitle!r} named by the sidecar is not in the landing zone"
        )
    return None


def _register(
    landing: Landing,
    store: Store,
    catalogue: Catalogue,
    candidate: Candidate,
    sidecar: Sidecar | None,
    licences: dict[str, Licence],
    zone_licence: Licence | None,
) -> tuple[Episode, bool]:
    name = candidate.master.name
    title = (sidecar.title if sidecar else None) or title_from_name(name)
    episode_id = sidecar.episode if sidecar else None
    keys = upload_keys(name, sidecar.title if sidecar else None, episode_id)
    licence = upload_licence(
        zone=zone_licence,
        entries=licences,
        keys=keys,
        claim=sidecar.licence if sidecar else None,
    )
    with landing.local_file(name) as path:
        registration = register_master(
            store,
            catalogue,
            path,
            title=title,
            episode_id=episode_id,
            source="upload",
            licence=licence_record(licence.licence),
            metadata={
                "landing_uri": f"{landing}/{name}",
                "landing_name": name,
                **({"series": sidecar.series} if sidecar and sidecar.series else {}),
                **licence.metadata(),
            },
        )
    return registration.episode, registration.created


def _attach_missing_subtitle(
    landing: Landing,
    store: Store,
    catalogue: Catalogue,
    episode: Episode,
    sidecar: Sidecar | None,
) -> Episode:
    """Attach the subtitle the sidecar names when the row has none yet (a new episode, or an
    earlier attempt that failed after the master was registered)."""
    if sidecar is None or sidecar.subtitle is None or episode.metadata.get("subtitle_key"):
        return episode
    with landing.local_file(sidecar.subtitle) as sub_path:
        return attach_subtitles(store, catalogue, episode, sub_path, name=sidecar.subtitle)


def _with_subtitle_signature(
    candidate: Candidate, sidecar: Sidecar | None, files: dict[str, LandingFile]
) -> Candidate:
    """``candidate`` whose signature also changes when the subtitle file its sidecar names
    changes or appears ("absent" is part of the signature), so a fixed or newly dropped
    subtitle retries a candidate remembered as bad."""
    if candidate.sidecar is None or sidecar is None or sidecar.subtitle is None:
        return candidate
    subtitle = files.get(sidecar.subtitle)
    marker = subtitle.signature if subtitle is not None else "absent"
    version = f"{candidate.sidecar.version}+subtitle={marker}"
    return dataclasses.replace(
        candidate, sidecar=dataclasses.replace(candidate.sidecar, version=version)
    )


upload_sensor = build_upload_sensor()
