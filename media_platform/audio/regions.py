"""Where to transcribe, and which decoded segments to believe.

:func:`plan_regions` turns speech regions into the padded, merged time ranges that are sent to
the backend (:func:`middle_window` optionally keeps only the middle of a long episode);
:class:`TimeMap` maps backend times back to episode time; :class:`HallucinationGuard` drops
segments that are likely hallucinations, and :func:`rms_dbfs` is its energy gate.

For batched decoding, :func:`pack_clips` lays the regions end to end into windows of at most
30 s (Whisper's input length), cutting a longer region at its quietest moment
(:func:`quiet_cuts`), so that each window the encoder pays for is full of speech; its
:class:`TimeMap` maps every time in the packed audio back to the episode exactly.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from media_platform.audio.transcriber import RawSegment
from media_platform.errors import InvalidInputError


@dataclass(frozen=True)
class HallucinationGuard:
    """Post-hoc rules that drop a backend segment as a likely hallucination.

    A segment is dropped when any of these holds:

    * ``compression_ratio > max_compression_ratio`` (repetition loop);
    * ``no_speech_prob > no_speech_threshold`` and ``avg_logprob < logprob_threshold``
      (Whisper's own rule, re-applied because fallbacks can bypass it);
    * ``no_speech_prob > suspect_no_speech`` and ``avg_logprob < suspect_logprob``
      (a stricter rule: "probably no speech and not confident either", which catches the
      classic one-word "You" / "Woohoo!" on room tone);
    * ``avg_logprob < min_logprob`` (text the model itself finds implausible);
    * the segment's audio is quieter than ``silence_dbfs`` RMS (dBFS; ``None`` disables).

    ``silence_dbfs`` also gates whole regions before decoding: a region quieter than it is not
    sent to the backend at all.
    """

    max_compression_ratio: float = 2.4
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    suspect_no_speech: float = 0.5
    suspect_logprob: float = -0.5
    min_logprob: float = -1.5
    silence_dbfs: float | None = -60.0

    def reject_reason(self, seg: RawSegment) -> str | None:
        """Why ``seg`` is rejected by the decoding-statistics rules, or ``None`` to keep it."""
        if seg.compression_ratio > self.max_compression_ratio:
            return "compression_ratio"
        if (
            seg.no_speech_prob > self.no_speech_threshold
            and seg.avg_logprob < self.logprob_threshold
        ):
            return "no_speech"
        if seg.no_speech_prob > self.suspect_no_speech and seg.avg_logprob < self.suspect_logprob:
            return "suspect_no_speech"
        if seg.avg_logprob < self.min_logprob:
            return "low_logprob"
        return None


DEFAULT_GUARD = HallucinationGuard()


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS level of ``audio`` in dBFS (``-inf`` for empty or digital silence)."""
    if audio.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def plan_regions(
    duration_s: float,
    speech_regions: Sequence[tuple[float, float]] | None,
    *,
    margin_s: float = 0.5,
    merge_gap_s: float = 1.0,
    window: tuple[float, float] | None = None,
) -> list[tuple[float, float]]:
    """The time ranges to transcribe, sorted, disjoint and inside ``[0, duration_s]``.

    ``speech_regions=None`` means the whole audio (within ``window``); an empty list means none.
    Each region is padded by ``margin_s`` on both sides, clipped to the audio (and ``window``),
    and regions whose gap is below ``merge_gap_s`` after padding are merged. Regions with
    ``end <= start`` or non-finite bounds raise :class:`InvalidInputError`.
    """
    if not (math.isfinite(margin_s) and margin_s >= 0):
        raise InvalidInputError(f"margin_s must be a finite number >= 0, got {margin_s!r}")
    if not (math.isfinite(merge_gap_s) and merge_gap_s >= 0):
        raise InvalidInputError(f"merge_gap_s must be a finite number >= 0, got {merge_gap_s!r}")
    lo, hi = 0.0, float(duration_s)
    if window is not None:
        lo, hi = max(lo, float(window[0])), min(hi, float(window[1]))
    if hi <= lo:
        return []
    if speech_regions is None:
        return [(lo, hi)]
    padded: list[tuple[float, float]] = []
    for region in speech_regions:
        start, end = float(region[0]), float(region[1])
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise InvalidInputError(f"speech region must have finite start < end, got {region!r}")
        s, e = max(lo, start - margin_s), min(hi, end + margin_s)
        if e > s:
            padded.append((s, e))
    padded.sort()
    merged: list[tuple[float, float]] = []
    for s, e in padded:
        if merged and s - merged[-1][1] < merge_gap_s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def middle_window(duration_s: float, middle_fraction: float | None) -> tuple[float, float]:
    """``[start, end]`` of the centred ``middle_fraction`` of ``duration_s`` (all when None)."""
    if middle_fraction is None:
        return (0.0, float(duration_s))
    f = float(middle_fraction)
    if not (0.0 < f <= 1.0):
        raise InvalidInputError(f"middle_fraction must be in (0, 1], got {middle_fraction!r}")
    pad = (1.0 - f) * duration_s / 2.0
    return (pad, duration_s - pad)


class TimeMap:
    """Maps backend time (seconds into the audio it was given) to episode time.

    The backend audio is one or more episode regions laid end to end (``pieces`` of
    ``(backend_start, episode_start, episode_end)``, with optional silence between them). The map
    is monotonic non-decreasing and clips every time into its region, so word order survives.
    """

    def __init__(self, pieces: list[tuple[float, float, float]]) -> None:
        self.pieces = pieces
        self.starts = [p[0] for p in pieces]

    def __call__(self, t: float) -> float:
        i = max(0, bisect.bisect_right(self.starts, t) - 1)
        backend_start, ep_start, ep_end = self.pieces[i]
        return min(max(ep_start + (t - backend_start), ep_start), ep_end)

    def backend_spans(self) -> list[tuple[float, float]]:
        """Where each region lies in the backend audio: ``(start_s, end_s)``, in order."""
        return [(b, b + (e1 - e0)) for b, e0, e1 in self.pieces]


def balanced_groups(lengths: Sequence[float], n_groups: int) -> list[tuple[int, int]]:
    """Split items, in order, into at most ``n_groups`` contiguous runs ``(i, j)`` (items
    ``i .. j - 1``) of near-equal total length: run ``k`` ends at the item whose end lies
    closest to ``k / n`` of the total. Every item is in exactly one run; no run is empty."""
    if not lengths:
        return []
    n = max(1, min(int(n_groups), len(lengths)))
    cum = np.cumsum(np.asarray(lengths, dtype=np.float64))
    bounds = [0]
    for k in range(1, n):
        j = int(np.argmin(np.abs(cum - cum[-1] * k / n))) + 1
        j = max(j, bounds[-1] + 1)
        if j >= len(lengths):
            break
        bounds.append(j)
    bounds.append(len(lengths))
    return list(zip(bounds[:-1], bounds[1:]))


# --------------------------------------------------------------------------------------------
# packing regions into Whisper windows for batched decoding
# --------------------------------------------------------------------------------------------

WHISPER_WINDOW_S = 30.0
"""Whisper's input length: the encoder always processes a 30 s window."""

_ALIGN = 160
"""Packed clips start on multiples of 10 ms (160 samples at 16 kHz): faster-whisper places word
times at ``int(offset * 100)`` frames, so an aligned offset maps back without truncation."""

_QUIET_FRAME = 320  # 20 ms at 16 kHz


def quiet_cuts(audio: np.ndarray, max_len: int, search: int) -> list[int]:
    """Cut points (sample indices) that split ``audio`` into pieces of at most ``max_len``
    samples, each cut at the quietest 20 ms frame among the last ``search`` samples a piece may
    span (a pause between words, so no word is cut in two when one exists)."""
    if max_len < 2 * _QUIET_FRAME:
        raise InvalidInputError(f"pieces must be at least 40 ms long, got {max_len} samples")
    search = max(_QUIET_FRAME, min(search, max_len // 2))
    cuts: list[int] = []
    pos = 0
    while audio.size - pos > max_len:
        lo = pos + max_len - search
        n = search // _QUIET_FRAME
        frames = audio[lo : lo + n * _QUIET_FRAME].astype(np.float64).reshape(n, _QUIET_FRAME)
        energy = np.mean(np.square(frames), axis=1)
        # the last of equally quiet frames: the longest pieces, the fewest windows
        k = n - 1 - int(np.argmin(energy[::-1]))
        cut = lo + k * _QUIET_FRAME + _QUIET_FRAME // 2
        cuts.append(cut)
        pos = cut
    return cuts


@dataclass(frozen=True)
class PackedClips:
    """Speech regions laid end to end for batched decoding.

    ``audio`` holds the regions (silence of ``gap`` samples between two regions in one clip);
    ``clips`` are ``(start_s, end_s)`` in ``audio``, each at most one Whisper window and starting
    on a 10 ms boundary; ``time_map`` maps a time in ``audio`` to episode time;
    ``pieces`` the episode sample ranges ``(a, b)`` packed, in order.
    """

    audio: np.ndarray
    clips: list[tuple[float, float]]
    time_map: TimeMap
    pieces: list[tuple[int, int]]


def pack_clips(
    samples: np.ndarray,
    regions: Sequence[tuple[int, int]],
    *,
    sample_rate: int = 16_000,
    max_clip_s: float = WHISPER_WINDOW_S,
    gap_s: float = 0.5,
    search_s: float = 8.0,
) -> PackedClips:
    """Pack sorted, disjoint sample ranges ``regions`` of ``samples`` into clips of at most
    ``max_clip_s`` (see :class:`PackedClips`).

    Regions are added to the current clip while they fit (with ``gap_s`` of silence before
    each), else they start a new clip. A region longer than ``max_clip_s`` is first cut at its
    quietest moments (:func:`quiet_cuts`, within the last ``search_s`` of each piece).
    """
    if not (math.isfinite(gap_s) and gap_s >= 0):
        raise InvalidInputError(f"gap_s must be a finite number >= 0, got {gap_s!r}")
    if not (math.isfinite(max_clip_s) and 1.0 <= max_clip_s <= WHISPER_WINDOW_S):
        raise InvalidInputError(f"max_clip_s must be in [1, 30], got {max_clip_s!r}")
    max_len = int(max_clip_s * sample_rate)
    gap = int(round(gap_s * sample_rate))
    units: list[tuple[int, int]] = []
    for a, b in regions:
        if not (0 <= a < b <= samples.size):
            raise InvalidInputError(f"region {(a, b)} is not inside the audio")
        bounds = [
            a,
            *(a + c for c in quiet_cuts(samples[a:b], max_len, int(search_s * sample_rate))),
            b,
        ]
        units += list(zip(bounds, bounds[1:]))
    clips_n: list[list[tuple[int, int]]] = []
    used = 0
    for a, b in units:
        if clips_n and used + gap + (b - a) <= max_len:
            clips_n[-1].append((a, b))
            used += gap + (b - a)
        else:
            clips_n.append([(a, b)])
            used = b - a
    parts: list[np.ndarray] = []
    clips: list[tuple[float, float]] = []
    time_pieces: list[tuple[float, float, float]] = []
    pos = 0
    for clip in clips_n:
        pad = -pos % _ALIGN
        if pad:
            parts.append(np.zeros(pad, np.float32))
            pos += pad
        clip_start = pos
        for i, (a, b) in enumerate(clip):
            if i:
                parts.append(np.zeros(gap, np.float32))
                pos += gap
            time_pieces.append((pos / sample_rate, a / sample_rate, b / sample_rate))
            parts.append(samples[a:b])
            pos += b - a
        clips.append((clip_start / sample_rate, pos / sample_rate))
    audio = (
        np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
    )
    return PackedClips(audio, clips, TimeMap(time_pieces), units)
