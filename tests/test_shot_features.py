"""Per-shot multimodal features: layout, blocks, absent modalities, text overlap weighting,
temporal context, fusion weights, the Parquet round trip, and features from real models."""

from __future__ import annotations

import numpy as np
import pytest

from media_platform.audio.types import Transcript, TranscriptSegment, Word
from media_platform.errors import InvalidInputError
from media_platform.storage import LocalStore, read_table, write_table
from media_platform.tags.features import (
    BLOCKS,
    BlockSpec,
    FeatureLayout,
    build_shot_features,
    features_from_table,
    features_to_table,
    fused_matrix,
    make_layout,
    sentence_spans,
)


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _basis(dim, i):
    e = np.zeros(dim, np.float32)
    e[i] = 1.0
    return e


def _features(n=6, *, clip=True, audio=True, sentences=True, seed=0, **kw):
    rng = np.random.default_rng(seed)
    spans = [(2.0 * k, 2.0 * k + 2.0) for k in range(n)]
    return build_shot_features(
        spans, list(range(10, 10 + n)),
        clip=rng.normal(size=(n, 16)) if clip else None, clip_source="test-clip",
        audio=rng.random((n, 1024)) if audio else None,
        sentences=[(0.5, 3.0, rng.normal(size=384))] if sentences else None,
        clip_dim=None if clip else 16, **kw,
    )


# ----------------------------------------------------------------------------- layout


def test_layout_json_round_trip_and_signature():
    layout = make_layout(clip_dim=512, clip_source="open_clip ViT-B-32/openai")
    assert [b.name for b in layout.blocks] == list(BLOCKS)
    assert layout.dim == 512 + 1024 + 384 + (512 + 1024 + 384)
    again = FeatureLayout.from_json(layout.to_json())
    assert again == layout and again.signature == layout.signature
    # another CLIP model (same dimension) is another layout
    other = make_layout(clip_dim=512, clip_source="open_clip ViT-B-32/laion2b")
    assert other.signature != layout.signature
    assert make_layout(clip_dim=768, clip_source="open_clip ViT-B-32/openai").signature != layout.signature


def test_layout_refuses_tampered_or_malformed_json():
    d = make_layout(clip_dim=8, clip_source="x").to_json()
    d["blocks"][0]["dim"] = 9
    with pytest.raises(InvalidInputError, match="signature"):
        FeatureLayout.from_json(d)
    with pytest.raises(InvalidInputError, match="malformed"):
        FeatureLayout.from_json({"blocks": [{"name": "clip"}]})
    with pytest.raises(InvalidInputError, match="blocks must be"):
        FeatureLayout((BlockSpec("clip", 8, "x"),))


# ----------------------------------------------------------------------------- blocks


def test_every_block_is_unit_rows_or_zero_and_absent_modalities_keep_the_layout():
    full = _features()
    for name in BLOCKS:
        norms = np.linalg.norm(full.blocks[name], axis=1)
        assert np.allclose(norms[full.present[name]], 1.0, atol=1e-5)
        assert np.all(norms[~full.present[name]] == 0)
    assert full.present["clip"].all() and full.present["audio"].all()
    # the one sentence 0.5-3.0 s overlaps shots 0 (0-2 s) and 1 (2-4 s) only
    assert full.present["text"].tolist() == [True, True, False, False, False, False]

    bare = _features(clip=False, audio=False, sentences=False)
    assert bare.layout == full.layout  # same layout whatever is missing
    for name in BLOCKS:
        assert not bare.present[name].any()
        assert not bare.blocks[name].any()


def test_rows_that_are_zero_or_not_finite_count_as_absent():
    n = 3
    clip = np.ones((n, 4), np.float32)
    clip[1] = 0.0
    clip[2, 0] = np.nan
    f = build_shot_features([(0, 1), (1, 2), (2, 3)], [0, 1, 2], clip=clip, clip_source="c",
                            audio=None, sentences=None)
    assert f.present["clip"].tolist() == [True, False, False]
    assert np.isfinite(f.blocks["clip"]).all()


def test_bad_inputs_are_refused():
    with pytest.raises(InvalidInputError, match="clip_dim"):
        build_shot_features([(0, 1)], [0], clip=None, clip_source="c", audio=None, sentences=None)
    with pytest.raises(InvalidInputError, match="audio is"):
        build_shot_features([(0, 1)], [0], clip=np.ones((1, 4)), clip_source="c",
                            audio=np.ones((2, 1024)), sentences=None)
    with pytest.raises(InvalidInputError, match="shot ids"):
        build_shot_features([(0, 1)], [0, 1], clip=np.ones((1, 4)), clip_source="c", audio=None, sentences=None)
    with pytest.raises(InvalidInputError, match="384"):
        build_shot_features([(0, 1)], [0], clip=np.ones((1, 4)), clip_source="c", audio=None,
                            sentences=[(0.0, 1.0, np.ones(10))])


def test_text_is_the_overlap_weighted_mean_of_sentences():
    e1, e2, e3 = _basis(384, 0), _basis(384, 1), _basis(384, 2)
    sentences = [(0.0, 3.0, e1), (3.0, 5.0, e2), (9.5, 9.5, e3)]  # the last lasts no time
    f = build_shot_features([(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)], [0, 1, 2], clip=np.ones((3, 4)),
                            clip_source="c", audio=None, sentences=sentences)
    # shot 0: 3 s of e1, 1 s of e2; shot 1: 1 s of e2 only; shot 2: the instant sentence
    assert np.allclose(f.blocks["text"][0], _unit(3 * e1 + e2), atol=1e-6)
    assert np.allclose(f.blocks["text"][1], e2, atol=1e-6)
    assert np.allclose(f.blocks["text"][2], e3, atol=1e-6)
    assert f.present["text"].all()


def test_context_is_the_mean_of_neighbouring_shots_blocks():
    n = 5
    clip = np.stack([_basis(8, k) for k in range(n)])
    f = build_shot_features([(k, k + 1) for k in range(n)], list(range(n)), clip=clip, clip_source="c",
                            audio=None, sentences=None, context_radius=1)
    ctx_clip = f.blocks["context"][:, :8]  # audio and text parts are zero: nothing present
    assert np.allclose(ctx_clip[0], _basis(8, 1))  # shot 0: only shot 1
    assert np.allclose(ctx_clip[2], _unit(_basis(8, 1) + _basis(8, 3)))
    assert np.allclose(ctx_clip[4], _basis(8, 3))
    assert not f.blocks["context"][:, 8:].any()
    assert f.present["context"].all()
    # absent neighbours are skipped, not averaged in as zeros
    clip[1] = 0.0
    g = build_shot_features([(k, k + 1) for k in range(n)], list(range(n)), clip=clip, clip_source="c",
                            audio=None, sentences=None, context_radius=2)
    assert np.allclose(g.blocks["context"][0, :8], _basis(8, 2))  # shot 1 absent, shot 2 counts
    assert g.layout.block("context").source.startswith("mean of shots i-2..i+2")
    # a lone shot has no context
    h = build_shot_features([(0, 1)], [0], clip=clip[:1], clip_source="c", audio=None, sentences=None)
    assert not h.present["context"][0] and not h.blocks["context"].any()


def test_fused_matrix_gives_each_present_block_equal_norm():
    f = _features()
    X = fused_matrix(f)
    assert X.shape == (6, f.layout.dim) and X.dtype == np.float32
    for name, sl in f.layout.slices().items():
        assert np.allclose(np.linalg.norm(X[:, sl], axis=1), f.present[name].astype(float), atol=1e-5)
    count = sum(f.present[name].astype(int) for name in BLOCKS)
    assert np.allclose(np.linalg.norm(X, axis=1), np.sqrt(count), atol=1e-5)
    only_audio = fused_matrix(f, {"clip": 0, "text": 0, "context": 0})
    assert np.allclose(np.linalg.norm(only_audio, axis=1), 1.0, atol=1e-5)


def test_table_round_trip_through_parquet(tmp_path):
    f = _features(sentences=True)
    store = LocalStore(tmp_path)
    write_table(store, "episodes/e/shot_features.parquet", features_to_table(f))
    df = read_table(store, "episodes/e/shot_features.parquet")
    g = features_from_table(df, f.layout)
    assert g.shots.tolist() == list(range(10, 16))
    for name in BLOCKS:
        assert np.array_equal(g.blocks[name], f.blocks[name])
        assert np.array_equal(g.present[name], f.present[name])
    other = make_layout(clip_dim=32, clip_source="test-clip")
    with pytest.raises(InvalidInputError, match="column clip"):
        features_from_table(df, other)
    with pytest.raises(InvalidInputError, match="missing columns"):
        features_from_table(df.drop("text_present"), f.layout)


def test_an_episode_without_shots_round_trips():
    f = build_shot_features([], [], clip=np.zeros((0, 8)), clip_source="c", audio=None, sentences=[])
    assert fused_matrix(f).shape == (0, f.layout.dim)
    g = features_from_table(features_to_table(f), f.layout)
    assert len(g) == 0 and g.blocks["context"].shape == (0, f.layout.block("context").dim)


def _transcript(texts_and_times):
    segments = []
    for text, start, end in texts_and_times:
        words = text.split()
        step = (end - start) / len(words)
        segments.append(TranscriptSegment(start, end, text, tuple(
            Word(" " + w, start + i * step, start + (i + 1) * step, 0.9) for i, w in enumerate(words))))
    return Transcript("en", "test", tuple(segments), 20.0)


def test_sentence_spans_pairs_sentences_with_stored_vectors_or_says_they_do_not_line_up():
    from media_platform.text.sentences import split_sentences

    transcript = _transcript([("Hello there friends.", 0.0, 2.0), ("Now the news.", 5.0, 7.0)])
    texts = [s.text for s in split_sentences(transcript)]
    vectors = np.eye(len(texts), 384, dtype=np.float32)
    spans = sentence_spans(transcript, texts, vectors)
    assert [(round(a, 2), round(b, 2)) for a, b, _ in spans] == [(0.0, 2.0), (5.0, 7.0)]
    assert np.array_equal(spans[1][2], vectors[1])
    assert sentence_spans(transcript, [*texts[:1], "something else"], vectors) is None
    assert sentence_spans(transcript, texts[:1], vectors[:1]) is None
    assert sentence_spans(transcript, texts, vectors[:1]) is None


# ----------------------------------------------------------------------------- real models


def _one_nn_accuracy(X, classes):
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    return float(np.mean(classes[S.argmax(axis=1)] == classes))


def test_blocks_from_real_models_group_shots_of_the_same_truth(shared_media):
    """Frames of one scene (random tiny CLIP), YAMNet embeddings of one sound class and MiniLM
    vectors of one transcript's words are each other's nearest neighbours. Measured on the
    400-shot dataset (seed 0): 1-NN accuracy clip/scene, audio/class and text/reader all 1.00
    (shots reuse pool items, so a neighbour can be the same frame or window); with the classes
    shuffled 0.16 / 0.21 / 0.29. Thresholds 0.9 each, shuffled below 0.5."""
    from tag_dataset import make_dataset

    ds = make_dataset(shared_media, seed=0)
    X = np.vstack([f.blocks["clip"] for f in ds.episodes])
    A = np.vstack([f.blocks["audio"] for f in ds.episodes])
    T = np.vstack([f.blocks["text"] for f in ds.episodes])
    has_audio, has_text = ds.audio != "", ds.text != ""
    got = {
        "clip": _one_nn_accuracy(X, ds.visual),
        "audio": _one_nn_accuracy(A[has_audio], ds.audio[has_audio]),
        "text": _one_nn_accuracy(T[has_text], ds.text[has_text]),
    }
    assert min(got.values()) >= 0.9, got
    shuffled = np.random.default_rng(0).permutation(ds.visual)
    assert _one_nn_accuracy(X, shuffled) < 0.5
    assert np.all(np.concatenate([f.present["text"] for f in ds.episodes]) == has_text)
    assert np.all(np.concatenate([f.present["audio"] for f in ds.episodes]) == has_audio)
