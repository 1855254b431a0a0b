"""Downloading enclosures safely, and checking that a file really is media.

:func:`download_to_file` fetches one http(s) URL to a file through the one safe HTTP client
(:func:`media_platform.ingest.http.open_url`):

* only ``http``/``https``, on every redirect hop; never an internal address (loopback, private,
  link-local...), checked on every hop and connected to as checked (no DNS rebinding); the
  client's total deadline per attempt (``max_total_s``) holds against a server dripping bytes;
* streams into a temporary file beside ``dest`` and renames it into place (atomic on one file
  system), so ``dest`` is either absent or complete;
* refuses a declared Content-Length above ``max_bytes`` up front and aborts as soon as more than
  ``max_bytes`` arrived, whatever the headers said; asks for ``Accept-Encoding: identity`` so the
  byte count is the file's size;
* retries connection errors, timeouts, truncated bodies and 5xx/429 with exponential backoff, but
  not other 4xx, a bad content type, an oversized body or a refused URL;
* checks the Content-Type against ``allowed_content_types`` (prefixes; a missing Content-Type
  counts as ``application/octet-stream``, the HTTP default);
* computes SHA-256 while streaming.

Errors name the URL redacted (no user info, query or fragment: they may hold tokens).

:func:`decode_probe` opens a file with PyAV and decodes the first frame of its first audio and
first video stream; anything else is a :class:`MediaError`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from media_platform.errors import InvalidInputError, MediaError
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.http import (
    HttpError,
    HttpTooLargeError,
    UnsafeUrlError,
    check_url,
    open_url,
    redact_url,
)

USER_AGENT = "media-platform-downloader/0.1"
DEFAULT_CONTENT_TYPES: tuple[str, ...] = ("audio/", "video/", "application/octet-stream")
_CHUNK = 256 * 1024


class DownloadError(MediaError):
    """A download failed; ``path`` is the (redacted) URL, ``problem`` says why. ``retryable``
    tells whether a later attempt (next tick) might succeed."""

    def __init__(
        self, url: str, problem: str, *, retryable: bool = False, status: int | None = None
    ) -> None:
        super().__init__(redact_url(url), problem)
        self.retryable = retryable
        self.status = status


class DownloadTooLargeError(DownloadError):
    """The resource is larger than ``max_bytes``."""


@dataclass(frozen=True)
class DownloadResult:
    """A completed download.

    Attributes:
        path: where the file now is (``dest``).
        sha256: hex digest of its bytes.
        bytes: its size.
        content_type: the response's media type (lowercase, parameters dropped).
        url: the final URL after redirects.
        attempts: how many requests it took.
        expected_length_matched: whether ``bytes == expected_length`` (None if none was given;
            feeds' enclosure lengths are often wrong, so a mismatch is reported, not fatal).
    """

    path: Path
    sha256: str
    bytes: int
    content_type: str
    url: str
    attempts: int = 1
    expected_length_matched: bool | None = None


def _media_type(header: str | None) -> str:
    if not header or not header.strip():
        return "application/octet-stream"
    return header.split(";", 1)[0].strip().lower()


def _type_allowed(media_type: str, allowed: Sequence[str]) -> bool:
    for a in allowed:
        a = a.lower()
        if (a.endswith("/") and media_type.startswith(a)) or media_type == a:
            return True
    return False


def download_to_file(
    url: str,
    dest: Path | str,
    *,
    max_bytes: int,
    timeout_s: float,
    retries: int = 3,
    allowed_content_types: Sequence[str] = DEFAULT_CONTENT_TYPES,
    expected_length: int | None = None,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    max_total_s: float = 3600.0,
) -> DownloadResult:
    """Download ``url`` to ``dest`` atomically (see the module docstring).

    Args:
        url: http(s) URL.
        dest: final path; its parent is created. An existing file is replaced only on success.
        max_bytes: hard size limit.
        timeout_s: connect timeout; also the longest wait for the response headers and the
            longest silence between two reads of the body (``max_total_s`` still bounds the
            whole attempt).
        retries: extra attempts after the first for retryable failures (so up to ``retries + 1``
            requests); the wait before retry ``n`` is ``backoff_s * 2 ** (n - 1)``.
        allowed_content_types: accepted media types; entries ending in ``/`` are prefixes.
        expected_length: the feed's declared length; only reported in the result.
        backoff_s: base backoff delay.
        sleep: the sleep function (tests).
        max_total_s: total deadline of one attempt, redirects and body included.

    Raises:
        UnsafeUrlError (an InvalidInputError): bad URL scheme, internal address (any hop).
        InvalidInputError: bad arguments.
        DownloadTooLargeError: larger than ``max_bytes`` (declared or actual).
        DownloadError: HTTP 4xx, wrong content type, or retries exhausted (``retryable=True``).
    """
    check_url(url)
    if max_bytes <= 0:
        raise InvalidInputError(f"max_bytes must be positive, got {max_bytes}")
    if retries < 0:
        raise InvalidInputError(f"retries must be >= 0, got {retries}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error: DownloadError | None = None
    for attempt in range(1, retries + 2):
        if attempt > 1:
            sleep(backoff_s * 2 ** (attempt - 2))
        try:
            return _attempt(
                url, dest, max_bytes, timeout_s, allowed_content_types, expected_length, attempt,
                max_total_s,
            )
        except DownloadError as exc:
            if not exc.retryable:
                raise
            last_error = exc
    assert last_error is not None
    raise DownloadError(
        url,
        f"gave up after {retries + 1} attempts: {last_error.problem}",
        retryable=True,
        status=last_error.status,
    ) from last_error


def _attempt(
    url: str,
    dest: Path,
    max_bytes: int,
    timeout_s: float,
    allowed_content_types: Sequence[str],
    expected_length: int | None,
    attempt: int,
    max_total_s: float,
) -> DownloadResult:
    headers = {"User-Agent": USER_AGENT}
    try:
        resp = open_url(
            url, deadline=Deadline(max_total_s), max_bytes=max_bytes, headers=headers,
            connect_timeout_s=timeout_s, idle_timeout_s=timeout_s,
        )
    except UnsafeUrlError:
        raise
    except HttpError as exc:
        raise DownloadError(url, exc.problem, retryable=exc.retryable, status=exc.status) from None
    with resp:
        status = resp.status
        if status >= 500 or status == 429:
            raise DownloadError(url, f"HTTP {status}", retryable=True, status=status)
        if status != 200:
            raise DownloadError(url, f"HTTP {status}", status=status)
        media_type = _media_type(resp.headers.get("Content-Type"))
        if not _type_allowed(media_type, allowed_content_types):
            raise DownloadError(
                url,
                f"content type {media_type!r} not in allowed {list(allowed_content_types)}",
                status=status,
            )
        declared = resp.declared_length
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{dest.name[:100]}.", suffix=".part", dir=dest.parent
        )
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                try:
                    for chunk in resp.iter_content(_CHUNK):
                        size += len(chunk)
                        digest.update(chunk)
                        out.write(chunk)
                except HttpTooLargeError as exc:
                    raise DownloadTooLargeError(url, exc.problem, status=status) from None
                except HttpError as exc:
                    raise DownloadError(
                        url, exc.problem, retryable=exc.retryable, status=status
                    ) from None
                if declared is not None and size != declared:
                    raise DownloadError(
                        url,
                        f"truncated: got {size} of {declared} bytes",
                        retryable=True,
                        status=status,
                    )
                if size == 0:
                    raise DownloadError(url, "empty body", retryable=True, status=status)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return DownloadResult(
        path=dest,
        sha256=digest.hexdigest(),
        bytes=size,
        content_type=media_type,
        url=resp.url,
        attempts=attempt,
        expected_length_matched=None if expected_length is None else expected_length == size,
    )


@dataclass(frozen=True)
class DecodeProbe:
    """What :func:`decode_probe` found.

    Attributes:
        format_name: the demuxer's name (e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"flac"``).
        duration_s: container duration in seconds, or None if unknown.
        has_audio: an audio stream decoded a frame.
        has_video: a video stream decoded a frame.
    """

    format_name: str
    duration_s: float | None
    has_audio: bool
    has_video: bool


_MAX_PROBE_PACKETS = 500


def decode_probe(path: Path | str) -> DecodeProbe:
    """Open ``path`` with PyAV and decode the first frame of the first audio and video stream.

    Raises:
        MediaError: missing/empty file, not a container PyAV can open, no audio or video stream,
            or a stream that yields no decodable frame within the first packets.
    """
    import av  # heavy import, only needed here

    p = Path(path)
    if not p.is_file():
        raise MediaError(p, "file does not exist")
    if p.stat().st_size == 0:
        raise MediaError(p, "file is empty")
    decoded: dict[str, bool] = {}
    try:
        with av.open(str(p), mode="r") as container:
            format_name = container.format.name if container.format else "unknown"
            duration_s = container.duration / 1_000_000 if container.duration else None
            kinds = [k for k in ("audio", "video") if any(s.type == k for s in container.streams)]
        if not kinds:
            raise MediaError(p, f"no audio or video stream (format {format_name})")
        for kind in kinds:
            with av.open(str(p), mode="r") as container:
                stream = next(s for s in container.streams if s.type == kind)
                decoded[kind] = _decode_one(container, stream)
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError, StopIteration) as exc:
        raise MediaError(p, f"not decodable media: {exc}") from exc
    failed = [k for k in kinds if not decoded.get(k)]
    if failed:
        raise MediaError(
            p,
            f"no decodable frame in the first {_MAX_PROBE_PACKETS} packets of the {', '.join(failed)} stream",
        )
    return DecodeProbe(format_name, duration_s, "audio" in decoded, "video" in decoded)


def _decode_one(container: object, stream: object) -> bool:
    for n, packet in enumerate(container.demux(stream)):  # type: ignore[attr-defined]
        if n >= _MAX_PROBE_PACKETS:
            return False
        for _frame in packet.decode():
            return True
    # flush the decoder (the last packet is an empty one that drains it)
    return False
