"""YAMNet: its log-mel front end and its class scores and embeddings, in batches.

The graph, its files and its sessions are :mod:`~media_platform.audio.yamnet_graph` (names
re-exported here). Input ``audio`` uint8 patches quantised with scale 0.047937885 / zero point
144 (the graph's ``audio_scale`` / ``audio_zero_point`` initialisers); output ``class_scores``
uint8, logits quantised with scale 0.7565417 / zero point 190; the 1024-d embedding layer is a
second output (uint8 codes, :func:`embedding_quantisation`).

:func:`run_yamnet` streams the waveform in chunks of ``batch_size`` patches: each chunk's
features are computed (numpy, a few MB) and sent to the dynamic-batch graph in one session
call, so memory stays bounded for long files and the per-call overhead is paid once per chunk.
Results are bit-identical to the batch-1 graph called once per patch over the whole-file
features (tested on real audio); ``batch_size=1`` runs that batch-1 path.

Features (YAMNet's own front end): 16 kHz mono, 25 ms periodic-Hann frames every 10 ms,
512-point FFT magnitude, 64 HTK mel bands 125-7500 Hz (TensorFlow's
``linear_to_mel_weight_matrix``), ``log(mel + 0.001)``, 96-frame patches. One frame of the
output per 0.48 s hop: frame ``i`` describes ``[0.48 i, 0.48 (i + 1))`` and is computed from
the 0.96 s patch *centred* on that tile (the signal is zero-padded before its start and after
its end, so the frames tile the whole duration and the last partial tile is covered).
The STFT of a whole hour at once allocated gigabytes of temporaries (numpy's float32 FFT works
in float64) and spent most of its time in page faults; per chunk it stays in cache.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from media_platform.audio.yamnet_graph import (  # noqa: F401 - re-exported
    CLASS_SCORES_OUTPUT,
    EMBEDDING_DIM,
    N_CLASSES,
    EmbeddingQuantisation,
    batched_model_path,
    class_names,
    default_threads,
    embedding_model_path,
    embedding_quantisation,
    make_batch_dynamic,
    model_path,
)
from media_platform.audio.yamnet_graph import session as _graph_session

SAMPLE_RATE = 16000
FRAME_HOP_S = 0.48
_STFT_WIN = 400  # 25 ms
_STFT_HOP = 160  # 10 ms
_NFFT = 512
_N_MELS = 64
_PATCH_FRAMES = 96
_PATCH_HOP_FRAMES = 48
HOP_SAMPLES = int(FRAME_HOP_S * SAMPLE_RATE)  # 7680
_PATCH_SAMPLES = (_PATCH_FRAMES - 1) * _STFT_HOP + _STFT_WIN  # 15600
# Shift so that patch i is centred on the tile [0.48 i, 0.48 (i+1)).
_PAD_FRONT = _PATCH_SAMPLES // 2 - HOP_SAMPLES // 2  # 3960 samples = 0.2475 s

# Quantisation parameters (read from the graph's initialisers, see module docstring).
_IN_SCALE = 0.047937885
_IN_ZERO = 144
_OUT_SCALE = 0.7565417
_OUT_ZERO = 190

DEFAULT_BATCH = 64
"""Patches per session call: 31 s of audio, 0.4 MB of input (``benchmarks/audio_events.py``
measures 1 to 512)."""
_FEATURE_CHUNK = 32
"""Patches whose features are computed together (their STFT's temporaries are ~6 MB)."""


def _session(num_threads: int, batched: bool = True):  # -> onnxruntime.InferenceSession
    return _graph_session(num_threads, batched)


# --------------------------------------------------------------------------- features


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=1)
def _mel_matrix() -> np.ndarray:
    """(257, 64) weights, as tf.signal.linear_to_mel_weight_matrix (HTK, no DC bin)."""
    n_bins = _NFFT // 2 + 1
    lin = np.linspace(0.0, SAMPLE_RATE / 2.0, n_bins)[1:]
    spec_mel = _hz_to_mel(lin)[:, None]
    edges = np.linspace(_hz_to_mel(125.0), _hz_to_mel(7500.0), _N_MELS + 2)
    lo, ce, hi = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((spec_mel - lo) / (ce - lo), (hi - spec_mel) / (hi - ce)))
    return np.vstack([np.zeros((1, _N_MELS)), w]).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    n = np.arange(_STFT_WIN)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / _STFT_WIN)).astype(np.float32)  # periodic Hann


def n_frames_for(n_samples: int) -> int:
    """Number of 0.48 s frames that tile ``n_samples`` at 16 kHz (at least one)."""
    return max(1, int(np.ceil(n_samples / HOP_SAMPLES)))


def _patch_samples(x: np.ndarray, p0: int, p1: int) -> np.ndarray:
    """The zero-padded samples patches ``p0 .. p1 - 1`` are computed from: patch ``i`` starts
    at sample ``i * HOP_SAMPLES - _PAD_FRONT`` and spans ``_PATCH_SAMPLES``."""
    s0 = p0 * HOP_SAMPLES - _PAD_FRONT
    s1 = (p1 - 1) * HOP_SAMPLES + _PATCH_SAMPLES - _PAD_FRONT
    buf = np.zeros(s1 - s0, dtype=np.float32)
    a, b = max(s0, 0), min(s1, x.size)
    if b > a:
        buf[a - s0 : b - s0] = x[a:b]
    return buf


def _log_mel(buf: np.ndarray, n_patches: int) -> np.ndarray:
    """``(n_patches, 96, 64)`` log-mel patches of a buffer from :func:`_patch_samples` (a
    strided view of the log-mel frames, 48 frames apart)."""
    frames = np.lib.stride_tricks.sliding_window_view(buf, _STFT_WIN)[::_STFT_HOP]
    mag = np.abs(np.fft.rfft(frames * _window(), _NFFT)).astype(np.float32)
    log_mel = np.log(mag @ _mel_matrix() + 0.001)
    patches = np.lib.stride_tricks.sliding_window_view(log_mel, (_PATCH_FRAMES, _N_MELS))
    return patches[::_PATCH_HOP_FRAMES, 0][:n_patches]


def log_mel_patches(waveform: np.ndarray) -> np.ndarray:
    """YAMNet log-mel patches ``(n_frames, 96, 64)`` float32 for a 16 kHz mono waveform,
    patch ``i`` centred on the tile ``[0.48 i, 0.48 (i+1))`` (zero padding at both ends),
    computed over the whole waveform at once (:func:`iter_input_patches` streams)."""
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    n = n_frames_for(x.size)
    return _log_mel(_patch_samples(x, 0, n), n)


def _quantize(patches: np.ndarray) -> np.ndarray:
    q = np.rint(patches / _IN_SCALE + _IN_ZERO)
    return np.clip(q, 0, 255).astype(np.uint8)


def input_patches(waveform: np.ndarray) -> np.ndarray:
    """The graph's input for a 16 kHz mono waveform: ``(n_frames, 96, 64)`` uint8 quantised
    log-mel patches, one per 0.48 s frame, computed over the whole waveform at once."""
    return np.ascontiguousarray(_quantize(log_mel_patches(waveform)))


def iter_input_patches(waveform: np.ndarray, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """The graph's input in chunks of at most ``chunk`` patches: ``(first patch index, (k, 96,
    64) uint8)``, equal to the slices of :func:`input_patches` (every frame's FFT and mel
    weights are computed on their own), with memory bounded by the chunk."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    n = n_frames_for(x.size)
    for p0 in range(0, n, chunk):
        p1 = min(n, p0 + chunk)
        q = np.empty((p1 - p0, _PATCH_FRAMES, _N_MELS), dtype=np.uint8)
        for s0 in range(p0, p1, _FEATURE_CHUNK):  # STFT temporaries of ~6 MB each
            s1 = min(p1, s0 + _FEATURE_CHUNK)
            q[s0 - p0 : s1 - p0] = _quantize(_log_mel(_patch_samples(x, s0, s1), s1 - s0))
        yield p0, q


@dataclass(frozen=True)
class YamnetOutput:
    """One YAMNet pass: ``logits`` ``(n_frames, 521)`` float32 (dequantised class scores) and
    ``embedding_codes`` ``(n_frames, 1024)`` uint8, the embedding layer as the graph quantises
    it (dequantise with :attr:`quantisation` or :func:`dequantise_embeddings`)."""

    logits: np.ndarray
    embedding_codes: np.ndarray
    quantisation: EmbeddingQuantisation

    @property
    def embeddings(self) -> np.ndarray:
        return dequantise_embeddings(self.embedding_codes, self.quantisation.scale, self.quantisation.zero_point)


def dequantise_embeddings(codes: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """uint8 embedding codes -> float32 ``scale * (code - zero_point)``: the one dequantisation
    rule (YAMNet's output, :attr:`AudioEvents.embeddings`, the stored embedding table)."""
    return (np.float32(scale) * (np.asarray(codes, np.float32) - np.float32(zero_point))).astype(np.float32)


def run_yamnet(
    waveform: np.ndarray, num_threads: int | None = None, *, batch_size: int | None = None
) -> YamnetOutput:
    """Run YAMNet over a 16 kHz mono waveform: class scores and the 1024-d embedding layer
    from one graph pass.

    ``batch_size`` patches (default :data:`DEFAULT_BATCH`) go to the dynamic-batch graph in
    one session call, their features computed chunk by chunk. ``batch_size=1`` is the batch-1
    path: the whole file's features at once, then one session call per patch (the reference;
    outputs are bit-identical)."""
    size = DEFAULT_BATCH if batch_size is None else int(batch_size)
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    threads = num_threads or default_threads()
    quant = embedding_quantisation()
    names = [CLASS_SCORES_OUTPUT, quant.tensor]
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    n = n_frames_for(x.size)
    out = np.empty((n, N_CLASSES), dtype=np.uint8)
    emb = np.empty((n, EMBEDDING_DIM), dtype=np.uint8)
    if size == 1:
        run = _session(threads, False).run
        q = input_patches(x)
        for i in range(n):
            scores, codes = run(names, {"audio": q[i][None, None]})
            out[i] = scores[0]
            emb[i] = codes[0]
    else:
        run = _session(threads, True).run
        for p0, q in iter_input_patches(x, size):
            scores, codes = run(names, {"audio": q[:, None]})
            out[p0 : p0 + len(q)] = scores
            emb[p0 : p0 + len(q)] = codes
    logits = (_OUT_SCALE * (out.astype(np.float32) - _OUT_ZERO)).astype(np.float32)
    return YamnetOutput(logits=logits, embedding_codes=emb, quantisation=quant)


def yamnet_logits(
    waveform: np.ndarray, num_threads: int | None = None, *, batch_size: int | None = None
) -> np.ndarray:
    """Run YAMNet over a 16 kHz mono waveform: ``(n_frames, 521)`` float32 logits (dequantised)."""
    return run_yamnet(waveform, num_threads, batch_size=batch_size).logits
