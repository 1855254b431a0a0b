"""Probing masters: real fixtures, audio-only files, and bad input with clear errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from media_platform.errors import MediaError
from media_platform.probe import probe_media


def test_probe_video_fixtures(shared_media: Path) -> None:
    bbb = probe_media(shared_media / "video/blender_bbb/big_buck_bunny_0_30.webm")
    assert (bbb.kind, bbb.width, bbb.height, bbb.avg_fps) == ("video", 1280, 720, 24.0)
    assert bbb.has_audio and abs(bbb.duration_s - 30.0) < 0.1
    rotated = probe_media(shared_media / "video/pyscenedetect/issue-134-rotate.mp4")
    assert rotated.rotation in (90, 270) and (rotated.width, rotated.height) == (1280, 544)
    vfr = probe_media(shared_media / "video/pyscenedetect/goldeneye-vfr-drop3.mp4")
    assert vfr.variable_frame_rate and not vfr.has_audio
    counter = probe_media(shared_media / "video/pyscenedetect/counter.mp4")
    assert counter.frame_count == 30 and counter.avg_fps == 10.0


def test_audio_with_cover_art_is_audio(tmp_path: Path, shared_media: Path) -> None:
    cover = tmp_path / "cover.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=red:s=64x64", "-frames:v", "1", str(cover)], check=True)
    out = tmp_path / "with_cover.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(shared_media / "audio/whisper_jfk/jfk.flac"), "-i", str(cover),
         "-map", "0:a", "-map", "1:v", "-c:v", "png", "-disposition:v", "attached_pic", "-c:a", "libmp3lame", str(out)],
        check=True,
    )
    probe = probe_media(out)
    assert probe.kind == "audio" and len(probe.audio_streams) == 1


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.mp4", b"", "empty file"),
        ("notes.mp4", b"this is a text file, not a video\n" * 20, "not a readable media file"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError) as err:
        probe_media(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        probe_media(tmp_path / "nope.mp4")
