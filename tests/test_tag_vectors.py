"""The shared numeric rules of the tag modules (media_platform.tags.vectors) and the one
dequantisation of YAMNet's embedding codes, as every caller now applies them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from media_platform.audio.embedding_store import embeddings_from_table, embeddings_to_table
from media_platform.audio.types import AudioEvents
from media_platform.audio.yamnet import dequantise_embeddings
from media_platform.tags.active_learning import prototype_scores
from media_platform.tags.features import build_shot_features
from media_platform.tags.vectors import MIN_NORM, sigmoid, unit_rows
from media_platform.tags.zero_shot import ensemble


def test_sigmoid_is_the_logistic_function_without_overflow():
    z = np.linspace(-30, 30, 121)
    assert np.allclose(sigmoid(z), 1.0 / (1.0 + np.exp(-z)), rtol=1e-12, atol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exp(-z) would overflow here
        assert sigmoid(np.array([-1e4, 1e4])).tolist() == [0.0, 1.0]
    assert sigmoid(np.zeros(3, np.float32)).dtype == np.float32  # the head scores in float32
    assert sigmoid(np.arange(3)).dtype == np.float64 and float(sigmoid(0)) == 0.5


def test_unit_rows_scales_rows_and_zeroes_those_without_a_direction():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [MIN_NORM / 2, 0.0], [np.nan, 1.0], [np.inf, 0.0], [-2.0, 0.0]])
    rows, kept = unit_rows(x)
    assert kept.tolist() == [True, False, False, False, False, True]
    assert np.allclose(rows, [[0.6, 0.8], [0, 0], [0, 0], [0, 0], [0, 0], [-1, 0]])
    assert rows.dtype == np.float64 and np.isfinite(rows).all()
    assert unit_rows(np.zeros((0, 4)))[0].shape == (0, 4)
    with pytest.raises(ValueError, match="2-d"):
        unit_rows(np.ones(3))


def test_the_callers_apply_the_same_rule():
    """Shot features, prototype scores and prompt ensembles all normalise through unit_rows: a
    row without a direction is absent (features), scores 0.5 (prototypes), and a prompt
    ensemble is the renormalised mean of unit rows."""
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(4, 8))
    clip[1] = 0.0
    clip[2] = MIN_NORM / 10  # no direction worth keeping: absent, like a zero row
    f = build_shot_features([(i, i + 1.0) for i in range(4)], range(4), clip=clip, clip_source="c",
                            audio=None, sentences=None)
    assert f.present["clip"].tolist() == [True, False, False, True]
    assert np.allclose(f.blocks["clip"], unit_rows(clip)[0].astype(np.float32))
    scores = prototype_scores(clip, clip[[0]], clip[[3]])
    assert scores[1] == pytest.approx(0.5) and scores[0] > 0.5 > scores[3]
    prompts = rng.normal(size=(3, 8)) * np.array([[1.0], [10.0], [100.0]])  # lengths do not weigh
    unit = prompts / np.linalg.norm(prompts, axis=1, keepdims=True)
    mean = unit.mean(axis=0)
    assert np.allclose(ensemble(prompts), mean / np.linalg.norm(mean), atol=1e-6)


def test_one_dequantisation_for_events_tables_and_yamnet():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, size=(5, 1024), dtype=np.uint8)
    scale, zero = 0.047937885, 144
    expected = (np.float32(scale) * (codes.astype(np.float32) - np.float32(zero))).astype(np.float32)
    assert np.array_equal(dequantise_embeddings(codes, scale, zero), expected)
    events = AudioEvents(frame_hop_s=0.48, frame_times=np.arange(5) * 0.48, class_scores=np.zeros((5, 521)),
                         group_probs={}, segments=(), duration_s=2.4, embedding_codes=codes,
                         embedding_scale=scale, embedding_zero_point=zero)
    assert np.array_equal(events.embeddings, expected)
    table = embeddings_to_table(events.frame_times, codes, scale=scale, zero_point=zero)
    assert np.array_equal(embeddings_from_table(table)[1], expected)
