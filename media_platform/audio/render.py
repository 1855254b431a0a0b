"""Write audio to files people listen to, and draw event timelines."""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image, ImageDraw

from media_platform.audio.types import EventSegment

LABEL_COLOURS = {
    "speech": (66, 133, 244),
    "music": (219, 68, 55),
    "speech_over_music": (171, 71, 188),
    "noise": (244, 180, 0),
    "silence": (200, 200, 200),
}


def read_wav_16k(data: bytes) -> np.ndarray:
    """Samples (float32, -1..1) of a 16-bit mono WAV held in memory."""
    with wave.open(io.BytesIO(data)) as wav:
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def wav_16k_bytes(samples: np.ndarray) -> bytes:
    """A 16 kHz, 16-bit mono WAV of float samples, in memory."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes((np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())
    return buf.getvalue()


def encode_audio_file(samples: np.ndarray, sample_rate: int, dest: Path, mp3_quality: int = 2) -> Path:
    """Write float samples ((n,) or (n, channels)) to ``dest``: FLAC/WAV with soundfile, MP3
    through ffmpeg (LAME VBR quality ``mp3_quality``; argument list, no shell)."""
    dest = Path(dest)
    data = np.clip(samples, -1.0, 1.0).astype(np.float32)
    suffix = dest.suffix.lower()
    if suffix in (".flac", ".wav"):
        sf.write(dest, data, sample_rate, subtype="PCM_24")
        return dest
    if suffix == ".mp3":
        wav = dest.with_suffix(".tmp.wav")
        sf.write(wav, data, sample_rate, subtype="PCM_16")
        try:
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-codec:a", "libmp3lame",
                 "-q:a", str(mp3_quality), str(dest)],
                check=True, capture_output=True, timeout=3600,
            )
        finally:
            wav.unlink(missing_ok=True)
        return dest
    raise ValueError(f"{dest}: unsupported audio format {suffix!r}")


def events_timeline_png(segments: Sequence[EventSegment], duration_s: float, width: int = 900, height: int = 40) -> bytes:
    """A PNG strip of the event segments, one colour per label, with a legend."""
    legend_h = 14
    img = Image.new("RGB", (width, height + legend_h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    total = max(duration_s, 1e-6)
    for seg in segments:
        x0 = int(seg.start / total * width)
        x1 = max(x0 + 1, int(seg.end / total * width))
        draw.rectangle([x0, 0, x1 - 1, height - 1], fill=LABEL_COLOURS.get(seg.label, (0, 0, 0)))
    x = 2
    for label, colour in LABEL_COLOURS.items():
        draw.rectangle([x, height + 3, x + 8, height + 11], fill=colour)
        draw.text((x + 11, height + 1), label, fill=(0, 0, 0))
        x += 14 + 7 * len(label)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
