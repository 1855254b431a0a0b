"""Boundary decisions of the shot detector: hard-cut and dissolve candidates on the coarse
scores, their confidence, and the minimum shot length (see :mod:`media_platform.video.shots`).
"""

from __future__ import annotations

import numpy as np

from media_platform.video.shot_config import ShotDetectorConfig
from media_platform.video.shot_decoding import Coarse

__all__ = ["confidence", "cut_candidates", "dissolve_candidates", "enforce_min_length"]


def confidence(score: float, ratio: float, cfg: ShotDetectorConfig) -> float:
    a = min(1.0, max(0.0, (score - cfg.min_score) / max(1e-6, 0.45 - cfg.min_score)))
    b = min(1.0, max(0.0, (ratio - cfg.strong_ratio) / (2.0 * cfg.adaptive_ratio)))
    return round(0.3 + 0.35 * a + 0.35 * b, 4)


def cut_candidates(c: Coarse, cfg: ShotDetectorConfig) -> list[tuple[int, float, float]]:
    """Decoded positions j (cut between decoded j-1 and j) with their score and adaptive ratio."""
    s1 = np.asarray(c.s1, dtype=np.float64)
    n = s1.shape[0]
    out: list[tuple[int, float, float]] = []
    if n < 2:
        return out
    s2 = np.asarray(c.s2)
    s3 = np.asarray(c.s3)
    means = np.asarray(c.means)
    stds = np.asarray(c.stds)
    spread = np.asarray(c.spread)
    for j in np.nonzero(s1[1:] >= cfg.min_score)[0] + 1:
        j = int(j)
        lo, hi = max(1, j - cfg.window), min(n, j + cfg.window + 1)
        neigh = np.concatenate([s1[lo:j], s1[j + 1 : hi]])
        base = float(np.median(neigh)) if neigh.size else 0.0
        ratio = s1[j] / max(base, 0.01)
        if not (ratio >= cfg.adaptive_ratio or (s1[j] >= cfg.strong_score and ratio >= cfg.strong_ratio)):
            continue
        # Motion: a cut is a single-pair spike, motion spreads over neighbouring pairs.
        side = max(s1[j - 1] if j > 1 else 0.0, s1[j + 1] if j + 1 < n else 0.0)
        if s1[j] < cfg.peak_ratio * side:
            continue
        # Fade: dark frames whose mean level ramps monotonically (from/to black).
        if _in_fade(means, j, cfg) and not (s1[j] >= cfg.strong_score and s1[j] >= 2.0 * cfg.peak_ratio * side):
            continue
        # Local change: a fast object in front of a steady background is not a cut.
        if s1[j] < cfg.strong_score and spread[j] < cfg.spread_min:
            continue
        # Transient: the frame before and a frame shortly after look alike (flash, glitch).
        # Only a frame with comparable contrast can show that (a dim frame scores low against
        # anything: its correlation is noise and its mean may happen to match).
        across = []
        for k, s_across in ((j + 1, s2), (j + 2, s3)):
            if k < n and _comparable_contrast(stds[j - 1], stds[k], cfg):
                across.append(s_across[k])
        if across and min(across) < cfg.flash_keep * s1[j]:
            continue
        out.append((j, float(s1[j]), float(ratio)))
    return out


def _comparable_contrast(std_a: float, std_b: float, cfg: ShotDetectorConfig) -> bool:
    """Two frames whose similarity can be judged: both uniform, or contrasts of the same order."""
    if max(std_a, std_b) < cfg.flat_std:
        return True
    return min(std_a, std_b) >= cfg.flash_contrast * max(std_a, std_b)


def _in_fade(means: np.ndarray, j: int, cfg: ShotDetectorConfig) -> bool:
    """True when decoded frames j-1, j are dark and the mean luma keeps ramping in the same
    direction on at least one side of the step j-1 -> j (a fade from or to black), as opposed
    to a step between two steady levels (a cut)."""
    if min(means[j - 1], means[j]) >= cfg.dark_luma:
        return False
    direction = np.sign(means[j] - means[j - 1])
    if direction == 0:
        return False
    k = cfg.fade_span
    before = np.diff(means[max(0, j - 1 - k) : j]) * direction
    after = np.diff(means[j : j + 1 + k]) * direction
    min_step = 0.3
    return bool((before.size >= 2 and np.all(before > min_step)) or (after.size >= 2 and np.all(after > min_step)))


def dissolve_candidates(
    c: Coarse, cut_js: set[int], cfg: ShotDetectorConfig
) -> list[tuple[int, float]]:
    """Gradual transitions: (decoded position of the middle, confidence)."""
    L = max(2, cfg.dissolve_span)
    sl = np.asarray(c.sl, dtype=np.float64)
    s1 = np.asarray(c.s1, dtype=np.float64)
    n = sl.shape[0]
    out: list[tuple[int, float]] = []
    j = 2 * L
    while j < n - L:
        v = sl[j]
        if v < cfg.dissolve_min_score or v < sl[max(0, j - L // 2) : j + L // 2 + 1].max():
            j += 1
            continue
        flank = max(sl[j - L], sl[min(n - 1, j + L)])
        inside = s1[j - L + 1 : j + 1]
        blend = c.blend[j]
        if (
            v >= cfg.dissolve_contrast * flank
            and inside.max() <= 0.5 * v
            and not any(k in cut_js for k in range(j - L, j + L + 1))
            and blend <= cfg.dissolve_blend_max
        ):
            conf = round(min(0.6, 0.2 + 0.4 * (1 - blend) * min(1.0, v / 0.4)), 4)
            out.append((j - L // 2, conf))
            j += L
            continue
        j += 1
    return out


def enforce_min_length(bounds: dict[int, float], min_len: int) -> dict[int, float]:
    """Keep boundaries at least ``min_len`` frames apart, the more confident one winning."""
    kept: dict[int, float] = {}
    for frame, conf in sorted(bounds.items(), key=lambda kv: (-kv[1], kv[0])):
        if all(abs(frame - other) >= min_len for other in kept):
            kept[frame] = conf
    return dict(sorted(kept.items()))
