"""The speech-to-text backend interface: what a Whisper backend takes and returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from media_platform.audio.types import Word
from media_platform.errors import InvalidInputError

SAMPLE_RATE = 16_000
"""Sample rate (Hz) that every backend expects."""


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
    batch_size: int = 0
    """Clips decoded together by :meth:`transcribe_clips`; 0: the backend decodes sequentially
    only (:meth:`transcribe_array`)."""
    workers: int = 1
    """Calls of :meth:`transcribe_array` the backend runs at once from different threads
    (faster-whisper: CTranslate2 workers); 1: one at a time."""

    @abstractmethod
    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        """Transcribe ``audio`` (16 kHz mono float32) with word timestamps."""

    def transcribe_clips(
        self, audio: np.ndarray, clips: list[tuple[float, float]]
    ) -> BackendResult:
        """Transcribe the ``clips`` (``(start_s, end_s)``, each at most 30 s) of ``audio`` in
        batches of :attr:`batch_size`, times relative to the start of ``audio``. Backends with
        ``batch_size == 0`` do not batch: asking them is an error (``transcribe`` never does)."""
        raise InvalidInputError(f"{self.source}: does not batch (batch_size 0); decode sequentially")

    def find_speech(self, audio: np.ndarray) -> list[tuple[int, int]] | None:
        """Speech sample ranges of ``audio`` by the backend's own voice-activity filter, or
        ``None`` when it has none (speech unknown)."""
        return None


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
