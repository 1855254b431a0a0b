"""Register a master file as an episode: hash it, record it in the catalogue, store it.

Used by the command-line tool and by the ingestion sensors. Registering the same content twice
is a no-op that returns the existing episode. The catalogue row is inserted before the master
is copied into place, and removed again if the copy fails (see :func:`register_master`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_platform.catalogue import Catalogue, Episode, EpisodeSource, PartitionKeyTakenError
from media_platform.errors import MediaError
from media_platform.keys import partition_key_for, printable, require_text, validate_partition_key
from media_platform.layout import master_key
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

    One atomic step: the key is chosen, the row inserted (the database refuses a key holding
    other content, and then the hash-suffixed key is taken), and only then is the master copied
    to its final key. If the copy fails the row is deleted again, so a failed registration
    leaves neither a row nor an orphan master. The same content registered by two processes at
    once gives one episode: one "created", the other the existing row.

    Raises MediaError (naming the file) for a missing, empty or non-media file, and
    InvalidInputError for a title or episode id that is not valid text.
    """
    path = Path(path)
    require_text(title, f"{printable(path)}: title")
    if episode_id is not None:
        require_text(episode_id, f"{printable(path)}: episode id", max_length=200)
    if not title.strip():
        raise MediaError(path, "a title is required")
    probe = probe_media(path)
    digest = sha256_file(path, progress)
    existing = catalogue.find_by_hash(digest)
    if existing is not None:
        _restore_missing_master(store, existing, path)
        return Registration(existing, created=False, probe=probe)
    decode_problem = decode_probe_problem(path)
    if decode_problem:
        raise MediaError(path, decode_problem)
    first = validate_partition_key(partition_key) if partition_key else partition_key_for(title, episode_id)
    fallback = partition_key_for(title, episode_id, content_hash=digest)
    suffix = master_suffix(path)
    for key in dict.fromkeys((first, fallback)):
        stored_key = master_key(key, suffix)
        candidate = Episode(
            partition_key=key,
            title=title.strip(),
            kind="video" if probe.kind == "video" else "audio",
            master_uri=store.uri(stored_key),
            master_key=stored_key,
            content_hash=digest,
            source=source,
            episode_id=episode_id,
            licence=licence or {},
            metadata={"original_name": path.name, "duration_s": probe.duration_s, **(metadata or {})},
        )
        try:
            episode, created = catalogue.insert_new_content(candidate)
        except PartitionKeyTakenError as exc:
            same = exc.existing if exc.existing is not None else catalogue.get(key)
            if same is None or same.content_hash != digest:
                continue  # the key holds other content: try the hash-suffixed key
            # a concurrent registration of the same content took this key first
            episode, created = same, False
        if not created:  # a concurrent registration of the same content won
            _restore_missing_master(store, episode, path)
            return Registration(episode, created=False, probe=probe)
        try:
            store.put_file(stored_key, path)
        except BaseException as exc:
            keep_original_error(exc, f"removing the row of {key!r}", lambda key=key: catalogue.remove(key, content_hash=digest))
            raise
        return Registration(episode, created=True, probe=probe)
    existing = catalogue.find_by_hash(digest)  # the same content, catalogued meanwhile
    if existing is not None:
        _restore_missing_master(store, existing, path)
        return Registration(existing, created=False, probe=probe)
    raise MediaError(path, f"partitions {first!r} and {fallback!r} both hold other content")


def undo_registration(store: Store, catalogue: Catalogue, registration: Registration) -> bool:
    """Take back a registration that created its episode, when a later step of the ingest
    failed (e.g. adding its Dagster partition): the row is deleted (only while it still holds
    this content) and then the episode's folder of masters (the master and any sidecar
    attached since). A registration that found existing content is left alone. Returns
    whether anything was undone."""
    episode = registration.episode
    if not registration.created:
        return False
    removed = catalogue.remove(episode.partition_key, content_hash=episode.content_hash)
    if removed:
        store.delete_prefix(f"masters/{episode.partition_key}/")
    return removed


def keep_original_error(original: BaseException, what: str, step: Callable[[], object]) -> None:
    """Run a clean-up step after ``original`` failed: its own failure never replaces the
    original error, it is noted on it."""
    try:
        step()
    except Exception as exc:
        original.add_note(f"also failed while {what}: {type(exc).__name__}: {exc}")


def _restore_missing_master(store: Store, episode: Episode, path: Path) -> None:
    """Copy ``path`` back as ``episode``'s master when it is missing from storage (a
    registration interrupted between its row and its copy); ``path`` has the same content."""
    if episode.master_key and not store.exists(episode.master_key):
        store.put_file(episode.master_key, path)


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
