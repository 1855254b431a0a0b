"""The upload sensor: masters dropped in a landing zone become episodes, partitions and runs.

Landing zone
------------
``$MEDIA_PLATFORM_LANDING``: a local folder, or ``s3://bucket/prefix`` (listed through
``dagster_aws.s3.sensor.get_objects`` with a client built from the ``storage`` resource's S3
settings: endpoint, region, credentials). Default: ``$MEDIA_PLATFORM_HOME/landing/`` (with an
``s3://`` home, ``~/.media-platform/landing/``). Only the top level of the zone is watched. The
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

Licence of an upload: the operator's licence catalogue (``$MEDIA_PLATFORM_LICENCES``, by
partition key or title) > the sidecar's ``licence`` > ``$MEDIA_PLATFORM_UPLOAD_LICENCE`` (a
preset name or identifier the operator sets for the whole zone) > the conservative no-use
licence (master and probe only). It is recorded explicitly in the catalogue row.

Content already in the catalogue (same SHA-256) is recognised, logged and not processed again,
unless an earlier try failed after cataloguing it (a bad subtitle, a transient error, a tick
that timed out): then its partition, when not yet added, is added and its run requested, and a
subtitle the sidecar names is attached when the row has none. A subtitle that fails to attach
keeps the upload out of the runs (logged) until the subtitle file or the sidecar changes.
A file that is not media, is empty, or whose sidecar is invalid (unknown keys or licence, a
subtitle name with a folder or ``..``, a missing subtitle file) is logged with the reason and
remembered in the cursor, so it is not retried every tick, until it (or its sidecar) changes.
Landing names are untrusted: they never reach a shell (ffprobe gets an absolute path after
``--``), symlinks are ignored, and storage keys come from the validated partition key, never from
the name. At most ``MEDIA_PLATFORM_UPLOAD_MAX_PER_TICK`` (default 5) masters are registered per
tick (hashing and probing take time; the rest wait for the next tick).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from media_platform.catalogue import Catalogue, Episode
from media_platform.config import DEFAULT_HOME, media_home
from media_platform.errors import InvalidInputError, MediaError
from media_platform.ingest.register import attach_subtitles, register_master
from media_platform.ingest.uploads import (
    Candidate,
    LandingFile,
    Sidecar,
    UploadCursor,
    group_landing_files,
    is_plain_name,
    parse_licence_value,
    parse_sidecar,
    title_from_name,
)
from media_platform.keys import partition_key_for, safe_filename, safe_join
from media_platform.licences import Licence, resolve_licence
from media_platform.retention import licence_record
from media_platform.storage import Store
from resources import MediaStorage
from resources.partitions import episodes_partitions
from sensors.common import EPISODE_JOB_NAME, episode_run_request, load_licence_catalogue

LANDING_ENV = "MEDIA_PLATFORM_LANDING"
UPLOAD_LICENCE_ENV = "MEDIA_PLATFORM_UPLOAD_LICENCE"
MAX_PER_TICK_ENV = "MEDIA_PLATFORM_UPLOAD_MAX_PER_TICK"
DEFAULT_MAX_PER_TICK = 5
INTERVAL_S = 30


def landing_location() -> str:
    """``$MEDIA_PLATFORM_LANDING``, else the ``landing`` folder of the (local) home."""
    value = os.environ.get(LANDING_ENV, "").strip()
    if value:
        return value if value.startswith("s3://") else str(Path(value).expanduser().resolve())
    home = media_home()
    base = DEFAULT_HOME.expanduser() if home.startswith("s3://") else Path(home)
    return str(base / "landing")


# --------------------------------------------------------------------------------------------
# Landing zones


class LocalLanding:
    """A landing folder on local disk (top level only; symlinks and non-files ignored)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().resolve()

    def __str__(self) -> str:
        return str(self.folder)

    def exists(self) -> bool:
        return self.folder.is_dir()

    def list(self) -> list[LandingFile]:
        out = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False) or not is_plain_name(entry.name):
                    continue
                st = entry.stat(follow_symlinks=False)
                out.append(LandingFile(entry.name, st.st_size, str(st.st_mtime_ns)))
        return sorted(out, key=lambda f: f.name)

    def _path(self, name: str) -> Path:
        if not is_plain_name(name):
            raise InvalidInputError(f"{name!r} is not a plain landing file name")
        return safe_join(self.folder, name)

    def read_bytes(self, name: str, limit: int) -> bytes:
        with open(self._path(name), "rb") as fh:
            return fh.read(limit + 1)

    @contextlib.contextmanager
    def local_file(self, name: str) -> Iterator[Path]:
        yield self._path(name)


class S3Landing:
    """A landing prefix in an S3 bucket, listed with ``dagster_aws.s3.sensor.get_objects``."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def exists(self) -> bool:
        return True

    def _key(self, name: str) -> str:
        if not is_plain_name(name):
            raise InvalidInputError(f"{name!r} is not a plain landing file name")
        return f"{self.prefix}/{name}" if self.prefix else name

    def list(self) -> list[LandingFile]:
        from dagster_aws.s3.sensor import get_objects

        # Everything under the prefix, every tick: sizes must be compared across ticks, so a
        # since_key/since_last_modified filter would lose files still being uploaded.
        prefix = f"{self.prefix}/" if self.prefix else ""
        out = []
        for obj in get_objects(self.bucket, prefix=prefix, client=self.client):
            name = obj["Key"][len(prefix) :]
            if "/" in name or not is_plain_name(name):
                continue
            modified = obj.get("LastModified")
            etag = str(obj.get("ETag", "")).strip('"')
            version = f"{etag}@{modified.isoformat() if modified else ''}"
            out.append(LandingFile(name, int(obj.get("Size", 0)), version))
        return sorted(out, key=lambda f: f.name)

    def read_bytes(self, name: str, limit: int) -> bytes:
        obj = self.client.get_object(
            Bucket=self.bucket, Key=self._key(name), Range=f"bytes=0-{limit}"
        )
        return obj["Body"].read()

    @contextlib.contextmanager
    def local_file(self, name: str) -> Iterator[Path]:
        key = self._key(name)
        with tempfile.TemporaryDirectory(prefix="media-platform-upload-") as tmp:
            path = Path(tmp) / safe_filename(name, default="upload")
            self.client.download_file(self.bucket, key, str(path))
            yield path


def s3_client_for(storage: MediaStorage) -> Any:
    """A boto3 S3 client with the storage resource's endpoint, region and credentials."""
    from dagster_aws.s3 import S3Resource

    return S3Resource(
        endpoint_url=storage.s3_endpoint_url,
        region_name=storage.s3_region,
        aws_access_key_id=storage.aws_access_key_id,
        aws_secret_access_key=storage.aws_secret_access_key,
    ).get_client()


def landing_for(location: str, storage: MediaStorage) -> LocalLanding | S3Landing:
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not bucket:
            raise InvalidInputError(f"{LANDING_ENV}={location!r}: no bucket")
        return S3Landing(s3_client_for(storage), bucket, prefix)
    return LocalLanding(location)


# --------------------------------------------------------------------------------------------
# The sensor


def _upload_default_licence() -> Licence | None:
    value = os.environ.get(UPLOAD_LICENCE_ENV, "").strip()
    return parse_licence_value(value, UPLOAD_LICENCE_ENV) if value else None


def _max_per_tick() -> int:
    value = os.environ.get(MAX_PER_TICK_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_PER_TICK


def build_upload_sensor(*, name: str = "upload_landing") -> dg.SensorDefinition:
    """The upload sensor (see the module docstring)."""
    env_set = bool(os.environ.get(LANDING_ENV, "").strip())
    running = env_set or Path(landing_location()).is_dir()

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
        return evaluate_uploads(context, storage, landing_location())

    return _upload_sensor


def evaluate_uploads(
    context: dg.SensorEvaluationContext, storage: MediaStorage, location: str
) -> dg.SensorResult:
    """One tick of the upload sensor."""
    log = context.log
    try:
        landing = landing_for(location, storage)
        if not landing.exists():
            return dg.SensorResult(
                skip_reason=f"no landing folder at {landing}", cursor=context.cursor
            )
        files = landing.list()
    except Exception as exc:  # noqa: BLE001 - unreachable bucket, permissions...
        log.warning(f"{location}: landing zone not listed: {type(exc).__name__}: {exc}")
        return dg.SensorResult(skip_reason=f"landing zone not listed: {exc}", cursor=context.cursor)
    try:
        cursor = UploadCursor.decode(context.cursor)
    except InvalidInputError as exc:
        log.warning(f"starting from an empty cursor: {exc}")
        cursor = UploadCursor()
    try:
        licences = load_licence_catalogue(context)
        zone_default = _upload_default_licence()
    except InvalidInputError as exc:
        log.warning(f"no upload registered this tick: {exc}")
        return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)

    by_name = {f.name: f for f in files}
    names = set(by_name)
    candidates = group_landing_files(files)
    cursor.prune(c.master.name for c in candidates)
    store = storage.get_store()
    catalogue = Catalogue(store)
    known = set(context.instance.get_dynamic_partitions(episodes_partitions.name))
    budget = _max_per_tick()
    new_partitions: list[str] = []
    run_requests: list[dg.RunRequest] = []

    for candidate in candidates:
        name = candidate.master.name
        where = f"{landing}/{name}"
        if cursor.status(candidate) in ("done", "bad"):
            continue
        sidecar: Sidecar | None = None
        problem: str | None = None
        if candidate.sidecar is not None:
            try:
                sidecar = parse_sidecar(
                    landing.read_bytes(candidate.sidecar.name, 64 * 1024),
                    where=f"{landing}/{candidate.sidecar.name}",
                )
            except InvalidInputError as exc:
                problem = str(exc)
            except OSError as exc:
                problem = f"sidecar unreadable: {exc}"
        candidate = _with_subtitle_signature(candidate, sidecar, by_name)
        status = cursor.status(candidate, marked_complete=bool(sidecar and sidecar.complete))
        if status in ("done", "bad"):
            continue  # unchanged since handled, subtitle file included
        if status == "waiting" and problem is None:
            cursor.wait(candidate)
            log.debug(f"{where}: waiting until its size is stable")
            continue
        if budget <= 0:
            continue  # complete, but this tick's budget is spent: next tick
        if problem is None and sidecar is not None and sidecar.subtitle is not None:
            if sidecar.subtitle not in names:
                problem = (
                    f"subtitle file {sidecar.subtitle!r} named by the sidecar "
                    "is not in the landing zone"
                )
        if problem is not None:
            log.warning(f"{where}: not registered: {problem}")
            cursor.mark_bad(candidate, problem)
            continue
        budget -= 1
        try:
            episode, created = _register(
                context, landing, store, catalogue, candidate, sidecar, licences, zone_default
            )
        except (MediaError, InvalidInputError) as exc:
            reason = exc.problem if isinstance(exc, MediaError) else str(exc)
            log.warning(f"{where}: not registered: {reason}")
            cursor.mark_bad(candidate, reason)
            continue
        except Exception as exc:  # noqa: BLE001 - transient (network, storage): retry next tick
            log.warning(f"{where}: registration failed, will retry: {type(exc).__name__}: {exc}")
            continue
        key = episode.partition_key
        # The row exists from here on. Anything below may fail (a bad subtitle, a transient
        # error, a tick timeout); the next try finds the hash (created=False) and finishes the
        # job: the subtitle, the partition and the run are keyed on what is missing, not on
        # whether this tick created the row.
        try:
            episode = _attach_missing_subtitle(landing, store, catalogue, episode, sidecar)
        except (MediaError, InvalidInputError) as exc:
            reason = exc.problem if isinstance(exc, MediaError) else str(exc)
            log.warning(
                f"{where}: catalogued as partition {key}, but its subtitle was not attached: "
                f"{reason}; no run until the subtitle file (or the sidecar) is fixed"
            )
            cursor.mark_bad(candidate, f"subtitle not attached: {reason}")
            continue
        except Exception as exc:  # noqa: BLE001 - transient: retry next tick
            log.warning(
                f"{where}: subtitle of partition {key} not attached, will retry: "
                f"{type(exc).__name__}: {exc}"
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
        if episode.partition_key not in known:
            new_partitions.append(episode.partition_key)
            known.add(episode.partition_key)
        run_requests.append(
            episode_run_request(
                context, episode, f"upload:{episode.partition_key}:{episode.content_hash[:16]}"
            )
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


def _register(
    context: dg.SensorEvaluationContext,
    landing: LocalLanding | S3Landing,
    store: Store,
    catalogue: Catalogue,
    candidate: Candidate,
    sidecar: Sidecar | None,
    licences: dict[str, Licence],
    zone_default: Licence | None,
) -> tuple[Episode, bool]:
    name = candidate.master.name
    title = (sidecar.title if sidecar else None) or title_from_name(name)
    episode_id = sidecar.episode if sidecar else None
    from_catalogue = None
    for key in (partition_key_for(title, episode_id), partition_key_for(title)):
        if key in licences:
            from_catalogue = licences[key]
            break
    licence = resolve_licence(
        catalogue=from_catalogue,
        sidecar=sidecar.licence if sidecar else None,
        feed_default=zone_default,
    )
    with landing.local_file(name) as path:
        registration = register_master(
            store,
            catalogue,
            path,
            title=title,
            episode_id=episode_id,
            source="upload",
            licence=licence_record(licence),
            metadata={
                "landing_uri": f"{landing}/{name}",
                "landing_name": name,
                "licence_source": licence.source,
            },
        )
    return registration.episode, registration.created


def _attach_missing_subtitle(
    landing: LocalLanding | S3Landing,
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
    changes, so a fixed (or newly dropped) subtitle retries a candidate remembered as bad."""
    if candidate.sidecar is None or sidecar is None or sidecar.subtitle is None:
        return candidate
    subtitle = files.get(sidecar.subtitle)
    if subtitle is None:
        return candidate
    version = f"{candidate.sidecar.version}+subtitle={subtitle.signature}"
    return dataclasses.replace(
        candidate, sidecar=dataclasses.replace(candidate.sidecar, version=version)
    )


upload_sensor = build_upload_sensor()
