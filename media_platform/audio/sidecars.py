"""Transcripts that come with a master: a subtitle sidecar in storage (uploads, CLI) or a
``podcast:transcript`` link in the feed item (RSS). They replace Whisper when present.

This module only parses: the links are fetched by ingest
(:func:`media_platform.ingest.transcripts.fetch_linked_transcripts`) and handed over as bytes;
media understanding never downloads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from media_platform.audio.subtitles import (
    decode_subtitle_bytes,
    parse_subtitle_text,
    parse_subtitles,
    subtitle_format,
)
from media_platform.audio.types import Transcript
from media_platform.errors import MediaPlatformError
from media_platform.storage import Store

log = logging.getLogger(__name__)


class FetchedTranscript(Protocol):
    """A linked transcript as ingest hands it over: bytes, or the reason there are none."""

    label: str
    mime_type: str | None
    data: bytes | None
    problem: str | None


def _path_of(url: str) -> Path:
    try:
        return Path(urlsplit(url).path)
    except ValueError:
        return Path("")


def is_supported_link(url: str, mime_type: str | None) -> bool:
    """Whether a linked transcript (by its declared type, else its URL's extension) is a format
    :func:`parse_subtitle_text` reads."""
    return subtitle_format(_path_of(url), mime_type=mime_type) is not None


def load_sidecar_transcript(
    store: Store,
    metadata: Mapping[str, Any],
    duration_s: float,
    linked: Iterable[FetchedTranscript] = (),
) -> tuple[Transcript | None, str]:
    """The episode's sidecar transcript, if it has a usable one, and what happened.

    ``metadata["subtitle_key"]`` names a subtitle file in storage; ``linked`` are the feed's
    ``podcast:transcript`` links as fetched by ingest (consumed one at a time, so a lazy iterator
    stops fetching at the first usable one). An unusable sidecar is reported and ignored
    (Whisper runs instead).
    """
    notes: list[str] = []
    key = metadata.get("subtitle_key")
    if key:
        try:
            with store.local_copy(str(key)) as path:
                return parse_subtitles(path, duration_s=duration_s), f"subtitles from {store.uri(str(key))}"
        except (MediaPlatformError, FileNotFoundError, ValueError) as exc:
            notes.append(f"subtitle file {key} unusable: {exc}")
    for item in linked:
        if item.data is None:
            notes.append(f"transcript {item.label}: {item.problem or 'not fetched'}")
            continue
        try:
            text = decode_subtitle_bytes(item.data, name=item.label)
            fmt = subtitle_format(_path_of(item.label), mime_type=item.mime_type, text=text)
            if fmt is None:
                notes.append(f"transcript {item.label}: unsupported format {item.mime_type}")
                continue
            transcript = parse_subtitle_text(text, fmt, name=item.label, duration_s=duration_s)
            return transcript, f"transcript from {item.label}"
        except (MediaPlatformError, ValueError) as exc:
            notes.append(f"transcript {item.label} unusable: {exc}")
    for note in notes:
        log.warning(note)
    return None, "; ".join(notes) or "no sidecar transcript"
