"""What is heard: YAMNet audio events and a speech / music / noise / silence timeline.

:func:`detect_events` runs the model (:mod:`~media_platform.audio.yamnet`) over 16 kHz mono
audio, measures the energy of each 0.48 s tile, and turns both into calibrated group
probabilities and a segment table (:mod:`~media_platform.audio.event_decision`).
:func:`mean_class_scores_per_span` averages the class scores over time spans (e.g. shots).
"""

from __future__ import annotations

import numpy as np

from media_platform.audio.event_decision import (
    DEFAULT_DECISION_PARAMS,
    DecisionParams,
    decide,
    sigmoid,
)
from media_platform.audio.types import AudioEvents
from media_platform.audio.yamnet import (
    FRAME_HOP_S,
    HOP_SAMPLES,
    N_CLASSES,
    SAMPLE_RATE,
    class_names,
    yamnet_logits,
)


def _tile_rms_dbfs(waveform: np.ndarray, n: int) -> np.ndarray:
    x = np.zeros(n * HOP_SAMPLES, dtype=np.float64)
    m = min(waveform.size, x.size)
    x[:m] = waveform[:m]
    ms = np.mean(x.reshape(n, HOP_SAMPLES) ** 2, axis=1)
    # the last tile: mean over its real samples only
    last_real = waveform.size - (n - 1) * HOP_SAMPLES
    if 0 < last_real < HOP_SAMPLES:
        ms[-1] = ms[-1] * HOP_SAMPLES / last_real
    return (10.0 * np.log10(ms + 1e-12)).astype(np.float32)


def detect_events(
    waveform: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    params: DecisionParams = DEFAULT_DECISION_PARAMS,
    num_threads: int | None = None,
) -> AudioEvents:
    """YAMNet events for a mono waveform (must be 16 kHz; decode with
    :func:`~media_platform.audio.decode.load_audio`)."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"detect_events needs {SAMPLE_RATE} Hz audio, got {sr}")
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    duration = x.size / SAMPLE_RATE
    logits = yamnet_logits(x, num_threads=num_threads)
    n = logits.shape[0]
    rms = _tile_rms_dbfs(x, n)
    group_probs, segments = decide(logits, rms, duration, params)
    return AudioEvents(
        frame_hop_s=FRAME_HOP_S,
        frame_times=(np.arange(n, dtype=np.float64) * FRAME_HOP_S),
        class_scores=sigmoid(logits).astype(np.float16),
        group_probs=group_probs,
        segments=segments,
        duration_s=duration,
        class_names=class_names(),
    )


def mean_class_scores_per_span(events: AudioEvents, spans: list[tuple[float, float]]) -> np.ndarray:
    """Mean YAMNet class scores within each ``(start, end)`` span: ``(n_spans, 521)`` float32.

    A frame counts for a span when its tile ``[t, t + hop)`` overlaps the span; a span shorter
    than a frame (or empty) takes the frame that contains its midpoint. Spans outside the audio
    take the nearest frame.
    """
    scores = np.asarray(events.class_scores, dtype=np.float32)
    n = scores.shape[0]
    out = np.zeros((len(spans), scores.shape[1] if scores.ndim == 2 else N_CLASSES), np.float32)
    if n == 0:
        return out
    hop = events.frame_hop_s
    for k, (a, b) in enumerate(spans):
        a, b = float(a), float(b)
        if b < a:
            a, b = b, a
        first = int(np.floor(a / hop + 1e-9))
        last = int(np.ceil(b / hop - 1e-9)) - 1
        if b - a < hop or last < first:
            mid = int(np.floor(((a + b) / 2) / hop))
            first = last = mid
        first = min(max(first, 0), n - 1)
        last = min(max(last, first), n - 1)
        out[k] = scores[first : last + 1].mean(axis=0)
    return out
