"""Hard-cut decisions of the shot detector: candidates on the coarse scores (measured outside
static overlays where there are some), bursts to judge frame by frame, the cuts among the frames
of a fully decoded window, their confidence, and the minimum shot length (see
:mod:`media_platform.video.shots`; gradual transitions are in :mod:`.transitions`).

A second kind of candidate needs no score over the picture: most of the grid's cells jumping at
once against their own recent change (:func:`abrupt_candidates`, measured in
:mod:`.static_regions`). It finds the cuts whose change a whole-frame or masked comparison
dilutes: under an overlay that changes by itself (a scrolling ticker, subtitles), between two
framings of the same picture (mirrored, re-framed), whose histograms are alike.
"""

from __future__ import annotations

import numpy as np

from media_platform.video.shot_config import ShotDetectorConfig
from media_platform.video.shot_decoding import Coarse
from media_platform.video.shot_signatures import (
    Sig,
    cell_change,
    cell_means,
    masked,
    masked_spread,
    score,
    spread,
)

__all__ = ["abrupt_candidates", "abrupt_frame_cut", "confidence", "cut_candidates", "effective_scores",
           "enforce_min_length", "frame_cuts"]


def confidence(score: float, ratio: float, cfg: ShotDetectorConfig) -> float:
    a = min(1.0, max(0.0, (score - cfg.min_score) / max(1e-6, 0.45 - cfg.min_score)))
    b = min(1.0, max(0.0, (ratio - cfg.strong_ratio) / (2.0 * cfg.adaptive_ratio)))
    return round(0.3 + 0.35 * a + 0.35 * b, 4)


def effective_scores(c: Coarse) -> dict[str, np.ndarray]:
    """The coarse scores as the candidates use them: measured outside static regions (overlays)
    where some were found, on the whole frame elsewhere."""
    out = {"s1": np.asarray(c.s1, dtype=np.float64), "s2": np.asarray(c.s2, dtype=np.float64),
           "s3": np.asarray(c.s3, dtype=np.float64), "spread": np.asarray(c.spread, dtype=np.float64)}
    r = c.regions
    if r is not None and len(r.s1) == out["s1"].shape[0]:
        for name, masked in (("s1", r.s1), ("s2", r.s2), ("s3", r.s3), ("spread", r.spread)):
            m = np.asarray(masked, dtype=np.float64)
            have = np.isfinite(m)
            if name in ("s2", "s3"):  # computed only where the whole-frame one was needed
                have &= np.isfinite(out[name])
            out[name] = np.where(have, m, out[name])
    return out


def _spikes(s1: np.ndarray, cfg: ShotDetectorConfig) -> np.ndarray:
    """Pairs that stand out from both neighbouring pairs (cut-like, as opposed to motion)."""
    side = np.maximum(np.concatenate([[0.0], s1[:-1]]), np.concatenate([s1[1:], [0.0]]))
    return (s1 >= cfg.min_score) & (s1 >= cfg.peak_ratio * side)


def cut_candidates(c: Coarse, cfg: ShotDetectorConfig) -> tuple[list[tuple[int, float, float]], list[int]]:
    """Decoded positions j (cut between decoded j-1 and j) with their score and adaptive ratio,
    and the positions of *bursts*: runs of consecutive large changes between sparsely decoded
    frames (a fast montage, or fast motion) to be judged frame by frame."""
    e = effective_scores(c)
    s1, s2, s3, spread = e["s1"], e["s2"], e["s3"], e["spread"]
    n = s1.shape[0]
    out: list[tuple[int, float, float]] = []
    bursts: list[int] = []
    if n < 2:
        return out, bursts
    means = np.asarray(c.means)
    stds = np.asarray(c.stds)
    frames = c.frames
    spikes = _spikes(s1, cfg)
    for j in np.nonzero(s1[1:] >= cfg.min_score)[0] + 1:
        j = int(j)
        lo, hi = max(1, j - cfg.window), min(n, j + cfg.window + 1)
        # The baseline is the activity within shots: other cut-like spikes (the neighbouring
        # cuts of a montage) do not raise it.
        idx = [k for k in range(lo, hi) if k != j]
        calm = [s1[k] for k in idx if not spikes[k]]
        neigh = np.asarray(calm if len(calm) >= 3 else [s1[k] for k in idx])
        base = float(np.median(neigh)) if neigh.size else 0.0
        ratio = s1[j] / max(base, 0.01)
        side = max(s1[j - 1] if j > 1 else 0.0, s1[j + 1] if j + 1 < n else 0.0)
        sparse = frames[j] - frames[j - 1] > 1
        adaptive = ratio >= cfg.adaptive_ratio or (s1[j] >= cfg.strong_score and ratio >= cfg.strong_ratio)
        # Fade: dark frames whose mean level ramps monotonically (from/to black).
        if _in_fade(means, j, cfg) and not (s1[j] >= cfg.strong_score and s1[j] >= 2.0 * cfg.peak_ratio * side):
            continue
        if not adaptive or s1[j] < cfg.peak_ratio * side:
            # Motion spreads its change over several pairs, a cut is a single spike. Between
            # sparsely decoded frames a cut next to motion, or a run of several cuts (a montage),
            # looks like motion too: those are judged again on every frame.
            if sparse and (adaptive or s1[j] >= cfg.strong_score) and not _transient(
                j, s1, s2, s3, stds, cfg
            ):
                bursts.append(j)
            continue
        # Local change: a fast object in front of a steady background is not a cut.
        if s1[j] < cfg.strong_score and spread[j] < cfg.spread_min:
            continue
        if _transient(j, s1, s2, s3, stds, cfg):
            continue
        out.append((j, float(s1[j]), float(ratio)))
    return out, bursts


def _transient(j: int, s1: np.ndarray, s2: np.ndarray, s3: np.ndarray, stds: np.ndarray,
               cfg: ShotDetectorConfig) -> bool:
    """A change that reverts (flash, glitch): the frame before it and a frame shortly after look
    alike (its onset), or the frame after it looks like a frame shortly before the change that
    preceded it (its return). Only frames of comparable contrast can show that (a dim frame
    scores low against anything: its correlation is noise and its mean may happen to match).
    A short shot of a montage is followed by another picture, so it is not transient."""
    n = s1.shape[0]
    across = []
    for k, s_across in ((j + 1, s2), (j + 2, s3)):  # onset: j-1 against j+1, j+2
        if k < n and np.isfinite(s_across[k]) and _comparable_contrast(stds[j - 1], stds[k], cfg):
            across.append(s_across[k])
    for back, s_back in ((2, s2), (3, s3)):  # return: j against j-2, j-3 (after a change at j-1/j-2)
        if j - back >= 0 and np.isfinite(s_back[j]) and _comparable_contrast(stds[j], stds[j - back], cfg):
            across.append(s_back[j])
    return bool(across) and min(across) < cfg.flash_keep * s1[j]


def _spread(a: Sig, b: Sig, keep: np.ndarray | None, cfg: ShotDetectorConfig) -> float:
    return masked_spread(a, b, keep, cfg) if keep is not None else spread(a, b, cfg)


def frame_cuts(sigs: dict[int, Sig], first: int, last: int, coarse_score: float, keep: np.ndarray | None,
               cfg: ShotDetectorConfig, burst: bool = False) -> list[tuple[int, float]]:
    """The cuts among every frame of the window (first, last], from their signatures (``sigs``:
    frame -> Sig, also a few frames after ``last`` for the transient test), measured outside the
    static cells when ``keep`` is given. The largest change must carry at least ``refine_keep``
    of the coarse score (otherwise the change was spread out: motion); further ones (the cuts of
    a montage), and every one of a ``burst`` (which the coarse tests did not accept), must be
    spikes among their neighbours that change most of the picture. Transients (flashes) are
    dropped."""
    view = {k: (masked(sg, keep, cfg) if keep is not None else sg) for k, sg in sigs.items()}
    p = {k: score(view[k - 1], view[k], cfg.flat_std) for k in view if k - 1 in view}
    inside = {k: v for k, v in p.items() if first < k <= last}
    if not inside:
        return []
    best = max(inside.values())
    if best < cfg.min_score or best < cfg.refine_keep * coarse_score:
        return []
    out = []
    for k, v in sorted(inside.items()):
        if v < max(cfg.min_score, cfg.refine_keep * best):
            continue
        # The largest pair of a candidate the coarse tests accepted is its cut; the others (a
        # montage's further cuts, any pair of a burst) must stand out on their own.
        if burst or v < best:
            if v < cfg.peak_ratio * max(p.get(k - 1, 0.0), p.get(k + 1, 0.0)):
                continue
            if v < cfg.strong_score and _spread(view[k - 1], view[k], keep, cfg) < cfg.spread_min:
                continue  # a fast object in front of a steady background
        stds = {f: view[f].std for f in view}
        across = [score(view[k - 1], view[f], cfg.flat_std) for f in (k + 1, k + 2)
                  if f in view and _comparable_contrast(stds[k - 1], stds[f], cfg)]
        across += [score(view[f], view[k], cfg.flat_std) for f in (k - 2, k - 3)
                   if f in view and p.get(f + 1, 0.0) >= cfg.min_score and _comparable_contrast(stds[k], stds[f], cfg)]
        if across and min(across) < cfg.flash_keep * v:
            continue
        out.append((k, v))
    return out


def abrupt_candidates(c: Coarse, cfg: ShotDetectorConfig, taken: set[int]) -> list[tuple[int, float]]:
    """Decoded positions j (not in ``taken``) where most of the picture jumped at once: at least
    ``abrupt_min`` of the cells (see :mod:`.static_regions`), as a spike among the neighbouring
    pairs (a dissolve, a fade or motion jumps at several pairs in a row), with new content in
    those cells (not the same picture's grain re-encoded), not reverting (a flash) and not a step
    of a fade from or to black; with their confidence."""
    r = c.regions
    if r is None or not r.abrupt_cells:
        return []
    a = np.asarray(r.abrupt, dtype=np.float64)
    means = np.asarray(c.means)
    out = []
    for j in sorted(r.abrupt_cells):
        if j in taken or j < 1 or j >= a.shape[0]:
            continue
        side = max(a[j - 1], a[j + 1] if j + 1 < a.shape[0] else 0.0)
        if (a[j] < cfg.peak_ratio * side or r.abrupt_content[j] < cfg.abrupt_content
                or r.abrupt_return[j] < cfg.flash_keep or _in_fade(means, j, cfg)):
            continue
        part = min(1.0, (a[j] - cfg.abrupt_min) / max(1e-6, 1.0 - cfg.abrupt_min))
        jump = min(1.0, max(0.0, (r.abrupt_ratio[j] - cfg.strong_ratio) / (2.0 * cfg.adaptive_ratio)))
        out.append((j, round(0.3 + 0.35 * part + 0.35 * jump, 4)))
    return out


def abrupt_frame_cut(sigs: dict[int, Sig], first: int, last: int, cells: np.ndarray, change: float,
                     cfg: ShotDetectorConfig) -> int | None:
    """The frame pair of the window (first, last] where the ``cells`` of an abrupt candidate
    jumped (``change``: their mean change between ``first`` and ``last``), or None when no
    single pair carries ``refine_keep`` of it (spread out: motion)."""
    best, at = -1.0, None
    means = {k: cell_means(sg, cfg) for k, sg in sigs.items() if first <= k <= last}
    for k in range(first + 1, last + 1):
        if k in means and k - 1 in means:
            v = float(cell_change(sigs[k - 1], sigs[k], means[k - 1], means[k], cfg)[cells].mean())
            if v > best:
                best, at = v, k
    return at if best >= cfg.refine_keep * change else None


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


def enforce_min_length(bounds: dict[int, float], min_len: int) -> dict[int, float]:
    """Keep boundaries at least ``min_len`` frames apart, the more confident one winning."""
    kept: dict[int, float] = {}
    for frame, conf in sorted(bounds.items(), key=lambda kv: (-kv[1], kv[0])):
        if all(abs(frame - other) >= min_len for other in kept):
            kept[frame] = conf
    return dict(sorted(kept.items()))
