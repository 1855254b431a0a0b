"""Keyframes, episode media and preview audio, with range requests (owner: server helper).

Only files that the catalogue and the stored outputs list are served: a shot's keyframe is the
``uri`` of its row in the episode's ``keyframes`` table, the master is the catalogue's
``master_key``, the preview audio is the ``uri`` of ``preview.json``. A request only names an
episode and a shot; each is checked (partition key, shot number), then looked up; the file's
storage key comes from those records and must lie under the episode's own folder (or its
master's). No path from a request reaches the file system. Episodes hidden by the licence rule
(:mod:`media_platform.api.visibility`) answer 404 like unknown ones.

A local home is served by Starlette's ``FileResponse`` (single and multiple byte ranges, 416);
an S3 home streams through the store's client with ``GetObject Range``.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlparse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from media_platform.api.app import bad_input, get_context, not_found
from media_platform.api.context import ApiContext
from media_platform.catalogue import Episode
from media_platform.errors import InvalidInputError
from media_platform.keys import printable
from media_platform.layout import (
    KEYFRAME_DIR,
    KEYFRAMES,
    PREVIEW_RECORD,
    episode_key,
)
from media_platform.storage import LocalStore, S3Store, Store, read_table, validate_key
from media_platform.tags.labels import ShotRef, parse_shot_ref

Ctx = Annotated[ApiContext, Depends(get_context)]
router = APIRouter(tags=["files"])

CHUNK = 256 * 1024
MEDIA_TYPES = {".webm": "video/webm", ".mkv": "video/x-matroska", ".mp4": "video/mp4", ".m4a": "audio/mp4",
               ".mp3": "audio/mpeg", ".flac": "audio/flac", ".wav": "audio/wav", ".ogg": "audio/ogg",
               ".opus": "audio/ogg", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
FILE_RESPONSES = {
    200: {"description": "the whole file"},
    206: {"description": "the requested byte range (Range: bytes=START-END)"},
    404: {"description": "unknown or hidden episode or shot, or the output is not built"},
    416: {"description": "range not satisfiable"},
}


# ---- from records to storage keys ------------------------------------------------------------

def key_of_uri(store: Store, uri: str) -> str | None:
    """The storage key a stored output's ``uri`` names, or None when it is not in ``store``."""
    if isinstance(store, LocalStore):
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            return None
        path = Path(unquote(parsed.path)).resolve()
        if store.root not in path.parents:
            return None
        key = path.relative_to(store.root).as_posix()
    elif isinstance(store, S3Store):
        base = f"s3://{store.bucket}/{store.prefix + '/' if store.prefix else ''}"
        if not uri.startswith(base):
            return None
        key = uri[len(base):]
    else:  # pragma: no cover - the platform has two stores
        return None
    try:
        validate_key(key)
    except InvalidInputError:
        return None
    return key if store.uri(key) == uri else None


def _listed_key(store: Store, uri: object, folder: str) -> str | None:
    key = key_of_uri(store, uri) if isinstance(uri, str) else None
    return key if key is not None and key.startswith(folder) else None


def keyframe_key(store: Store, ref: ShotRef) -> str | None:
    """The stored keyframe of a shot, as listed by its row of the ``keyframes`` table."""
    table_key = episode_key(ref.partition, KEYFRAMES)
    if not store.exists(table_key):
        return None
    rows = read_table(store, table_key).filter(shot=ref.shot).to_dicts()
    if not rows:
        return None
    return _listed_key(store, rows[0].get("uri"), episode_key(ref.partition, f"{KEYFRAME_DIR}/"))


def preview_key(store: Store, partition: str) -> str | None:
    """The preview audio listed by the episode's ``preview.json``."""
    record_key = episode_key(partition, PREVIEW_RECORD)
    if not store.exists(record_key):
        return None
    try:
        record = json.loads(store.read_bytes(record_key))
    except (ValueError, FileNotFoundError):
        return None
    return _listed_key(store, record.get("uri") if isinstance(record, dict) else None, episode_key(partition, ""))


# ---- serving a stored file ---------------------------------------------------------------------

def media_type_of(key: str) -> str:
    suffix = Path(key).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def parse_single_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """``(start, end_exclusive)`` for one satisfiable byte range; None to send the whole file
    (no header, a malformed one, several ranges); ``"unsatisfiable"`` for 416."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else "unsatisfiable"
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if last and int(last) < start:
        return None
    return (start, end) if start < size else "unsatisfiable"


def _s3_response(store: S3Store, key: str, media_type: str, request: Request) -> Response:
    """Stream an S3 object through the store's client, honouring a single byte range."""
    full_key = store.uri(key).removeprefix(f"s3://{store.bucket}/")  # the object key, prefix included
    head = store.client.head_object(Bucket=store.bucket, Key=full_key)
    size = int(head["ContentLength"])
    headers = {"accept-ranges": "bytes"}
    if "ETag" in head:
        headers["etag"] = str(head["ETag"])
    wanted = parse_single_range(request.headers.get("range"), size)
    if wanted == "unsatisfiable":
        return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
    kwargs = {"Bucket": store.bucket, "Key": full_key}
    status = 200
    if isinstance(wanted, tuple):
        start, end = wanted
        kwargs["Range"] = f"bytes={start}-{end - 1}"
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        status = 206
    else:
        start, end = 0, size
    headers["content-length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = store.client.get_object(**kwargs)["Body"]

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := body.read(CHUNK):
                yield chunk
        finally:
            body.close()

    return StreamingResponse(chunks(), status_code=status, headers=headers, media_type=media_type)


def stored_file(store: Store, key: str, request: Request, media_type: str | None = None) -> Response:
    """A stored file as a response with range requests (local: FileResponse; S3: streamed)."""
    media_type = media_type or media_type_of(key)
    if isinstance(store, LocalStore):
        path = store.path(key)
        if not path.is_file():
            raise not_found(f"{key}: not in storage")
        return FileResponse(path, media_type=media_type, headers={"cache-control": "private, no-cache"})
    if isinstance(store, S3Store):
        if not store.exists(key):
            raise not_found(f"{key}: not in storage")
        return _s3_response(store, key, media_type, request)
    raise not_found(f"{key}: not in storage")  # pragma: no cover


# ---- the routes ----------------------------------------------------------------------------------

def _shot(shot_id: str) -> ShotRef:
    try:
        return parse_shot_ref(shot_id)
    except InvalidInputError as exc:
        raise bad_input("path", "shot_id", str(exc)) from None


def _visible_episode(ctx: ApiContext, partition: str, name: str = "partition") -> Episode:
    """The catalogue's episode when it exists and may be shown; else 404 (hidden = unknown)."""
    from media_platform.api.visibility import is_visible

    try:
        ShotRef(partition, 0)  # the partition key's own check
    except InvalidInputError as exc:
        raise bad_input("path", name, str(exc)) from None
    episode = ctx.catalogue().get(partition) if is_visible(ctx, partition) else None
    if episode is None:
        raise not_found(f"unknown episode {printable(partition)}")
    return episode


@router.get("/shots/{shot_id}/keyframe", summary="a shot's keyframe (JPEG)", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 404: FILE_RESPONSES[404]})
def keyframe(shot_id: str, request: Request, ctx: Ctx) -> Response:
    ref = _shot(shot_id)
    _visible_episode(ctx, ref.partition, "shot_id")
    key = keyframe_key(ctx.store, ref)
    if key is None:
        raise not_found(f"no keyframe for shot {printable(shot_id)}")
    return stored_file(ctx.store, key, request, "image/jpeg")


@router.get("/episodes/{partition}/media", summary="the episode's master (video or audio), with range requests",
            response_class=Response, responses=FILE_RESPONSES)
def media(partition: str, request: Request, ctx: Ctx) -> Response:
    episode = _visible_episode(ctx, partition)
    key = episode.master_key
    if not key or not key.startswith(f"masters/{partition}/") or ctx.store.uri(key) != episode.master_uri:
        raise not_found(f"episode {printable(partition)} has no stored master")
    return stored_file(ctx.store, key, request)


@router.get("/episodes/{partition}/preview", summary="the episode's preview audio (MP3), with range requests",
            response_class=Response, responses=FILE_RESPONSES)
def preview(partition: str, request: Request, ctx: Ctx) -> Response:
    _visible_episode(ctx, partition)
    key = preview_key(ctx.store, partition)
    if key is None:
        raise not_found(f"episode {printable(partition)} has no preview")
    return stored_file(ctx.store, key, request, "audio/mpeg")
