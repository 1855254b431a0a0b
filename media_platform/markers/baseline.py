"""Intro-skipper-style intro detection, for comparison: audio only, with its parameters.

As Jellyfin's intro-skipper does it: Chromaprint points of the first 25% of each episode (at
most 10 minutes); each pair of episodes of the season compared through an inverted index of
one episode's points, probed at the point's value ±2 (``InvertedIndexShift``), each shift
found tried; aligned points match when at most 6 of 32 bits differ
(``MaximumFingerprintPointDifferences``); matching times form ranges with gaps up to 3.5 s
(``MaximumTimeSkip``); the longest range of 15-120 s is the pair's intro; an intro starting
within 5 s of the start starts at 0. Each episode keeps the longest intro any pair gave it.
Not reproduced: the end snapped to silence, chapter and black-frame analyzers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from media_platform.markers.fingerprints import AUDIO_POINT_S, popcount

__all__ = ["intro_skipper_intros"]

MAX_BIT_DIFF = 6
INDEX_SHIFT = 2
MAX_TIME_SKIP_S = 3.5
MIN_INTRO_S = 15.0
MAX_INTRO_S = 120.0
ANALYSIS_FRACTION = 0.25
ANALYSIS_LIMIT_S = 600.0
SNAP_START_S = 5.0


def _prefix(points: np.ndarray, duration_s: float) -> np.ndarray:
    limit = min(duration_s * ANALYSIS_FRACTION, ANALYSIS_LIMIT_S)
    return points[: int(limit / AUDIO_POINT_S)]


def _shifts(lhs: np.ndarray, rhs: np.ndarray) -> set[int]:
    index = {int(v): i for i, v in enumerate(lhs)}
    shifts: set[int] = set()
    for j, v in enumerate(rhs):
        for k in range(-INDEX_SHIFT, INDEX_SHIFT + 1):
            i = index.get(int(v) + k)
            if i is not None:
                shifts.add(j - i)
    return shifts


def _longest(times: list[float]) -> tuple[float, float] | None:
    if not times:
        return None
    best, start, prev = None, times[0], times[0]
    for t in times[1:] + [float("inf")]:
        if t - prev > MAX_TIME_SKIP_S:
            if best is None or prev - start > best[1] - best[0]:
                best = (start, prev)
            start = t
        prev = t
    return best


def _compare(lhs: np.ndarray, rhs: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]] | None:
    best = None
    for shift in _shifts(lhs, rhs):
        i0, i1 = max(0, -shift), min(len(lhs), len(rhs) - shift)
        if i1 <= i0:
            continue
        idx = np.arange(i0, i1)
        ok = popcount(lhs[idx] ^ rhs[idx + shift]) <= MAX_BIT_DIFF
        times = (idx[ok] * AUDIO_POINT_S).tolist()
        rng = _longest(times)
        if rng is None:
            continue
        length = rng[1] - rng[0]
        if best is None or length > best[0]:
            best = (length, rng, (rng[0] + shift * AUDIO_POINT_S, rng[1] + shift * AUDIO_POINT_S))
    if best is None:
        return None
    return best[1], best[2]


def intro_skipper_intros(
    points: Mapping[str, np.ndarray], durations: Mapping[str, float]
) -> dict[str, tuple[float, float] | None]:
    """The intro of every episode of one season by the intro-skipper method (or None)."""
    keys = list(points)
    prefixes = {k: _prefix(np.asarray(points[k], dtype=np.uint32), durations[k]) for k in keys}
    found: dict[str, tuple[float, float] | None] = {k: None for k in keys}

    def offer(key: str, rng: tuple[float, float]) -> None:
        start, end = rng
        if start <= SNAP_START_S:
            start = 0.0
        if not MIN_INTRO_S <= end - start <= MAX_INTRO_S:
            return
        cur = found[key]
        if cur is None or end - start > cur[1] - cur[0]:
            found[key] = (start, end)

    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            result = _compare(prefixes[a], prefixes[b])
            if result is not None:
                offer(a, result[0])
                offer(b, result[1])
    return found
