"""Audio tag scores (media_platform.tags.audio_scores) on real YAMNet output of real recordings,
and the properties of late fusion (media_platform.tags.fusion).

Ground truth (see ../shared/media/README.md):
* ina_musanmix: music 0-22.43 s, noise 22.43-62.74 s, speech 62.74-74.52 s (measured);
* podcast_assembled (by construction): intro_music 0-12, host_read 12.5-39.23, ad_read
  (speech over a music bed) 40.23-65.622, archival_clip (JFK) 67.422-78.422, outro_music audible
  from 80.23 to 89.122.
Shots are 3 s spans inside each part, 0.3 s or more from its boundaries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media_platform.tags.audio_scores import audio_scores
from media_platform.tags.fusion import fuse
from media_platform.tags.vocabulary import TagSpec, Vocabulary, load_vocabulary

PARTS = {
    "audio/ina_musanmix/musanmix.wav": {"music": (0.3, 22.1), "speech": (63.1, 74.3)},
    "podcast/podcast_assembled.flac": {
        "music": (0.3, 11.7),
        "speech": (12.8, 38.9),
        "archival_speech": (67.7, 78.1),
        "outro_music": (80.5, 88.8),
    },
}
MUSIC_PARTS = {"music", "outro_music"}


def _spans(a: float, b: float, length: float = 3.0) -> list[tuple[float, float]]:
    starts = np.arange(a, b - length + 1e-9, length)
    return [(float(s), float(s) + length) for s in starts]


@pytest.fixture(scope="module")
def events(shared_media: Path):
    from media_platform.audio.decode import load_audio
    from media_platform.audio.events import detect_events

    return {name: detect_events(load_audio(shared_media / name)) for name in PARTS}


def _shot_scores(events, name: str, spans, vocab: Vocabulary) -> np.ndarray:
    from media_platform.audio.events import mean_class_scores_per_span, peak_class_scores_per_span
    from media_platform.audio.yamnet import class_names

    ev = events[name]
    mean = mean_class_scores_per_span(ev, spans)
    peak = peak_class_scores_per_span(ev, spans)
    return audio_scores(mean, peak, vocab, class_names())


@pytest.mark.parametrize("name, part", [(n, p) for n, parts in PARTS.items() for p in parts])
def test_music_and_speech_tags_follow_the_ground_truth(events, name: str, part: str) -> None:
    vocab = load_vocabulary()
    spans = _spans(*PARTS[name][part])
    scores = _shot_scores(events, name, spans, vocab)
    assert scores.shape == (len(spans), len(vocab.tags)) and len(spans) >= 2
    music, speech = vocab.names().index("music"), vocab.names().index("speech")
    on, off = (music, speech) if part in MUSIC_PARTS else (speech, music)
    assert scores[:, on].min() > 0.75, (part, scores[:, on])
    assert scores[:, off].max() < 0.1, (part, scores[:, off])
    assert (scores[:, on] >= vocab.tags[on].threshold).all()
    assert (scores[:, off] < vocab.tags[off].threshold).all()
    finite = scores[np.isfinite(scores)]
    assert ((finite >= 0) & (finite <= 1)).all()
    no_classes = [j for j, t in enumerate(vocab.tags) if not t.yamnet_classes]
    assert no_classes and np.isnan(scores[:, no_classes]).all()


def _speech_tag(peak_weight: float) -> Vocabulary:
    tag = TagSpec("voice", (), ("Speech",), 0.5, {"visual": 0.0, "audio": 1.0}, peak_weight)
    return Vocabulary((tag,), (), "test", "")


@pytest.mark.parametrize("peak_weight, low, high", [(0.0, 0.0, 0.2), (0.5, 0.35, 0.65), (0.9, 0.75, 1.0)])
def test_a_short_event_in_a_long_shot_scores_through_its_peak(events, peak_weight, low, high) -> None:
    # 18 s of noise, then the first 1.5 s of the speech (62.74 s): ~3 speech frames out of 40
    name = "audio/ina_musanmix/musanmix.wav"
    score = float(_shot_scores(events, name, [(44.7, 64.2)], _speech_tag(peak_weight))[0, 0])
    assert low <= score <= high, score


def _vocab(*tags: TagSpec) -> Vocabulary:
    return Vocabulary(tuple(tags), ("bg",), "test", "")


CLASSES = ["a", "b", "c", "d"]


@pytest.mark.parametrize("peak_weight", [0.0, 0.3, 1.0])
def test_audio_score_is_the_best_class_blend_of_peak_and_mean(peak_weight: float) -> None:
    rng = np.random.default_rng(int(peak_weight * 10))
    mean = rng.random((6, 4)) * 0.5
    peak = np.minimum(1.0, mean + rng.random((6, 4)) * 0.5)
    vocab = _vocab(
        TagSpec("ab", (), ("a", "b"), 0.5, {"visual": 0.0, "audio": 1.0}, peak_weight),
        TagSpec("d", (), ("d",), 0.5, {"visual": 0.0, "audio": 1.0}, peak_weight),
        TagSpec("seen", ("x",), (), 0.5, {"visual": 1.0, "audio": 0.0}, peak_weight),
    )
    scores = audio_scores(mean, peak, vocab, CLASSES)
    blend = peak_weight * peak + (1 - peak_weight) * mean
    np.testing.assert_allclose(scores[:, 0], blend[:, :2].max(axis=1), atol=1e-6)
    np.testing.assert_allclose(scores[:, 1], blend[:, 3], atol=1e-6)
    assert np.isnan(scores[:, 2]).all()


def test_audio_scores_handle_missing_audio_rounding_and_bad_shapes() -> None:
    vocab = _vocab(TagSpec("a", (), ("a",), 0.5, {"visual": 0.0, "audio": 1.0}, 0.5))
    mean = np.array([[0.6, 0, 0, 0], [np.nan] * 4])
    peak = np.array([[0.59, 0, 0, 0], [np.nan] * 4])  # float16 rounding: peak just below mean
    scores = audio_scores(mean, peak, vocab, CLASSES)
    assert scores[0, 0] == pytest.approx(0.6) and np.isnan(scores[1, 0])
    assert audio_scores(np.zeros((0,)), np.zeros((0,)), vocab, CLASSES).shape == (0, 1)  # no shots
    with pytest.raises(ValueError, match="class_scores of shape"):
        audio_scores(np.zeros((2, 3)), np.zeros((2, 3)), vocab, CLASSES)
    with pytest.raises(ValueError, match="class_peaks of shape"):
        audio_scores(np.zeros((2, 4)), np.zeros((3, 4)), vocab, CLASSES)
    with pytest.raises(ValueError, match="not in the model's class names"):
        audio_scores(np.zeros((2, 2)), np.zeros((2, 2)), vocab, ["x", "y"])


# ---------------------------------------------------------------------------- fusion

FUSION_VOCAB = _vocab(
    TagSpec("both", ("p",), ("a",), 0.5, {"visual": 0.25, "audio": 0.75}),
    TagSpec("equal", ("p",), ("a",), 0.5, {"visual": 1.0, "audio": 1.0}),
    TagSpec("seen", ("p",), (), 0.5, {"visual": 1.0, "audio": 0.0}),
    TagSpec("heard", (), ("a",), 0.5, {"visual": 0.0, "audio": 1.0}),
)


def _random_scores(seed: int, n: int = 50, absent: float = 0.2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for m in ("visual", "audio"):
        s = rng.random((n, 4))
        s[rng.random((n, 4)) < absent] = np.nan
        s[rng.random((n, 4)) < 0.05] = rng.choice([0.0, 1.0])
        out[m] = s
    return out


def test_fusion_is_the_weighted_mean_of_the_modalities_present() -> None:
    visual = np.array([[0.2, 0.2, 0.9, 0.9], [np.nan, 0.4, np.nan, 0.1]])
    audio = np.array([[0.8, 0.8, 0.3, 0.7], [0.6, np.nan, np.nan, np.nan]])
    f = fuse({"visual": visual, "audio": audio}, FUSION_VOCAB)
    expected = np.array([[0.25 * 0.2 + 0.75 * 0.8, 0.5, 0.9, 0.7], [0.6, 0.4, np.nan, np.nan]])
    np.testing.assert_allclose(f.fused, expected, atol=1e-12)
    # shares: renormalised over what is present; a zero weight takes no part
    np.testing.assert_allclose(f.weights["visual"], [[0.25, 0.5, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(f.weights["audio"], [[0.75, 0.5, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(f.contributions["visual"][0], [0.05, 0.1, 0.9, 0.0])


@pytest.mark.parametrize("seed", range(5))
def test_fusion_bounds_and_contributions(seed: int) -> None:
    scores = _random_scores(seed)
    f = fuse(scores, FUSION_VOCAB)
    stacked = np.stack([np.where(f.weights[m] > 0, scores[m], np.nan) for m in scores])
    any_present = np.isfinite(stacked).any(axis=0)
    assert (np.isnan(f.fused) == ~any_present).all()
    lo, hi = np.nanmin(np.where(any_present, stacked, 0), axis=0), np.nanmax(np.where(any_present, stacked, 0), axis=0)
    ok = any_present
    assert (f.fused[ok] >= lo[ok] - 1e-12).all() and (f.fused[ok] <= hi[ok] + 1e-12).all()
    assert (f.fused[ok] >= 0).all() and (f.fused[ok] <= 1).all()
    total = sum(f.contributions.values())
    np.testing.assert_allclose(total[ok], f.fused[ok], atol=1e-12)
    np.testing.assert_allclose(sum(f.weights.values())[ok], 1.0, atol=1e-12)
    for m in scores:
        assert (f.weights[m][~np.isfinite(scores[m])] == 0).all()
        assert (f.contributions[m] >= 0).all() and np.isfinite(f.contributions[m]).all()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("modality", ["visual", "audio"])
def test_fusion_is_monotonic_in_each_modality(seed: int, modality: str) -> None:
    scores = _random_scores(seed, absent=0.0)
    base = fuse(scores, FUSION_VOCAB)
    raised = dict(scores)
    raised[modality] = np.minimum(1.0, scores[modality] + 0.1)
    up = fuse(raised, FUSION_VOCAB)
    assert (up.fused >= base.fused - 1e-12).all()
    counts = base.weights[modality] > 0
    grew = raised[modality] > scores[modality]
    assert (up.fused[counts & grew] > base.fused[counts & grew]).all()
    assert (up.fused[~counts] == base.fused[~counts]).all()


def test_an_absent_modality_leaves_the_other_alone() -> None:
    scores = _random_scores(7, absent=0.0)
    alone = fuse({"audio": scores["audio"]}, FUSION_VOCAB)
    with_nan = fuse({"audio": scores["audio"], "visual": np.full_like(scores["visual"], np.nan)}, FUSION_VOCAB)
    np.testing.assert_array_equal(alone.fused, with_nan.fused)
    heard_only = [0, 1, 3]  # tags with an audio weight
    np.testing.assert_allclose(alone.fused[:, heard_only], scores["audio"][:, heard_only])
    assert np.isnan(alone.fused[:, 2]).all()  # "seen" has no audio weight: nothing to fuse


@pytest.mark.parametrize(
    "scores, problem",
    [
        ({"smell": np.zeros((2, 4))}, "no fusion weights for modality 'smell'"),
        ({"visual": np.zeros((2, 4)), "audio": np.zeros((3, 4))}, "different shapes"),
        ({"visual": np.zeros((2, 3))}, "expected (n, 4)"),
        ({"visual": np.full((2, 4), 1.5)}, "outside [0, 1]"),
        ({"visual": np.full((2, 4), -0.1)}, "outside [0, 1]"),
        ({"visual": np.full((2, 4), np.inf)}, "infinities"),
    ],
)
def test_fusion_rejects_bad_input(scores, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        fuse(scores, FUSION_VOCAB)
    assert problem in str(info.value)


def test_default_vocabulary_fuses_real_audio_with_absent_pictures(events) -> None:
    """An audio-only episode: the fused score of the audio tags is their audio score."""
    vocab = load_vocabulary()
    spans = _spans(*PARTS["podcast/podcast_assembled.flac"]["speech"])
    audio = _shot_scores(events, "podcast/podcast_assembled.flac", spans, vocab)
    f = fuse({"audio": audio}, vocab)
    has_audio = np.array([bool(t.yamnet_classes) and t.weights["audio"] > 0 for t in vocab.tags])
    np.testing.assert_allclose(f.fused[:, has_audio], audio[:, has_audio], atol=1e-6)
    assert np.isnan(f.fused[:, ~has_audio]).all()
    speech = vocab.names().index("speech")
    assert (f.fused[:, speech] >= vocab.tags[speech].threshold).all()
