"""The stored shot features of many episodes as one pool: what training a classifier, suggesting
shots to label and scoring read. Nothing here runs a model; it reads ``shot_features``.

One pool holds one feature layout (a classifier is tied to the layout it was trained on, e.g.
one CLIP model); episodes stored with another layout are left out with the reason, so an editor
sees why they are missing instead of getting wrong scores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from media_platform.catalogue import Catalogue
from media_platform.layout import SHOT_FEATURES, SHOT_FEATURES_LAYOUT, episode_key
from media_platform.licences import load_operator_licences, refusal_reason
from media_platform.licences.episodes import licence_in_force
from media_platform.storage import Store, read_table
from media_platform.tags.features import (
    FeatureLayout,
    ShotFeatures,
    features_from_table,
    fused_matrix,
)
from media_platform.tags.labels import LabelExample

ShotKey = tuple[str, int]


def analysable_partitions(catalogue: Catalogue, partitions: Iterable[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The partitions (all catalogued ones by default) whose licence in force allows analysis
    today, and the others with the reason: features stored before a licence was withdrawn
    are never read for training, scoring or suggestions, even before retention removes them.

    Raises:
        InvalidInputError: the operator's licence file is unreadable (never read as "allowed").
    """
    entries, today = load_operator_licences(), date.today()
    wanted = None if partitions is None else set(partitions)
    allowed: list[str] = []
    refused: dict[str, str] = {}
    for episode in catalogue.iter_episodes():
        if wanted is not None and episode.partition_key not in wanted:
            continue
        reason = refusal_reason(licence_in_force(episode, entries), "shot_features", today)
        if reason is None:
            allowed.append(episode.partition_key)
        else:
            refused[episode.partition_key] = f"licence: {reason}"
    for partition in sorted((wanted or set()) - set(allowed) - set(refused)):
        refused[partition] = "not in the catalogue"
    return allowed, refused


def episode_features(store: Store, partition: str) -> ShotFeatures | None:
    """The stored ``shot_features`` of an episode, or None when it has none."""
    table_key = episode_key(partition, SHOT_FEATURES)
    layout_key = episode_key(partition, SHOT_FEATURES_LAYOUT)
    if not (store.exists(table_key) and store.exists(layout_key)):
        return None
    layout = FeatureLayout.from_json(json.loads(store.read_bytes(layout_key)))
    return features_from_table(read_table(store, table_key), layout)


@dataclass
class ShotPool:
    """Shots of several episodes: ``keys[i]`` is ``(partition, shot)`` of row ``i`` of
    ``matrix`` (the fused features); ``skipped`` maps a left-out partition to the reason."""

    keys: list[ShotKey]
    matrix: np.ndarray
    layout: FeatureLayout | None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def layout_signature(self) -> str | None:
        return self.layout.signature if self.layout is not None else None

    def rows(self, wanted: Iterable[ShotKey]) -> np.ndarray:
        """Row numbers of ``wanted`` keys (KeyError naming the first missing one)."""
        index = {k: i for i, k in enumerate(self.keys)}
        return np.asarray([index[k] for k in wanted], dtype=np.int64)


def load_pool(
    store: Store, partitions: Iterable[str], *, layout_signature: str | None = None
) -> ShotPool:
    """The fused features of every shot of ``partitions`` that has ``shot_features``.

    ``layout_signature`` fixes the layout (a classifier's); without it the first episode's
    decides. Episodes without features, or with another layout, are listed in ``skipped``.
    """
    keys: list[ShotKey] = []
    blocks: list[np.ndarray] = []
    skipped: dict[str, str] = {}
    signature, layout = layout_signature, None
    for partition in partitions:
        features = episode_features(store, partition)
        if features is None:
            skipped[partition] = "no shot_features (run its episode pipeline)"
            continue
        if signature is None:
            signature = features.layout.signature
        if features.layout.signature != signature:
            skipped[partition] = f"feature layout {features.layout.signature} is not {signature}"
            continue
        layout = features.layout
        keys.extend((partition, int(s)) for s in features.shots)
        blocks.append(fused_matrix(features))
    dim = blocks[0].shape[1] if blocks else 0
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    return ShotPool(keys=keys, matrix=matrix, layout=layout, skipped=skipped)


def score_episodes(
    store: Store,
    partitions: Iterable[str],
    score: Callable[[ShotFeatures], np.ndarray],
    *,
    layout_signature: str | None,
) -> tuple[list[ShotKey], np.ndarray, dict[str, str]]:
    """``score`` applied to each episode's stored features in turn (one episode in memory at a
    time, so 100,000 shots never make one fused matrix): the keys, their scores, and the
    episodes left out with the reason (no features, another layout)."""
    keys: list[ShotKey] = []
    scores: list[np.ndarray] = []
    skipped: dict[str, str] = {}
    for partition in partitions:
        features = episode_features(store, partition)
        if features is None:
            skipped[partition] = "no shot_features (run its episode pipeline)"
        elif layout_signature is not None and features.layout.signature != layout_signature:
            skipped[partition] = f"feature layout {features.layout.signature} is not {layout_signature}"
        else:
            keys.extend((partition, int(s)) for s in features.shots)
            scores.append(np.asarray(score(features), dtype=np.float64))
    return keys, (np.concatenate(scores) if scores else np.zeros(0)), skipped


@dataclass
class TrainingSet:
    """A label's usable examples as fused features, their layout, and what was left out."""

    positives: np.ndarray
    negatives: np.ndarray
    layout: FeatureLayout | None
    used: list[LabelExample]
    left_out: list[str]


def training_set(store: Store, examples: Sequence[LabelExample]) -> TrainingSet:
    """The fused features of a label's examples that can be used today, and the others with the
    reason: the episode's licence no longer allows analysis, it has no features, another
    feature layout than the first usable episode's, or no such shot any more (shot detection
    was re-run). ``used`` is what a classifier trained on this set is trained on (its digest)."""
    partitions, refused = analysable_partitions(Catalogue(store), {e.partition for e in examples})
    pool = load_pool(store, sorted(partitions))
    pool.skipped.update(refused)
    left_out = [f"{e.partition}:{e.shot}: {pool.skipped[e.partition]}" for e in examples if e.partition in pool.skipped]
    known = set(pool.keys)
    usable = [e for e in examples if e.partition not in pool.skipped]
    left_out += [f"{e.partition}:{e.shot}: the episode has no such shot now" for e in usable
                 if (e.partition, e.shot) not in known]
    usable = [e for e in usable if (e.partition, e.shot) in known]
    positive = pool.rows((e.partition, e.shot) for e in usable if e.positive)
    negative = pool.rows((e.partition, e.shot) for e in usable if not e.positive)
    return TrainingSet(pool.matrix[positive], pool.matrix[negative], pool.layout, usable, left_out)
