"""Decode and loudness normalisation (media_platform.audio.decode / .loudness)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from media_platform.audio.decode import audio_streams, choose_main_stream, decode_audio, load_audio
from media_platform.audio.loudness import (
    integrated_loudness,
    normalize_loudness,
    true_peak_dbtp,
    write_normalized_audio,
)
from media_platform.errors import MediaError

SR = 48000


def _noise(seconds: float, level: float, seed: int = 0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(seconds * SR), channels)).astype(np.float32) * level
    return x[:, 0] if channels == 1 else x


# ----------------------------------------------------------------------------- decode


def test_streams_and_main_stream(shared_media: Path) -> None:
    webm = shared_media / "video/blender_bbb/big_buck_bunny_0_30.webm"
    streams = audio_streams(webm)
    assert len(streams) == 1
    main = choose_main_stream(streams, webm)
    assert main.index == 1 and main.channels == 2 and main.sample_rate == 44100 and main.is_default


def test_choose_main_stream_prefers_default_then_channels() -> None:
    from media_platform.audio.decode import AudioStreamInfo

    def info(i, ch, br, default):
        return AudioStreamInfo(i, i, "aac", 48000, ch, "", br, 1.0, default)

    assert choose_main_stream([info(0, 2, 1, False), info(1, 6, 1, False)]).index == 1
    assert choose_main_stream([info(0, 2, 1, True), info(1, 6, 9, False)]).index == 0
    assert choose_main_stream([info(0, 2, 64, False), info(1, 2, 128, False)]).index == 1
    with pytest.raises(MediaError, match="no audio stream"):
        choose_main_stream([], "x.mp4")


def test_load_audio_resamples_to_16k_mono(shared_media: Path) -> None:
    flac = shared_media / "audio/whisper_jfk/jfk.flac"
    x = load_audio(flac)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size / 16000 - 11.0) < 0.01
    full = decode_audio(flac, sr=None, mono=False)
    assert full.sample_rate == 44100 and full.samples.shape == (485100, 2)


def test_mp3_decodes_gapless_like_flac(shared_media: Path) -> None:
    flac = decode_audio(shared_media / "podcast/podcast_assembled.flac")
    mp3 = decode_audio(shared_media / "podcast/podcast_assembled.mp3")
    assert abs(mp3.duration_s - flac.duration_s) < 0.05


def test_decode_errors_name_the_file(shared_media: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        load_audio(empty)
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 50)
    with pytest.raises(MediaError) as err:
        load_audio(text)
    assert str(text) in str(err.value)
    with pytest.raises(MediaError, match="no audio stream"):
        load_audio(shared_media / "video/pyscenedetect/counter.mp4")


# ----------------------------------------------------------------------------- loudness


def test_gain_only_reaches_target() -> None:
    x = _noise(6.0, 0.01)  # about -37 LUFS, far below the ceiling
    y, rep = normalize_loudness(x, SR, target_lufs=-16.0, true_peak_dbtp=-1.0)
    assert rep.lufs_before < -30
    assert abs(rep.lufs_after - (-16.0)) < 0.1
    assert not rep.limited and rep.target_reached
    assert rep.gain_db == pytest.approx(-16.0 - rep.lufs_before, abs=1e-6)
    assert rep.true_peak_after <= -1.0 + 0.05
    assert rep.duration_s == pytest.approx(6.0)
    assert y.dtype == np.float32 and y.shape == x.shape


def test_peaky_signal_is_limited_not_turned_down() -> None:
    t = np.arange(int(5 * SR)) / SR
    x = (0.02 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    x[:: SR // 10] = 0.95  # clicks: a crest factor that plain gain could not handle
    y, rep = normalize_loudness(x, SR, target_lufs=-16.0, true_peak_dbtp=-1.0)
    assert rep.limited and rep.limiter_max_reduction_db > 3
    assert abs(rep.lufs_after + 16.0) <= 1.0 and rep.target_reached
    assert rep.true_peak_after <= -1.0 + 1e-3
    assert true_peak_dbtp(y, SR) == pytest.approx(rep.true_peak_after)


def test_true_peak_sees_intersample_peaks() -> None:
    # fs/4 sine with 45 degree phase: samples at 0.707 of the real peak (-3 dB)
    n = np.arange(SR)
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32) * 0.5
    sample_peak = 20 * math.log10(np.abs(x).max())
    assert true_peak_dbtp(x, SR) > sample_peak + 2.5


def test_stereo_and_silence() -> None:
    y, rep = normalize_loudness(_noise(3.0, 0.05, channels=2), SR)
    assert y.shape[1] == 2 and rep.channels == 2 and abs(rep.lufs_after + 16) < 0.1
    silent = np.zeros(SR * 2, np.float32)
    y, rep = normalize_loudness(silent, SR)
    assert rep.lufs_before == -math.inf and rep.gain_db == 0.0 and not rep.target_reached
    assert "silence" in rep.note and np.all(y == 0)
    assert integrated_loudness(np.ones(100, np.float32) * 0.1, SR) == -math.inf  # too short


def test_write_normalized_flac_keeps_rate_and_channels(shared_media: Path, tmp_path: Path) -> None:
    src = shared_media / "audio/whisper_jfk/jfk.flac"
    dest = tmp_path / "out" / "jfk.flac"
    rep = write_normalized_audio(src, dest)
    assert dest.is_file() and [p.name for p in dest.parent.iterdir()] == ["jfk.flac"]
    d = decode_audio(dest, sr=None, mono=False)
    assert d.sample_rate == 44100 and d.channels == 2
    assert abs(integrated_loudness(d.samples, d.sample_rate) - rep.lufs_after) < 0.05
    assert abs(rep.lufs_after + 16) < 0.1 and rep.true_peak_after <= -1.0


def test_write_mp3_via_ffmpeg(shared_media: Path, tmp_path: Path) -> None:
    src = shared_media / "audio/synth_radio/example-3.wav"
    dest = tmp_path / "ex3.mp3"
    rep = write_normalized_audio(src, dest)
    assert rep.limited  # this mix peaks above 0 dBTP at -16 LUFS
    d = decode_audio(dest, sr=None)
    assert abs(integrated_loudness(d.samples, d.sample_rate) + 16) < 1.0
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            str(dest),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "mp3"
