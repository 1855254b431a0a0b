"""Few-shot tag classifiers: training, evaluation, errors, the versioned store, and what the
heads achieve on shots whose truth is known (features from real models, see tag_dataset)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from media_platform.errors import InvalidInputError
from media_platform.storage import LocalStore
from media_platform.tags.classifier import (
    MIN_NEGATIVES,
    MIN_POSITIVES,
    ClassifierStore,
    LayoutMismatch,
    TagClassifier,
    TooFewExamples,
    score_features,
    train_classifier,
)
from media_platform.tags.features import build_shot_features, fused_matrix


def _toy(n=40, dim=12, seed=0):
    """Two Gaussian clouds, separable along the first axis."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2 == 0
    X = rng.normal(size=(n, dim)).astype(np.float32)
    X[:, 0] += np.where(y, 3.0, -3.0)
    return X, y


def _train(X, y, **kw):
    kw = {"layout_signature": "sig", "examples_digest": "d1", "version": 1, **kw}
    return train_classifier("car", X[y], X[~y], **kw)


# ----------------------------------------------------------------------------- training


def test_training_evaluates_with_out_of_fold_predictions():
    X, y = _toy()
    clf = _train(X, y)
    ev = clf.evaluation
    assert (ev.positives, ev.negatives, ev.folds) == (20, 20, 5)
    assert ev.cv_average_precision == pytest.approx(1.0)
    assert 0.0 < ev.threshold < 1.0
    assert np.isfinite(ev.train_seconds) and ev.train_seconds >= 0.0  # how long: benchmarks/video_annotator.py
    s = clf.score(X)
    assert s.min() >= 0.0 and s.max() <= 1.0
    assert s[y].min() > s[~y].max()


def test_folds_are_limited_by_the_rarer_class():
    X, y = _toy(n=40)
    pos = np.flatnonzero(y)[:3]
    clf = train_classifier("car", X[pos], X[~y], layout_signature="s", examples_digest="d", version=1)
    assert clf.evaluation.folds == 3 and clf.evaluation.positives == 3


def test_cross_validated_ap_reports_chance_when_labels_mean_nothing():
    """Labels unrelated to the features: out-of-fold AP must not look good (a head scored on
    its own training examples would reach about 1.0 here)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 200)).astype(np.float32)
    y = rng.permutation(np.arange(60) < 30)
    clf = _train(X, y)
    assert clf.evaluation.cv_average_precision < 0.7
    assert clf.score(X)[y].min() > clf.score(X)[~y].max()  # the head itself fits them all


def test_too_few_examples_names_the_minimum():
    X, y = _toy()
    pos, neg = X[y], X[~y]
    with pytest.raises(TooFewExamples, match=f"at least {MIN_POSITIVES} positive and {MIN_NEGATIVES} negative") as err:
        train_classifier("car", pos[:2], neg, layout_signature="s", examples_digest="d", version=1)
    assert isinstance(err.value, InvalidInputError)
    assert "2 positive" in str(err.value)
    with pytest.raises(TooFewExamples, match="0 negative"):
        train_classifier("car", pos, np.zeros((0, X.shape[1])), layout_signature="s", examples_digest="d", version=1)
    # exactly the minimum trains
    train_classifier("car", pos[:3], neg[:3], layout_signature="s", examples_digest="d", version=1)


def test_bad_labels_and_features_are_refused():
    X, y = _toy()
    with pytest.raises(InvalidInputError, match="label"):
        train_classifier("Bad Label", X[y], X[~y], layout_signature="s", examples_digest="d", version=1)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="not finite"):
        _train(Xn, y)
    with pytest.raises(InvalidInputError, match="examples are"):
        train_classifier("car", X[y], X[~y][:, :5], layout_signature="s", examples_digest="d", version=1)


def _episode(clip_source="clip-a", n=12, seed=0):
    rng = np.random.default_rng(seed)
    return build_shot_features(
        [(k, k + 1) for k in range(n)], list(range(n)), clip=rng.normal(size=(n, 8)),
        clip_source=clip_source, audio=rng.random((n, 1024)),
        sentences=[(k + 0.1, k + 0.9, rng.normal(size=384)) for k in range(0, n, 2)])


def test_layout_mismatch_is_refused_with_a_clear_error():
    f = _episode()
    X = fused_matrix(f)
    y = np.arange(len(X)) % 2 == 0
    clf = train_classifier("car", X[y], X[~y], layout_signature=f.layout.signature,
                           examples_digest="d", version=1, layout=f.layout)
    assert np.allclose(score_features(clf, f), clf.score(X), atol=1e-6)
    other = _episode(clip_source="clip-b")  # same dimensions, another CLIP model
    with pytest.raises(LayoutMismatch, match="trained on feature layout .* retrain") as err:
        score_features(clf, other)
    assert isinstance(err.value, InvalidInputError)
    with pytest.raises(LayoutMismatch, match="features are"):
        clf.score(X[:, :10])
    damaged = TagClassifier.from_json({**clf.to_json(), "coef": clf.to_json()["coef"][:-1]})
    with pytest.raises(LayoutMismatch, match="damaged"):
        score_features(damaged, f)
    with pytest.raises(LayoutMismatch):
        train_classifier("car", X[y], X[~y], layout_signature="another", examples_digest="d",
                         version=1, layout=f.layout)


def test_block_standardisation_lets_a_narrow_block_count():
    """A label carried by a block whose rows barely differ (CLIP-like: a shared direction plus a
    small spread) next to a wide block of noise. Standardised per block (layout given) the head
    finds it; on the raw concatenation an L2-penalised head mostly does not. Measured: held-out
    AP 0.92 with the layout, 0.48 without (prevalence 0.3)."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(3)
    n = 400
    y = rng.random(n) < 0.3
    narrow = np.tile(_unit_vec(64), (n, 1)) + 0.03 * rng.normal(size=(n, 64))
    narrow[:, 1] += np.where(y, 0.05, -0.05)
    wide = rng.normal(size=(n, 1024))
    f = build_shot_features([(k, k + 1) for k in range(n)], list(range(n)), clip=narrow,
                            clip_source="narrow", audio=wide, sentences=None)
    X = fused_matrix(f)
    train, test = np.arange(40), np.arange(40, n)
    kw = {"layout_signature": f.layout.signature, "examples_digest": "d", "version": 1}
    with_layout = train_classifier("x", X[train][y[train]], X[train][~y[train]], layout=f.layout, **kw)
    without = train_classifier("x", X[train][y[train]], X[train][~y[train]], **kw)
    ap_with = average_precision_score(y[test], with_layout.score(X[test]))
    ap_without = average_precision_score(y[test], without.score(X[test]))
    assert ap_with >= 0.85 and ap_with > ap_without + 0.25, (ap_with, ap_without)


def _unit_vec(dim):
    v = np.ones(dim)
    return v / np.linalg.norm(v)


def test_json_round_trip_scores_the_same():
    X, y = _toy()
    clf = _train(X, y)
    again = TagClassifier.from_json(json.loads(json.dumps(clf.to_json())))
    assert again.evaluation == clf.evaluation and again.label == "car" and again.version == 1
    assert np.allclose(again.score(X), clf.score(X), atol=1e-6)
    bad = clf.to_json()
    bad["coef"][0] = "x"
    with pytest.raises(InvalidInputError, match="malformed"):
        TagClassifier.from_json(bad)
    with pytest.raises(InvalidInputError, match="not a"):
        TagClassifier.from_json({"format": "other"})


# ----------------------------------------------------------------------------- store


def test_store_versions_current_pointer_and_idempotent_saves(tmp_path):
    store = ClassifierStore(LocalStore(tmp_path))
    X, y = _toy()
    assert store.current("car") is None and store.versions("car") == [] and store.next_version("car") == 1
    uri1 = store.save(_train(X, y, version=store.next_version("car")))
    assert uri1.endswith("models/classifiers/car/v0001.json")
    assert (tmp_path / "models/classifiers/car/v0001.json").is_file()
    # same examples, same layout: no new version
    assert store.save(_train(X, y, version=store.next_version("car"))) == uri1
    assert store.versions("car") == [1]
    # new examples: version 2 becomes current, version 1 stays as it was
    v1_bytes = (tmp_path / "models/classifiers/car/v0001.json").read_bytes()
    uri2 = store.save(_train(X, y, examples_digest="d2", version=store.next_version("car")))
    assert uri2.endswith("v0002.json") and store.versions("car") == [1, 2]
    assert store.current("car").version == 2 and store.current("car").examples_digest == "d2"
    assert (tmp_path / "models/classifiers/car/v0001.json").read_bytes() == v1_bytes
    # same examples under another layout: a new version too
    store.save(_train(X, y, examples_digest="d2", layout_signature="other", version=3))
    assert store.current("car").version == 3
    assert store.load("car", 1).examples_digest == "d1"
    assert store.labels() == ["car"]


def test_store_never_overwrites_a_version(tmp_path):
    store = ClassifierStore(LocalStore(tmp_path))
    X, y = _toy()
    store.save(_train(X, y, version=1))
    with pytest.raises(InvalidInputError, match="immutable"):
        store.save(_train(X, y, examples_digest="d2", version=1))
    assert store.current("car").examples_digest == "d1"


def test_store_reports_unreadable_files_by_uri(tmp_path):
    store = ClassifierStore(LocalStore(tmp_path))
    X, y = _toy()
    store.save(_train(X, y))
    path = tmp_path / "models/classifiers/car/v0001.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="v0001.json"):
        store.current("car")
    with pytest.raises(InvalidInputError, match="label"):
        store.versions("../etc")


# ----------------------------------------------------------------------------- known truth


@pytest.fixture(scope="module")
def dataset(shared_media):
    from tag_dataset import make_dataset

    return make_dataset(shared_media, seed=0)


SEEDS = (0, 1, 2, 3)


def _few_shot_ap(ds, name, n_pos, n_neg, *, shuffle=False, blocks=None):
    from tag_dataset import head_ap, sample_examples, split_episodes

    X, y, aps = ds.fused(blocks), ds.label(name), []
    for seed in SEEDS:
        pool, test = split_episodes(ds, seed)
        train = sample_examples(y, pool, min(n_pos, int(y[pool].sum()) - 1), n_neg, seed)
        y_train = y.copy()
        if shuffle:  # the same shots, their labels permuted: the head learns nothing real
            y_train[train] = np.random.default_rng(seed).permutation(y[train])
        aps.append(head_ap(X, y_train, train, test, layout=ds.layout, seed=seed) if not shuffle
                   else _ap_shuffled(X, y, y_train, train, test, ds.layout, seed))
    return float(np.mean(aps))


def _ap_shuffled(X, y, y_train, train, test, layout, seed):
    from sklearn.metrics import average_precision_score

    clf = train_classifier("x", X[train][y_train[train]], X[train][~y_train[train]],
                           layout_signature=layout.signature, layout=layout, examples_digest="-",
                           version=1, seed=seed)
    return float(average_precision_score(y[test], clf.score(X[test])))


def test_five_positives_and_five_negatives_reach_a_stated_ap(dataset):
    """A head from 5 positive and 5 negative shots, AP on the held-apart episodes (half of the
    8 episodes), mean over 4 splits and the 14 labels of tag_dataset (visual, audio, text and
    cross-modal): measured 0.81 (per label 0.52-1.00; prevalence 0.11-0.58, chance AP about
    0.35). The same shots with their labels shuffled: 0.43. Thresholds: mean >= 0.7, at least
    0.25 above the shuffled control, every label >= 0.4."""
    from tag_dataset import LABELS

    got = {name: _few_shot_ap(dataset, name, 5, 5) for name in LABELS}
    shuffled = {name: _few_shot_ap(dataset, name, 5, 5, shuffle=True) for name in LABELS}
    mean, control = np.mean(list(got.values())), np.mean(list(shuffled.values()))
    print("5+5 AP", {k: round(v, 2) for k, v in got.items()}, round(mean, 3), "shuffled", round(control, 3))
    assert mean >= 0.7, got
    assert mean >= control + 0.25, (mean, control)
    assert min(got.values()) >= 0.4, got


def test_fusion_matches_or_beats_the_best_single_modality_across_modalities(dataset):
    """Labels defined across modalities (e.g. ad read OR GoldenEye picture, archival words AND
    music), 25 positive and 25 negative shots (fewer where the pool has fewer): the fused head
    against heads on each modality's block alone. Measured (mean over 4 splits), fusion vs the
    best single modality: 0.98 vs 0.92, 1.00 vs 0.85, 0.97 vs 0.60, 0.91 vs 0.77, 0.96 vs 0.51,
    0.99 vs 0.42. Thresholds: fusion within 0.02 of the best single modality on every label,
    and ahead by at least 0.1 on average (measured 0.29)."""
    from tag_dataset import CROSS_MODAL, MODALITY_BLOCKS

    gains = []
    for name in CROSS_MODAL:
        fused = _few_shot_ap(dataset, name, 25, 25)
        single = {m: _few_shot_ap(dataset, name, 25, 25, blocks=b) for m, b in MODALITY_BLOCKS.items()}
        print(name, round(fused, 3), {k: round(v, 3) for k, v in single.items()})
        assert fused >= max(single.values()) - 0.02, (name, fused, single)
        gains.append(fused - max(single.values()))
    assert np.mean(gains) >= 0.1, gains


@pytest.mark.parametrize("active", [True, False])
def test_labelling_curve_measures_each_budget_with_exactly_that_many_labels(dataset, monkeypatch, active):
    """From 3 + 3 labels in batches of 5, the heads behind the 10- and 25-label points are
    trained on 10 and 25 labels (the last batch before a budget is shortened), not on the 11
    and 26 that whole batches reach."""
    from tag_dataset import LABELS, labelling_curve, split_episodes

    import media_platform.tags.classifier as classifier

    sizes, real = [], classifier.train_classifier

    def recording(label, positives, negatives, **kw):
        sizes.append(len(positives) + len(negatives))
        return real(label, positives, negatives, **kw)

    monkeypatch.setattr(classifier, "train_classifier", recording)
    name = next(iter(LABELS))
    pool, test = split_episodes(dataset, 0)
    out = labelling_curve(dataset.fused(), dataset.label(name), pool, test, (10, 25),
                          layout=dataset.layout, active=active, seed=0)
    assert sizes == [6, 10, 15, 20, 25]
    assert sorted(out) == [10, 25] and all(0.0 <= v <= 1.0 for v in out.values())
    with pytest.raises(ValueError, match="at least the 6 starting labels"):
        labelling_curve(dataset.fused(), dataset.label(name), pool, test, (5, 10), layout=dataset.layout,
                        active=active)


def test_active_learning_beats_random_selection(dataset):
    """Every rare label of tag_dataset (prevalence under 0.2: three scenes or sounds, two
    cross-modal). Both strategies start from the same 3 positives and 3 negatives drawn at
    random, then add 5 shots per round up to 40 labels, chosen by Video Annotator's four feeds
    (media_platform.tags.active_learning.suggest over the current head's scores) or at random.
    AP on held-apart episodes, mean over the labels x 4 splits: measured active 0.84, random
    0.79 (active ahead or equal on 4 of the 5 labels; on scene-ge1, which the random-weight CLIP barely
    separates from the other GoldenEye shots, both stay near 0.5). Threshold: active ahead by
    at least 0.02. Control: the same loop with suggest restricted to its random feed gives
    0.786 against 0.790 and fails it."""
    from tag_dataset import LABELS, RARE_BELOW, labelling_curve, split_episodes

    X = dataset.fused()
    rare = [name for name in LABELS if dataset.label(name).mean() < RARE_BELOW]
    assert len(rare) >= 4, rare
    active, rand = {}, {}
    for name in rare:
        y = dataset.label(name)
        for seed in SEEDS:
            pool, test = split_episodes(dataset, seed)
            for out, is_active in ((active, True), (rand, False)):
                ap = labelling_curve(X, y, pool, test, (40,), layout=dataset.layout, active=is_active, seed=seed)[40]
                out.setdefault(name, []).append(ap)
    a = {k: round(float(np.mean(v)), 3) for k, v in active.items()}
    r = {k: round(float(np.mean(v)), 3) for k, v in rand.items()}
    print("active", a, np.mean(list(a.values())), "random", r, np.mean(list(r.values())))
    assert np.mean(list(a.values())) >= np.mean(list(r.values())) + 0.02, (a, r)
