"""Speech that a sequential Whisper pass left unheard is decoded again on its own
(media_platform.audio.unheard_redo and its use in media_platform.audio.transcribe): which
stretches count as unheard, how the second decoding's words are merged, and that it happens only
where the speech regions say there is speech."""

from __future__ import annotations

import numpy as np
import pytest

from media_platform.audio.regions import DEFAULT_GUARD, HallucinationGuard, TimeMap
from media_platform.audio.transcribe import transcribe
from media_platform.audio.transcriber import SAMPLE_RATE, BackendResult, RawSegment, Transcriber
from media_platform.audio.types import Word
from media_platform.audio.unheard_redo import merge_redone, unheard_spans

SR = SAMPLE_RATE
NO_GUARD = HallucinationGuard(silence_dbfs=None)


def _seg(words: list[tuple[str, float, float]], **quality) -> RawSegment:
    ws = tuple(Word(f" {w}", a, b, 0.9) for w, a, b in words)
    return RawSegment(ws[0].start, ws[-1].end, "".join(w.word for w in ws), ws, **quality)


@pytest.mark.parametrize(
    ("segments", "pieces", "expected"),
    [
        ([], [(0.0, 10.0)], [(0.0, 10.0)]),  # nothing heard: the whole piece
        ([[("a", 0.5, 9.5)]], [(0.0, 10.0)], []),  # gaps under min_s at both ends
        ([[("a", 0.0, 2.0)], [("b", 8.0, 9.0)]], [(0.0, 10.0)], [(2.0, 8.0)]),
        ([[("a", 0.0, 2.0)]], [(0.0, 3.0), (4.0, 20.0)], [(4.0, 20.0)]),  # per piece: no gap between pieces
        ([[("a", 1.0, 6.0)], [("b", 2.0, 3.0)]], [(0.0, 12.0)], [(6.0, 12.0)]),  # overlapping segments
        ([[("a", 2.0, 3.0), ("b", 9.0, 10.0)]], [(0.0, 10.0)], []),  # a pause inside a segment is heard
        ([[("a", 0.0, 1.0)], [("b", 30.0, 31.0)]], [(0.0, 6.0), (10.0, 20.0)], [(1.0, 6.0), (10.0, 20.0)]),
    ],
)
def test_unheard_spans(segments, pieces, expected) -> None:
    segs = [_seg(s) for s in segments]
    assert unheard_spans(segs, pieces, DEFAULT_GUARD, 4.0) == pytest.approx(expected)


def test_rejected_and_empty_segments_cover_nothing() -> None:
    loop = _seg([("you", 0.1 * i, 0.1 * i + 0.1) for i in range(60)], compression_ratio=9.0)
    blank = RawSegment(6.0, 9.0, " ", (Word(" ", 6.0, 9.0, 0.9),))
    assert DEFAULT_GUARD.reject_reason(loop) == "compression_ratio"
    assert unheard_spans([loop, blank], [(0.0, 10.0)], DEFAULT_GUARD, 4.0) == [(0.0, 10.0)]


def test_merge_keeps_only_the_stretchs_words_shifted() -> None:
    first = BackendResult("en", (_seg([("one", 0.0, 1.0)]), _seg([("four", 20.0, 21.0)])))
    again = BackendResult("en", (_seg([("one", -0.5, 0.2), ("two", 1.0, 2.0), ("three", 8.0, 9.0)]),))
    merged = merge_redone(first, [((5.0, 15.0), again)])
    assert [(w.word, w.start, w.end) for s in merged.segments for w in s.words] == [
        (" one", 0.0, 1.0), (" two", 6.0, 7.0), (" three", 13.0, 14.0), (" four", 20.0, 21.0),
    ]  # fmt: skip
    assert merge_redone(first, []) == first


def test_time_map_backend_spans() -> None:
    tm = TimeMap([(1.0, 10.0, 15.0), (7.0, 30.0, 32.5)])
    assert tm.backend_spans() == [(1.0, 6.0), (7.0, 9.5)]


class Forgetful(Transcriber):
    """A sequential backend that hears one word per second of audio louder than -60 dBFS, except in the
    first call, where it skips ``skip`` (seconds into the audio it was given): the lost window
    of sequential decoding. Every call's audio length is recorded."""

    source = "test:forgetful"
    default_language = "en"

    def __init__(self, skip: tuple[float, float]) -> None:
        self.skip = skip
        self.calls: list[float] = []

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        first = not self.calls
        self.calls.append(audio.size / SR)
        segs = []
        for k in range(int(audio.size // SR)):
            if np.abs(audio[k * SR : (k + 1) * SR]).max() < 1e-3:
                continue
            if first and self.skip[0] <= k < self.skip[1]:
                continue
            w = Word(f" w{k}", k + 0.1, k + 1.0, 0.9)
            segs.append(RawSegment(w.start, w.end, w.word, (w,)))
        return BackendResult("en", tuple(segs))


def _speech(seconds: float, regions: list[tuple[float, float]]) -> np.ndarray:
    audio = np.zeros(int(seconds * SR), np.float32)
    for a, b in regions:
        audio[int(a * SR) : int(b * SR)] = 0.1
    return audio


def test_a_stretch_the_pass_skipped_is_decoded_again_and_lands_in_its_region() -> None:
    """Regions 10-30 s and 50-70 s are packed into one call (20 s, 1 s of silence, 20 s). The
    call skips its seconds 25-40, most of the second region. The stretch from the last heard
    word (25.0 s) to the next (40.1 s) is decoded again on its own and its words land in episode
    time; the second region has all its 20 words again."""
    regions = [(10.0, 30.0), (50.0, 70.0)]
    backend = Forgetful(skip=(25, 40))
    t, report = transcribe(_speech(80.0, regions), backend, speech_regions=regions, margin_s=0.0,
                           pack_regions=True, guard=NO_GUARD)  # fmt: skip
    assert report["mode"] == "packed" and report["clips_redone"] == 1 and report["backend_calls"] == 2
    assert len(backend.calls) == 2 and backend.calls[1] == pytest.approx(40.1 - 25.0, abs=0.01)
    starts = [w.start for w in t.words]
    assert starts == sorted(starts)
    for a, b in regions:  # every second of both regions has its word again
        assert len([s for s in starts if a <= s < b]) == 20


@pytest.mark.parametrize("why", ["no regions", "switched off", "heard", "silent"])
def test_nothing_is_decoded_again(why) -> None:
    """Not without speech regions, not with ``redo_gap_s=0``, not when everything was heard,
    and not where the stretch is silence (the energy gate)."""
    regions = [(10.0, 30.0), (50.0, 70.0)]
    backend = Forgetful(skip=(25, 40) if why != "heard" else (0, 0))
    audio = _speech(80.0, regions)
    if why == "silent":
        audio[int(53 * SR) : int(70 * SR)] = 1e-5  # -100 dBFS: nothing heard, and the energy gate skips the stretch
    kw = dict(speech_regions=None if why == "no regions" else regions, margin_s=0.0, pack_regions=True,
              guard=HallucinationGuard() if why == "silent" else NO_GUARD,
              redo_gap_s=0.0 if why == "switched off" else 4.0)  # fmt: skip
    _, report = transcribe(audio, backend, **kw)
    assert len(backend.calls) == 1 and report["clips_redone"] == 0
