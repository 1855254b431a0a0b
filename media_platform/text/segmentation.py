"""Topic segmentation: TextTiling (Hearst 1997) over sentence embeddings.

At every gap between sentences the cosine similarity of the ``block_sentences`` sentences before
and after is computed, depth scores are measured at the valleys of that curve, and a valley
becomes a chapter boundary when its depth exceeds an adaptive cutoff (mean − ``threshold_sd`` ·
sd of the valley depths, never below ``min_depth``), deepest first, as long as every chapter
stays at least ``min_chapter_s`` long.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from media_platform.text.embedders import l2_normalize
from media_platform.text.sentences import Sentence


@dataclass(frozen=True)
class ChapterConfig:
    """Knobs of the topic segmentation and keyword extraction.

    ``block_sentences``: sentences on each side of a gap compared by TextTiling.
    ``threshold_sd``: cutoff = mean − threshold_sd · sd of the valley depth scores.
    ``min_depth``: absolute floor of the cutoff (cosine units) so a single-topic episode is not
    cut by noise. ``min_chapter_s``: no chapter shorter than this. ``max_chapters``: optional cap.
    """

    block_sentences: int = 3
    threshold_sd: float = 0.5
    min_depth: float = 0.15
    min_chapter_s: float = 60.0
    max_chapters: int | None = None
    chapter_keywords: int = 5
    title_keywords: int = 3
    episode_keywords: int = 10


DEFAULT_CHAPTER_CONFIG = ChapterConfig()


def gap_similarities(embeddings: np.ndarray, weights: np.ndarray, block: int) -> np.ndarray:
    """Cosine similarity at every gap ``g`` (between sentence ``g-1`` and ``g``, g=1..n-1) of the
    weighted mean embeddings of the ``block`` sentences before and after. Index 0 is unused (nan)."""
    n = len(embeddings)
    sims = np.full(n, np.nan, dtype=np.float64)
    for g in range(1, n):
        lo, hi = max(0, g - block), min(n, g + block)
        left = l2_normalize((embeddings[lo:g] * weights[lo:g, None]).sum(0))
        right = l2_normalize((embeddings[g:hi] * weights[g:hi, None]).sum(0))
        sims[g] = float(left @ right)
    return sims


def depth_scores(sims: np.ndarray) -> np.ndarray:
    """Hearst depth score at each gap: climb to the nearest peak on each side and add the two
    drops. ``sims[0]`` is ignored; the result is 0 where there is no valley."""
    n = len(sims)
    depth = np.zeros(n, dtype=np.float64)
    for g in range(1, n):
        lp = sims[g]
        j = g
        while j - 1 >= 1 and sims[j - 1] >= sims[j]:
            j -= 1
            lp = sims[j]
        rp = sims[g]
        j = g
        while j + 1 < n and sims[j + 1] >= sims[j]:
            j += 1
            rp = sims[j]
        depth[g] = (lp - sims[g]) + (rp - sims[g])
    return depth


def segment_topics(
    sentences: Sequence[Sentence],
    embeddings: np.ndarray,
    *,
    duration_s: float | None = None,
    config: ChapterConfig = DEFAULT_CHAPTER_CONFIG,
) -> list[tuple[int, int]]:
    """TextTiling over sentence embeddings: returns chapters as ``(first, last)`` sentence
    index pairs (inclusive), covering all sentences in order."""
    n = len(sentences)
    if n == 0:
        return []
    if n < 2 * config.block_sentences:
        return [(0, n - 1)]
    weights = np.array([max(1, len(s.words)) for s in sentences], dtype=np.float64)
    sims = gap_similarities(embeddings, weights, config.block_sentences)
    # light smoothing (window 3) as in TextTiling
    sm = sims.copy()
    for g in range(1, n):
        vals = [sims[k] for k in (g - 1, g, g + 1) if 1 <= k < n]
        sm[g] = float(np.mean(vals))
    depth = depth_scores(sm)
    valleys = [
        g
        for g in range(1, n)
        if depth[g] > 0 and (g - 1 < 1 or sm[g] <= sm[g - 1]) and (g + 1 >= n or sm[g] <= sm[g + 1])
    ]
    if not valleys:
        return [(0, n - 1)]
    vd = np.array([depth[g] for g in valleys])
    cutoff = max(config.min_depth, float(vd.mean() - config.threshold_sd * vd.std()))
    end_t = duration_s if duration_s is not None else sentences[-1].end
    chosen: list[int] = []

    def boundary_time(g: int) -> float:
        return (sentences[g - 1].end + sentences[g].start) / 2

    for g in sorted(valleys, key=lambda g: -depth[g]):
        if depth[g] < cutoff:
            break
        if config.max_chapters is not None and len(chosen) + 1 >= config.max_chapters:
            break
        times = sorted([0.0, end_t] + [boundary_time(c) for c in chosen] + [boundary_time(g)])
        if min(b - a for a, b in itertools.pairwise(times)) < config.min_chapter_s:
            continue
        chosen.append(g)
    chosen.sort()
    starts = [0] + chosen
    ends = [c - 1 for c in chosen] + [n - 1]
    return list(zip(starts, ends))
