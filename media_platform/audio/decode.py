"""Probe and decode audio streams (PyAV / FFmpeg libraries, no shell).

``audio_streams`` lists a file's audio streams, ``choose_main_stream`` picks the one to use
(the stream flagged *default*, else the one with most channels, then highest bit rate),
``decode_audio`` decodes it at its native or a requested sample rate, and ``load_audio`` is the
short form that returns only the samples (16 kHz mono float32 by default, what the audio models
want).

Every failure is a :class:`~media_platform.errors.MediaError` naming the file: missing file,
not a media file, no audio stream, an empty stream, or a decode error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from media_platform.errors import MediaError

__all__ = [
    "AudioStreamInfo",
    "DecodedAudio",
    "audio_streams",
    "choose_main_stream",
    "decode_audio",
    "load_audio",
]


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a container.

    ``index`` is the stream's index in the container (what ffmpeg calls ``0:N``);
    ``audio_index`` its position among the audio streams only (``0:a:N``).
    ``bit_rate`` is 0 and ``duration_s`` ``None`` when the container does not say.
    """

    index: int
    audio_index: int
    codec: str
    sample_rate: int
    channels: int
    channel_layout: str
    bit_rate: int
    duration_s: float | None
    is_default: bool
    language: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded samples: ``samples`` is float32, shape ``(n,)`` when mono else ``(n, channels)``
    (the layout pyloudnorm and soundfile expect); ``sample_rate`` in Hz; ``stream`` the source
    (None for the silence of a video without an audio track, :func:`silent_soundtrack`)."""

    samples: np.ndarray
    sample_rate: int
    stream: AudioStreamInfo | None

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / float(self.sample_rate)

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise MediaError(path, "file not found")
    if path.is_dir():
        raise MediaError(path, "is a directory, not a media file")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:  # InvalidDataError, etc.
        raise MediaError(
            path, f"not a readable media file ({exc.__class__.__name__}: {exc})"
        ) from exc


def _stream_info(stream: av.audio.stream.AudioStream, audio_index: int) -> AudioStreamInfo:
    ctx = stream.codec_context
    layout = ctx.layout
    channels = (
        int(layout.nb_channels) if layout is not None else int(getattr(ctx, "channels", 0) or 0)
    )
    duration_s: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif stream.container is not None and stream.container.duration:
        duration_s = float(stream.container.duration) / av.time_base
    metadata = dict(stream.metadata or {})
    return AudioStreamInfo(
        index=int(stream.index),
        audio_index=audio_index,
        codec=str(ctx.name),
        sample_rate=int(ctx.sample_rate or stream.rate or 0),
        channels=channels,
        channel_layout=str(layout.name) if layout is not None else "",
        bit_rate=int(stream.bit_rate or ctx.bit_rate or 0),
        duration_s=duration_s,
        is_default=bool(stream.disposition & av.stream.Disposition.default),
        language=metadata.get("language"),
        title=metadata.get("title"),
    )


def audio_streams(path: str | os.PathLike[str]) -> list[AudioStreamInfo]:
    """List the audio streams of ``path`` (possibly empty for a video-only file).

    Raises :class:`MediaError` when the file is missing, empty or not media.
    """
    p = Path(path)
    with _open(p) as container:
        return [_stream_info(s, i) for i, s in enumerate(container.streams.audio)]


def choose_main_stream(
    streams: list[AudioStreamInfo], path: str | os.PathLike[str] = "<input>"
) -> AudioStreamInfo:
    """Pick the main audio stream: the one flagged *default*; when none (or several) are,
    the one with most channels, then highest bit rate, then lowest index.

    Raises :class:`MediaError` (naming ``path``) when ``streams`` is empty.
    """
    if not streams:
        raise MediaError(path, "no audio stream")
    defaults = [s for s in streams if s.is_default]
    candidates = defaults if defaults else streams
    return min(candidates, key=lambda s: (-s.channels, -s.bit_rate, s.index))


def decode_audio(
    path: str | os.PathLike[str],
    sr: int | None = None,
    mono: bool = False,
    stream_index: int | None = None,
) -> DecodedAudio:
    """Decode one audio stream of ``path`` to float32.

    ``sr``: output sample rate (``None`` keeps the stream's own rate; resampling uses
    libswresample). ``mono``: average the channels. ``stream_index``: the container stream
    index (``AudioStreamInfo.index``); ``None`` picks :func:`choose_main_stream`.

    Raises :class:`MediaError` for a missing/empty/non-media file, a file with no audio stream,
    a ``stream_index`` that is not an audio stream, a decode error, or a stream that decodes
    to no samples.
    """
    p = Path(path)
    if sr is not None and sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    with _open(p) as container:
        streams = list(container.streams.audio)
        infos = [_stream_info(s, i) for i, s in enumerate(streams)]
        if not infos:
            raise MediaError(p, "no audio stream")
        if stream_index is None:
            info = choose_main_stream(infos, p)
        else:
            matches = [i for i in infos if i.index == stream_index]
            if not matches:
                raise MediaError(
                    p,
                    f"stream {stream_index} is not an audio stream (audio streams: {[i.index for i in infos]})",
                )
            info = matches[0]
        stream = streams[info.audio_index]
        stream.thread_type = "AUTO"
        out_rate = int(sr) if sr is not None else (info.sample_rate or None)
        resampler: av.AudioResampler | None = None
        chunks: list[np.ndarray] = []
        n_channels = 0
        try:
            for frame in container.decode(stream):
                if resampler is None:
                    # the first frame fixes the output layout and rate; ffmpeg's resampler
                    # converts later frames whose layout or rate changes mid-stream to them
                    n_channels = frame.layout.nb_channels
                    out_rate = out_rate or frame.sample_rate
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=out_rate)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            if resampler is not None:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaError(p, f"audio decode failed ({exc.__class__.__name__}: {exc})") from exc
        if resampler is None or not chunks:
            raise MediaError(p, "audio stream is empty (decoded no samples)")
        planar = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)  # (channels, n)
        if planar.shape[1] == 0:
            raise MediaError(p, "audio stream is empty (decoded no samples)")
        if mono:
            samples = planar.mean(axis=0, dtype=np.float32) if planar.shape[0] > 1 else planar[0]
        elif n_channels == 1:
            samples = planar[0]
        else:
            samples = np.ascontiguousarray(planar.T)
        rate = int(out_rate)
        return DecodedAudio(
            samples=np.ascontiguousarray(samples, dtype=np.float32), sample_rate=rate, stream=info
        )


def silent_soundtrack(duration_s: float, sample_rate: int = 16000) -> DecodedAudio:
    """The soundtrack of a video without an audio track: digital silence of its duration, so
    that what is computed from sound (events, features, tags) says "silence" instead of
    nothing."""
    if not np.isfinite(duration_s) or duration_s < 0:
        raise MediaError("soundtrack", f"cannot make silence of {duration_s!r} s")
    return DecodedAudio(np.zeros(int(round(duration_s * sample_rate)), dtype=np.float32), sample_rate, None)


def to_mono_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mix (n,) or (n, channels) float samples down to mono and resample to 16 kHz (soxr, high
    quality): the models' input, made from audio already decoded for the listening copy."""
    import soxr

    mono = samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples.astype(np.float32, copy=False)
    if sample_rate == 16000:
        return np.ascontiguousarray(mono)
    return soxr.resample(mono, sample_rate, 16000, quality="HQ").astype(np.float32, copy=False)


def load_audio(
    path: str | os.PathLike[str],
    sr: int | None = 16000,
    mono: bool = True,
    stream_index: int | None = None,
) -> np.ndarray:
    """Decode ``path`` and return only the float32 samples (``(n,)`` mono by default,
    ``(n, channels)`` when ``mono=False`` and the stream has several channels).

    ``sr=None`` keeps the native rate (use :func:`decode_audio` to learn it).
    See :func:`decode_audio` for the errors.
    """
    return decode_audio(path, sr=sr, mono=mono, stream_index=stream_index).samples
