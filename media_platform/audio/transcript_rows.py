"""Transcripts as plain rows (one dict a segment, words nested), for Parquet and JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from media_platform.audio.types import Transcript, TranscriptSegment, Word


def transcript_to_rows(transcript: Transcript) -> list[dict[str, Any]]:
    """One dict per segment: ``start``, ``end``, ``text`` and ``words`` (a list of dicts with
    ``word``, ``start``, ``end``, ``probability``). Plain Python types, JSON-serialisable."""
    return [
        {
            "start": float(s.start),
            "end": float(s.end),
            "text": s.text,
            "words": [
                {
                    "word": w.word,
                    "start": float(w.start),
                    "end": float(w.end),
                    "probability": float(w.probability),
                }
                for w in s.words
            ],
        }
        for s in transcript.segments
    ]


def transcript_from_rows(
    rows: Iterable[Mapping[str, Any]],
    *,
    language: str = "und",
    source: str = "unknown",
    duration_s: float | None = None,
) -> Transcript:
    """Rebuild a :class:`Transcript` from :func:`transcript_to_rows` output (e.g. read back from
    Parquet with polars/pyarrow; ``words`` may be ``None``). ``duration_s`` defaults to the last
    segment end."""
    segments: list[TranscriptSegment] = []
    for row in rows:
        words = tuple(
            Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w["probability"]))
            for w in (row.get("words") or ())
        )
        segments.append(
            TranscriptSegment(
                start=float(row["start"]), end=float(row["end"]), text=str(row["text"]), words=words
            )
        )
    if duration_s is None:
        duration_s = max((s.end for s in segments), default=0.0)
    return Transcript(
        language=language, source=source, segments=tuple(segments), duration_s=float(duration_s)
    )
