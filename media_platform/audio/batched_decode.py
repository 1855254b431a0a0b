"""Batched decoding of speech regions: pack them into windows, decode in batches, then decode
again what the batched pass did not hear.

Batched decoding (faster-whisper's ``BatchedInferencePipeline``) uses one temperature and no
sequential seeking. On some windows tiny.en stops after one sentence (an ad read over a music
bed) or loops on a repeated phrase, which the sequential decoder would catch by seeking on from
its last timestamp and by its temperature fallback. So each window's result is checked:

* a window whose segment the guard rejects as a loop (``compression_ratio``) or as implausible
  (``low_logprob``) is decoded again sequentially
  (:meth:`~media_platform.audio.transcriber.Transcriber.transcribe_array`, fallbacks and all);
* every stretch of a window longer than ``redo_gap_s`` that no word covers is decoded again,
  all such stretches in one more batched call (each starts where the heard words end: the
  seeking of sequential decoding, batched). Only words whose middle lies in the stretch are
  kept, so no word is counted twice.

Only what was missed costs twice.

A batched window holds several speech regions laid end to end, so its one segment is split per
region (:func:`split_by_piece`) and the repetition measure (gzip compression ratio, as Whisper
computes it) is taken per region: packing must not make two regions that say the same thing
(a jingle, a quoted clip played twice) look like a decoding loop.
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from media_platform.audio.regions import HallucinationGuard, PackedClips, pack_clips
from media_platform.audio.transcriber import SAMPLE_RATE, BackendResult, RawSegment, Transcriber
from media_platform.audio.types import Word
from media_platform.errors import MediaError

_BROKEN = ("compression_ratio", "low_logprob")


def call_backend(
    transcriber: Transcriber,
    audio: np.ndarray,
    name: str,
    where: str,
    clips: list[tuple[float, float]] | None = None,
) -> BackendResult:
    """One backend call, sequential (``clips`` None) or batched over ``clips``; any failure
    becomes a :class:`MediaError` naming the audio and where."""
    try:
        if clips is None:
            return transcriber.transcribe_array(audio)
        return transcriber.transcribe_clips(audio, clips)
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(
            name, f"transcription failed in {where} ({transcriber.source}): {exc}"
        ) from exc


def shift_segment(seg: RawSegment, offset: float) -> RawSegment:
    """``seg`` with ``offset`` seconds added to its times and its words' times."""
    words = tuple(Word(w.word, w.start + offset, w.end + offset, w.probability) for w in seg.words)
    return replace(seg, start=seg.start + offset, end=seg.end + offset, words=words)


def uncovered(
    intervals: Sequence[tuple[float, float]], span: tuple[float, float]
) -> list[tuple[float, float]]:
    """The stretches of ``span`` (in order) that no interval covers; intervals sorted by start,
    any of them may overlap each other or reach outside ``span``."""
    gaps, pos = [], span[0]
    for start, end in intervals:
        if end <= pos:
            continue
        if start >= span[1]:
            break
        if start > pos:
            gaps.append((pos, start))
        pos = max(pos, end)
    if span[1] > pos:
        gaps.append((pos, span[1]))
    return gaps


def unheard(
    segments: Sequence[RawSegment], clip: tuple[float, float], guard: HallucinationGuard
) -> list[tuple[float, float]]:
    """The stretches of ``clip`` (seconds, in order) that no word of a kept segment covers."""
    words = sorted(
        (w.start, w.end)
        for s in segments
        if guard.reject_reason(s) is None
        for w in s.words
        if w.word.strip()
    )
    return uncovered(words, clip)


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: bytes of ``text`` over bytes of its zlib compression."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def split_by_piece(seg: RawSegment, piece_starts: Sequence[float]) -> list[RawSegment]:
    """``seg`` cut where its words cross from one packed region (``piece_starts``, packed
    times, sorted) into the next; each part's compression ratio is its own text's."""
    if not seg.words:
        return [seg]
    groups: list[list[Word]] = []
    last = None
    for w in seg.words:
        k = bisect.bisect_right(piece_starts, (w.start + w.end) / 2) - 1
        if k != last:
            groups.append([])
            last = k
        groups[-1].append(w)
    if len(groups) == 1:
        return [seg]
    parts = []
    for words in groups:
        text = "".join(w.word for w in words)
        parts.append(replace(seg, start=words[0].start, end=words[-1].end, words=tuple(words),
                             text=text, compression_ratio=compression_ratio(text)))  # fmt: skip
    return parts


def _loops(segments: Sequence[RawSegment], guard: HallucinationGuard) -> bool:
    return any(guard.reject_reason(s) in _BROKEN for s in segments)


def within(seg: RawSegment, span: tuple[float, float]) -> RawSegment | None:
    """``seg`` with only the words whose middle lies in ``span`` (None if none does)."""
    words = tuple(w for w in seg.words if span[0] <= (w.start + w.end) / 2 < span[1])
    if not words:
        return None
    return replace(seg, start=words[0].start, end=words[-1].end, words=words,
                   text="".join(w.word for w in words))  # fmt: skip


def decode_batched(
    transcriber: Transcriber,
    samples: np.ndarray,
    regions: Sequence[tuple[int, int]],
    *,
    guard: HallucinationGuard,
    name: str,
    gap_s: float = 0.5,
    max_clip_s: float = 30.0,
    redo_gap_s: float = 4.0,
) -> tuple[BackendResult, PackedClips, int]:
    """Pack ``regions`` (sample ranges of ``samples``) into windows, decode them in batches,
    decode again what was missed (module docstring); return the result (times in the packed
    audio), the packing (its ``time_map`` maps to episode time) and how many windows and
    stretches were decoded again."""
    packed = pack_clips(
        samples, regions, sample_rate=SAMPLE_RATE, gap_s=gap_s, max_clip_s=max_clip_s
    )
    where = f"{len(regions)} regions in {len(packed.clips)} batched windows"
    result = call_backend(transcriber, packed.audio, name, where, packed.clips)
    pieces = packed.time_map.starts

    def split(segments: Sequence[RawSegment]) -> list[RawSegment]:
        return [part for seg in segments for part in split_by_piece(seg, pieces)]

    starts = [c[0] for c in packed.clips]
    per_clip: list[list[RawSegment]] = [[] for _ in packed.clips]
    for seg in split(result.segments):
        per_clip[max(0, bisect.bisect_right(starts, seg.start + 1e-6) - 1)].append(seg)
    out: list[RawSegment] = []
    stretches: list[tuple[float, float]] = []
    redone = 0
    for clip, segs in zip(packed.clips, per_clip):
        if _loops(segs, guard):
            a, b = round(clip[0] * SAMPLE_RATE), round(clip[1] * SAMPLE_RATE)
            again = call_backend(
                transcriber, packed.audio[a:b], name, f"window {clip[0]:.2f}-{clip[1]:.2f} s"
            )
            out += split([shift_segment(s, clip[0]) for s in again.segments])
            redone += 1
            continue
        out += segs
        stretches += [g for g in unheard(segs, clip, guard) if g[1] - g[0] > redo_gap_s]
    if stretches:
        # align each stretch's start on 10 ms (faster-whisper's word-time resolution)
        stretches = [(math.floor(a * 100) / 100, b) for a, b in stretches]
        again = call_backend(transcriber, packed.audio, name, "unheard stretches", stretches)
        redone += len(stretches)
        for seg in split(again.segments):
            i = max(0, bisect.bisect_right([s[0] for s in stretches], seg.start + 1e-6) - 1)
            kept = within(seg, stretches[i])
            if kept is not None:
                out.append(kept)
    out.sort(key=lambda s: (s.start, s.end))
    return BackendResult(result.language, tuple(out)), packed, redone
