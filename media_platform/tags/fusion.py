"""Late fusion of per-modality tag scores, with each modality's contribution kept.

For a shot and a tag, with scores ``s_m`` in [0, 1] from the modalities ``m`` present (not NaN)
and the tag's weights ``w_m`` (:attr:`~media_platform.tags.vocabulary.TagSpec.weights`)::

    share_m = w_m / sum over present m' of w_m'        (0 for an absent modality)
    fused   = sum over present m of share_m * s_m
    contribution_m = share_m * s_m                     (so the contributions sum to fused)

Why a weighted mean, renormalised over the modalities present, rather than a noisy-OR:

* the scores are calibrated probabilities of different reliability; a weighted mean keeps the
  result on the same scale, so one threshold per tag applies whatever modalities a shot has;
* an absent modality (no audio track, a tag without prompts, an audio-only licence) is "no
  evidence", not "evidence against": renormalising the weights over what is present lets the
  remaining modality speak alone, where counting it as 0 would halve every silent shot's score;
* a noisy-OR (1 - prod(1 - s_m)) reads each modality as independent proof of the tag, so an
  uninformative score (0.5 from CLIP on a generic image) lifts every shot above 0.5 and errors
  add up; the mean needs agreement, and the weights say whose word counts for the tag (audio for
  ``music``, picture for ``outdoors``). Its cost: an event only heard (a gunshot off screen)
  scores its audio share, which the tag's lower threshold allows for;
* it is monotonic in each score, bounded by the smallest and largest score present, and its
  decomposition into contributions is exact, which is what ``shot_tags`` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from media_platform.tags.vocabulary import Vocabulary


@dataclass
class FusedScores:
    """``fused`` (n, T) in [0, 1] (NaN where no modality is present); per modality, its
    ``contributions`` (n, T) (``share * score``, 0 where absent; they sum to ``fused``) and its
    ``weights`` (n, T) (the renormalised share, 0 where absent; they sum to 1 where any is)."""

    fused: np.ndarray
    contributions: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]


def fuse(modality_scores: Mapping[str, np.ndarray], vocab: Vocabulary) -> FusedScores:
    """Fuse ``{modality: (n, T) scores}`` (columns in ``vocab.tags`` order; NaN = absent for that
    shot and tag) into one score per shot and tag.

    Raises:
        ValueError: a modality the vocabulary has no weights for, mismatched shapes, or a score
            outside [0, 1].
    """
    names = list(modality_scores)
    t = len(vocab.tags)
    known = set()
    for tag in vocab.tags:
        known.update(tag.weights)
    for m in names:
        if m not in known:
            raise ValueError(f"{vocab.source}: no fusion weights for modality {m!r} (known: {sorted(known)})")
    scores = {m: np.asarray(modality_scores[m], dtype=np.float64) for m in names}
    shapes = {s.shape for s in scores.values()}
    if len(shapes) > 1:
        raise ValueError(f"modality scores of different shapes: { {m: s.shape for m, s in scores.items()} }")
    n = next(iter(shapes))[0] if shapes else 0
    for m, s in scores.items():
        if s.ndim != 2 or s.shape[1] != t:
            raise ValueError(f"{m} scores of shape {s.shape}, expected (n, {t}) for {t} tags")
        finite = s[np.isfinite(s)]
        if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
            raise ValueError(f"{m} scores outside [0, 1]: {finite.min():.4g}..{finite.max():.4g}")
        if np.isinf(s).any():
            raise ValueError(f"{m} scores contain infinities")

    raw = {}
    for m, s in scores.items():
        w = np.array([float(tag.weights.get(m, 0.0)) for tag in vocab.tags], dtype=np.float64)
        # a modality with weight 0 for a tag takes no part in it, like an absent one
        raw[m] = np.where(np.isfinite(s) & (w[None, :] > 0), np.broadcast_to(w, (n, t)), 0.0)
    total = np.zeros((n, t), dtype=np.float64)
    for w in raw.values():
        total += w
    present = total > 0
    safe_total = np.where(present, total, 1.0)
    fused = np.zeros((n, t), dtype=np.float64)
    contributions: dict[str, np.ndarray] = {}
    weights: dict[str, np.ndarray] = {}
    for m, s in scores.items():
        share = raw[m] / safe_total
        c = share * np.where(share > 0, s, 0.0)
        fused += c
        contributions[m] = c
        weights[m] = share
    fused = np.where(present, np.clip(fused, 0.0, 1.0), np.nan)
    return FusedScores(fused=fused, contributions=contributions, weights=weights)
