"""Word-timed speech transcription with Whisper (faster-whisper or openai-whisper).

The entry point is :func:`transcribe`: it takes 16 kHz mono float32 audio and a
:class:`~media_platform.audio.transcriber.Transcriber` backend (see
:mod:`~media_platform.audio.whisper_backends`) and returns a :class:`~media_platform.audio.types.Transcript` with
per-word times, plus a report of the compute spent.

Only the parts of the audio that matter are transcribed:

* ``speech_regions`` (e.g. from the audio-events asset) restrict the work to where speech was
  found. Each region is padded by ``margin_s`` (speech-region bounds from the 0.48 s YAMNet
  tiles can fall after a word's onset; the margin keeps that word), regions that then lie
  closer than ``merge_gap_s`` are merged. ``None`` means "unknown: transcribe everything";
  an empty list means "no speech": nothing is transcribed.
* With a batching backend (``transcriber.batch_size >= 1``: faster-whisper on CUDA by default),
  the regions are packed end to end into windows of at most 30 s (a long region is cut at
  its quietest moment; :func:`~media_platform.audio.regions.pack_clips`) and the windows are
  decoded in batches, so the encoder's fixed 30 s cost is paid only for windows full of speech
  and the compute falls in proportion to what is skipped. Word times map back exactly.
  Otherwise each merged region is transcribed on its own with its time offset added back (or,
  with ``pack_regions=True``, the regions are laid end to end and sent in sequential calls).
* A backend with several workers (``transcriber.workers``, faster-whisper's CTranslate2
  decoders with a thread each) decodes different packed groups of regions at once: the regions
  are split, between regions, into groups of near-equal length (a multiple of the workers, at
  most about ``group_s`` each) and the groups go to a thread pool (CTranslate2 releases the
  GIL). Each group opens and closes on ``pack_gap_s`` of silence (a group that opened on
  speech lost its first words). Where Whisper's 30 s windows fall moves a recording's WER
  more than the groups do (:func:`~media_platform.audio.whisper_backends.cpu_plan`).
* Sequential decoding sometimes drops a stretch of speech (a window judged silent, a seek past
  an early end); with ``speech_regions`` such a stretch is decoded again on its own
  (:mod:`~media_platform.audio.unheard_redo`).
* ``middle_fraction`` optionally keeps only the middle part of a (long) episode.

Hallucinations on silence are guarded against in layers, so that silence gives zero words:

1. the speech regions (nothing outside them is ever decoded);
2. an energy gate: a region or segment whose RMS is below ``silence_dbfs`` is skipped/dropped;
3. the backend's own voice-activity filter (Silero VAD in faster-whisper) and Whisper's decoding
   fallbacks (``no_speech_threshold``, ``log_prob_threshold``, ``compression_ratio_threshold``,
   ``condition_on_previous_text=False``);
4. a post-hoc segment filter on ``no_speech_prob`` / ``avg_logprob`` / ``compression_ratio``
   that is stricter than Whisper's own (see :class:`~media_platform.audio.regions.HallucinationGuard`).

Output invariants: words are ordered, non-overlapping (``start >= previous end``, ``end >=
start``), clipped inside the transcribed region and the audio duration, rounded to milliseconds,
and never empty. Segment bounds are the bounds of their words.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from media_platform.audio.batched_decode import call_backend, decode_batched
from media_platform.audio.regions import (
    DEFAULT_GUARD,
    HallucinationGuard,
    TimeMap,
    balanced_groups,
    middle_window,
    plan_regions,
    rms_dbfs,
)
from media_platform.audio.transcriber import SAMPLE_RATE, BackendResult, Transcriber
from media_platform.audio.types import Transcript, TranscriptSegment, Word
from media_platform.audio.unheard_redo import Job, redo_unheard
from media_platform.errors import InvalidInputError, MediaError

log = logging.getLogger(__name__)

_AUDIO_NAME = "<audio array>"


def _as_mono_float32(audio: Any, name: str) -> np.ndarray:
    arr = np.asarray(audio)
    if arr.ndim != 1:
        raise MediaError(
            name, f"audio must be 1-D mono samples at {SAMPLE_RATE} Hz, got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise MediaError(name, f"audio samples must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size and not np.isfinite(arr).all():
        raise MediaError(name, "audio contains NaN or infinite samples")
    return arr


@dataclass
class _Collected:
    segments: list[TranscriptSegment] = field(default_factory=list)
    prev_end: float = 0.0


def _r3(x: float) -> float:
    return round(float(x), 3)


def _add_result(
    out: _Collected,
    result: BackendResult,
    backend_audio: np.ndarray,
    to_episode: TimeMap,
    guard: HallucinationGuard,
    dropped: Counter[str],
) -> None:
    """Map one backend result to episode time, apply the guard, enforce the invariants."""
    for seg in sorted(result.segments, key=lambda s: (s.start, s.end)):
        reason = guard.reject_reason(seg)
        if reason is None and guard.silence_dbfs is not None:
            a = max(0, int(seg.start * SAMPLE_RATE))
            b = min(backend_audio.size, math.ceil(seg.end * SAMPLE_RATE))
            if b > a and rms_dbfs(backend_audio[a:b]) < guard.silence_dbfs:
                reason = "silent_audio"
        if reason is not None:
            dropped[reason] += 1
            log.debug("dropped segment %r at %.2f s: %s", seg.text, to_episode(seg.start), reason)
            continue
        words: list[Word] = []
        raw_text: list[str] = []
        for w in seg.words:
            text = w.word.strip()
            if not text:
                continue
            raw_text.append(w.word)
            prob = float(w.probability)
            prob = min(1.0, max(0.0, prob)) if math.isfinite(prob) else 0.0
            start = max(_r3(to_episode(w.start)), out.prev_end)
            end = max(_r3(to_episode(w.end)), start)
            words.append(Word(text, start, end, _r3(prob)))
            out.prev_end = end
        if not words:
            dropped["no_words"] += 1
            continue
        out.segments.append(
            TranscriptSegment(
                start=words[0].start,
                end=words[-1].end,
                text="".join(raw_text).strip(),  # backend spacing (no spaces in CJK)
                words=tuple(words),
            )
        )


def _packed(
    samples: np.ndarray, spans: Sequence[tuple[int, int]], gap_s: float, lead_in: bool = False
) -> tuple[np.ndarray, TimeMap, str]:
    """Sample ranges laid end to end with ``gap_s`` of silence between them (and before the
    first and after the last with ``lead_in``): the audio, its map back to episode time, and
    how errors name it."""
    if len(spans) == 1 and not lead_in:
        a, b = spans[0]
        where = f"{a / SAMPLE_RATE:.2f}-{b / SAMPLE_RATE:.2f} s"
        return samples[a:b], TimeMap([(0.0, a / SAMPLE_RATE, b / SAMPLE_RATE)]), where
    gap = np.zeros(round(gap_s * SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = [gap] if lead_in else []
    pieces_map: list[tuple[float, float, float]] = []
    pos = gap.size if lead_in else 0
    for a, b in spans:
        pieces_map.append((pos / SAMPLE_RATE, a / SAMPLE_RATE, b / SAMPLE_RATE))
        pieces += [samples[a:b], gap]
        pos += (b - a) + gap.size
    first, last = spans[0][0] / SAMPLE_RATE, spans[-1][1] / SAMPLE_RATE
    where = f"{len(spans)} packed regions, {first:.2f}-{last:.2f} s"
    return np.concatenate(pieces if lead_in else pieces[:-1]), TimeMap(pieces_map), where


def _parallel_groups(
    live: Sequence[tuple[int, int]], workers: int, group_s: float, min_parallel_s: float
) -> list[tuple[int, int]]:
    """How packed regions are split between ``workers`` decoders: one group when there is one
    worker or less than ``min_parallel_s`` of speech; otherwise a multiple of ``workers`` groups
    of at most about ``group_s`` seconds, of near-equal length, cut between regions."""
    lengths = [(b - a) / SAMPLE_RATE for a, b in live]
    total = sum(lengths)
    if workers <= 1 or total < min_parallel_s:
        return [(0, len(live))]
    n = workers * max(1, math.ceil(total / (workers * group_s)))
    return balanced_groups(lengths, n)


def transcribe(
    audio: np.ndarray,
    transcriber: Transcriber,
    *,
    speech_regions: Sequence[tuple[float, float]] | None = None,
    margin_s: float = 0.5,
    middle_fraction: float | None = None,
    merge_gap_s: float = 1.0,
    pack_regions: bool = False,
    pack_gap_s: float = 1.0,
    batched: bool | None = None,
    max_clip_s: float = 30.0,
    clip_gap_s: float = 0.5,
    redo_gap_s: float = 4.0,
    group_s: float = 120.0,
    min_parallel_s: float = 60.0,
    guard: HallucinationGuard = DEFAULT_GUARD,
    name: str = _AUDIO_NAME,
) -> tuple[Transcript, dict[str, Any]]:
    """Transcribe ``audio`` (16 kHz mono float32) with word times, only where it matters.

    Args:
        audio: 1-D samples at 16 kHz (any float/int dtype; converted to float32).
        transcriber: the backend (:class:`FasterWhisperTranscriber`, ...).
        speech_regions: ``(start_s, end_s)`` ranges where speech was found; ``None`` transcribes
            everything, ``[]`` nothing.
        margin_s: padding added on each side of every speech region.
        middle_fraction: if set (0 < f <= 1), transcribe only the centred fraction ``f`` of the
            audio (for long episodes); off by default.
        merge_gap_s: padded regions closer than this are merged into one region.
        pack_regions: if False (default) each region is a separate backend call with its offset
            added back. If True the regions are laid end to end (``pack_gap_s`` of silence
            between them) and sent in one call, then times are mapped back region by region;
            this avoids Whisper padding every short region to a 30 s window, which matters when
            there are many short regions.
            Applies to sequential decoding only (see ``batched``). With several workers the
            packed regions are split into groups decoded at once (``group_s``).
        pack_gap_s: silence between packed regions, so Whisper sees a pause there.
        batched: decode the regions packed into 30 s windows, in batches of the backend's
            ``batch_size`` (``None``: whenever the backend batches, i.e. ``batch_size >= 1``).
            Without speech regions, a backend whose voice-activity filter is on finds the
            speech itself (Silero VAD); otherwise the window is cut at quiet moments.
        max_clip_s: the longest batched window (at most 30 s, Whisper's input).
        clip_gap_s: silence between two regions packed into one batched window.
        redo_gap_s: a stretch of the speech regions longer than this that the pass left
            unheard is decoded again on its own: batched, a window's stretch without words
            (:mod:`~media_platform.audio.batched_decode`); sequential, a stretch no segment
            covers (:mod:`~media_platform.audio.unheard_redo`; only with ``speech_regions``).
            0 turns it off.
        group_s: with several workers, the longest packed group (about; groups are cut
            between regions).
        min_parallel_s: less speech than this is packed into one call, even with workers.
        guard: hallucination rules (see :class:`HallucinationGuard`).
        name: how errors name the audio (e.g. the episode's path).

    Returns:
        ``(transcript, report)``. ``report`` has ``source``, ``language``, ``audio_s`` (total),
        ``window_s`` (the middle window), ``regions`` (count transcribed), ``regions_silent``
        (skipped by the energy gate), ``mode`` (``batched``, ``packed`` or ``per_region``),
        ``clips`` (windows of a batched call), ``clips_redone`` (windows and unheard
        stretches decoded again), ``groups`` (sequential calls; decoded ``workers`` at a time),
        ``workers``, ``batch_size``, ``backend_calls``,
        ``transcribed_s`` (episode seconds sent
        to the backend), ``skipped_s`` and ``saved_fraction`` (the compute saved), ``segments``,
        ``words``, ``dropped_segments`` (by reason), ``wall_s``, ``cpu_s`` (the process's CPU
        time, all threads: steadier than wall time on a shared machine), ``rtf`` (wall / audio_s) and
        ``rtf_transcribed`` (wall / transcribed_s).

    Raises:
        MediaError: the audio is not 1-D numeric or has NaN/inf samples, or the backend failed.
        InvalidInputError: bad ``margin_s``/``middle_fraction``/region values.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    samples = _as_mono_float32(audio, name)
    duration = samples.size / SAMPLE_RATE
    window = middle_window(duration, middle_fraction)
    regions = plan_regions(
        duration, speech_regions, margin_s=margin_s, merge_gap_s=merge_gap_s, window=window
    )
    if not (math.isfinite(pack_gap_s) and pack_gap_s >= 0):
        raise InvalidInputError(f"pack_gap_s must be a finite number >= 0, got {pack_gap_s!r}")
    if batched is None:
        batched = transcriber.batch_size >= 1
    elif batched and transcriber.batch_size < 1:
        raise InvalidInputError(f"{transcriber.source} does not batch (batch_size 0)")
    if batched and speech_regions is None and regions:
        # speech unknown: the backend's own voice-activity filter (Silero) finds it, if any
        w0 = round(regions[0][0] * SAMPLE_RATE)
        found = transcriber.find_speech(samples[w0 : round(regions[0][1] * SAMPLE_RATE)])
        if found is not None:
            regions = plan_regions(
                duration,
                [((w0 + a) / SAMPLE_RATE, (w0 + b) / SAMPLE_RATE) for a, b in found if b > a],
                margin_s=0.0,  # Silero pads its speech by 400 ms already
                merge_gap_s=merge_gap_s,
                window=window,
            )

    # regions worth sending: non-empty and not digital/near silence
    live: list[tuple[int, int]] = []
    n_silent = 0
    for r0, r1 in regions:
        a, b = round(r0 * SAMPLE_RATE), min(samples.size, round(r1 * SAMPLE_RATE))
        if b <= a:
            continue
        if guard.silence_dbfs is not None and rms_dbfs(samples[a:b]) < guard.silence_dbfs:
            n_silent += 1
            continue
        live.append((a, b))

    out = _Collected()
    dropped: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    transcribed_s = sum(b - a for a, b in live) / SAMPLE_RATE
    calls = 0
    n_clips = n_redone = n_groups = 0
    mode = "batched" if batched else ("packed" if pack_regions and len(live) > 1 else "per_region")
    if batched and live:
        result, packed, n_redone = decode_batched(
            transcriber, samples, live, guard=guard, name=name,
            gap_s=clip_gap_s, max_clip_s=max_clip_s, redo_gap_s=redo_gap_s,
        )  # fmt: skip
        n_clips = len(packed.clips)
        calls = 1 + n_redone
        _add_result(out, result, packed.audio, packed.time_map, guard, dropped)
        languages[result.language] += packed.audio.size
    else:
        if pack_regions and len(live) > 1:
            spans = [live[i:j] for i, j in _parallel_groups(live, transcriber.workers, group_s, min_parallel_s)]
        else:
            spans = [[r] for r in live]
        # a group of several begins with a pause, as every region after the first does in one
        # call: a group that opened on speech lost its first words (the 60-minute benchmark)
        jobs = [_packed(samples, group, pack_gap_s, lead_in=len(spans) > 1 and pack_regions) for group in spans]

        def decode(job: Job) -> BackendResult:
            return call_backend(transcriber, job[0], name, job[2])

        def decode_all(items: list[Job]) -> list[BackendResult]:
            if transcriber.workers > 1 and len(items) > 1:
                with ThreadPoolExecutor(min(transcriber.workers, len(items)), "whisper") as pool:
                    return list(pool.map(decode, items))  # in order; the first error is raised
            return [decode(job) for job in items]

        results = decode_all(jobs)
        if speech_regions is not None and redo_gap_s > 0:
            # speech the events found and the pass left unheard: decoded again on its own
            results, n_redone = redo_unheard(jobs, results, decode_all, guard, redo_gap_s)
        calls = len(jobs) + n_redone
        n_groups = len(jobs)
        for (audio_in, to_episode, _), result in zip(jobs, results):
            _add_result(out, result, audio_in, to_episode, guard, dropped)
            languages[result.language] += audio_in.size

    if languages:
        language = languages.most_common(1)[0][0]
    else:
        language = transcriber.default_language or "und"
    transcript = Transcript(
        language=language,
        source=transcriber.source,
        segments=tuple(out.segments),
        duration_s=duration,
    )
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    report: dict[str, Any] = {
        "source": transcriber.source,
        "language": language,
        "audio_s": round(duration, 3),
        "window_s": [round(window[0], 3), round(window[1], 3)],
        "regions": len(live),
        "regions_silent": n_silent,
        "mode": mode,
        "clips": n_clips,
        "clips_redone": n_redone,
        "groups": n_groups,
        "workers": transcriber.workers,
        "batch_size": transcriber.batch_size if batched else 0,
        "backend_calls": calls,
        "transcribed_s": round(transcribed_s, 3),
        "skipped_s": round(duration - transcribed_s, 3),
        "saved_fraction": round(1.0 - transcribed_s / duration, 4) if duration > 0 else 0.0,
        "segments": len(transcript.segments),
        "words": sum(len(s.words) for s in transcript.segments),
        "dropped_segments": dict(dropped),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "rtf": round(wall / duration, 4) if duration > 0 else 0.0,
        "rtf_transcribed": round(wall / transcribed_s, 4) if transcribed_s > 0 else 0.0,
    }
    return transcript, report
