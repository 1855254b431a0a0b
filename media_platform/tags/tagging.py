"""An episode's shot tags: the vocabulary's zero-shot visual and audio scores, their late
fusion, and every trained classifier's score, as one table.

Rows are ``shot, tag, score, source, above_threshold, weight``:

- ``source`` is ``zero-shot`` (CLIP image–text), ``audio`` (YAMNet classes), ``fusion`` (the
  two combined; the ``zero-shot`` and ``audio`` rows of the same shot and tag are its
  contributions and ``weight`` is the share each had), or ``classifier:<label>@v<version>``;
- ``above_threshold`` compares the score with the tag's threshold (the vocabulary's, or the
  classifier's, chosen on its cross-validated predictions).

A tag counts for search (:func:`searchable_tags`) when its ``fusion`` or classifier row is above
threshold. Everything is read from stored features; only the vocabulary's prompts go through
the CLIP text tower, once per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from media_platform.catalogue import Catalogue
from media_platform.layout import SHOT_TAGS, episode_key
from media_platform.storage import Store, read_table
from media_platform.tags.classifier import TagClassifier
from media_platform.tags.features import ShotFeatures, fused_matrix
from media_platform.tags.fusion import fuse
from media_platform.tags.pool import analysable_partitions
from media_platform.tags.vocabulary import Vocabulary

ZERO_SHOT = "zero-shot"
AUDIO = "audio"
FUSION = "fusion"
CLASSIFIER_PREFIX = "classifier:"

SCHEMA = {
    "shot": pl.Int64,
    "tag": pl.Utf8,
    "score": pl.Float64,
    "source": pl.Utf8,
    "above_threshold": pl.Boolean,
    "weight": pl.Float64,
}


def classifier_source(clf: TagClassifier) -> str:
    return f"{CLASSIFIER_PREFIX}{clf.label}@v{clf.version}"


def parse_classifier_source(source: str) -> tuple[str, int] | None:
    """``(label, version)`` of a ``classifier:<label>@v<version>`` source, else None."""
    if not source.startswith(CLASSIFIER_PREFIX) or "@v" not in source:
        return None
    label, _, version = source[len(CLASSIFIER_PREFIX):].rpartition("@v")
    return (label, int(version)) if version.isdigit() else None


@dataclass
class EpisodeTags:
    """The table, the classifiers applied, and what was left out and why."""

    table: pl.DataFrame
    classifiers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def tag_episode(
    features: ShotFeatures,
    vocab: Vocabulary,
    *,
    visual: np.ndarray | None,
    audio: np.ndarray | None,
    classifiers: Sequence[TagClassifier] = (),
) -> EpisodeTags:
    """Tag rows for every shot of ``features``.

    ``visual`` and ``audio`` are the zero-shot score matrices ``(shots, tags)`` in vocabulary
    order (NaN where a modality has nothing to say), or None when the modality is absent.
    Classifiers trained on another feature layout are left out, with a note.
    """
    n, names = len(features.shots), vocab.names()
    frames: list[pl.DataFrame] = []
    notes: list[str] = []
    modalities: dict[str, np.ndarray] = {}
    if visual is not None:
        modalities["visual"] = visual
    if audio is not None:
        modalities["audio"] = audio
    thresholds = np.asarray([t.threshold for t in vocab.tags], dtype=np.float64)
    if modalities:
        fused = fuse(modalities, vocab)
        sources = {"visual": ZERO_SHOT, "audio": AUDIO}
        for modality, scores in modalities.items():
            weights = fused.weights.get(modality)
            frames.append(_rows(features.shots, names, scores, sources[modality], thresholds, weights))
        frames.append(_rows(features.shots, names, fused.fused, FUSION, thresholds, None))
    else:
        notes.append("no visual or audio scores: only classifiers")
    used: list[str] = []
    if classifiers and n:
        matrix = fused_matrix(features)
        for clf in classifiers:
            if clf.layout_signature != features.layout.signature:
                notes.append(f"{classifier_source(clf)} skipped: trained on feature layout "
                             f"{clf.layout_signature}, this episode has {features.layout.signature}")
                continue
            scores = clf.score(matrix).reshape(n, 1)
            frames.append(_rows(features.shots, [clf.label], scores, classifier_source(clf),
                                np.asarray([clf.evaluation.threshold]), None))
            used.append(classifier_source(clf))
    table = pl.concat(frames) if frames else pl.DataFrame(schema=SCHEMA)
    return EpisodeTags(table=table.sort("shot", "tag", "source"), classifiers=used, notes=notes)


def _rows(
    shots: np.ndarray,
    names: Sequence[str],
    scores: np.ndarray,
    source: str,
    thresholds: np.ndarray,
    weights: np.ndarray | None,
) -> pl.DataFrame:
    """Long-format rows of a ``(shots, tags)`` score matrix, NaN entries dropped."""
    n, t = scores.shape
    shot_col = np.repeat(np.asarray(shots, dtype=np.int64), t)
    tag_col = np.tile(np.asarray(names, dtype=object), n)
    score_col = scores.astype(np.float64).reshape(-1)
    above = score_col >= np.tile(thresholds, n)
    weight_col = (np.ones_like(score_col) if weights is None
                  else np.broadcast_to(weights, scores.shape).astype(np.float64).reshape(-1))
    keep = np.isfinite(score_col)
    return pl.DataFrame(
        {
            "shot": shot_col[keep],
            "tag": tag_col[keep].tolist(),
            "score": score_col[keep],  # not clipped: the asset check judges the range
            "source": [source] * int(keep.sum()),
            "above_threshold": above[keep],
            "weight": weight_col[keep],
        },
        schema=SCHEMA,
    )


def searchable_tags(table: pl.DataFrame) -> dict[int, dict[str, float]]:
    """Per shot, the tags that count for search (fusion or classifier rows above threshold)
    with their score (the highest when several sources agree)."""
    decisive = table.filter(
        pl.col("above_threshold")
        & ((pl.col("source") == FUSION) | pl.col("source").str.starts_with(CLASSIFIER_PREFIX))
    )
    best = decisive.group_by("shot", "tag").agg(pl.col("score").max())
    out: dict[int, dict[str, float]] = {}
    for row in best.iter_rows(named=True):
        out.setdefault(int(row["shot"]), {})[row["tag"]] = float(row["score"])
    return out


def score_problems(table: pl.DataFrame) -> list[str]:
    """Scores outside [0, 1] or not finite (what the asset check reports)."""
    bad = table.filter(~pl.col("score").is_finite() | (pl.col("score") < 0) | (pl.col("score") > 1))
    return [f"shot {r['shot']} {r['tag']} ({r['source']}): score {r['score']}" for r in bad.head(20).iter_rows(named=True)]


def summary(table: pl.DataFrame) -> Mapping[str, int]:
    """Shots above threshold per searchable tag (for the UI)."""
    counts: dict[str, int] = {}
    for tags in searchable_tags(table).values():
        for tag in tags:
            counts[tag] = counts.get(tag, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def tags_licence_problem(store: Store, partition: str) -> str | None:
    """Why the episode's stored tags should not exist (its licence in force refuses analysis
    today and tags are stored), or None: the asset check's decision."""
    _, refused = analysable_partitions(Catalogue(store), [partition])
    key = episode_key(partition, SHOT_TAGS)
    if partition not in refused or not store.exists(key):
        return None
    rows = read_table(store, key).height
    return f"{rows} tag rows stored, but {refused[partition]}" if rows else None
