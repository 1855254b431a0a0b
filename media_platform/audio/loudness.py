"""Loudness measurement and normalisation (ITU-R BS.1770 / EBU R128 style).

* integrated loudness: ``pyloudnorm`` (BS.1770-4 K-weighting, 400 ms blocks, gating);
* true peak: the signal oversampled 4x (2x at >= 96 kHz, none at >= 192 kHz) with a
  polyphase FIR (``scipy.signal.resample_poly``), max |x| in dBTP, as in BS.1770 Annex 2;
* :func:`normalize_loudness`: gain to the target, then, only where the true peak would pass
  the ceiling, a look-ahead true-peak limiter (so the loudness target is still met, which
  plain gain reduction would miss); iterated (at most 4 passes) until the result is within
  ±``tolerance_lu`` of the target and under the ceiling. The report says when it is not;
* :func:`write_normalized_audio`: decode at the original rate and channels, normalise, write
  FLAC / WAV (or MP3 through the ffmpeg CLI) atomically (temp file in the same folder, then
  rename).

Silence (loudness -inf) and clips too short to measure (< 0.4 s) get no gain, and say so.
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
from scipy.signal import firwin

from media_platform.audio.decode import decode_audio
from media_platform.errors import MediaError

__all__ = [
    "LoudnessReport",
    "integrated_loudness",
    "normalize_loudness",
    "true_peak_dbtp",
    "true_peak_limit",
    "write_normalized_audio",
]

_MIN_MEASURABLE_S = 0.4  # one BS.1770 gating block


@dataclass(frozen=True)
class LoudnessReport:
    """What :func:`normalize_loudness` did. Loudness in LUFS (``-inf`` for silence), peaks in
    dBTP, ``gain_db`` the static gain applied before limiting, ``limiter_max_reduction_db`` the
    deepest limiter gain reduction (0 when the limiter was not needed)."""

    lufs_before: float
    lufs_after: float
    true_peak_before: float
    true_peak_after: float
    gain_db: float
    duration_s: float
    sample_rate: int
    channels: int
    target_lufs: float
    true_peak_ceiling_dbtp: float
    limited: bool
    limiter_max_reduction_db: float
    target_reached: bool
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _as_2d(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise ValueError(f"samples must be (n,) or (n, channels), got shape {x.shape}")
    return x


def integrated_loudness(samples: np.ndarray, sr: int) -> float:
    """BS.1770 integrated loudness in LUFS; ``-inf`` for silence or clips under 0.4 s."""
    x = _as_2d(samples)
    if x.shape[0] < math.ceil(_MIN_MEASURABLE_S * sr) or not np.any(x):
        return float("-inf")
    meter = pyloudnorm.Meter(sr)
    value = float(meter.integrated_loudness(x if x.shape[1] > 1 else x[:, 0]))
    return value if math.isfinite(value) else float("-inf")


def _oversample_factor(sr: int) -> int:
    return 4 if sr < 96000 else (2 if sr < 192000 else 1)


@functools.lru_cache(maxsize=4)
def _polyphase(f: int) -> np.ndarray:
    """Interpolation filter (Kaiser-windowed sinc, 20 taps per phase) as a (taps, f) matrix:
    column p, reversed, is phase p."""
    per_phase = 21
    h = firwin(per_phase * f, 1.0 / f, window=("kaiser", 5.0)) * f
    phases = np.stack([h[p::f] for p in range(f)], axis=1)  # (21, f)
    return np.ascontiguousarray(phases[::-1]).astype(np.float32)


def _true_peak_envelope(x: np.ndarray, sr: int, chunk: int = 1 << 18) -> np.ndarray:
    """Per input sample, max |x| over the oversampled points around it and over channels.

    Polyphase interpolation done as a small matrix product per chunk (windows of 21 input
    samples times the (21, f) phase matrix), which runs on BLAS."""
    f = _oversample_factor(sr)
    n = x.shape[0]
    env = (
        np.abs(x).max(axis=1).astype(np.float32)
        if x.shape[1] > 1
        else np.abs(x[:, 0]).astype(np.float32)
    )
    if f == 1:
        return env
    H = _polyphase(f)
    taps = H.shape[0]
    half = taps // 2
    for c in range(x.shape[1]):
        ch = np.zeros(n + taps, dtype=np.float32)
        ch[half : half + n] = x[:, c]
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            win = np.lib.stride_tricks.sliding_window_view(ch[start : stop + taps - 1], taps)
            up = np.ascontiguousarray(win) @ H  # (m, f) BLAS
            seg = env[start:stop]
            for p in range(H.shape[1]):
                np.maximum(seg, np.abs(up[:, p]), out=seg)
    return env


def true_peak_dbtp(samples: np.ndarray, sr: int) -> float:
    """True peak in dBTP (4x oversampled); ``-inf`` for digital silence."""
    x = _as_2d(samples)
    if x.size == 0:
        return float("-inf")
    peak = float(_true_peak_envelope(x, sr).max())
    return 20.0 * math.log10(peak) if peak > 0 else float("-inf")


def true_peak_limit(
    samples: np.ndarray,
    sr: int,
    ceiling_dbtp: float = -1.0,
    lookahead_ms: float = 5.0,
    release_ms: float = 80.0,
    block_ms: float = 1.0,
) -> tuple[np.ndarray, float]:
    """Look-ahead true-peak limiter. Returns ``(limited, max_gain_reduction_db)``.

    The required gain (ceiling / true-peak envelope) is taken per ``block_ms`` block, spread
    back over the look-ahead with a min filter, smoothed with a moving average of the same
    length (so gain falls in a ramp that reaches its floor at the peak), released
    exponentially (``release_ms``), and linearly interpolated to the sample rate. The gain at
    every block is at most the gain that block needs, so the output's true peak stays at the
    ceiling (to within the oversampling filter's accuracy; the caller re-measures).
    """
    x = _as_2d(samples)
    if x.shape[0] == 0:
        return np.asarray(samples, dtype=np.float32), 0.0
    gain, max_red = _limiter_gain(
        _true_peak_envelope(x, sr), sr, ceiling_dbtp, lookahead_ms, release_ms, block_ms
    )
    out = (x * gain[:, None]).astype(np.float32)
    if np.asarray(samples).ndim == 1:
        out = out[:, 0]
    return out, max_red


def _limiter_gain(
    env: np.ndarray,
    sr: int,
    ceiling_dbtp: float,
    lookahead_ms: float = 5.0,
    release_ms: float = 80.0,
    block_ms: float = 1.0,
) -> tuple[np.ndarray, float]:
    """Per-sample limiter gain for a true-peak envelope (see :func:`true_peak_limit`)."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    n = env.shape[0]
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    if n == 0 or float(env.max()) <= ceiling:
        return np.ones(n, dtype=np.float32), 0.0
    bs = max(1, round(sr * block_ms / 1000.0))
    nb = math.ceil(n / bs)
    envp = np.zeros(nb * bs, dtype=np.float32)
    envp[:n] = env
    need = np.minimum(
        1.0, ceiling / np.maximum(envp.reshape(nb, bs).max(axis=1).astype(np.float64), 1e-12)
    )
    k = max(1, round(lookahead_ms / block_ms))
    # min over [b-k-1, b+k+1] then mean over [b-k, b+k]: every average is <= need[b] and so are
    # the neighbours' (interpolation between block centres stays <= need[b]).
    held = minimum_filter1d(need, size=2 * k + 3, mode="nearest")
    smooth = np.minimum(uniform_filter1d(held, size=2 * k + 1, mode="nearest"), held)
    # exponential release in the reduction domain: d[b] = max(ds[b], a * d[b-1]), vectorised
    # as a running max in the log domain.
    a = math.exp(-block_ms / max(release_ms, 1e-3))
    reduction = 1.0 - smooth
    with np.errstate(divide="ignore"):
        log_red = np.log(np.maximum(reduction, 0.0))
    idx = np.arange(nb, dtype=np.float64)
    la = math.log(a)
    released = np.exp(idx * la + np.maximum.accumulate(log_red - idx * la))
    gain_blocks = 1.0 - np.maximum(reduction, released)
    centres = (idx + 0.5) * bs
    gain = np.interp(np.arange(n, dtype=np.float64), centres, gain_blocks)
    gain = np.minimum(gain, np.repeat(need, bs)[:n]).astype(np.float32)
    max_red = -20.0 * math.log10(max(float(gain.min()), 1e-12))
    return gain, max_red


def normalize_loudness(
    samples: np.ndarray,
    sr: int,
    target_lufs: float = -16.0,
    true_peak_dbtp: float = -1.0,
    tolerance_lu: float = 1.0,
    max_gain_db: float | None = None,
) -> tuple[np.ndarray, LoudnessReport]:
    """Normalise ``samples`` (``(n,)`` or ``(n, channels)`` float) to ``target_lufs`` with the
    true peak at most ``true_peak_dbtp``. Returns ``(normalised float32, report)``.

    ``max_gain_db`` caps the static gain (``None``: no cap), e.g. to keep room tone from
    being pumped up by 40 dB.
    """
    x = np.asarray(samples, dtype=np.float32)
    shape_channels = 1 if x.ndim == 1 else int(x.shape[1])
    duration = x.shape[0] / float(sr) if sr > 0 else 0.0
    lufs_before = integrated_loudness(x, sr)
    _tp = globals()["true_peak_dbtp"]
    x2 = _as_2d(x).astype(np.float32, copy=False)
    env_x = _true_peak_envelope(x2, sr) if x.size else np.zeros(0, np.float32)
    peak = float(env_x.max()) if env_x.size else 0.0
    tp_before = 20.0 * math.log10(peak) if peak > 0 else float("-inf")

    def report(y, gain_db, limited, red, reached, note, lufs_after=None, tp_after=None):
        if lufs_after is None:
            lufs_after = integrated_loudness(y, sr) if y.size else float("-inf")
        if tp_after is None:
            tp_after = _tp(y, sr) if y.size else float("-inf")
        return LoudnessReport(
            lufs_before=lufs_before,
            lufs_after=lufs_after,
            true_peak_before=tp_before,
            true_peak_after=tp_after,
            gain_db=gain_db,
            duration_s=duration,
            sample_rate=sr,
            channels=shape_channels,
            target_lufs=target_lufs,
            true_peak_ceiling_dbtp=true_peak_dbtp,
            limited=limited,
            limiter_max_reduction_db=red,
            target_reached=reached,
            note=note,
        )

    if not math.isfinite(lufs_before):
        why = "silence" if duration >= _MIN_MEASURABLE_S else f"shorter than {_MIN_MEASURABLE_S} s"
        return x.copy(), report(
            x, 0.0, False, 0.0, False, f"loudness not measurable ({why}): no gain applied"
        )

    gain_db = target_lufs - lufs_before
    note = ""
    if max_gain_db is not None and gain_db > max_gain_db:
        gain_db = max_gain_db
        note = f"gain capped at {max_gain_db:+.1f} dB"
    y = x * np.float32(10.0 ** (gain_db / 20.0))
    limited = False
    max_red = 0.0
    pre_gain_db = gain_db
    if tp_before + gain_db > true_peak_dbtp:
        limited = True
        # the limiter gain varies slowly, so env(g * x) ~ g * env(x): one envelope for all passes
        margin = 0.1

        def limit(pre_db: float, margin_db: float) -> tuple[np.ndarray, float]:
            lin = np.float32(10.0 ** (pre_db / 20.0))
            gain, red = _limiter_gain(env_x * lin, sr, true_peak_dbtp - margin_db)
            out = x2 * (gain * lin)[:, None]
            return (out[:, 0] if x.ndim == 1 else out), red

        for _ in range(4):
            y, max_red = limit(pre_gain_db, margin)
            shortfall = target_lufs - integrated_loudness(y, sr)
            if abs(shortfall) <= tolerance_lu * 0.5 or note:
                break
            pre_gain_db += shortfall  # limiting cost loudness: push harder into the limiter
        tp_after = _tp(y, sr)
        for _ in range(3):  # re-measure exactly; tighten the ceiling on filter slop
            excess = tp_after - true_peak_dbtp
            if excess <= 0:
                break
            margin += excess + 0.05
            y, max_red = limit(pre_gain_db, margin)
            tp_after = _tp(y, sr)
    else:
        tp_after = tp_before + gain_db
    lufs_after = integrated_loudness(y, sr)
    reached = math.isfinite(lufs_after) and abs(lufs_after - target_lufs) <= tolerance_lu
    if not reached and not note:
        note = (
            f"loudness {lufs_after:.1f} LUFS misses the target {target_lufs:.1f} by more than "
            f"{tolerance_lu} LU under the {true_peak_dbtp} dBTP ceiling"
        )
    elif limited:
        note = (note + "; " if note else "") + f"true-peak limited (max {max_red:.1f} dB reduction)"
    return y.astype(np.float32), report(
        y, pre_gain_db, limited, max_red, reached, note, lufs_after=lufs_after, tp_after=tp_after
    )


def _atomic_target(dest: Path) -> Path:
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.stem}.", suffix=dest.suffix + ".tmp", dir=dest.parent
    )
    os.close(fd)
    return Path(tmp)


def write_normalized_audio(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    target_lufs: float = -16.0,
    true_peak_dbtp: float = -1.0,
    stream_index: int | None = None,
    mp3_quality: int = 2,
) -> LoudnessReport:
    """Decode ``src`` at its own sample rate and channels, normalise, and write ``dest``
    atomically. The format follows the suffix: ``.flac`` (24-bit), ``.wav`` (24-bit PCM) or
    ``.mp3`` (LAME VBR ``-q:a mp3_quality`` via the ffmpeg CLI; the encoder may move the true
    peak by a few tenths of a dB). Raises :class:`MediaError` naming ``src`` or ``dest``.
    """
    import soundfile as sf

    dest_p = Path(dest)
    suffix = dest_p.suffix.lower()
    if suffix not in (".flac", ".wav", ".mp3"):
        raise ValueError(f"unsupported output format {suffix!r}: use .flac, .wav or .mp3")
    decoded = decode_audio(src, sr=None, mono=False, stream_index=stream_index)
    y, rep = normalize_loudness(decoded.samples, decoded.sample_rate, target_lufs, true_peak_dbtp)
    dest_p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_target(dest_p)
    try:
        if suffix in (".flac", ".wav"):
            sf.write(
                str(tmp),
                np.clip(y, -1.0, 1.0),
                decoded.sample_rate,
                subtype="PCM_24",
                format="FLAC" if suffix == ".flac" else "WAV",
            )
        else:
            wav = tmp.with_suffix(".wav")
            try:
                sf.write(
                    str(wav),
                    np.clip(y, -1.0, 1.0),
                    decoded.sample_rate,
                    subtype="FLOAT",
                    format="WAV",
                )
                cmd = [
                    "ffmpeg",
                    "-nostdin",
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-y",
                    "-i",
                    str(wav),
                    "-c:a",
                    "libmp3lame",
                    "-q:a",
                    str(int(mp3_quality)),
                    "-f",
                    "mp3",
                    str(tmp),
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise MediaError(
                        dest_p, f"ffmpeg mp3 encode failed: {proc.stderr.strip()[-500:]}"
                    )
            finally:
                wav.unlink(missing_ok=True)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest_p)
    except OSError as exc:
        raise MediaError(dest_p, f"cannot write normalised audio ({exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return rep
