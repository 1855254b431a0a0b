"""What is heard: YAMNet audio events and a speech / music / noise / silence timeline.

:func:`detect_events` runs the model (:mod:`~media_platform.audio.yamnet`) over 16 kHz mono
audio, measures the energy of each 0.48 s tile, and turns both into calibrated group
probabilities and a segment table (:mod:`~media_platform.audio.event_decision`).
:func:`mean_class_scores_per_span` averages the class scores over time spans (e.g. shots),
:func:`peak_class_scores_per_span` takes their maximum; :func:`span_frame_ranges` says which
frames a span covers (shared with :func:`~media_platform.audio.embedding_store.mean_embedding_per_span`).
The same YAMNet pass also returns the 1024-d embedding layer, read from the ONNX graph
(exposed as an extra output), 8-bit quantised as the graph computes it
(:attr:`AudioEvents.embedding_codes`).
"""

from __future__ import annotations

from collections.abc import Sequence

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
    run_yamnet,
)


def _tile_rms_dbfs(waveform: np.ndarray, n: int, chunk: int = 128) -> np.ndarray:
    """RMS level (dBFS) of each 0.48 s tile, ``chunk`` tiles at a time (an hour at once was a
    460 MB float64 copy); the last tile is averaged over its real samples only."""
    ms = np.empty(n, dtype=np.float64)
    for t0 in range(0, n, chunk):
        t1 = min(n, t0 + chunk)
        x = np.zeros((t1 - t0) * HOP_SAMPLES, dtype=np.float64)
        part = waveform[t0 * HOP_SAMPLES : t1 * HOP_SAMPLES]
        x[: part.size] = part
        ms[t0:t1] = np.mean(x.reshape(t1 - t0, HOP_SAMPLES) ** 2, axis=1)
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
    batch_size: int | None = None,
) -> AudioEvents:
    """YAMNet events for a mono waveform (must be 16 kHz; decode with
    :func:`~media_platform.audio.decode.load_audio`). ``batch_size``: patches per YAMNet
    call (:func:`~media_platform.audio.yamnet.run_yamnet`; 1 is the batch-1 reference path)."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"detect_events needs {SAMPLE_RATE} Hz audio, got {sr}")
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    duration = x.size / SAMPLE_RATE
    out = run_yamnet(x, num_threads=num_threads, batch_size=batch_size)  # one pass: class scores and embeddings
    logits = out.logits
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
        embedding_codes=out.embedding_codes,
        embedding_scale=out.quantisation.scale,
        embedding_zero_point=out.quantisation.zero_point,
    )


def span_frame_ranges(
    frame_times: np.ndarray, hop: float, spans: Sequence[tuple[float, float]]
) -> list[tuple[int, int]]:
    """For each ``(start, end)`` span, the inclusive range ``(first, last)`` of the frames it
    covers: a frame counts when its tile ``[t, t + hop)`` overlaps the span; a span shorter
    than a frame (or empty) takes the frame that contains its midpoint; spans outside the audio
    take the nearest frame. Empty list entries never occur; with no frames the list is empty."""
    times = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    n = times.size
    if n == 0:
        return []
    eps = 1e-9 * hop
    ranges = []
    for a, b in spans:
        a, b = float(a), float(b)
        if b < a:
            a, b = b, a
        first = int(np.searchsorted(times + hop, a + eps, side="right"))
        last = int(np.searchsorted(times, b - eps, side="left")) - 1
        if b - a < hop or last < first:
            first = last = int(np.searchsorted(times, (a + b) / 2, side="right")) - 1
        first = min(max(first, 0), n - 1)
        last = min(max(last, first), n - 1)
        ranges.append((first, last))
    return ranges


def _reduce_per_span(values: np.ndarray, frame_times: np.ndarray, hop: float,
                     spans: Sequence[tuple[float, float]], dim: int, reduce) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    out = np.zeros((len(spans), values.shape[1] if values.ndim == 2 else dim), np.float32)
    for k, (first, last) in enumerate(span_frame_ranges(frame_times, hop, spans)):
        out[k] = reduce(values[first : last + 1], axis=0)
    return out


def mean_class_scores_per_span(events: AudioEvents, spans: list[tuple[float, float]]) -> np.ndarray:
    """Mean YAMNet class scores within each ``(start, end)`` span: ``(n_spans, 521)`` float32
    (frames chosen by :func:`span_frame_ranges`; zeros when there are no frames)."""
    return _reduce_per_span(events.class_scores, events.frame_times, events.frame_hop_s, spans, N_CLASSES, np.mean)


def peak_class_scores_per_span(events: AudioEvents, spans: list[tuple[float, float]]) -> np.ndarray:
    """Maximum YAMNet class score over each span's frames: ``(n_spans, 521)`` float32 (a short
    event inside a long shot shows here even when the mean dilutes it)."""
    return _reduce_per_span(events.class_scores, events.frame_times, events.frame_hop_s, spans, N_CLASSES, np.max)
