"""YAMNet's per-frame 1024-d embeddings as a Parquet-ready table, and their mean over spans.

The embedding is read from the ONNX graph's embedding layer (exposed as an extra output of
the same pass that gives the class scores, see :mod:`~media_platform.audio.yamnet`), 8-bit
quantised as the graph computes it. The table stores those uint8 codes unchanged, with the
graph's scale and zero point, so a reader gets back exactly the values the classifier saw:

==============  ======================  ==================================================
column          type                    meaning
==============  ======================  ==================================================
``frame``       Int32                   frame index ``i`` (0, 1, 2, ...)
``time_s``      Float64                 start of the frame's tile, ``0.48 i`` seconds
``embedding``   Array(UInt8, 1024)      the embedding layer's uint8 codes
``scale``       Float64                 dequantisation: ``value = scale * (code - zero_point)``
``zero_point``  Int32                   (the same on every row: the graph's initialisers)
``hop_s``       Float64                 the frame hop, 0.48 s
==============  ======================  ==================================================

:func:`mean_embedding_per_span` averages the dequantised embeddings over time spans (shots),
choosing frames as :func:`~media_platform.audio.events.span_frame_ranges` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from media_platform.audio.events import span_frame_ranges
from media_platform.audio.types import AudioEvents
from media_platform.audio.yamnet import EMBEDDING_DIM, FRAME_HOP_S, dequantise_embeddings
from media_platform.errors import InvalidInputError

# what ``shot_audio_features``' ``audio_embedding`` column holds (mean_embedding_per_span over a
# shot); the shot features' audio block names this source in its layout
AUDIO_EMBEDDING_SOURCE = "yamnet-1024 (ONNX embedding layer, mean over shot)"

EMBEDDING_TABLE_SCHEMA = {
    "frame": pl.Int32,
    "time_s": pl.Float64,
    "embedding": pl.Array(pl.UInt8, EMBEDDING_DIM),
    "scale": pl.Float64,
    "zero_point": pl.Int32,
    "hop_s": pl.Float64,
}


def embeddings_to_table(
    frame_times: np.ndarray,
    codes: np.ndarray,
    *,
    scale: float,
    zero_point: int,
    hop_s: float = FRAME_HOP_S,
) -> pl.DataFrame:
    """One row per frame: ``frame``, ``time_s``, ``embedding`` (the uint8 codes), ``scale``,
    ``zero_point``, ``hop_s`` (see the module docstring for the schema)."""
    times = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    codes = np.asarray(codes)
    if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape != (times.size, EMBEDDING_DIM):
        raise InvalidInputError(
            f"embeddings: expected uint8 codes of shape ({times.size}, {EMBEDDING_DIM}), "
            f"got {codes.dtype} {codes.shape}"
        )
    if not (np.isfinite(scale) and scale > 0) or not 0 <= int(zero_point) <= 255:
        raise InvalidInputError(f"embeddings: bad quantisation scale={scale} zero_point={zero_point}")
    n = times.size
    return pl.DataFrame(
        {
            "frame": np.arange(n, dtype=np.int32),
            "time_s": times,
            "embedding": pl.Series(codes.tolist() if n else [], dtype=pl.Array(pl.UInt8, EMBEDDING_DIM)),
            "scale": np.full(n, float(scale)),
            "zero_point": np.full(n, int(zero_point), dtype=np.int32),
            "hop_s": np.full(n, float(hop_s)),
        },
        schema=EMBEDDING_TABLE_SCHEMA,
    )


def events_embeddings_table(events: AudioEvents) -> pl.DataFrame:
    """The embeddings table of a :func:`~media_platform.audio.events.detect_events` result."""
    if events.embedding_codes is None:
        raise InvalidInputError("audio events: no embeddings (events read back from tables carry none)")
    return embeddings_to_table(events.frame_times, events.embedding_codes, scale=events.embedding_scale,
                               zero_point=events.embedding_zero_point, hop_s=events.frame_hop_s)


def _check_table(df: pl.DataFrame) -> None:
    missing = [c for c in EMBEDDING_TABLE_SCHEMA if c not in df.columns]
    if missing:
        raise InvalidInputError(f"audio embedding table: missing columns {', '.join(missing)}")
    if df.schema["embedding"] != pl.Array(pl.UInt8, EMBEDDING_DIM):
        raise InvalidInputError(f"audio embedding table: embedding is {df.schema['embedding']}, "
                                f"expected Array(UInt8, {EMBEDDING_DIM})")


def embedding_codes_from_table(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, float, int, float]:
    """``(times, codes, scale, zero_point, hop_s)``: the stored uint8 codes, unchanged."""
    _check_table(df)
    df = df.sort("frame")
    n = df.height
    if n == 0:
        return np.zeros(0), np.zeros((0, EMBEDDING_DIM), np.uint8), 1.0, 0, FRAME_HOP_S
    codes = df["embedding"].to_numpy().astype(np.uint8, copy=False).reshape(n, EMBEDDING_DIM)
    return (df["time_s"].to_numpy().astype(np.float64), codes, float(df["scale"][0]),
            int(df["zero_point"][0]), float(df["hop_s"][0]))


def embeddings_from_table(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(times (n,) float64, embeddings (n, 1024) float32)``, dequantised with the table's
    recorded scale and zero point."""
    times, codes, scale, zero, _ = embedding_codes_from_table(df)
    return times, dequantise_embeddings(codes, scale, zero)


def mean_embedding_per_span(
    times: np.ndarray, hop: float, embeddings: np.ndarray, spans: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Mean embedding over each ``(start, end)`` span's frames: ``(n_spans, dim)`` float32
    (frames as :func:`~media_platform.audio.events.span_frame_ranges` chooses them; zeros
    when there are no frames)."""
    emb = np.asarray(embeddings, dtype=np.float32)
    dim = emb.shape[1] if emb.ndim == 2 else EMBEDDING_DIM
    out = np.zeros((len(spans), dim), np.float32)
    for k, (first, last) in enumerate(span_frame_ranges(times, hop, spans)):
        out[k] = emb[first : last + 1].mean(axis=0)
    return out
