"""Decode again the speech that a sequential Whisper pass left unheard.

Sequential decoding over a long packed call sometimes drops a whole stretch of speech: on a
window it judges to be no speech (Whisper's ``no_speech_prob`` with a low log-probability) it
skips the full 30 s, and a window whose last segment ends early can seek past the rest. Which
stretch is lost depends on where the 30 s windows happen to fall, so the same recording scores
differently when it sits a few seconds further into an episode (on a shuffled 60-minute
preview episode one 26 s ad read over music, 62 words, came back without a single segment).

The speech regions (the audio events) say where speech is. So after the pass, every stretch of
a region longer than ``min_s`` that no kept segment covers is decoded again on its own, and only
the words whose middle lies in the stretch are kept, so no word is counted twice. Only what was
missed costs twice; speech the events found where there is none (music taken for speech) is
heard twice and stays empty (the backend's voice-activity filter and the guard).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from media_platform.audio.batched_decode import shift_segment, uncovered, within
from media_platform.audio.regions import HallucinationGuard, TimeMap, rms_dbfs
from media_platform.audio.transcriber import SAMPLE_RATE, BackendResult, RawSegment

Job = tuple[np.ndarray, TimeMap, str]  # backend audio, its map to episode time, how errors name it


def unheard_spans(
    segments: Sequence[RawSegment],
    pieces: Sequence[tuple[float, float]],
    guard: HallucinationGuard,
    min_s: float,
) -> list[tuple[float, float]]:
    """The stretches of each piece (``(start_s, end_s)`` in the audio the backend was given,
    in order) longer than ``min_s`` that no segment covers, in order. Segments the guard rejects
    and segments without words cover nothing."""
    covered = sorted(
        (s.start, s.end)
        for s in segments
        if guard.reject_reason(s) is None and any(w.word.strip() for w in s.words)
    )
    return [g for piece in pieces for g in uncovered(covered, piece) if g[1] - g[0] > min_s]


def merge_redone(
    result: BackendResult, redone: Sequence[tuple[tuple[float, float], BackendResult]]
) -> BackendResult:
    """``result`` with the segments of each stretch's own decoding added: their times shifted
    by the stretch's start, only the words whose middle lies in the stretch."""
    segments = list(result.segments)
    for span, again in redone:
        for seg in again.segments:
            kept = within(shift_segment(seg, span[0]), span)
            if kept is not None:
                segments.append(kept)
    segments.sort(key=lambda s: (s.start, s.end))
    return BackendResult(result.language, tuple(segments))


def redo_unheard(
    jobs: Sequence[Job],
    results: Sequence[BackendResult],
    decode_all: Callable[[list[Job]], list[BackendResult]],
    guard: HallucinationGuard,
    min_s: float,
) -> tuple[list[BackendResult], int]:
    """Each job's result with its unheard stretches decoded again (all of them in one
    ``decode_all``, so several decoders share them) and merged in; and how many stretches were.
    A stretch quieter than the guard's ``silence_dbfs`` is not decoded (the energy gate that
    regions pass too)."""

    def samples(k: int, span: tuple[float, float]) -> np.ndarray:
        return jobs[k][0][round(span[0] * SAMPLE_RATE) : round(span[1] * SAMPLE_RATE)]

    spans = [
        (k, span)
        for k, (job, result) in enumerate(zip(jobs, results))
        for span in unheard_spans(result.segments, job[1].backend_spans(), guard, min_s)
        if guard.silence_dbfs is None or rms_dbfs(samples(k, span)) >= guard.silence_dbfs
    ]
    to_episode = [job[1] for job in jobs]
    again = decode_all([
        (samples(k, (a, b)), to_episode[k], f"unheard {to_episode[k](a):.2f}-{to_episode[k](b):.2f} s")
        for k, (a, b) in spans
    ])  # fmt: skip
    merged = [
        merge_redone(result, [(span, r) for (j, span), r in zip(spans, again) if j == k])
        for k, result in enumerate(results)
    ]
    return merged, len(spans)
