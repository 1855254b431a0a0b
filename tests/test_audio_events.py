"""YAMNet events and the speech / music / noise / silence timeline (media_platform.audio.events).

Ground truth (see ../shared/media/README.md):
* synth_radio/example-{1,2,3}: overlapping speech / music intervals (by construction). Speech
  and music are scored as two separate binary decisions per 0.48 s frame; a frame's truth is
  the label covering more than half of it.
* ina_musanmix: music 0-22.43, noise 22.43-62.74, speech 62.74-74.52 (measured). Noise is
  "not speech and not music"; the speech part's short pauses count as speech.
* podcast_assembled (by construction). Role -> label mapping:
  intro_music -> music, host_read -> speech, ad_read -> speech_over_music (voice over a music
  bed 16 dB down), archival_clip -> speech, outro_music -> music. The 0.5-0.8 s digital
  silences between parts may appear as silence or be absorbed. The outro source track opens
  with 1.1 s of digital silence (first non-zero sample at 80.23 s, measured), so its audible
  start, 80.23 s, is the boundary asserted, not the placement time 79.122 s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from media_platform.audio.decode import load_audio
from media_platform.audio.events import (
    FRAME_HOP_S,
    detect_events,
    mean_class_scores_per_span,
)
from media_platform.audio.types import EVENT_LABELS, AudioEvents

SPEECHY = {"speech", "speech_over_music"}
MUSICAL = {"music", "speech_over_music"}


def _frame_labels(ev: AudioEvents) -> list[str]:
    out = []
    for t in ev.frame_times:
        c = min(t + FRAME_HOP_S / 2, ev.duration_s - 1e-6)
        out.append(
            next(s.label for s in ev.segments if s.start <= c < s.end or s is ev.segments[-1])
        )
    return out


def _truth(n: int, duration: float, intervals: list[tuple[float, float]]) -> np.ndarray:
    truth = np.zeros(n, bool)
    for i in range(n):
        a, b = i * FRAME_HOP_S, min((i + 1) * FRAME_HOP_S, duration)
        cov = sum(max(0.0, min(e, b) - max(s, a)) for s, e in intervals)
        truth[i] = cov > 0.5 * (b - a)
    return truth


def _accuracy(ev: AudioEvents, speech: list, music: list) -> tuple[float, float]:
    labels = _frame_labels(ev)
    n = len(labels)
    sp = np.array([lab in SPEECHY for lab in labels])
    mu = np.array([lab in MUSICAL for lab in labels])
    return (
        float(np.mean(sp == _truth(n, ev.duration_s, speech))),
        float(np.mean(mu == _truth(n, ev.duration_s, music))),
    )


def _check_tiling(ev: AudioEvents) -> None:
    assert ev.segments[0].start == 0.0
    assert ev.segments[-1].end == pytest.approx(ev.duration_s, abs=1e-3)
    for a, b in zip(ev.segments, ev.segments[1:]):
        assert a.end == pytest.approx(b.start) and a.label != b.label
    assert all(s.label in EVENT_LABELS and 0.0 <= s.confidence <= 1.0 for s in ev.segments)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_synth_radio_speech_music_accuracy(shared_media: Path, n: int) -> None:
    folder = shared_media / "audio/synth_radio"
    gt = json.loads((folder / "labels.json").read_text())["files"][f"example-{n}.wav"]
    ev = detect_events(load_audio(folder / f"example-{n}.wav"))
    _check_tiling(ev)
    speech = [(g["start"], g["end"]) for g in gt if g["label"] == "speech"]
    music = [(g["start"], g["end"]) for g in gt if g["label"] == "music"]
    acc_speech, acc_music = _accuracy(ev, speech, music)
    assert acc_speech >= 0.90 and acc_music >= 0.90, (acc_speech, acc_music, ev.segments)


def test_musanmix_accuracy(shared_media: Path) -> None:
    folder = shared_media / "audio/ina_musanmix"
    gt = json.loads((folder / "musanmix.gt.json").read_text())["segments_by_composition"]
    ev = detect_events(load_audio(folder / "musanmix.wav"))
    _check_tiling(ev)
    speech = [(g["start"], g["end"]) for g in gt if g["label"] == "speech"]
    music = [(g["start"], g["end"]) for g in gt if g["label"] == "music"]
    acc_speech, acc_music = _accuracy(ev, speech, music)
    assert acc_speech >= 0.90 and acc_music >= 0.90, (acc_speech, acc_music, ev.segments)
    # the noise part (with its loud broadband burst) is neither speech nor music
    noise_labels = {s.label for s in ev.segments if s.start >= 23.5 and s.end <= 62.0}
    assert noise_labels <= {"noise", "silence"}


def test_podcast_segments_within_one_second(shared_media: Path) -> None:
    folder = shared_media / "podcast"
    gt = json.loads((folder / "podcast_assembled.gt.json").read_text())["segments"]
    ev = detect_events(load_audio(folder / "podcast_assembled.flac"))
    _check_tiling(ev)
    role_label = {
        "intro_music": "music",
        "host_read": "speech",
        "ad_read": "speech_over_music",
        "archival_clip": "speech",
        "outro_music": "music",
    }
    audible_start = {"outro_music": 80.23}
    for g in gt:
        label = role_label[g["role"]]
        start = audible_start.get(g["role"], g["start"])
        end = g["end"]
        found = [
            s
            for s in ev.segments
            if s.label == label and abs(s.start - start) <= 1.0 and abs(s.end - end) <= 1.0
        ]
        assert found, (g["role"], start, end, ev.segments)


def test_digital_silence_is_silence_only(tmp_path: Path) -> None:
    wav = tmp_path / "silence.wav"
    if shutil.which("sox"):
        subprocess.run(
            ["sox", "-n", "-r", "16000", "-c", "1", str(wav), "trim", "0", "5"], check=True
        )
        ev = detect_events(load_audio(wav))
    else:  # pragma: no cover
        ev = detect_events(np.zeros(5 * 16000, np.float32))
    assert [s.label for s in ev.segments] == ["silence"]
    assert ev.segments[0].end == pytest.approx(5.0)
    assert (
        float(ev.group_probs["speech"].max()) < 0.5 and float(ev.group_probs["music"].max()) < 0.5
    )


def test_frames_cover_the_whole_duration() -> None:
    sr = 16000
    for seconds in (0.2, 0.48, 1.3, 2.0):
        x = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * sr))).astype(np.float32)
        ev = detect_events(x, sr)
        n = int(np.ceil(seconds / FRAME_HOP_S - 1e-9))
        assert ev.class_scores.shape == (n, 521) and ev.class_scores.dtype == np.float16
        assert ev.frame_times[-1] < seconds <= ev.frame_times[-1] + FRAME_HOP_S + 1e-9
        assert set(ev.group_probs) == {"speech", "music", "noise", "silence"}
        assert all(v.shape == (n,) for v in ev.group_probs.values())
        assert len(ev.class_names) == 521 and ev.class_names[0] == "Speech"
        _check_tiling(ev)


def test_mean_class_scores_per_span(shared_media: Path) -> None:
    x = load_audio(shared_media / "podcast/podcast_assembled.flac")[: 20 * 16000]
    ev = detect_events(x)
    spans = [(0.0, 10.0), (13.0, 19.0), (14.0, 14.1), (19.5, 30.0)]
    m = mean_class_scores_per_span(ev, spans)
    assert m.shape == (4, 521) and m.dtype == np.float32
    music, speech = ev.class_names.index("Music"), ev.class_names.index("Speech")
    assert m[0, music] > 0.8 and m[1, speech] > 0.8
    # a span shorter than a frame takes the frame that holds it
    np.testing.assert_allclose(m[2], ev.class_scores[int(14.05 // FRAME_HOP_S)].astype(np.float32))
    assert np.all(np.isfinite(m[3]))  # past the end: nearest frame


def test_model_is_extracted_into_the_settings_cache_folder(tmp_path: Path, monkeypatch) -> None:
    from media_platform.audio import yamnet

    monkeypatch.setenv("MEDIA_PLATFORM_CACHE", str(tmp_path / "cache"))
    yamnet.model_path.cache_clear()
    try:
        path = yamnet.model_path()
        assert path.is_file() and path.suffix == ".onnx"
        assert (tmp_path / "cache") in path.parents
    finally:
        yamnet.model_path.cache_clear()  # the next caller extracts into its own cache again
