"""Few-shot tag classifiers: one logistic-regression head per label over frozen shot features.

This is Video Annotator's head (arXiv 2402.06560): an editor's positive and negative example
shots, the frozen fused features of :func:`media_platform.tags.features.fused_matrix`, and a
scikit-learn ``LogisticRegression`` (L2, ``class_weight="balanced"`` so that 5 positives
against 50 negatives still count as much; ``C = DEFAULT_C``, chosen by measurement, see
``benchmarks/video_annotator.py`` and the benchmarks README). Each block of the layout is
standardised over the examples before the fit (:func:`block_standardiser`) and the
standardisation is folded into the stored coefficients, so a classifier scores raw fused
rows: ``sigmoid(coef . x + intercept)``.

Each classifier carries its evaluation: the average precision of out-of-fold predictions of a
stratified k-fold (``k = min(5, positives, negatives)``), the numbers of examples, and the
threshold that maximises F1 on those out-of-fold predictions. Training takes well under a
second for hundreds of examples.

:class:`ClassifierStore` keeps every version in media storage, immutable, as
``models/classifiers/<label>/v0001.json`` ..., with ``current.json`` naming the version in use.
Saving a classifier trained on the same examples (``examples_digest``) and the same feature
layout (``layout_signature``) as the current one keeps the current version.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np

from media_platform.errors import InvalidInputError
from media_platform.storage import Store
from media_platform.tags.features import FeatureLayout
from media_platform.tags.labels import LABEL_PATTERN, check_label_name
from media_platform.tags.vectors import sigmoid

MIN_POSITIVES = 3
MIN_NEGATIVES = 3
MAX_FOLDS = 5
DEFAULT_C = 10.0
FORMAT = "media-platform/tag-classifier/1"
PREFIX = "models/classifiers"
_VERSION_FILE = re.compile(r"^v(\d{4,})\.json$")


class TooFewExamples(InvalidInputError):
    """A label has fewer examples than a classifier needs."""


class LayoutMismatch(InvalidInputError):
    """A classifier was asked to score features of another layout than it was trained on."""


@dataclass(frozen=True)
class Evaluation:
    cv_average_precision: float
    positives: int
    negatives: int
    folds: int
    threshold: float
    train_seconds: float


@dataclass(frozen=True)
class TagClassifier:
    label: str
    version: int
    layout_signature: str
    examples_digest: str
    coef: np.ndarray
    intercept: float
    evaluation: Evaluation
    trained_at: str
    c: float = DEFAULT_C

    def score(self, X: np.ndarray) -> np.ndarray:
        """Probabilities in [0, 1] for the rows of ``X`` (fused features of the trained layout)."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.coef.size:
            raise LayoutMismatch(
                f"classifier {self.label} v{self.version}: features are {X.shape}, "
                f"it was trained on {self.coef.size}-d fused features"
            )
        return sigmoid(X @ self.coef.astype(np.float32) + np.float32(self.intercept)).astype(np.float64)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "label": self.label,
            "version": self.version,
            "layout_signature": self.layout_signature,
            "examples_digest": self.examples_digest,
            "model": f"sklearn LogisticRegression(C={self.c}, penalty=l2, class_weight=balanced)",
            "c": self.c,
            "coef": [float(v) for v in np.asarray(self.coef, dtype=np.float32)],
            "intercept": float(self.intercept),
            "evaluation": asdict(self.evaluation),
            "trained_at": self.trained_at,
        }

    @classmethod
    def from_json(cls, d: dict) -> TagClassifier:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InvalidInputError(f"tag classifier: not a {FORMAT} document")
        try:
            coef = np.asarray(d["coef"], dtype=np.float32)
            ev = Evaluation(**{k: d["evaluation"][k] for k in Evaluation.__dataclass_fields__})
            clf = cls(
                label=check_label_name(str(d["label"])),
                version=int(d["version"]),
                layout_signature=str(d["layout_signature"]),
                examples_digest=str(d["examples_digest"]),
                coef=coef,
                intercept=float(d["intercept"]),
                evaluation=ev,
                trained_at=str(d["trained_at"]),
                c=float(d.get("c", DEFAULT_C)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"tag classifier: malformed document ({exc!r})") from exc
        if coef.ndim != 1 or not np.isfinite(coef).all() or not np.isfinite(clf.intercept):
            raise InvalidInputError("tag classifier: coefficients are not a finite vector")
        return clf


def require_min_examples(label: str, positives: int, negatives: int, detail: str = "") -> None:
    """The one rule on how many examples a classifier needs (TooFewExamples names it)."""
    if positives < MIN_POSITIVES or negatives < MIN_NEGATIVES:
        raise TooFewExamples(
            f"label {label!r}: {positives} positive and {negatives} negative examples{detail}; a classifier "
            f"needs at least {MIN_POSITIVES} positive and {MIN_NEGATIVES} negative examples"
        )


def _model(c: float, seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=c, class_weight="balanced", max_iter=2000, solver="lbfgs", random_state=seed
    )


def max_f1_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the highest F1 (a shot is positive when score >= threshold)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def block_standardiser(X: np.ndarray, slices: Sequence[slice]) -> tuple[np.ndarray, np.ndarray]:
    """Per dimension, the centre and scale that give each block of ``X`` zero mean and unit
    RMS spread (root mean squared distance of its rows to their centroid) over these rows.

    Feature blocks are unit vectors, but their spread differs a lot: CLIP image embeddings
    share a large common direction (random or trained, frames sit in a narrow cone; here the
    RMS distance to the centroid is 0.3), MiniLM text vectors spread to 0.9. An L2-penalised
    head fitted on the raw concatenation then all but ignores the narrow block. Standardising
    each block by its spread over the training examples lets every block count alike (measured
    on tests/tag_dataset.py, 11 labels, 25+25 examples: mean AP 0.93 -> 0.96; visual labels
    0.48 -> 0.70)."""
    mu = X.mean(axis=0)
    scale = np.ones(X.shape[1], dtype=np.float64)
    for sl in slices:
        spread = float(np.sqrt(((X[:, sl] - mu[sl]) ** 2).sum(axis=1).mean()))
        scale[sl] = 1.0 / spread if spread > 1e-6 else 1.0
    return mu, scale


def fit_head(
    X: np.ndarray, y: np.ndarray, slices: Sequence[slice], *, c: float, seed: int
) -> tuple[np.ndarray, float]:
    """Fit the logistic head on block-standardised rows; return ``(coef, intercept)`` that apply
    to the raw fused rows (the standardisation folded in: ``coef = w * scale``, ``intercept =
    b - coef . centre``)."""
    mu, scale = block_standardiser(X, slices)
    model = _model(c, seed).fit((X - mu) * scale, y)
    coef = model.coef_.reshape(-1) * scale
    return coef, float(model.intercept_[0] - coef @ mu)


def out_of_fold_scores(
    X: np.ndarray, y: np.ndarray, folds: int, *, c: float, seed: int,
    slices: Sequence[slice] | None = None,
) -> np.ndarray:
    """Each example scored by a head trained without its fold (stratified, shuffled)."""
    from sklearn.model_selection import StratifiedKFold

    slices = list(slices) if slices is not None else [slice(0, X.shape[1])]
    oof = np.zeros(len(y), dtype=np.float64)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        coef, intercept = fit_head(X[train], y[train], slices, c=c, seed=seed)
        oof[test] = sigmoid(X[test] @ coef + intercept)
    return oof


def train_classifier(
    label: str,
    positives: np.ndarray,
    negatives: np.ndarray,
    *,
    layout_signature: str,
    examples_digest: str,
    version: int,
    seed: int = 0,
    c: float = DEFAULT_C,
    layout: FeatureLayout | None = None,
) -> TagClassifier:
    """Train ``label``'s head on fused features of positive and negative example shots.

    Pass the features' ``layout`` (its signature must be ``layout_signature``): each of its
    blocks is then standardised apart (:func:`block_standardiser`); without it the fused
    vector is standardised as one block, and a narrow block (CLIP) counts for less.
    """
    from sklearn.metrics import average_precision_score

    check_label_name(label)
    pos = np.asarray(positives, dtype=np.float32)
    neg = np.asarray(negatives, dtype=np.float32)
    n_pos, n_neg = (pos.shape[0] if pos.ndim else 0), (neg.shape[0] if neg.ndim else 0)
    require_min_examples(label, n_pos, n_neg)
    if pos.ndim != 2 or neg.ndim != 2 or pos.shape[1] != neg.shape[1]:
        raise InvalidInputError(f"label {label}: examples are {pos.shape} and {neg.shape}")
    X = np.vstack([pos, neg])
    if not np.isfinite(X).all():
        raise InvalidInputError(f"label {label}: example features are not finite")
    if layout is not None:
        if layout.signature != layout_signature:
            raise LayoutMismatch(f"label {label}: layout {layout.signature} is not {layout_signature}")
        if layout.dim != X.shape[1]:
            raise LayoutMismatch(f"label {label}: examples are {X.shape[1]}-d, layout is {layout.dim}-d")
        slices = list(layout.slices().values())
    else:
        slices = [slice(0, X.shape[1])]
    y = np.concatenate([np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)])
    t0 = time.perf_counter()
    folds = min(MAX_FOLDS, len(pos), len(neg))
    oof = out_of_fold_scores(X, y, folds, c=c, seed=seed, slices=slices)
    coef, intercept = fit_head(X, y, slices, c=c, seed=seed)
    seconds = time.perf_counter() - t0
    evaluation = Evaluation(
        cv_average_precision=float(average_precision_score(y, oof)),
        positives=len(pos),
        negatives=len(neg),
        folds=folds,
        threshold=max_f1_threshold(y, oof),
        train_seconds=round(seconds, 4),
    )
    return TagClassifier(
        label=label,
        version=int(version),
        layout_signature=layout_signature,
        examples_digest=examples_digest,
        coef=coef.astype(np.float32),
        intercept=intercept,
        evaluation=evaluation,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        c=float(c),
    )


def score_features(clf: TagClassifier, features) -> np.ndarray:
    """``clf``'s scores for every shot of ``features`` (a :class:`ShotFeatures`); features of
    another layout (another CLIP model, another audio source) are refused."""
    if features.layout.signature != clf.layout_signature:
        raise LayoutMismatch(
            f"classifier {clf.label} v{clf.version} was trained on feature layout "
            f"{clf.layout_signature}, these features have layout {features.layout.signature} "
            f"({', '.join(f'{b.name}: {b.source}' for b in features.layout.blocks[:2])}); "
            f"retrain the label on the current features"
        )
    if clf.coef.size != features.layout.dim:
        raise LayoutMismatch(
            f"classifier {clf.label} v{clf.version} has {clf.coef.size} coefficients, its layout "
            f"{clf.layout_signature} is {features.layout.dim}-d: the stored classifier is damaged"
        )
    # the fused row is the blocks side by side (weight 1), so its dot product with the
    # coefficients is the sum of the blocks' own: no (n, dim) copy is made
    coef = clf.coef.astype(np.float32)
    z = np.full(len(features.shots), np.float32(clf.intercept), dtype=np.float32)
    for name, sl in features.layout.slices().items():
        z += np.asarray(features.blocks[name], dtype=np.float32) @ coef[sl]
    return sigmoid(z).astype(np.float64)


class ClassifierStore:
    """Versioned classifiers in media storage (see module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def key(label: str, version: int) -> str:
        return f"{PREFIX}/{check_label_name(label)}/v{int(version):04d}.json"

    @staticmethod
    def pointer_key(label: str) -> str:
        return f"{PREFIX}/{check_label_name(label)}/current.json"

    def versions(self, label: str) -> list[int]:
        prefix = f"{PREFIX}/{check_label_name(label)}/"
        found = []
        for k in self.store.list_keys(prefix):
            m = _VERSION_FILE.match(k[len(prefix):]) if k.startswith(prefix) else None
            if m:
                found.append(int(m.group(1)))
        return sorted(found)

    def labels(self) -> list[str]:
        """Labels that have a current classifier."""
        out = set()
        for k in self.store.list_keys(PREFIX):
            parts = k.split("/")
            if len(parts) == 4 and parts[3] == "current.json" and LABEL_PATTERN.fullmatch(parts[2]):
                out.add(parts[2])
        return sorted(out)

    def next_version(self, label: str) -> int:
        versions = self.versions(label)
        return (versions[-1] + 1) if versions else 1

    def load(self, label: str, version: int) -> TagClassifier:
        key = self.key(label, version)
        try:
            clf = TagClassifier.from_json(json.loads(self.store.read_bytes(key)))
        except (ValueError, InvalidInputError) as exc:
            raise InvalidInputError(f"{self.store.uri(key)}: {exc}") from exc
        if clf.label != label or clf.version != version:
            raise InvalidInputError(f"{self.store.uri(key)}: holds {clf.label} v{clf.version}")
        return clf

    def current_version(self, label: str) -> int | None:
        key = self.pointer_key(label)
        if not self.store.exists(key):
            return None
        try:
            return int(json.loads(self.store.read_bytes(key))["version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{self.store.uri(key)}: unreadable pointer ({exc!r})") from exc

    def current(self, label: str) -> TagClassifier | None:
        version = self.current_version(label)
        return None if version is None else self.load(label, version)

    def save(self, clf: TagClassifier) -> str:
        """Store ``clf`` as its version and make it current; returns the URI of the version in
        use. Same examples and layout as the current version: nothing new is written and the
        current version's URI is returned. An existing version is never overwritten."""
        current = self.current(clf.label)
        if (
            current is not None
            and current.examples_digest == clf.examples_digest
            and current.layout_signature == clf.layout_signature
        ):
            return self.store.uri(self.key(current.label, current.version))
        key = self.key(clf.label, clf.version)
        if clf.version < 1 or self.store.exists(key):
            raise InvalidInputError(
                f"{self.store.uri(key)}: version {clf.version} of {clf.label} exists or is invalid; "
                f"versions are immutable (next is {self.next_version(clf.label)})"
            )
        uri = self.store.write_bytes(key, json.dumps(clf.to_json()).encode())
        newest = self.current_version(clf.label)
        if newest is None or clf.version > newest:  # a slower trainer never moves the pointer back
            self.store.write_bytes(
                self.pointer_key(clf.label), json.dumps({"version": clf.version}).encode()
            )
        return uri
