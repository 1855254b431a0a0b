"""Probe a master file with ffprobe: duration, frame rate, resolution, rotation, audio streams."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from media_platform.errors import MediaError

PROBE_TIMEOUT_S = 60


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    channels: int
    sample_rate: int
    language: str | None
    default: bool


@dataclass(frozen=True)
class MediaProbe:
    """What a master contains. ``kind`` is ``video`` when it has a real video stream (cover art
    attached to an audio file does not count), else ``audio``."""

    path: str
    kind: str
    container: str
    duration_s: float
    size_bytes: int
    width: int | None = None
    height: int | None = None
    rotation: int = 0
    avg_fps: float | None = None
    nominal_fps: float | None = None
    variable_frame_rate: bool = False
    frame_count: int | None = None
    video_duration_s: float | None = None
    video_codec: str | None = None
    audio_streams: list[AudioStreamInfo] = field(default_factory=list)

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_streams)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaProbe:
        data = dict(data)
        data["audio_streams"] = [AudioStreamInfo(**s) for s in data.get("audio_streams", [])]
        return cls(**data)


def _rate(value: str | None) -> float | None:
    if not value or value in ("0/0", "0"):
        return None
    try:
        rate = float(Fraction(value))
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 and math.isfinite(rate) else None


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(-float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag and tag.lstrip("-").isdigit() else 0


def run_ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON for ``path`` (argument list, no shell)."""
    cmd = [
        "ffprobe", "-v", "error", "-print_format", "json",
        "-show_format", "-show_streams", "--", str(path),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise RuntimeError("ffprobe not found: install ffmpeg (scripts/setup.sh does)") from exc
    except subprocess.TimeoutExpired as exc:
        raise MediaError(path, f"ffprobe timed out after {PROBE_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise MediaError(path, f"not a readable media file ({detail[-1] if detail else 'ffprobe failed'})")
    return json.loads(proc.stdout or b"{}")


def probe_media(path: str | Path) -> MediaProbe:
    """Probe ``path``; raise MediaError naming the file when it is missing, empty or not media."""
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file not found")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    info = run_ffprobe(path)
    streams = info.get("streams", [])
    fmt = info.get("format", {})
    video = [
        s for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not video and not audio:
        raise MediaError(path, "no audio or video stream")
    duration = _rate(fmt.get("duration")) or 0.0
    audio_infos = [
        AudioStreamInfo(
            index=int(s["index"]),
            codec=str(s.get("codec_name", "unknown")),
            channels=int(s.get("channels") or 0),
            sample_rate=int(s.get("sample_rate") or 0),
            language=(s.get("tags") or {}).get("language"),
            default=bool((s.get("disposition") or {}).get("default")),
        )
        for s in audio
    ]
    if not video:
        return MediaProbe(
            path=str(path), kind="audio", container=str(fmt.get("format_name", "")),
            duration_s=duration, size_bytes=size, audio_streams=audio_infos,
        )
    v = video[0]
    avg = _rate(v.get("avg_frame_rate"))
    nominal = _rate(v.get("r_frame_rate"))
    frames = v.get("nb_frames")
    vfr = bool(avg and nominal and abs(avg - nominal) / nominal > 0.01)
    return MediaProbe(
        path=str(path),
        kind="video",
        container=str(fmt.get("format_name", "")),
        duration_s=duration or (_rate(v.get("duration")) or 0.0),
        size_bytes=size,
        width=int(v.get("width") or 0) or None,
        height=int(v.get("height") or 0) or None,
        rotation=_rotation(v),
        avg_fps=avg,
        nominal_fps=nominal,
        variable_frame_rate=vfr,
        frame_count=int(frames) if frames and str(frames).isdigit() else None,
        video_duration_s=_rate(v.get("duration")),
        video_codec=v.get("codec_name"),
        audio_streams=audio_infos,
    )
