"""Upload landing zones: which files are masters, their sidecars and their licence (pure).

A landing zone is a flat folder (local) or key prefix (S3) where masters are dropped. Only its
top level is considered; names starting with ``.`` (hidden, temporary) and partial-download
suffixes (``.part``, ``.tmp``, ``.crdownload``, ``.partial``, ``.uploading``) are ignored.

Files and what they are
-----------------------
* ``<name>.json``: the sidecar of master ``<name>`` (e.g. ``talk.mp4.json``); ``<stem>.json``
  (``talk.json``) is accepted too when exactly one master has that stem.
* ``<name>.done`` (or ``<stem>.done``, likewise): marks ``<name>`` complete.
* subtitle files named by a sidecar, and any ``.srt``/``.vtt`` file: not masters.
* everything else is a master candidate (probing later decides whether it is media).

Completeness
------------
A master is taken when it is complete: a ``.done`` marker or a sidecar with ``"complete": true``
is present, or its signature (size and modification time / ETag) is the same on two consecutive
ticks. The first tick that sees a file only records its signature
(:class:`media_platform.ingest.upload_cursor.UploadCursor`).

Sidecar
-------
Optional JSON object beside the master (:func:`parse_sidecar`), every key optional, unknown keys
are errors::

    {"title": "My talk", "episode": "3", "licence": "cc-by-4.0", "subtitle": "talk.srt",
     "complete": true}

``licence`` is a preset name or licence identifier (``analysis-only``, ``cc-by-nd-4.0``...) or a
licence dict (:func:`media_platform.licences.licence_from_dict`). ``subtitle`` is the plain name
of a sibling file (no folders, no ``..``, no leading dot; ``.srt``, ``.vtt`` or ``.json``) that
must exist in the landing zone. Every string in a sidecar must be valid text
(:func:`media_platform.keys.require_text`): a JSON ``\\udc80`` escape decodes to a lone surrogate,
which no catalogue, log or file system can store, so it is refused before anything is stored.

Licence of an upload
--------------------
Everything in a landing zone is written by the uploader: the file name, the sidecar's title,
episode and licence. None of it can widen what the operator allowed
(:func:`upload_licence`): an upload's licence is never wider than the zone's own
(``$MEDIA_PLATFORM_UPLOAD_LICENCE``, else :data:`~media_platform.licences.CONSERVATIVE_LICENCE`).
Entries of the operator's licence catalogue that match the upload's keys (its title's and its
file name's, with and without the episode id; all matches apply) restrict it further, and so
does the sidecar's licence. A sidecar title naming a permissive entry therefore gains nothing.
The row records the zone's licence as the default (``licence_default``), the title and file-name
keys (``licence_title_keys``) and the sidecar's licence (``licence_claims``) apart, so the
run-time gate, which re-reads the operator's file, applies an edit of it at once (removing an
entry lifts its restriction up to the zone's licence, never above).
A zone whose uploads the operator trusts gets a wider ``MEDIA_PLATFORM_UPLOAD_LICENCE``, and
entries narrow single titles; a file the operator vouches for can be ingested with the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.keys import partition_key_for, printable, require_text
from media_platform.licences import (
    Licence,
    LicenceSource,
    Resolution,
    licence_from_dict,
    recognise_licence_string,
    resolve_entries,
)
from media_platform.licences.policy import as_claim

SIDECAR_SUFFIX = ".json"
DONE_SUFFIX = ".done"
SUBTITLE_SUFFIXES = (".srt", ".vtt")
ALLOWED_SUBTITLE_SUFFIXES = (".srt", ".vtt", ".json")
PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".uploading")
MAX_SIDECAR_BYTES = 64 * 1024
MAX_NAME_LENGTH = 255
_SIDECAR_KEYS = {"title", "episode", "series", "licence", "license", "subtitle", "complete"}
_SAFE_NAME = re.compile(r"^[^/\\\x00-\x1f]+$")


@dataclass(frozen=True)
class LandingFile:
    """One object of the landing zone: its name (relative to the zone, no ``/``), size in bytes
    and a version tag (local modification time in ns, or the S3 ETag/LastModified)."""

    name: str
    size: int
    version: str

    @property
    def signature(self) -> str:
        return f"{self.size}:{self.version}"


@dataclass(frozen=True)
class Sidecar:
    """A validated sidecar (all fields optional)."""

    title: str | None = None
    episode: str | None = None
    licence: Licence | None = None
    subtitle: str | None = None
    complete: bool = False
    series: str | None = None  # groups episodes for intro/recap/credits markers


@dataclass(frozen=True)
class Candidate:
    """A master candidate with its companions in the landing zone."""

    master: LandingFile
    sidecar: LandingFile | None = None
    done_marker: LandingFile | None = None

    @property
    def signature(self) -> str:
        """Changes whenever the master, its sidecar or its marker change."""
        parts = [self.master.signature]
        parts.append(self.sidecar.signature if self.sidecar else "-")
        parts.append("done" if self.done_marker else "-")
        return "|".join(parts)


def is_plain_name(name: str) -> bool:
    """A single, visible path component without separators or control characters."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and bool(_SAFE_NAME.match(name))
        and name not in (".", "..")
        and not name.startswith(".")
    )


def _ignored(name: str) -> bool:
    return not is_plain_name(name) or name.lower().endswith(PARTIAL_SUFFIXES)


def _stem(name: str) -> str:
    return PurePosixPath(name).stem


def group_landing_files(files: Iterable[LandingFile]) -> list[Candidate]:
    """Master candidates of a landing zone listing, each with its sidecar and done marker,
    sorted by name. Sidecars, markers, subtitle files and ignored names are not candidates."""
    by_name = {f.name: f for f in files if not _ignored(f.name)}
    companions = {n for n in by_name if n.lower().endswith((SIDECAR_SUFFIX, DONE_SUFFIX))}
    subtitles = {n for n in by_name if n.lower().endswith(SUBTITLE_SUFFIXES)}
    masters = sorted(n for n in by_name if n not in companions and n not in subtitles)
    stems: dict[str, list[str]] = {}
    for name in masters:
        stems.setdefault(_stem(name), []).append(name)

    def companion(name: str, suffix: str) -> LandingFile | None:
        exact = by_name.get(name + suffix)
        if exact is not None:
            return exact
        if len(stems.get(_stem(name), [])) == 1 and _stem(name) != name:
            return by_name.get(_stem(name) + suffix)
        return None

    return [
        Candidate(by_name[n], companion(n, SIDECAR_SUFFIX), companion(n, DONE_SUFFIX))
        for n in masters
    ]


def validate_subtitle_name(name: Any, where: str = "sidecar") -> str:
    """Return ``name`` if it is a plain sibling file name with a subtitle suffix, else raise.

    Refuses anything with a folder (``/``, ``\\``), ``..``, a leading dot, control characters or
    an absolute path, so a sidecar can never make the sensor read outside the landing zone.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{where}.subtitle: expected a file name, got {name!r}")
    require_text(name, f"{where}.subtitle", max_length=MAX_NAME_LENGTH)
    if not is_plain_name(name) or ".." in name or ":" in name:
        raise InvalidInputError(
            f"{where}.subtitle: {name!r} is not a plain sibling file name (no folders, no '..')"
        )
    if not name.lower().endswith(ALLOWED_SUBTITLE_SUFFIXES):
        raise InvalidInputError(
            f"{where}.subtitle: {name!r} must end in one of {', '.join(ALLOWED_SUBTITLE_SUFFIXES)}"
        )
    return name


def parse_licence_value(
    value: Any, where: str = "sidecar", *, source: LicenceSource = "sidecar"
) -> Licence:
    """A sidecar's ``licence`` (or the zone's default): a preset name / identifier string or a
    licence dict."""
    if isinstance(value, str):
        require_text(value, f"{where}.licence")
        licence = recognise_licence_string(value, source=source)
        if licence is None:
            raise InvalidInputError(f"{where}.licence: unknown licence {value!r}")
        return licence
    if isinstance(value, Mapping):
        return licence_from_dict(value, source=source, where=f"{where}.licence")
    raise InvalidInputError(f"{where}.licence: expected a string or an object, got {value!r}")


def _require_texts(value: Any, where: str) -> None:
    """Every string in a decoded JSON value (keys included) is valid text."""
    if isinstance(value, str):
        require_text(value, where, max_length=MAX_SIDECAR_BYTES)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _require_texts(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            require_text(key, f"{where}: a key", max_length=MAX_SIDECAR_BYTES)
            _require_texts(item, f"{where}.{key}")


def parse_sidecar(data: bytes, where: str = "sidecar") -> Sidecar:
    """Validate a sidecar's bytes (see the module docstring).

    Raises:
        InvalidInputError: too large, not UTF-8 JSON, not an object, a string that is not valid
            text, unknown keys, wrong types, unknown licence, unsafe subtitle name.
    """
    if len(data) > MAX_SIDECAR_BYTES:
        raise InvalidInputError(f"{where}: larger than {MAX_SIDECAR_BYTES} bytes")
    try:
        # a plain ValueError for an integer over the digit limit, RecursionError for deep nesting
        payload = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"{where}: not UTF-8 JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidInputError(f"{where}: expected a JSON object, got {type(payload).__name__}")
    try:
        _require_texts(payload, where)
    except RecursionError:
        raise InvalidInputError(f"{where}: nested too deeply") from None
    unknown = set(payload) - _SIDECAR_KEYS
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(_SIDECAR_KEYS)}"
        )
    if "licence" in payload and "license" in payload:
        raise InvalidInputError(f"{where}: give either 'licence' or 'license'")
    title = payload.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise InvalidInputError(f"{where}.title: expected a non-empty string")
    episode = payload.get("episode")
    if episode is not None:
        if isinstance(episode, bool) or not isinstance(episode, (str, int)):
            raise InvalidInputError(f"{where}.episode: expected a string or an integer")
        episode = str(episode).strip() or None
        if episode is not None and (len(episode) > 64 or any(ord(c) < 32 for c in episode)):
            raise InvalidInputError(f"{where}.episode: {episode[:80]!r} is not a short episode id")
    series = payload.get("series")
    if series is not None and (not isinstance(series, str) or not series.strip() or len(series) > 200):
        raise InvalidInputError(f"{where}.series: expected a non-empty string of at most 200 characters")
    raw_licence = payload.get("licence", payload.get("license"))
    licence = parse_licence_value(raw_licence, where) if raw_licence is not None else None
    subtitle = payload.get("subtitle")
    if subtitle is not None:
        subtitle = validate_subtitle_name(subtitle, where)
    complete = payload.get("complete", False)
    if not isinstance(complete, bool):
        raise InvalidInputError(f"{where}.complete: expected true/false, got {complete!r}")
    return Sidecar(
        title=title.strip() if isinstance(title, str) else None,
        episode=episode,
        licence=licence,
        subtitle=subtitle,
        complete=complete,
        series=require_text(series.strip(), f"{where}.series") if isinstance(series, str) else None,
    )


def title_from_name(name: str) -> str:
    """A title for a master without a sidecar title: its stem, ``_``/``-``/``.`` as spaces."""
    text = re.sub(r"[_\-.]+", " ", _stem(name)).strip()
    return text or name


def check_landing_name(name: str) -> str:
    """``name`` if it can become an episode: valid text (a local file name that is not UTF-8
    holds lone surrogates) and a plain landing name.

    Raises:
        InvalidInputError: ``file name: <problem>``; the caller names the file with
            :func:`media_platform.keys.printable`.
    """
    require_text(name, "file name", max_length=MAX_NAME_LENGTH)
    if not is_plain_name(name):
        raise InvalidInputError(f"{printable(name)!r} is not a plain landing file name")
    return name


# --------------------------------------------------------------------------------------------
# Licence


def upload_keys(landing_name: str, title: str | None, episode_id: str | None) -> list[str]:
    """The keys under which the operator's licence catalogue is consulted for an upload: those
    of its (sidecar) title and of its file name's title, with and without the episode id."""
    titles = [t for t in (title, title_from_name(landing_name)) if t]
    keys: list[str] = []
    for text in titles:
        for key in (partition_key_for(text, episode_id), partition_key_for(text)):
            if key not in keys:
                keys.append(key)
    return keys


def upload_licence(
    *,
    zone: Licence | None,
    entries: Mapping[str, Licence],
    keys: Iterable[str],
    claim: Licence | None,
) -> Resolution:
    """The licence of an upload (see the module docstring), resolved by the one licence policy
    (:func:`media_platform.licences.resolve`).

    ``zone``: the landing zone's licence (``$MEDIA_PLATFORM_UPLOAD_LICENCE``; None: the
    conservative one). ``entries``: the operator's licence catalogue, consulted under ``keys``
    (every matching entry applies). ``claim``: the sidecar's licence. Everything but the zone is
    chosen by the uploader, so the zone's licence is a restriction as well as the default: the
    result is never wider than the zone, whatever title or licence the uploader writes, and
    :meth:`~media_platform.licences.Resolution.metadata` records the zone as the default, so
    the run-time gate keeps it too.
    """
    if zone is not None and zone.identifier == "all-rights-reserved":
        zone = replace(zone, identifier="none")  # as a ceiling too: no use at all
    return resolve_entries(
        entries,
        operator_keys=(),  # the partition key is the uploader's title's: it only restricts
        title_keys=keys,
        default=zone,
        claims=(as_claim(claim) if claim is not None else None,),  # read once, here
    )


__all__ = [
    "Candidate",
    "LandingFile",
    "Sidecar",
    "check_landing_name",
    "group_landing_files",
    "is_plain_name",
    "parse_licence_value",
    "parse_sidecar",
    "title_from_name",
    "upload_keys",
    "upload_licence",
    "validate_subtitle_name",
]
