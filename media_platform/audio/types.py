"""Shared shapes of the audio domain: transcripts and audio events.

These are the contract between the audio assets (loudness, events, transcript) and their
consumers (previews, tags, search). All times are seconds from the start of the episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from media_platform.audio.yamnet import dequantise_embeddings

EventLabel = Literal["speech", "music", "speech_over_music", "noise", "silence"]
EVENT_LABELS: tuple[EventLabel, ...] = ("speech", "music", "speech_over_music", "noise", "silence")


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class TranscriptSegment:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcript:
    """A word-timed transcript. ``source`` says where it came from, e.g.
    ``"faster-whisper:tiny.en"``, ``"openai-whisper:tiny"`` or ``"subtitle:srt"``."""

    language: str
    source: str
    segments: tuple[TranscriptSegment, ...]
    duration_s: float

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass(frozen=True)
class EventSegment:
    label: EventLabel
    start: float
    end: float
    confidence: float


@dataclass
class AudioEvents:
    """YAMNet output over an episode.

    ``frame_times`` (n,) are frame start times in seconds, one frame per hop
    (0.48 s); ``class_scores`` (n, 521) float16 sigmoid scores; ``group_probs`` maps
    ``speech``/``music``/``noise``/``silence`` to (n,) calibrated probabilities; ``segments``
    is the smoothed timeline that tiles the whole duration.

    ``embedding_codes`` (n, 1024) uint8 is YAMNet's embedding layer, read from the ONNX graph
    (exposed there as an extra output, computed in the same pass as the class scores), 8-bit
    quantised as the graph computes it: ``value = embedding_scale * (code -
    embedding_zero_point)``. It is ``None`` where the events were read back from the events
    tables (the embeddings are stored in their own table, see
    :mod:`~media_platform.audio.embedding_store`).
    """

    frame_hop_s: float
    frame_times: np.ndarray
    class_scores: np.ndarray
    group_probs: dict[str, np.ndarray]
    segments: tuple[EventSegment, ...]
    duration_s: float
    class_names: tuple[str, ...] = field(default_factory=tuple)
    embedding_codes: np.ndarray | None = None
    embedding_scale: float = 0.0
    embedding_zero_point: int = 0

    @property
    def embeddings(self) -> np.ndarray | None:
        """The dequantised embeddings ``(n, 1024)`` float32, or ``None`` when absent."""
        if self.embedding_codes is None:
            return None
        return dequantise_embeddings(self.embedding_codes, self.embedding_scale, self.embedding_zero_point)
