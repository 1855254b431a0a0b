"""Rendering a chosen preview span to a file, and checking the result.

Pure domain code (no Dagster) around the ``ffmpeg`` command-line tool. Commands are argument
lists (never shell strings); outputs are written to a temporary file in the destination folder
and renamed into place, so a reader never sees a half-written preview.

* :func:`render_audio_preview` cuts ``[start, end]`` from the (loudness-normalised) episode
  audio with an ``afade`` fade-in/fade-out (default 0.5 s / 1.0 s) and encodes MP3.
* :func:`render_video_preview` does the same for a video master: an H.264/AAC MP4 of the span
  with the same audio fades (and optional fades from/to black).
* :func:`check_preview` / :func:`fades_present` / :func:`preview_loudness` verify a rendered
  file: the first and last 100 ms are quieter than the body, its duration and loudness (LUFS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media_platform.audio.decode import decode_audio as decode_native
from media_platform.audio.decode import load_audio
from media_platform.audio.loudness import integrated_loudness
from media_platform.errors import InvalidInputError, MediaError


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MediaError("ffmpeg", "ffmpeg is not installed or not on PATH")
    return exe


def _run(cmd: list[str], path: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise MediaError(path, f"ffmpeg failed ({proc.returncode}): {' | '.join(tail)}")
    return proc


def decode_audio(
    path: str | os.PathLike[str], sample_rate: int = 16000, *, mono: bool = True
) -> np.ndarray:
    """Decode any audio/video file to float32 samples at ``sample_rate`` (mono: shape (n,);
    else (n, channels)); see :func:`media_platform.audio.decode.load_audio`."""
    return load_audio(path, sr=sample_rate, mono=mono)


def _has_stream(path: Path, kind: str) -> bool:
    exe = shutil.which("ffprobe")
    if exe is None:
        return kind == "a"
    proc = subprocess.run(
        [
            exe,
            "-v",
            "error",
            "-select_streams",
            kind,
            "-show_entries",
            "stream=index",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise MediaError(path, "ffprobe could not read the file")
    return bool(json.loads(proc.stdout or b"{}").get("streams"))


def _validate_span(start: float, end: float) -> float:
    if not (np.isfinite(start) and np.isfinite(end)) or start < 0 or end <= start:
        raise InvalidInputError(f"invalid preview span: start={start!r} end={end!r}")
    return float(end - start)


def _fit_fades(duration: float, fade_in: float, fade_out: float) -> tuple[float, float]:
    """Shrink the fades proportionally when they would not fit into the clip."""
    fade_in, fade_out = max(0.0, fade_in), max(0.0, fade_out)
    total = fade_in + fade_out
    if total > 0.8 * duration and total > 0:
        k = 0.8 * duration / total
        fade_in, fade_out = fade_in * k, fade_out * k
    return fade_in, fade_out


def _afade(duration: float, fade_in: float, fade_out: float) -> str:
    parts = []
    if fade_in > 0:
        parts.append(f"afade=t=in:st=0:d={fade_in:.3f}")
    if fade_out > 0:
        parts.append(f"afade=t=out:st={max(0.0, duration - fade_out):.3f}:d={fade_out:.3f}")
    return ",".join(parts) if parts else "anull"


def _atomic_ffmpeg(cmd_head: list[str], cmd_tail: list[str], out_path: Path, src: Path) -> Path:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        _run(cmd_head + cmd_tail + [tmp], src)
        if os.path.getsize(tmp) == 0:
            raise MediaError(src, "ffmpeg produced an empty preview")
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path


_AUDIO_CODECS: dict[str, list[str]] = {
    ".mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
    ".flac": ["-c:a", "flac", "-f", "flac"],
    ".wav": ["-c:a", "pcm_s16le", "-f", "wav"],
}


def _cut_input(src: Path, start: float, dur: float) -> list[str]:
    """The ffmpeg arguments that read ``dur`` seconds of ``src`` from ``start`` (no shell)."""
    return [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-ss", f"{start:.3f}", "-t", f"{dur:.3f}", "-i", str(src)]


def render_audio_preview(
    source: str | os.PathLike[str],
    start: float,
    end: float,
    out_path: str | os.PathLike[str],
    *,
    fade_in_s: float = 0.5,
    fade_out_s: float = 1.0,
    bitrate: str = "128k",
    sample_rate: int | None = 44100,
) -> Path:
    """Cut ``[start, end]`` (s) of ``source`` with fades into ``out_path``: MP3, or lossless
    FLAC/WAV (by its suffix) for further processing; atomic."""
    src, out = Path(source), Path(out_path)
    if not src.is_file():
        raise MediaError(src, "file not found")
    dur = _validate_span(start, end)
    fi, fo = _fit_fades(dur, fade_in_s, fade_out_s)
    head = [*_cut_input(src, start, dur), "-map", "0:a:0", "-vn", "-af", _afade(dur, fi, fo)]
    if sample_rate:
        head += ["-ar", str(int(sample_rate))]
    tail = _AUDIO_CODECS.get(out.suffix.lower())
    if tail is None:
        raise InvalidInputError(f"{out}: preview audio must be one of {', '.join(_AUDIO_CODECS)}")
    if out.suffix.lower() == ".mp3":
        tail = [*tail, "-b:a", bitrate]
    return _atomic_ffmpeg(head, tail, out, src)


def render_video_preview(
    source: str | os.PathLike[str],
    start: float,
    end: float,
    out_path: str | os.PathLike[str],
    *,
    fade_in_s: float = 0.5,
    fade_out_s: float = 1.0,
    video_fades: bool = True,
    crf: int = 23,
    preset: str = "veryfast",
    audio_bitrate: str = "128k",
) -> Path:
    """Cut ``[start, end]`` of a video master into an H.264/AAC MP4 with audio fades (and
    fades from/to black when ``video_fades``); atomic. A master without audio gives a silent
    clip."""
    src, out = Path(source), Path(out_path)
    if not src.is_file():
        raise MediaError(src, "file not found")
    if not _has_stream(src, "v"):
        raise MediaError(src, "no video stream: use render_audio_preview")
    dur = _validate_span(start, end)
    fi, fo = _fit_fades(dur, fade_in_s, fade_out_s)
    head = [*_cut_input(src, start, dur), "-map", "0:v:0"]
    if video_fades:
        vf = []
        if fi > 0:
            vf.append(f"fade=t=in:st=0:d={fi:.3f}")
        if fo > 0:
            vf.append(f"fade=t=out:st={max(0.0, dur - fo):.3f}:d={fo:.3f}")
        if vf:
            head += ["-vf", ",".join(vf)]
    head += ["-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p"]
    if _has_stream(src, "a"):
        head += ["-map", "0:a:0", "-af", _afade(dur, fi, fo), "-c:a", "aac", "-b:a", audio_bitrate]
    tail = ["-movflags", "+faststart", "-f", "mp4"]
    return _atomic_ffmpeg(head, tail, out, src)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewCheck:
    """Measured properties of a rendered preview."""

    duration_s: float
    head_db: float
    tail_db: float
    body_db: float
    lufs: float
    fades_ok: bool


def _db(x: np.ndarray) -> float:
    if len(x) == 0:
        return -120.0
    return float(20 * np.log10(max(1e-6, float(np.sqrt(np.mean(x.astype(np.float64) ** 2))))))


def check_preview(
    path: str | os.PathLike[str],
    *,
    edge_s: float = 0.1,
    margin_db: float = 6.0,
    sample_rate: int = 16000,
) -> PreviewCheck:
    """Measure a preview: RMS of the first and last ``edge_s`` vs the body (median of 100 ms
    frame levels of the loud frames outside the first/last second), duration, and integrated
    loudness (LUFS over the file's own channels and sample rate, ``-inf`` → -120 for silence). ``fades_ok`` when both edges are at least
    ``margin_db`` quieter than the body."""
    x = decode_audio(path, sample_rate)
    sr = sample_rate
    n_edge = max(1, int(edge_s * sr))
    head, tail = _db(x[:n_edge]), _db(x[-n_edge:])
    inner = x[int(1.0 * sr) : max(int(1.0 * sr), len(x) - int(1.0 * sr))]
    if len(inner) < int(0.2 * sr):
        inner = x[n_edge:-n_edge] if len(x) > 2 * n_edge else x
    hop = int(0.1 * sr)
    frames = [_db(inner[k : k + hop]) for k in range(0, max(1, len(inner) - hop + 1), hop)]
    fr = np.array(frames) if frames else np.array([_db(inner)])
    loud = fr[fr > fr.max() - 30] if len(fr) else fr
    body = float(np.median(loud)) if len(loud) else -120.0
    # Loudness over the file's own channels and rate (BS.1770 sums the channels' power: a mono
    # downmix of a stereo preview would read ~3 dB low).
    native = decode_native(path, sr=None, mono=False)
    lufs = integrated_loudness(native.samples, native.sample_rate)
    if not np.isfinite(lufs):
        lufs = -120.0
    return PreviewCheck(
        duration_s=len(x) / sr,
        head_db=head,
        tail_db=tail,
        body_db=body,
        lufs=lufs,
        fades_ok=head < body - margin_db and tail < body - margin_db,
    )

