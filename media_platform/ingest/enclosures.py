"""Fetch the enclosure of an RSS episode into storage (done by the first asset of its run,
never inside a sensor tick) through the safe HTTP client: streamed with a size limit, a total
deadline and retries, http(s) only and never to an internal address, content type and a decode
probe checked, content hash recorded in the catalogue. Errors name the URL redacted."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import urlsplit

from media_platform.catalogue import Catalogue, DuplicateContentError, Episode
from media_platform.errors import MediaError
from media_platform.ingest.download import download_to_file
from media_platform.ingest.http import redact_url
from media_platform.ingest.register import decode_probe_problem, keep_original_error, master_suffix
from media_platform.layout import master_key
from media_platform.probe import probe_media
from media_platform.storage import Store

MAX_ENCLOSURE_BYTES = 4 * 1024**3
ENCLOSURE_TIMEOUT_S = 120.0


def fetch_enclosure(
    store: Store,
    catalogue: Catalogue,
    episode: Episode,
    *,
    max_bytes: int = MAX_ENCLOSURE_BYTES,
    timeout_s: float = ENCLOSURE_TIMEOUT_S,
) -> Episode:
    """Download ``episode``'s enclosure (its ``master_uri``), probe it, store it as the master
    and update the catalogue row (key, URI, hash, kind). Returns the updated episode.

    Raises MediaError naming the URL when the download or the probe fails; nothing already
    stored is touched in that case.
    """
    url = episode.master_uri
    suffix = master_suffix(Path(urlsplit(url).path))
    with TemporaryDirectory(prefix="media-platform-enclosure-") as tmp:
        dest = Path(tmp) / f"enclosure{suffix}"
        expected = episode.metadata.get("enclosure_length")
        result = download_to_file(
            url, dest, max_bytes=max_bytes, timeout_s=timeout_s,
            expected_length=int(expected) if isinstance(expected, int) and expected > 0 else None,
        )
        try:
            probe = probe_media(dest)
        except MediaError as exc:
            raise MediaError(redact_url(url), f"downloaded enclosure is not usable media: {exc.problem}") from exc
        problem = decode_probe_problem(dest)
        if problem:
            raise MediaError(redact_url(url), f"downloaded enclosure is not usable media: {problem}")
        metadata = {**episode.metadata, "downloaded_bytes": result.bytes,
                    "content_type": result.content_type, "duration_s": probe.duration_s}
        duplicate = catalogue.find_by_hash(result.sha256)
        if duplicate is not None and duplicate.partition_key != episode.partition_key:
            _refuse_duplicate(catalogue, episode, url, duplicate.partition_key, metadata)
        key = master_key(episode.partition_key, suffix)
        uri = store.put_file(key, dest)
    kind = "video" if probe.kind == "video" else "audio"
    try:
        return catalogue.modify(
            episode.partition_key,
            lambda current: replace(current, master_key=key, master_uri=uri, content_hash=result.sha256,
                                    kind=kind, metadata={**current.metadata, **metadata}),
        )
    except BaseException as exc:
        # any failure (the same content catalogued meanwhile, the row removed meanwhile, the
        # database unreachable) leaves no orphan master; deleting it never hides the failure
        keep_original_error(exc, f"deleting the stored master {key!r}", lambda: store.delete(key))
        if isinstance(exc, DuplicateContentError):
            other = exc.existing.partition_key if exc.existing else "another partition"
            _refuse_duplicate(catalogue, episode, url, other, metadata)
        raise


def _refuse_duplicate(
    catalogue: Catalogue, episode: Episode, url: str, other: str, metadata: dict
) -> None:
    """One content, one episode: an enclosure whose bytes another partition already holds is
    not stored twice. The row records which partition has it (``same_content_as``) and the run
    fails with that reason; nothing is stored for this partition."""
    catalogue.update_metadata(episode.partition_key, **{**metadata, "same_content_as": other})
    raise MediaError(redact_url(url), f"same content as partition {other!r}; not stored twice")
