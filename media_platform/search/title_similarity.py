""""More titles like this": titles ranked by their aggregated shot, audio and text embeddings.

A title's profile has up to three blocks, each the mean of unit vectors over all its episodes,
normalised again:

- ``clip``: the shots' CLIP image embeddings (``shot_features``' clip block);
- ``audio``: YAMNet embeddings (``shot_features``' audio block; for an episode without shots,
  e.g. audio only, the stored ``audio_embedding_frames``);
- ``text``: MiniLM sentence embeddings (``shot_features``' text block; without shots, the stored
  ``sentence_embeddings``).

A block is keyed by its name and the source that made it (model, dimension), so blocks made by
different models are never compared. Two titles' similarity is the mean, over the blocks both
have, of the cosine of their block vectors; each block's cosine is reported too. Titles sharing
no block are not ranked.

:func:`partition_profile` and :func:`rank_titles` are pure; :func:`title_profiles` reads the
stored outputs through the platform's store and caches each episode's profile by a fingerprint
the caller gives (it changes when the episode's outputs change).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from media_platform.tags.vectors import unit_rows

BLOCKS = ("clip", "audio", "text")


@dataclass(frozen=True)
class BlockKey:
    """A block's name, the source that made it, and its dimension."""

    name: str
    source: str
    dim: int


@dataclass
class Profile:
    """Per block: the sum of present unit rows and how many there were."""

    sums: dict[BlockKey, np.ndarray] = field(default_factory=dict)
    counts: dict[BlockKey, int] = field(default_factory=dict)

    def add(self, key: BlockKey, rows: np.ndarray) -> None:
        """Add the present (non-zero, finite) rows of ``rows`` (n, dim), each made unit length."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, key.dim)
        unit, kept = unit_rows(rows)
        if not kept.any():
            return
        self.sums[key] = self.sums.get(key, np.zeros(key.dim)) + unit[kept].sum(axis=0)
        self.counts[key] = self.counts.get(key, 0) + int(kept.sum())

    def merge(self, other: Profile) -> None:
        for key, total in other.sums.items():
            self.sums[key] = self.sums.get(key, np.zeros(key.dim)) + total
            self.counts[key] = self.counts.get(key, 0) + other.counts[key]

    def vectors(self) -> dict[BlockKey, np.ndarray]:
        """Each block's mean direction (unit vector); blocks whose mean is ~0 are left out."""
        out = {}
        for key, total in self.sums.items():
            unit, kept = unit_rows(total[None, :])
            if kept[0]:
                out[key] = unit[0]
        return out


@dataclass(frozen=True)
class TitleMatch:
    """A title and its similarity to the asked one: overall and per block."""

    title: str
    score: float
    blocks: dict[str, float]
    episodes: int

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "score": round(self.score, 6),
                "blocks": {k: round(v, 6) for k, v in self.blocks.items()}, "episodes": self.episodes}


@dataclass
class TitleProfile:
    """A title's block vectors and how many episodes made them."""

    vectors: dict[BlockKey, np.ndarray]
    episodes: int


def title_profile(parts: Iterable[Profile]) -> TitleProfile:
    """The profile of a title from its episodes' profiles (every present row counts once)."""
    total, n = Profile(), 0
    for p in parts:
        total.merge(p)
        n += 1
    return TitleProfile(total.vectors(), n)


def rank_titles(target: TitleProfile, others: Mapping[str, TitleProfile]) -> list[TitleMatch]:
    """``others`` sharing at least one block with ``target``, most similar first (then by name)."""
    out = []
    for title, profile in others.items():
        scores = {k.name: float(np.dot(v, profile.vectors[k])) for k, v in target.vectors.items() if k in profile.vectors}
        if scores:
            out.append(TitleMatch(title, float(np.mean(list(scores.values()))), scores, profile.episodes))
    out.sort(key=lambda m: (-m.score, m.title))
    return out


# ---- reading stored outputs -------------------------------------------------------------------


def partition_profile(store: Any, partition: str) -> Profile:
    """An episode's profile from its stored outputs (absent outputs contribute nothing)."""
    from media_platform.audio.embedding_store import AUDIO_EMBEDDING_SOURCE, embeddings_from_table
    from media_platform.layout import (
        AUDIO_EMBEDDING_FRAMES,
        SENTENCE_EMBEDDINGS,
        SHOT_FEATURES,
        SHOT_FEATURES_LAYOUT,
        episode_key,
    )
    from media_platform.storage import read_table
    from media_platform.tags.features import TEXT_SOURCE, FeatureLayout, features_from_table

    profile = Profile()
    features, layout_key = episode_key(partition, SHOT_FEATURES), episode_key(partition, SHOT_FEATURES_LAYOUT)
    has_shots = False
    if store.exists(features) and store.exists(layout_key):
        layout = FeatureLayout.from_json(json.loads(store.read_bytes(layout_key)))
        f = features_from_table(read_table(store, features), layout)
        for name in BLOCKS:
            spec = layout.block(name)
            rows = f.blocks[name][f.present[name]]
            profile.add(BlockKey(name, spec.source, spec.dim), rows)
        has_shots = len(f) > 0
    if not has_shots:
        audio = episode_key(partition, AUDIO_EMBEDDING_FRAMES)
        if store.exists(audio):
            _, emb = embeddings_from_table(read_table(store, audio))
            if emb.size:
                profile.add(BlockKey("audio", AUDIO_EMBEDDING_SOURCE, emb.shape[1]), emb)
        sentences = episode_key(partition, SENTENCE_EMBEDDINGS)
        if store.exists(sentences):
            table = read_table(store, sentences)
            if table.height:
                emb = np.asarray(table["embedding"].to_numpy(), dtype=np.float32).reshape(table.height, -1)
                profile.add(BlockKey("text", TEXT_SOURCE, emb.shape[1]), emb)
    return profile


_CACHE: dict[str, tuple[str, Profile]] = {}
_CACHE_LOCK = threading.Lock()


def title_profiles(
    store: Any, partitions_by_title: Mapping[str, Iterable[str]], fingerprints: Mapping[str, str]
) -> dict[str, TitleProfile]:
    """Every title's profile (titles with no embedding at all are left out). An episode's profile
    is read once per ``fingerprints[partition]`` and then reused."""
    out = {}
    for title, partitions in partitions_by_title.items():
        parts = []
        for p in partitions:
            fp = fingerprints.get(p, "")
            with _CACHE_LOCK:
                hit = _CACHE.get(p)
            if hit is None or hit[0] != fp:
                hit = (fp, partition_profile(store, p))
                with _CACHE_LOCK:
                    _CACHE[p] = hit
            parts.append(hit[1])
        profile = title_profile(parts)
        if profile.vectors:
            out[title] = profile
    return out
