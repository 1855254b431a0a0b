"""Transcription on several decoders at once, and Whisper's features in chunks:
media_platform.audio.transcribe (groups of packed regions to a thread pool),
media_platform.audio.regions.balanced_groups, media_platform.audio.whisper_backends.cpu_plan,
media_platform.audio.whisper_features, and the settings that reach the transcriber resource."""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import jiwer
import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from media_platform.audio.decode import load_audio
from media_platform.audio.regions import balanced_groups
from media_platform.audio.transcribe import transcribe
from media_platform.audio.transcriber import SAMPLE_RATE, BackendResult, RawSegment, Transcriber
from media_platform.audio.types import Word
from media_platform.audio.wer import normalize_text
from media_platform.audio.whisper_backends import FasterWhisperTranscriber, cpu_plan
from media_platform.audio.whisper_features import ChunkedFeatureExtractor

SR = SAMPLE_RATE


@pytest.fixture(scope="module")
def podcast(shared_media: Path, podcast_speech):
    reference, regions = podcast_speech
    return load_audio(shared_media / "podcast/podcast_assembled.flac"), reference, regions


# ------------------------------------------------------------------------------ features


@pytest.mark.parametrize("seconds", [0.5, 11.0, 89.0])
def test_chunked_features_equal_faster_whispers(podcast, seconds) -> None:
    """Bit for bit, on real audio shorter than one chunk (2,048 frames) and several chunks long."""
    audio = podcast[0][: int(seconds * SR)]
    ours, theirs = ChunkedFeatureExtractor(), FeatureExtractor()
    expected = theirs(audio)
    got = ours(audio)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)
    # the chunk_length argument changes the window size as in faster-whisper's
    assert np.array_equal(ours(audio[:SR], chunk_length=10), theirs(audio[:SR], chunk_length=10))
    assert (ours.n_samples, ours.nb_max_frames) == (theirs.n_samples, theirs.nb_max_frames) == (160000, 1000)


def test_chunked_features_need_a_fraction_of_the_memory() -> None:
    """faster-whisper's extractor holds complex128 and complex64 spectra of the whole input (about
    1 GB for 27 minutes); the chunked one only the float32 power spectrum."""
    audio = (0.1 * np.random.default_rng(0).standard_normal(120 * SR)).astype(np.float32)
    peaks = {}
    for extractor in (FeatureExtractor(), ChunkedFeatureExtractor()):
        tracemalloc.start()
        try:
            extractor(audio)
            peaks[type(extractor).__name__] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks["ChunkedFeatureExtractor"] < 0.4 * peaks["FeatureExtractor"], peaks


# ------------------------------------------------------------------------------ planning


@pytest.mark.parametrize(
    ("lengths", "n", "expected"),
    [
        ([], 3, []),
        ([5.0], 3, [(0, 1)]),
        ([1, 1, 1, 1], 2, [(0, 2), (2, 4)]),
        ([10, 1, 1, 1, 1, 10], 2, [(0, 3), (3, 6)]),
        ([100, 1, 1], 2, [(0, 1), (1, 3)]),  # a long first item: its own group
        ([1, 1, 100], 3, [(0, 2), (2, 3)]),  # fewer groups rather than an empty one
        ([3, 3, 3], 1, [(0, 3)]),
    ],
)
def test_balanced_groups(lengths, n, expected) -> None:
    assert balanced_groups(lengths, n) == expected


def test_balanced_groups_cover_everything_in_order() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        lengths = list(rng.uniform(0.5, 60, rng.integers(1, 40)))
        n = int(rng.integers(1, 12))
        groups = balanced_groups(lengths, n)
        assert groups[0][0] == 0 and groups[-1][1] == len(lengths)
        assert all(a < b for a, b in groups) and all(g[1] == h[0] for g, h in zip(groups, groups[1:]))
        assert len(groups) <= n
        if len(groups) == n and n > 1:  # the largest group is no more than the ideal plus its largest item
            sums = [sum(lengths[a:b]) for a, b in groups]
            assert max(sums) <= sum(lengths) / n + max(lengths) + 1e-9


@pytest.mark.parametrize(
    ("workers", "threads", "cores", "plan"),
    [(None, 0, 2, (2, 1)), (None, 0, 1, (1, 1)), (None, 0, 3, (3, 1)), (None, 0, 16, (4, 4)), (1, 0, 2, (1, 2)),
     (2, 0, 2, (2, 1)), (4, 0, 16, (4, 4)), (2, 3, 2, (2, 3))],
)
def test_cpu_plan(workers, threads, cores, plan) -> None:
    assert cpu_plan(workers, threads, cores) == plan


# ------------------------------------------------------------------------------ parallel decoding


class _Concurrent(Transcriber):
    """A backend whose calls only complete when ``workers`` of them are in flight together (a
    barrier with a timeout: decoding the groups one after the other fails). Each call returns
    one word per second of non-silent audio, so the time map can be checked."""

    source = "test:concurrent"
    default_language = "en"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.barrier = threading.Barrier(workers, timeout=10)
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        with self.lock:
            self.threads.add(threading.current_thread().name)
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:  # the last, odd call has no partner
            pass
        words = []
        for k in range(int(audio.size // SR)):
            if np.abs(audio[k * SR : (k + 1) * SR]).max() > 0:
                words.append(Word(f"w{k}", k + 0.1, k + 0.5, 0.9))
        segs = tuple(RawSegment(w.start, w.end, w.word, (w,)) for w in words)
        return BackendResult("en", segs)


def test_groups_are_decoded_at_once_and_mapped_back() -> None:
    audio = np.zeros(400 * SR, np.float32)
    regions = [(10.0 + 40 * i, 30.0 + 40 * i) for i in range(8)]  # 8 regions of 20 s
    for a, b in regions:
        audio[int(a * SR) : int(b * SR)] = 0.1
    backend = _Concurrent(2)
    t, report = transcribe(audio, backend, speech_regions=regions, pack_regions=True, margin_s=0.0,
                           group_s=50.0, guard=_NO_GUARD)  # fmt: skip
    assert report["mode"] == "packed" and report["workers"] == 2
    assert report["groups"] == 4 and report["backend_calls"] == 4  # 160 s in groups of ~40 s
    assert len(backend.threads) == 2
    starts = [w.start for w in t.words]
    assert starts == sorted(starts) and len(starts) == 8 * 20
    for a, b in regions:  # every region's 20 words, inside it
        inside = [s for s in starts if a <= s < b]
        assert len(inside) == 20 and inside[0] == pytest.approx(a + 0.1, abs=1e-3)


def test_one_worker_or_little_speech_is_one_call() -> None:
    audio = np.zeros(400 * SR, np.float32)
    regions = [(10.0 + 40 * i, 30.0 + 40 * i) for i in range(8)]
    for a, b in regions:
        audio[int(a * SR) : int(b * SR)] = 0.1
    single = _Concurrent(1)
    _, report = transcribe(audio, single, speech_regions=regions, pack_regions=True, guard=_NO_GUARD)
    assert report["groups"] == 1 and report["backend_calls"] == 1
    little = _Concurrent(2)
    little.barrier = threading.Barrier(1)
    _, report = transcribe(audio, little, speech_regions=regions[:2], pack_regions=True, guard=_NO_GUARD)
    assert report["groups"] == 1  # 41 s of speech (with margins): under min_parallel_s


def _no_guard():
    from media_platform.audio.regions import HallucinationGuard

    return HallucinationGuard(silence_dbfs=None)


_NO_GUARD = _no_guard()


def test_two_decoders_on_the_podcast_keep_the_wer(podcast) -> None:
    """Real decoding: tiny.en as two one-thread CTranslate2 workers over groups of the podcast's
    speech regions, against one call on one worker."""
    audio, reference, regions = podcast
    two = FasterWhisperTranscriber(workers=2, cpu_threads=1, batch_size=0)
    assert two.workers == 2 and two.cpu_threads == 1
    kw = dict(speech_regions=regions, pack_regions=True, margin_s=0.1, merge_gap_s=0.2)  # 7 regions
    t2, report = transcribe(audio, two, group_s=15.0, min_parallel_s=10.0, **kw)
    t1, _ = transcribe(audio, two, min_parallel_s=1e9, **kw)
    assert report["groups"] >= 2 and report["workers"] == 2
    wer = {k: jiwer.wer(normalize_text(reference), normalize_text(t.text)) for k, t in (("two", t2), ("one", t1))}
    assert wer["two"] <= max(0.06, wer["one"] + 0.02), wer
    prev = 0.0
    for w in t2.words:
        assert prev <= w.start <= w.end
        prev = w.end


# ------------------------------------------------------------------------------ settings


def test_middle_fraction_and_workers_reach_the_resource(monkeypatch) -> None:
    from media_platform.errors import InvalidInputError
    from media_platform.settings import get_settings
    from resources import resources_from_env

    monkeypatch.setenv("MEDIA_PLATFORM_TRANSCRIBE_MIDDLE_FRACTION", "0.8")
    monkeypatch.setenv("MEDIA_PLATFORM_WHISPER_WORKERS", "2")
    tr = resources_from_env()["transcriber"]
    assert tr.middle_fraction == 0.8 and tr.workers == 2
    monkeypatch.setenv("MEDIA_PLATFORM_TRANSCRIBE_MIDDLE_FRACTION", "")
    monkeypatch.setenv("MEDIA_PLATFORM_WHISPER_WORKERS", "")
    tr = resources_from_env()["transcriber"]
    assert tr.middle_fraction is None and tr.workers is None
    monkeypatch.setenv("MEDIA_PLATFORM_TRANSCRIBE_MIDDLE_FRACTION", "1.5")
    with pytest.raises(InvalidInputError, match="MEDIA_PLATFORM_TRANSCRIBE_MIDDLE_FRACTION: Input should be less than or equal to 1"):
        get_settings()
