"""Audio events and transcripts as Parquet-ready tables, and the data tests of transcripts."""

from __future__ import annotations

import numpy as np
import polars as pl

from media_platform.audio.transcript_rows import transcript_from_rows, transcript_to_rows
from media_platform.audio.types import (
    EVENT_LABELS,
    AudioEvents,
    EventSegment,
    Transcript,
)

GROUPS = ("speech", "music", "noise", "silence")
SCORE_SCALE = 255.0  # class scores are stored as uint8 (resolution 1/255), 521 bytes a frame

WORD_STRUCT = pl.Struct({"word": pl.Utf8, "start": pl.Float64, "end": pl.Float64, "probability": pl.Float64})
TRANSCRIPT_SCHEMA = {"start": pl.Float64, "end": pl.Float64, "text": pl.Utf8, "words": pl.List(WORD_STRUCT)}


def events_to_tables(events: AudioEvents) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(frames, segments): one row per 0.48 s frame with the group probabilities and the 521
    class scores quantized to uint8; one row per smoothed segment."""
    n = len(events.frame_times)
    scores = np.clip(np.rint(np.asarray(events.class_scores, dtype=np.float32) * SCORE_SCALE), 0, 255).astype(np.uint8)
    frames = pl.DataFrame({
        "start": np.asarray(events.frame_times, dtype=np.float64),
        **{g: np.asarray(events.group_probs.get(g, np.zeros(n)), dtype=np.float32) for g in GROUPS},
        "class_scores": pl.Series(scores.tolist(), dtype=pl.Array(pl.UInt8, scores.shape[1] if n else 521)),
    }).with_columns(pl.lit(events.frame_hop_s).alias("hop_s"), pl.lit(events.duration_s).alias("duration_s"))
    segments = pl.DataFrame(
        {
            "label": [s.label for s in events.segments],
            "start": [s.start for s in events.segments],
            "end": [s.end for s in events.segments],
            "confidence": [s.confidence for s in events.segments],
        },
        schema={"label": pl.Utf8, "start": pl.Float64, "end": pl.Float64, "confidence": pl.Float64},
    )
    return frames, segments


def events_from_tables(frames: pl.DataFrame, segments: pl.DataFrame) -> AudioEvents:
    """The inverse of :func:`events_to_tables` (class scores at uint8 resolution)."""
    scores = np.asarray(frames["class_scores"].to_list(), dtype=np.float32) / SCORE_SCALE
    hop = float(frames["hop_s"][0]) if frames.height else 0.48
    duration = float(frames["duration_s"][0]) if frames.height else 0.0
    return AudioEvents(
        frame_hop_s=hop,
        frame_times=frames["start"].to_numpy(),
        class_scores=scores.reshape(frames.height, -1) if frames.height else np.zeros((0, 521), np.float32),
        group_probs={g: frames[g].to_numpy() for g in GROUPS},
        segments=tuple(
            EventSegment(label=r["label"], start=r["start"], end=r["end"], confidence=r["confidence"])
            for r in segments.iter_rows(named=True) if r["label"] in EVENT_LABELS
        ),
        duration_s=duration,
    )


def transcript_to_table(transcript: Transcript) -> pl.DataFrame:
    """One row per segment (start, end, text, words); language and source as columns."""
    df = pl.DataFrame(transcript_to_rows(transcript), schema=TRANSCRIPT_SCHEMA)
    return df.with_columns(
        pl.lit(transcript.language).alias("language"),
        pl.lit(transcript.source).alias("source"),
        pl.lit(transcript.duration_s).alias("duration_s"),
    )


def transcript_from_table(df: pl.DataFrame, *, language: str = "", source: str = "", duration_s: float = 0.0) -> Transcript:
    """The inverse of :func:`transcript_to_table` (an empty table keeps the given defaults)."""
    if df.height:
        language, source, duration_s = df["language"][0], df["source"][0], float(df["duration_s"][0])
    return transcript_from_rows(transcript_rows(df), language=language, source=source, duration_s=duration_s)


def transcript_rows(df: pl.DataFrame) -> list[dict]:
    """What ``media-platform show PARTITION transcript --json`` prints."""
    return df.select("start", "end", "text", "words").to_dicts()


def transcript_problems(transcript: Transcript, duration_s: float, speech_s: float, tolerance_s: float = 0.05) -> list[str]:
    """Words ordered, non-overlapping, inside [0, duration]; speech-dominated audio (speech in
    more than half of it) must give words, audio with no speech must give none."""
    problems: list[str] = []
    words = transcript.words
    for i, w in enumerate(words):
        if w.start < -tolerance_s or w.end > duration_s + tolerance_s:
            problems.append(f"word {i} {w.word!r} ({w.start:.2f}-{w.end:.2f}) outside 0-{duration_s:.2f} s")
        if w.end < w.start:
            problems.append(f"word {i} {w.word!r} ends before it starts")
        if i and w.start < words[i - 1].end - tolerance_s:
            problems.append(f"word {i} {w.word!r} overlaps the previous word")
    if duration_s > 0 and speech_s > 0.5 * duration_s and not words and transcript.source.startswith(("faster-whisper", "openai-whisper")):
        problems.append(f"{speech_s:.1f} s of speech in {duration_s:.1f} s but no words transcribed")
    if speech_s == 0 and words and not transcript.source.startswith("subtitle"):
        problems.append(f"{len(words)} words transcribed from audio without speech (hallucination)")
    return problems[:50]
