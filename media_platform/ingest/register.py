"""Register a master file as an episode: hash it, store it, record it in the catalogue.

Used by the command-line tool and by the ingestion sensors. Registering the same content twice
is a no-op that returns the existing episode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_platform.catalogue import Catalogue, Episode, EpisodeSource
from media_platform.config import master_key
from media_platform.errors import MediaError
from media_platform.keys import partition_key_for, validate_partition_key
from media_platform.probe import MediaProbe, probe_media
from media_platform.storage import Store

_ALLOWED_SUFFIX_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789")


@dataclass(frozen=True)
class Registration:
    episode: Episode
    created: bool
    probe: MediaProbe | None = None


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks; ``progress`` gets each chunk's size."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def master_suffix(path: Path) -> str:
    """A safe file suffix for the stored master (``.mp4``, ``.webm``...; ``.bin`` if odd)."""
    suffix = path.suffix.lower()
    if 2 <= len(suffix) <= 6 and set(suffix[1:]) <= _ALLOWED_SUFFIX_CHARS:
        return suffix
    return ".bin"


def register_master(
    store: Store,
    catalogue: Catalogue,
    path: str | Path,
    *,
    title: str,
    episode_id: str | None = None,
    source: EpisodeSource = "cli",
    licence: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    partition_key: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Registration:
    """Probe, hash and store ``path`` as a new episode; a no-op if its content is known.

    Raises MediaError (naming the file) for a missing, empty or non-media file.
    """
    path = Path(path)
    if not title.strip():
        raise MediaError(path, "a title is required")
    probe = probe_media(path)
    digest = sha256_file(path, progress)
    existing = catalogue.find_by_hash(digest)
    if existing is not None:
        return Registration(existing, created=False, probe=probe)
    decode_problem = decode_probe_problem(path)
    if decode_problem:
        raise MediaError(path, decode_problem)
    key = validate_partition_key(partition_key) if partition_key else partition_key_for(title, episode_id)
    taken = catalogue.get(key)
    if taken is not None and taken.content_hash != digest:
        key = partition_key_for(title, episode_id, content_hash=digest)
    stored_key = master_key(key, master_suffix(path))
    uri = store.put_file(stored_key, path)
    episode, created = catalogue.insert_new_content(
        Episode(
            partition_key=key,
            title=title.strip(),
            kind="video" if probe.kind == "video" else "audio",
            master_uri=uri,
            master_key=stored_key,
            content_hash=digest,
            source=source,
            episode_id=episode_id,
            licence=licence or {},
            metadata={"original_name": path.name, "duration_s": probe.duration_s, **(metadata or {})},
        )
    )
    if not created and episode.master_key != stored_key:  # lost a race with an identical ingest
        store.delete(stored_key)
    return Registration(episode, created=created, probe=probe)


def decode_probe_problem(path: Path) -> str | None:
    """Decode the first frame of the file's first audio and video stream: a header that probes
    fine over undecodable data is refused here. Returns the problem, or None."""
    from media_platform.ingest.download import decode_probe

    try:
        decode_probe(path)
    except MediaError as exc:
        return f"not decodable: {exc.problem}"
    return None


SUBTITLE_SUFFIXES = (".srt", ".vtt", ".json")


def attach_subtitles(store: Store, catalogue: Catalogue, episode: Episode, path: Path, name: str | None = None) -> Episode:
    """Store a subtitle sidecar (SRT, WebVTT or Podcasting 2.0 JSON) beside the episode's master
    and record it, so the transcript asset uses it instead of running Whisper. The file is
    parsed first: an unreadable sidecar raises MediaError naming it and stores nothing."""
    from media_platform.audio.subtitles import parse_subtitles

    suffix = Path(name or path.name).suffix.lower()
    if suffix not in SUBTITLE_SUFFIXES:
        raise MediaError(path, f"subtitles must be one of {', '.join(SUBTITLE_SUFFIXES)}")
    parse_subtitles(path)
    key = f"masters/{episode.partition_key}/subtitle{suffix}"
    store.put_file(key, path)
    return catalogue.update_metadata(episode.partition_key, subtitle_key=key, subtitle_name=name or path.name)
