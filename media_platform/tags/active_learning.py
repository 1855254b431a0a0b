"""Which shots an editor should label next: Video Annotator's four feeds, mixed.

For one label, every unlabelled candidate shot has a score (a classifier's probability, or
:func:`prototype_scores` before the label has a classifier). The feeds are

- ``top_positive``: the highest scores (confirms the model, or shows its false positives);
- ``top_negative``: the lowest scores (its confident negatives, or its misses);
- ``borderline``: the scores nearest the threshold (where the model is unsure);
- ``random``: a seeded random order (an unbiased look at the rest of the collection).

:func:`suggest` takes from them in turn (round-robin), skipping labelled shots and shots another
feed already took, so a suggestion list never holds a labelled shot nor one shot twice. It is
deterministic: the same inputs and seed give the same list. Work is one sort per feed of the
candidates, with ``limit`` at most :data:`MAX_LIMIT`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from media_platform.errors import InvalidInputError
from media_platform.tags.vectors import unit_rows

FEEDS = ("top_positive", "top_negative", "borderline", "random")
MAX_LIMIT = 500


@dataclass(frozen=True)
class Suggestion:
    partition: str
    shot: int
    score: float
    feed: str


def _key(value: object) -> tuple[str, int]:
    """(partition, shot) from a tuple or a ShotRef-like object."""
    if isinstance(value, tuple) and len(value) == 2:
        return str(value[0]), int(value[1])
    partition, shot = getattr(value, "partition", None), getattr(value, "shot", None)
    if partition is None or shot is None:
        raise InvalidInputError(f"shot {value!r}: expected (partition, shot)")
    return str(partition), int(shot)


def check_limit(limit: int) -> int:
    """``limit`` if it is a whole number from 1 to MAX_LIMIT; else InvalidInputError."""
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit: must be a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
    return int(limit)


def _feed_orders(scores: np.ndarray, threshold: float, seed: int, feeds: Sequence[str]) -> dict[str, np.ndarray]:
    """Each feed's order of the pool (indices into ``scores``); ties broken by pool order."""
    position = np.arange(len(scores))
    orders = {}
    for feed in feeds:
        if feed == "top_positive":
            orders[feed] = np.lexsort((position, -scores))
        elif feed == "top_negative":
            orders[feed] = np.lexsort((position, scores))
        elif feed == "borderline":
            orders[feed] = np.lexsort((position, np.abs(scores - threshold)))
        else:
            orders[feed] = np.random.default_rng(seed).permutation(len(scores))
    return orders


def suggest(
    candidates: Sequence[tuple[str, int]],
    scores: np.ndarray,
    labelled: Collection[tuple[str, int]],
    limit: int = 20,
    *,
    threshold: float = 0.5,
    seed: int = 0,
    feeds: Sequence[str] = FEEDS,
) -> list[Suggestion]:
    """Up to ``limit`` shots to label next, taken from ``feeds`` in turn.

    ``candidates[i]`` is a (partition, shot) whose score is ``scores[i]``; ``labelled`` holds the
    shots already labelled (tuples or ShotRefs), never proposed. A candidate listed twice counts
    once (its first score). Fewer suggestions come back when fewer unlabelled candidates exist.

    Raises:
        InvalidInputError: a limit outside 1..MAX_LIMIT, scores that are not finite or do not
            match the candidates, a threshold that is not finite, an unknown feed.
    """
    limit = check_limit(limit)
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or len(values) != len(candidates):
        raise InvalidInputError(f"scores: expected one score per candidate ({len(candidates)}), got shape {values.shape}")
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise InvalidInputError(f"scores: {bad} of {len(values)} are not finite numbers (NaN or infinite)")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        threshold = math.nan
    if not math.isfinite(threshold):
        raise InvalidInputError(f"threshold: must be a finite number, got {threshold!r}")
    feeds = tuple(feeds)
    unknown = [f for f in feeds if f not in FEEDS]
    if unknown or not feeds or len(set(feeds)) != len(feeds):
        raise InvalidInputError(f"feeds: must be distinct names from {', '.join(FEEDS)}, got {list(feeds)!r}")

    done = {_key(x) for x in labelled}
    pool_keys: list[tuple[str, int]] = []
    pool_index: list[int] = []
    seen: set[tuple[str, int]] = set()
    for i, candidate in enumerate(candidates):
        key = _key(candidate)
        if key not in done and key not in seen:
            seen.add(key)
            pool_keys.append(key)
            pool_index.append(i)
    pool_scores = values[pool_index] if pool_index else np.zeros(0)
    orders = _feed_orders(pool_scores, threshold, int(seed), feeds)

    taken: set[int] = set()
    out: list[Suggestion] = []
    iterators = {feed: iter(orders[feed].tolist()) for feed in feeds}
    while len(out) < limit and iterators:
        for feed in list(iterators):
            pick = _next_free(iterators[feed], taken)
            if pick is None:
                del iterators[feed]
                continue
            taken.add(pick)
            partition, shot = pool_keys[pick]
            out.append(Suggestion(partition, shot, float(pool_scores[pick]), feed))
            if len(out) == limit:
                break
    return out


def _next_free(order: Iterator[int], taken: set[int]) -> int | None:
    for index in order:
        if index not in taken:
            return index
    return None


def _unit_rows(matrix: np.ndarray, what: str) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2:
        raise InvalidInputError(f"{what}: expected a 2-d matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise InvalidInputError(f"{what}: holds values that are not finite numbers")
    return unit_rows(m)[0]


def _direction(examples: np.ndarray) -> np.ndarray:
    return unit_rows(examples.mean(axis=0, keepdims=True))[0][0]


def prototype_scores(features: np.ndarray, positives: np.ndarray, negatives: np.ndarray | None = None) -> np.ndarray:
    """Cold-start scores in [0, 1] for a label that has examples but no classifier yet.

    With both kinds of examples: ``(cos(x, p) - cos(x, n) + 2) / 4``, where ``p`` and ``n`` are
    the means of the unit-length positive and negative rows, so 0.5 is a shot equally like both.
    With positives only ``(cos(x, p) + 1) / 2``; with negatives only ``(1 - cos(x, n)) / 2``.
    Rows of zeros (no features) score 0.5.

    Raises:
        InvalidInputError: no examples, mismatched widths, values that are not finite.
    """
    x = _unit_rows(features, "features")
    pos = _unit_rows(positives, "positives") if positives is not None and len(positives) else None
    neg = _unit_rows(negatives, "negatives") if negatives is not None and len(negatives) else None
    if pos is None and neg is None:
        raise InvalidInputError("prototype scores: need at least one positive or negative example")
    for name, m in (("positives", pos), ("negatives", neg)):
        if m is not None and m.shape[1] != x.shape[1]:
            raise InvalidInputError(f"{name}: {m.shape[1]} columns, the features have {x.shape[1]}")
    if pos is not None and neg is not None:
        raw = (x @ _direction(pos) - x @ _direction(neg) + 2.0) / 4.0
    elif pos is not None:
        raw = (x @ _direction(pos) + 1.0) / 2.0
    else:
        raw = (1.0 - x @ _direction(neg)) / 2.0
    return np.clip(raw, 0.0, 1.0).astype(np.float32)


def feed_counts(suggestions: Iterable[Suggestion]) -> dict[str, int]:
    """How many suggestions each feed gave (in FEEDS order)."""
    counts = dict.fromkeys(FEEDS, 0)
    for s in suggestions:
        counts[s.feed] += 1
    return counts
