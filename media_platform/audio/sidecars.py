"""Transcripts that come with a master: a subtitle sidecar in storage (uploads, CLI) or a
``podcast:transcript`` link in the feed item (RSS). They replace Whisper when present."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from media_platform.audio.subtitles import parse_subtitles, subtitle_format
from media_platform.audio.types import Transcript
from media_platform.errors import MediaPlatformError
from media_platform.ingest.download import download_to_file
from media_platform.storage import Store

log = logging.getLogger(__name__)

MAX_TRANSCRIPT_BYTES = 5 * 1024 * 1024
TRANSCRIPT_CONTENT_TYPES = ("text/", "application/json", "application/x-subrip", "application/srt", "application/octet-stream")


def load_sidecar_transcript(store: Store, metadata: Mapping[str, Any], duration_s: float) -> tuple[Transcript | None, str]:
    """The episode's sidecar transcript, if it has a usable one, and what happened.

    ``metadata["subtitle_key"]`` names a subtitle file in storage; ``metadata["transcript_urls"]``
    lists ``[url, mime type]`` pairs from the feed (downloaded over http(s) only, at most 5 MiB).
    An unusable sidecar is reported and ignored (Whisper runs instead).
    """
    notes: list[str] = []
    key = metadata.get("subtitle_key")
    if key:
        try:
            with store.local_copy(str(key)) as path:
                return parse_subtitles(path, duration_s=duration_s), f"subtitles from {store.uri(str(key))}"
        except (MediaPlatformError, FileNotFoundError, ValueError) as exc:
            notes.append(f"subtitle file {key} unusable: {exc}")
    for entry in metadata.get("transcript_urls") or []:
        url, mime = (entry[0], entry[1] if len(entry) > 1 else None) if isinstance(entry, (list, tuple)) else (entry, None)
        if subtitle_format(Path(str(url).split("?")[0]), mime_type=mime) is None:
            notes.append(f"transcript {url}: unsupported format {mime}")
            continue
        with TemporaryDirectory(prefix="media-platform-transcript-") as tmp:
            dest = Path(tmp) / ("transcript" + Path(str(url).split("?")[0]).suffix[:6])
            try:
                download_to_file(str(url), dest, max_bytes=MAX_TRANSCRIPT_BYTES, timeout_s=30,
                                 allowed_content_types=TRANSCRIPT_CONTENT_TYPES)
                return parse_subtitles(dest, mime_type=mime, duration_s=duration_s), f"transcript from {url}"
            except (MediaPlatformError, ValueError) as exc:
                notes.append(f"transcript {url} unusable: {exc}")
    for note in notes:
        log.warning(note)
    return None, "; ".join(notes) or "no sidecar transcript"
