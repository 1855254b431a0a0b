"""Partition keys, file names and paths derived from untrusted input (feed titles, GUIDs, URLs).

Everything that reaches a file system path or a Dagster partition key from the outside world goes
through this module:

* :func:`partition_key_for` turns a title (and optional episode id) into a stable, readable key
  such as ``big-buck-bunny`` or ``big-buck-bunny-e01``. Keys match :data:`PARTITION_KEY_PATTERN`
  (lowercase ASCII letters, digits and single-purpose dashes, at most :data:`MAX_KEY_LENGTH`
  characters), so they are valid Dagster partition keys and can never traverse a path.
  Whenever the slug had to drop information (punctuation, non-ASCII letters, truncation, an
  empty title) a short stable hash of the *original* input is appended, so distinct titles do not
  collide. Case and runs of whitespace/underscores/dashes are *not* treated as information:
  ``"Big Buck Bunny"`` and ``"big  buck_bunny"`` give the same key.
* :func:`validate_partition_key` checks a key that came back from outside (a URL, a CLI argument).
* :func:`safe_filename` makes a single path component from an untrusted name.
* :func:`safe_join` joins parts under a root and refuses anything that resolves outside it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from media_platform.errors import InvalidInputError

MAX_KEY_LENGTH = 64
"""Longest partition key :func:`partition_key_for` produces and :func:`validate_partition_key` accepts."""

HASH_LENGTH = 8
"""Hex digits of the disambiguating hash suffix."""

PARTITION_KEY_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
"""A key: lowercase ASCII letters, digits and dashes; starts and ends with a letter or digit."""

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_SEPARATORS = re.compile(r"[\s_\-]+")
_HEX = re.compile(r"^[0-9a-fA-F]+$")

MAX_FILENAME_LENGTH = 120
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)


def _ascii_fold(text: str) -> str:
    """NFKD-decompose and drop everything that is not ASCII (accents fall off their letters)."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _slugify(text: str) -> str:
    """Lowercase ASCII slug: runs of anything but ``[a-z0-9]`` become one dash, no edge dashes."""
    return _NON_SLUG.sub("-", _ascii_fold(text).lower()).strip("-")


def _canonical(text: str) -> str:
    """What the slug would be if nothing but case and separators were lost."""
    return _SEPARATORS.sub("-", unicodedata.normalize("NFC", text).strip().lower()).strip("-")


def _short_hash(*parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:HASH_LENGTH]


def _episode_slug(episode_id: str) -> str:
    """``"1"`` -> ``"e01"``, ``"E07"`` -> ``"e07"``, ``"S02E03"`` -> ``"s02e03"``."""
    stripped = episode_id.strip()
    if stripped.isascii() and stripped.isdigit():
        return f"e{int(stripped):02d}"
    return _slugify(stripped)


def partition_key_for(
    title: str, episode_id: str | None = None, *, content_hash: str | None = None
) -> str:
    """Return a stable, readable partition key for a title (and optionally one of its episodes).

    ``partition_key_for("Big Buck Bunny")`` is ``"big-buck-bunny"``;
    ``partition_key_for("Big Buck Bunny", "1")`` is ``"big-buck-bunny-e01"``.

    A hash suffix (``-`` plus :data:`HASH_LENGTH` hex digits of SHA-256 over the original title and
    episode id) is appended when the slug lost information (non-ASCII letters, punctuation,
    truncation to :data:`MAX_KEY_LENGTH`, or nothing left at all), so two different titles never
    share a key by accident. When ``content_hash`` (hex, e.g. the media's SHA-256) is given, its
    first :data:`HASH_LENGTH` digits are always used as the suffix instead, so that the same title
    with different content gets different keys.

    Raises:
        InvalidInputError: ``title`` is not a string, or ``content_hash`` is not hex.
    """
    if not isinstance(title, str):
        raise InvalidInputError(f"title must be a string, got {type(title).__name__}")
    if episode_id is not None and not isinstance(episode_id, str):
        raise InvalidInputError(f"episode_id must be a string, got {type(episode_id).__name__}")
    title_slug = _slugify(title)
    lossy = not title_slug or title_slug != _canonical(title)
    parts = [title_slug] if title_slug else []
    if episode_id is not None and episode_id.strip():
        ep_slug = _episode_slug(episode_id)
        if not ep_slug or (ep_slug != _canonical(episode_id) and not episode_id.strip().isdigit()):
            lossy = True
        if ep_slug:
            parts.append(ep_slug)
    base = "-".join(parts)
    if not base:
        base, lossy = "untitled", True

    if content_hash is not None:
        if (
            not isinstance(content_hash, str)
            or len(content_hash) < HASH_LENGTH
            or not _HEX.match(content_hash)
        ):
            raise InvalidInputError(
                f"content_hash must be at least {HASH_LENGTH} hex digits, got {content_hash!r}"
            )
        suffix: str | None = content_hash[:HASH_LENGTH].lower()
    elif lossy or len(base) > MAX_KEY_LENGTH or base in _WINDOWS_RESERVED:
        # a Windows device name (con, nul, com1...) is no safe path component on its own
        suffix = _short_hash(title, episode_id or "")
    else:
        suffix = None

    if suffix is None:
        key = base
    else:
        room = MAX_KEY_LENGTH - HASH_LENGTH - 1
        key = f"{base[:room].rstrip('-')}-{suffix}"
    return validate_partition_key(key)


def validate_partition_key(key: str) -> str:
    """Return ``key`` unchanged if it is a well-formed partition key, else raise.

    Accepts only :data:`PARTITION_KEY_PATTERN` up to :data:`MAX_KEY_LENGTH` characters, which
    excludes ``..``, ``/``, ``\\``, NUL, whitespace, upper case, non-ASCII and leading/trailing
    dots or dashes.

    Raises:
        InvalidInputError: the key is not a string or does not match.
    """
    if not isinstance(key, str):
        raise InvalidInputError(f"partition key must be a string, got {type(key).__name__}")
    if not key:
        raise InvalidInputError("partition key is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"partition key {key[:80]!r}... is {len(key)} characters, more than {MAX_KEY_LENGTH}"
        )
    if not PARTITION_KEY_PATTERN.match(key):
        raise InvalidInputError(
            f"partition key {key!r} is not lowercase letters, digits and inner dashes"
        )
    if key in _WINDOWS_RESERVED:
        raise InvalidInputError(f"partition key {key!r} is a reserved device name")
    return key


def safe_filename(
    name: str, *, default: str = "file", max_length: int = MAX_FILENAME_LENGTH
) -> str:
    """Make one safe path component from an untrusted name (a URL's last segment, a title).

    ASCII-folds, keeps ``[A-Za-z0-9._-]`` and replaces every other run by ``_``; strips leading
    dots, dashes and underscores (no hidden files, no option-like names, never ``.`` or ``..``)
    and trailing dots (Windows); prefixes Windows device names (``CON``, ``nul.txt``, ``COM1``...)
    with ``_``; truncates to ``max_length`` keeping the extension. An empty result becomes
    ``default``.
    """
    if not isinstance(name, str):
        raise InvalidInputError(f"file name must be a string, got {type(name).__name__}")
    folded = _UNSAFE_FILENAME_CHARS.sub("_", _ascii_fold(name))
    folded = folded.lstrip("._-").rstrip("._ ")
    if not folded:
        folded = default
    _, dot, ext = folded.rpartition(".")
    if folded.split(".", 1)[0].lower() in _WINDOWS_RESERVED:
        folded = "_" + folded
    if len(folded) > max_length:
        ext_part = f".{ext}" if dot and 0 < len(ext) <= 16 else ""
        folded = folded[: max_length - len(ext_part)].rstrip("._-") + ext_part
        if not folded.strip("._-"):
            folded = default
    return folded


def safe_join(root: Path | str, *parts: str | Path) -> Path:
    """Join ``parts`` under ``root`` and return the resolved path; refuse to leave ``root``.

    Absolute parts, NUL bytes and anything whose resolved path (symlinks followed) is not inside
    the resolved ``root`` raise :class:`InvalidInputError`. ``root`` itself need not exist.
    """
    root_resolved = Path(root).resolve()
    candidate = root_resolved
    for part in parts:
        text = str(part)
        if "\x00" in text:
            raise InvalidInputError(f"path part {text!r} contains NUL")
        if not text:
            raise InvalidInputError("empty path part")
        if "\\" in text:
            raise InvalidInputError(f"path part {text!r} contains a backslash")
        part_path = Path(text)
        if part_path.is_absolute() or part_path.drive or text.startswith(("/", "\\")):
            raise InvalidInputError(f"path part {text!r} is absolute")
        candidate = candidate / part_path
    resolved = candidate.resolve()
    if resolved != root_resolved and not resolved.is_relative_to(root_resolved):
        raise InvalidInputError(f"path {candidate} escapes {root_resolved}")
    return resolved


def require_text(value: str, where: str, *, max_length: int = 1000) -> str:
    """``value`` if it is valid Unicode text (no lone surrogates, which Python uses for bytes of a
    file name or argument that are not UTF-8; no control characters but tab and newline) of at
    most ``max_length`` characters.

    Raises:
        InvalidInputError: ``<where>: <problem>`` naming the input, never echoing the bad text.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{where}: expected text, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{where}: not valid UTF-8 text") from None
    if any((ord(c) < 32 and c not in "\t\n") or ord(c) == 127 for c in value):
        raise InvalidInputError(f"{where}: contains control characters")
    if len(value) > max_length:
        raise InvalidInputError(f"{where}: longer than {max_length} characters")
    return value


def printable(text: str | Path) -> str:
    """``text`` safe to print or log: bytes that are not UTF-8 (lone surrogates) are shown as
    ``\\xNN`` escapes, so an error can name a file whose name is not valid text."""
    value = str(text)
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
