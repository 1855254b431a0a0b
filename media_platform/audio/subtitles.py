"""Parse subtitle / transcript sidecars (SRT, WebVTT, Podcasting 2.0 JSON) into a Transcript.

Feeds often ship a transcript next to the audio (``<podcast:transcript>``). This module turns one
into the same :class:`~media_platform.audio.types.Transcript` shape the speech recogniser
produces, so the rest of the platform does not care where a transcript came from.

* ``source`` is ``"subtitle:srt"``, ``"subtitle:vtt"`` or ``"subtitle:json"``.
* Every cue becomes one :class:`TranscriptSegment`; its text is split on whitespace into words.
  **Word times are synthetic**: a cue's duration is divided evenly among its words (word ``i`` of
  ``n`` spans ``start + i*d .. start + (i+1)*d`` with ``d = (end - start) / n``), rounded to
  milliseconds, with ``probability`` 1.0. Only the cue bounds come from the file.
* Cues are sorted by start time (stable). Overlapping cues are kept as they are.
* Markup is removed: HTML-like tags (``<i>``, ``<font ...>``, WebVTT ``<v Speaker>``,
  ``<c.class>``, ``<00:00:01.000>``), ASS override tags (``{\\an8}``), and character references
  (``&amp;`` -> ``&``). Speaker names in voice tags or JSON ``speaker`` fields are not kept
  (the Transcript shape has no speaker); a plain-text prefix such as ``"Travis: ..."`` in an SRT
  cue is text and stays.
* Input handling: UTF-8 with or without BOM, UTF-16 with BOM, a cp1252/latin-1 fallback (with a
  warning); CRLF / CR line endings; WebVTT header block, ``NOTE``/``STYLE``/``REGION`` blocks and
  cue settings; SRT ``,`` or ``.`` decimal separators and a missing blank line before the next
  index.
* Malformed cues (bad timing, end before start, text outside a cue) are skipped with a logged
  warning that names the file; a file from which nothing can be parsed raises
  :class:`~media_platform.errors.MediaError` naming the file. A well-formed but empty file (a
  WebVTT header with no cues, JSON with ``"segments": []``) gives an empty transcript.
* Hostile input: the file size is capped (``max_bytes``, default 16 MiB) and the number of cues
  too (``max_cues``); the regular expressions are anchored and free of nested quantifiers, and
  timing lines longer than 1,000 characters are not matched at all, so parsing is linear time.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from media_platform.audio.types import Transcript, TranscriptSegment, Word
from media_platform.errors import MediaError

log = logging.getLogger(__name__)

SubtitleFormat = Literal["srt", "vtt", "json"]
SUBTITLE_FORMATS: tuple[SubtitleFormat, ...] = ("srt", "vtt", "json")

MAX_SUBTITLE_BYTES = 16 * 1024 * 1024
"""Default cap on a sidecar's size; larger files are refused."""

MAX_CUES = 200_000
"""Default cap on the number of cues in one file."""

MAX_WARNINGS = 10
"""Malformed cues warned about individually per file; the rest are counted in a summary."""

_MAX_TIMING_LINE = 1000

_MIME_FORMATS: dict[str, SubtitleFormat] = {
    "application/srt": "srt",
    "application/x-subrip": "srt",
    "text/srt": "srt",
    "text/x-srt": "srt",
    "text/vtt": "vtt",
    "text/webvtt": "vtt",
    "application/json": "json",
    "application/transcript+json": "json",
}
_EXT_FORMATS: dict[str, SubtitleFormat] = {".srt": "srt", ".vtt": "vtt", ".json": "json"}

# hours (optional, SRT always has them) : minutes : seconds [.,] fraction
_TS = r"(?:(\d{1,6}):)?(\d{1,2}):(\d{1,2})[.,](\d{1,3})"
_TIMING_RE = re.compile(rf"^[ \t]*{_TS}[ \t]*-->[ \t]*{_TS}(?:[ \t]+([^\n]*))?[ \t]*$")
_TAG_RE = re.compile(r"<[^<>\n]{0,1000}>")
_ASS_TAG_RE = re.compile(r"\{\\[^{}\n]{0,1000}\}")
_WS_RE = re.compile(r"\s+")
_VTT_HEADER_RE = re.compile(r"^WEBVTT(?:[ \t][^\n]*)?$")
_VTT_BLOCK_KEYWORDS = ("NOTE", "STYLE", "REGION")


@dataclass(frozen=True)
class _Cue:
    start: float
    end: float
    text: str


class _Problems:
    """Collects malformed-cue warnings for one file and logs them (bounded)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def warn(self, message: str) -> None:
        self.count += 1
        if self.count <= MAX_WARNINGS:
            log.warning("%s: skipped malformed cue: %s", self.name, message)

    def summary(self, fmt: str) -> None:
        if self.count > MAX_WARNINGS:
            log.warning(
                "%s: %d malformed %s cues skipped in total", self.name, self.count, fmt.upper()
            )


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def subtitle_format(
    path: str | os.PathLike[str] | None = None,
    *,
    mime_type: str | None = None,
    text: str | None = None,
) -> SubtitleFormat | None:
    """Guess the format from a MIME type (``<podcast:transcript type=...>``), then the file
    extension, then the content; ``None`` when nothing matches (e.g. ``text/html``)."""
    if mime_type:
        fmt = _MIME_FORMATS.get(mime_type.split(";", 1)[0].strip().lower())
        if fmt:
            return fmt
    if path is not None:
        fmt = _EXT_FORMATS.get(Path(path).suffix.lower())
        if fmt:
            return fmt
    if text is not None:
        head = text.lstrip("\ufeff \t\r\n")[:4096]
        if head.startswith("WEBVTT"):
            return "vtt"
        if head.startswith("{"):
            return "json"
        if "-->" in head:
            return "srt"
    return None


def parse_subtitles(
    path: str | os.PathLike[str],
    *,
    format: SubtitleFormat | None = None,
    mime_type: str | None = None,
    language: str | None = None,
    duration_s: float | None = None,
    max_bytes: int = MAX_SUBTITLE_BYTES,
    max_cues: int = MAX_CUES,
) -> Transcript:
    """Read and parse a subtitle/transcript file into a :class:`Transcript`.

    ``format`` is guessed when omitted (see :func:`subtitle_format`). ``language`` defaults to the
    WebVTT ``Language:`` header when present, else ``"und"``. ``duration_s`` defaults to the end
    of the last cue.

    Raises:
        MediaError: missing/unreadable file, larger than ``max_bytes``, undecodable or binary,
            unknown format, or no cue could be parsed.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise MediaError(p, f"cannot read subtitle file: {exc.strerror or exc}") from exc
    if not p.is_file():
        raise MediaError(p, "not a regular file")
    if size > max_bytes:
        raise MediaError(p, f"subtitle file is {size} bytes, more than the {max_bytes} allowed")
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise MediaError(p, f"cannot read subtitle file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise MediaError(p, f"subtitle file is larger than the {max_bytes} bytes allowed")
    text = decode_subtitle_bytes(data, name=str(p))
    fmt = format or subtitle_format(p, mime_type=mime_type, text=text)
    if fmt is None:
        raise MediaError(p, "unknown subtitle format (expected SRT, WebVTT or JSON)")
    return parse_subtitle_text(
        text, fmt, name=str(p), language=language, duration_s=duration_s, max_cues=max_cues
    )


def decode_subtitle_bytes(data: bytes, *, name: str = "<subtitles>") -> str:
    """Decode sidecar bytes: BOM-marked UTF-8/UTF-16, else UTF-8, else cp1252/latin-1 (warned).

    Raises :class:`MediaError` for empty or binary (NUL-containing) data."""
    if not data.strip():
        raise MediaError(name, "subtitle file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise MediaError(name, f"invalid UTF-16 text: {exc}") from exc
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
                log.warning("%s: not valid UTF-8, decoded as cp1252", name)
            except UnicodeDecodeError:
                text = data.decode("latin-1")
                log.warning("%s: not valid UTF-8, decoded as latin-1", name)
    text = text.removeprefix("\ufeff")
    if "\x00" in text:
        raise MediaError(name, "subtitle file contains binary data (NUL bytes)")
    return text


def parse_subtitle_text(
    text: str,
    format: SubtitleFormat,
    *,
    name: str = "<subtitles>",
    language: str | None = None,
    duration_s: float | None = None,
    max_cues: int = MAX_CUES,
) -> Transcript:
    """Parse already-decoded sidecar text of the given format; ``name`` is used in errors."""
    if format == "srt":
        return parse_srt(
            text, name=name, language=language, duration_s=duration_s, max_cues=max_cues
        )
    if format == "vtt":
        return parse_vtt(
            text, name=name, language=language, duration_s=duration_s, max_cues=max_cues
        )
    if format == "json":
        return parse_json_transcript(
            text, name=name, language=language, duration_s=duration_s, max_cues=max_cues
        )
    raise MediaError(name, f"unknown subtitle format {format!r}")


def parse_srt(
    text: str,
    *,
    name: str = "<srt>",
    language: str | None = None,
    duration_s: float | None = None,
    max_cues: int = MAX_CUES,
) -> Transcript:
    """Parse SubRip text (see the module docstring for the rules)."""
    lines = _lines(text)
    problems = _Problems(name)
    cues = _parse_blocks(lines, problems, fmt="srt", name=name, max_cues=max_cues)
    problems.summary("srt")
    if not cues:
        raise MediaError(name, _nothing_parsed("SRT", problems))
    return _to_transcript(cues, "subtitle:srt", language or "und", duration_s)


def parse_vtt(
    text: str,
    *,
    name: str = "<vtt>",
    language: str | None = None,
    duration_s: float | None = None,
    max_cues: int = MAX_CUES,
) -> Transcript:
    """Parse WebVTT text (see the module docstring for the rules). A missing ``WEBVTT`` header
    is tolerated with a warning; a header's ``Language:`` line sets the language."""
    lines = _lines(text)
    problems = _Problems(name)
    header_ok = bool(lines) and _VTT_HEADER_RE.match(lines[0].strip()) is not None
    header_language: str | None = None
    if header_ok:
        i = 1
        while i < len(lines) and lines[i].strip():
            if "-->" in lines[i]:
                break  # no blank line after the header: this is already a cue
            key, sep, value = lines[i].partition(":")
            if sep and key.strip().lower() == "language" and value.strip():
                header_language = value.strip()[:35]
            i += 1
        body = lines[i:]
    else:
        log.warning("%s: no WEBVTT header; parsing cues anyway", name)
        body = lines
    cues = _parse_blocks(body, problems, fmt="vtt", name=name, max_cues=max_cues)
    problems.summary("vtt")
    if not cues and (not header_ok or problems.count):
        raise MediaError(name, _nothing_parsed("WebVTT", problems))
    return _to_transcript(cues, "subtitle:vtt", language or header_language or "und", duration_s)


def parse_json_transcript(
    text: str,
    *,
    name: str = "<json>",
    language: str | None = None,
    duration_s: float | None = None,
    max_cues: int = MAX_CUES,
) -> Transcript:
    """Parse a Podcasting 2.0 JSON transcript: ``{"version": ..., "segments": [{"startTime",
    "endTime", "body", "speaker"?}, ...]}``. Times are seconds (numbers or numeric strings)."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MediaError(name, f"not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("segments"), list):
        raise MediaError(name, "not a Podcasting 2.0 JSON transcript (no 'segments' list)")
    problems = _Problems(name)
    cues: list[_Cue] = []
    for index, seg in enumerate(doc["segments"]):
        if len(cues) >= max_cues:
            raise MediaError(name, f"more than {max_cues} transcript segments")
        if not isinstance(seg, dict):
            problems.warn(f"segment {index} is not an object")
            continue
        start = _json_time(seg.get("startTime"))
        end = _json_time(seg.get("endTime"))
        body = seg.get("body")
        if start is None or end is None:
            problems.warn(f"segment {index} has no valid startTime/endTime")
            continue
        if end < start:
            problems.warn(f"segment {index} ends ({end}) before it starts ({start})")
            continue
        if not isinstance(body, str):
            if body is not None:
                problems.warn(f"segment {index} body is not a string")
            continue
        cleaned = _clean_text(body, fmt="json")
        if cleaned:
            cues.append(_Cue(start, end, cleaned))
    problems.summary("json")
    if not cues and problems.count:
        raise MediaError(name, _nothing_parsed("JSON transcript", problems))
    return _to_transcript(cues, "subtitle:json", language or "und", duration_s)


def distribute_words(text: str, start: float, end: float) -> tuple[Word, ...]:
    """Split ``text`` on whitespace and share ``[start, end]`` evenly among the words
    (probability 1.0), times rounded to milliseconds."""
    tokens = text.split()
    if not tokens:
        return ()
    step = (end - start) / len(tokens)
    return tuple(
        Word(
            tok,
            round(start + i * step, 3),
            round(end if i == len(tokens) - 1 else start + (i + 1) * step, 3),
            1.0,
        )
        for i, tok in enumerate(tokens)
    )


# --------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    text = text.removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _nothing_parsed(kind: str, problems: _Problems) -> str:
    if problems.count:
        return f"no {kind} cue could be parsed ({problems.count} malformed)"
    return f"no {kind} cues found"


def _parse_time(groups: tuple[str | None, ...]) -> float | None:
    hours, minutes, seconds, frac = groups
    m, s = int(minutes or 0), int(seconds or 0)
    if m >= 60 or s >= 60:
        return None
    fraction = int(frac or "0") / (10 ** len(frac or "0"))
    return int(hours or 0) * 3600 + m * 60 + s + fraction


def _parse_timing(line: str) -> tuple[float, float] | None | Literal[False]:
    """``(start, end)``; ``None`` if it looks like a timing line but is invalid; ``False`` if it
    is not a timing line at all."""
    if "-->" not in line:
        return False
    if len(line) > _MAX_TIMING_LINE:
        return None
    m = _TIMING_RE.match(line)
    if m is None:
        return None
    start = _parse_time(m.groups()[0:4])
    end = _parse_time(m.groups()[4:8])
    if start is None or end is None:
        return None
    return (round(start, 3), round(end, 3))


def _parse_blocks(
    lines: list[str], problems: _Problems, *, fmt: str, name: str, max_cues: int
) -> list[_Cue]:
    """Parse blank-line-separated blocks. Within a block every timing line starts a cue; one
    line before it is its identifier (SRT index / WebVTT id)."""
    cues: list[_Cue] = []
    block: list[tuple[int, str]] = []

    def flush() -> None:
        if block:
            _parse_block(block, cues, problems, fmt=fmt)
            block.clear()
            if len(cues) > max_cues:
                raise MediaError(name, f"more than {max_cues} cues")

    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            block.append((lineno, line))
        else:
            flush()
    flush()
    return cues


def _parse_block(
    block: list[tuple[int, str]], cues: list[_Cue], problems: _Problems, *, fmt: str
) -> None:
    first = block[0][1].strip()
    if fmt == "vtt" and any(
        first == kw or first.startswith((kw + " ", kw + "\t")) for kw in _VTT_BLOCK_KEYWORDS
    ):
        return
    timings = [(i, _parse_timing(line)) for i, (_, line) in enumerate(block)]
    starts = [i for i, t in timings if t is not False]
    if not starts:
        problems.warn(f"line {block[0][0]}: text without a timing line: {first[:60]!r}")
        return
    if starts[0] > 1:
        problems.warn(f"line {block[0][0]}: {starts[0] - 1} stray line(s) before a cue")
    for k, i in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(block)
        payload = [line for _, line in block[i + 1 : stop]]
        # A missing blank line before the next cue: its identifier ends up last in the payload.
        if k + 1 < len(starts) and payload and payload[-1].strip().isdigit():
            payload = payload[:-1]
        timing = timings[i][1]
        lineno = block[i][0]
        if not timing:
            problems.warn(f"line {lineno}: invalid timing {block[i][1].strip()[:80]!r}")
            continue
        start, end = timing
        if end < start:
            problems.warn(f"line {lineno}: cue ends ({end}) before it starts ({start})")
            continue
        text = _clean_text(" ".join(payload), fmt=fmt)
        if text:
            cues.append(_Cue(start, end, text))


def _clean_text(text: str, *, fmt: str) -> str:
    if fmt == "srt":
        text = _ASS_TAG_RE.sub("", text).replace("\\N", " ").replace("\\n", " ")
    if fmt in ("srt", "vtt"):
        text = _TAG_RE.sub("", text)
    text = html.unescape(text)
    return _WS_RE.sub(" ", text).strip()


def _json_time(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        if len(value) > 32:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    try:
        t = float(value)
    except (OverflowError, ValueError):
        return None
    return round(t, 3) if math.isfinite(t) and t >= 0 else None


def _to_transcript(
    cues: list[_Cue], source: str, language: str, duration_s: float | None
) -> Transcript:
    cues = sorted(cues, key=lambda c: (c.start, c.end))
    segments = tuple(
        TranscriptSegment(c.start, c.end, c.text, distribute_words(c.text, c.start, c.end))
        for c in cues
    )
    if duration_s is None:
        duration_s = max((c.end for c in cues), default=0.0)
    return Transcript(
        language=language, source=source, segments=segments, duration_s=float(duration_s)
    )
