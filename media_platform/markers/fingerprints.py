"""Fingerprints of an episode for marker detection: Chromaprint points of the sound and
perceptual hashes of the picture, as one typed time series each.

- **Audio**: Chromaprint (algorithm 2, the AcoustID default) through FFmpeg's ``chromaprint``
  muxer, raw 32-bit points, one every 1365 samples at 11025 Hz (0.1238 s). Each point
  summarises about 2.85 s of sound starting at its time (its classifiers look at 21 chroma
  frames), which is why aligned runs are turned back into seconds with
  :data:`AUDIO_START_LAG_S` / :data:`AUDIO_END_LEAD_S`.
- **Picture**: a 64-bit DCT perceptual hash of the luma thumbnail the shot detector already
  computes for every frame it decodes (:func:`frame_hash`), kept at a low rate (about 4 a
  second) during that same pass, so no second decode of the video happens. Near-uniform frames
  (black, a colour card) carry no structure: they are stored with ``flat = True`` and their
  mean level, and never match (black frames are evidence for credits, not for alignment).
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from media_platform.errors import MediaError
from media_platform.video.frame_hashes import VISUAL_RATE_HZ

__all__ = [
    "AUDIO_END_LEAD_S",
    "AUDIO_POINT_S",
    "AUDIO_START_LAG_S",
    "Fingerprint",
    "VISUAL_RATE_HZ",
    "audio_fingerprint",
    "popcount",
]

AUDIO_POINT_S = 1365.0 / 11025.0
"""Seconds between two Chromaprint points (algorithm 2: 4096-sample frames, 1/3 hop, 11025 Hz)."""

AUDIO_START_LAG_S = 0.75
"""A run of matching points starting at point ``i`` means shared sound from ``i * step + this``
(calibrated on generated series: a point matches once most of its ~2.85 s window is shared)."""

AUDIO_END_LEAD_S = 1.0
"""A run ending at point ``j`` means shared sound until ``j * step + this``."""


@dataclass(frozen=True)
class Fingerprint:
    """A time series of hashes of one episode.

    Attributes:
        kind: ``"audio"`` (32-bit Chromaprint points) or ``"visual"`` (64-bit frame hashes).
        times: (n,) float64 seconds of each point, increasing.
        hashes: (n,) uint32 or uint64.
        flat: (n,) bool, points without content (uniform frames); they never match.
        level: (n,) float32 mean luma of visual points (0..255), zeros for audio.
        step_s: nominal spacing of the points, seconds.
        duration_s: length of the episode, seconds.
    """

    kind: str
    times: np.ndarray
    hashes: np.ndarray
    flat: np.ndarray
    level: np.ndarray
    step_s: float
    duration_s: float

    @property
    def bits(self) -> int:
        return 32 if self.hashes.dtype == np.uint32 else 64

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def to_table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "time_s": self.times.astype(np.float64),
                "hash": self.hashes.astype(np.uint64),
                "flat": self.flat.astype(bool),
                "level": self.level.astype(np.float32),
            },
            schema={"time_s": pl.Float64, "hash": pl.UInt64, "flat": pl.Boolean, "level": pl.Float32},
        )

    @classmethod
    def from_table(cls, kind: str, df: pl.DataFrame, step_s: float, duration_s: float) -> Fingerprint:
        dtype = np.uint32 if kind == "audio" else np.uint64
        return cls(
            kind=kind,
            times=df["time_s"].to_numpy().astype(np.float64),
            hashes=df["hash"].to_numpy().astype(dtype),
            flat=df["flat"].to_numpy().astype(bool),
            level=df["level"].to_numpy().astype(np.float32),
            step_s=float(step_s),
            duration_s=float(duration_s),
        )


SILENCE_DB = -50.0
"""RMS level (dBFS) under which a point's sound counts as silence."""


def from_audio_points(points: np.ndarray, duration_s: float, level_db: np.ndarray | None = None) -> Fingerprint:
    """A fingerprint from raw Chromaprint points (uint32) and, optionally, the RMS level (dBFS)
    of every ``AUDIO_POINT_S`` of sound. Chromaprint's last point starts ~2.6 s before the end:
    the points are padded to the whole duration with content-free points (they never match but
    carry the level, so silence up to the end is seen)."""
    points = np.asarray(points, dtype=np.uint32)
    flat = _constant(points)
    n = max(points.shape[0], int(np.ceil(duration_s / AUDIO_POINT_S)) if level_db is not None else 0)
    level = np.zeros(n, dtype=np.float32)
    if level_db is not None:
        k = min(n, level_db.shape[0])
        level[:k] = level_db[:k]
        level[k:] = level_db[-1] if level_db.shape[0] else SILENCE_DB - 10
    if n > points.shape[0]:
        points = np.concatenate([points, np.zeros(n - points.shape[0], dtype=np.uint32)])
        flat = np.concatenate([flat, np.ones(n - flat.shape[0], dtype=bool)])
    return Fingerprint(
        kind="audio",
        times=np.arange(n, dtype=np.float64) * AUDIO_POINT_S,
        hashes=points,
        flat=flat,
        level=level,
        step_s=AUDIO_POINT_S,
        duration_s=float(duration_s),
    )


def _constant(points: np.ndarray) -> np.ndarray:
    """Points inside a run of 3 or more equal points (silence or a steady tone: no content)."""
    flat = points == 0
    if points.shape[0] >= 3:
        same = (points[1:-1] == points[:-2]) & (points[1:-1] == points[2:])
        flat[1:-1] |= same
        flat[:-2] |= same
        flat[2:] |= same
    return flat


def audio_fingerprint(path: str | Path, duration_s: float, *, timeout_s: float = 600.0) -> Fingerprint:
    """Chromaprint points of the whole of ``path`` (any audio FFmpeg reads; the platform passes
    its 16 kHz mono ``audio_16k.wav``, so the master is not decoded again).

    Raises MediaError when FFmpeg is missing, lacks the chromaprint muxer or cannot read it.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise MediaError(path, "ffmpeg not found (needed for Chromaprint fingerprints)")
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-vn", "-ac", "1",
           "-f", "chromaprint", "-fp_format", "raw", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(path, f"Chromaprint fingerprinting took longer than {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        problem = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        raise MediaError(path, f"Chromaprint fingerprinting failed: {problem[0]}")
    raw = proc.stdout
    points = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<u4").astype(np.uint32)
    return from_audio_points(points, duration_s, _levels(path, timeout_s))


def _pcm(path: str | Path, timeout_s: float) -> tuple[np.ndarray, int]:
    """Mono 16-bit samples and their rate: read directly from a mono PCM WAV (the platform's
    ``audio_16k.wav``), else decoded by FFmpeg at 8 kHz."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getnchannels() == 1 and wav.getsampwidth() == 2 and wav.getcomptype() == "NONE":
                return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()
    except (wave.Error, EOFError, OSError):
        pass
    rate = 8000
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate),
           "-f", "s16le", "-"]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        raise MediaError(path, "could not measure the sound level")
    return np.frombuffer(proc.stdout[: len(proc.stdout) // 2 * 2], dtype="<i2"), rate


def _levels(path: str | Path, timeout_s: float) -> np.ndarray:
    """RMS level (dBFS) of every ``AUDIO_POINT_S`` of ``path``."""
    pcm, rate = _pcm(path, timeout_s)
    samples = pcm.astype(np.float32) / 32768.0
    hop = AUDIO_POINT_S * rate
    n = int(np.ceil(samples.shape[0] / hop))
    edges = np.minimum((np.arange(n + 1) * hop).astype(np.int64), samples.shape[0])
    sq = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    counts = np.maximum(1, np.diff(edges))
    rms = np.sqrt((sq[edges[1:]] - sq[edges[:-1]]) / counts)
    return (20.0 * np.log10(np.maximum(rms, 1e-6))).astype(np.float32)


_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each element of a uint32 or uint64 array."""
    x = np.ascontiguousarray(x)
    width = x.dtype.itemsize
    return _BITS[x.view(np.uint8)].reshape(-1, width).sum(axis=1, dtype=np.int32).reshape(x.shape)


def visual_fingerprint(
    times: np.ndarray, hashes: np.ndarray, flat: np.ndarray, level: np.ndarray, duration_s: float
) -> Fingerprint:
    """A visual fingerprint from the hashes kept by the shot detector's pass."""
    return Fingerprint(
        kind="visual",
        times=np.asarray(times, dtype=np.float64),
        hashes=np.asarray(hashes, dtype=np.uint64),
        flat=np.asarray(flat, dtype=bool),
        level=np.asarray(level, dtype=np.float32),
        step_s=1.0 / VISUAL_RATE_HZ,
        duration_s=float(duration_s),
    )
