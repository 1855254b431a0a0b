"""Gradual transitions of the shot detector: dissolves, fades (through black or white) and wipes,
each with its first and last frame (see :mod:`media_platform.video.shots`).

1. **Candidates** come from the coarse pass: a large difference across a span of decoded frames
   (``score(j-L, j)``) that stands out from the spans on either side (stable shots before and
   after) and is a local maximum.
2. **Judging** decodes every frame of a window around the span and compares each frame with the
   window's first frame A (the old shot) and its last frame B (the new shot):
   - the transition runs from the first frame that has moved away from A to the last frame not
     yet at B (a tenth of the A-B mean absolute luma difference, each way);
   - **fade**: a frame inside is nearly uniform (black, white or a flat colour) while both ends
     have contrast;
   - **wipe** / **dissolve**: each cell of a coarse grid is assigned the frame where it becomes
     closer to B than to A. In a cross-dissolve every cell switches at the same moment (the
     middle); in a wipe the switching moments sweep across the picture and spread over the
     transition;
   - otherwise (a camera move, motion) the middle frame is not a blend of A and B: no transition.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media_platform.video.shot_config import ShotDetectorConfig
from media_platform.video.shot_decoding import Coarse
from media_platform.video.shot_signatures import CELL_COLS, CELL_ROWS, Sig, blend_error, score

__all__ = ["Transition", "gradual_windows", "judge_window"]

#: Fraction of the A-B difference that marks the start and the end of a transition.
_EDGE = 0.1


@dataclass(frozen=True)
class Transition:
    """A gradual transition: frames [start, end) are mixed; ``boundary`` starts the new shot."""

    kind: str  # "dissolve", "fade" or "wipe"
    start: int
    end: int
    boundary: int
    confidence: float


def gradual_windows(c: Coarse, cfg: ShotDetectorConfig, cut_js: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, int]]:
    """Frame windows (first, last) around spans of gradual change between two stable stretches
    (spans holding a hard cut, decoded position in ``cut_js``, or one dominant pair are cuts)."""
    L = max(2, cfg.dissolve_span)
    sl = np.asarray(c.sl, dtype=np.float64)
    s1 = np.asarray(c.s1, dtype=np.float64)
    n = sl.shape[0]
    out: list[tuple[int, int]] = []
    j = L
    while j < n:
        v = sl[j]
        if v < cfg.dissolve_min_score or v < sl[max(0, j - L // 2) : j + L // 2 + 1].max():
            j += 1
            continue
        # The spans before and after must be stable; the transition need not last exactly L: the
        # calmest span starting within a quarter span further out counts (a lumpy end, such as the
        # last strip of a wipe, would otherwise spill into the span after it).
        q = max(1, L // 4)
        before = sl[max(L, j - L - q) : j - L + 1].min() if j - L >= L else 0.0
        after = sl[j + L : min(n, j + L + q + 1)].min() if j + L < n else 0.0
        # Proposals only (each is judged frame by frame): a looser contrast than a decision.
        # Most of the change at one pair is a cut (or a motion spike), unless the other pairs
        # together carry half of it too (the last strip of a wipe over a moving picture).
        steps = s1[j - L + 1 : j + 1]
        top = steps.max()
        if (
            v >= 0.8 * cfg.dissolve_contrast * max(before, after)
            and (top <= 0.5 * v or steps.sum() - top >= 0.5 * v)
            and not any(k in cut_js for k in range(j - L, j + 1))
        ):
            a = c.frames[max(0, j - L - L // 2)]
            b = c.frames[min(n - 1, j + L // 2)]
            out.append((a, b))
            j += L
            continue
        j += 1
    # Fades: a nearly uniform frame (black, white) between two pictures with contrast.
    stds = np.asarray(c.stds)
    k = 1
    while k < n - 1:
        if stds[k] < 1.5 * cfg.flat_std:
            m = k
            while m + 1 < n and stds[m + 1] < 1.5 * cfg.flat_std:
                m += 1
            lo, hi = max(0, k - 2 * L), min(n - 1, m + 2 * L)
            if stds[lo:k].max(initial=0.0) >= 2 * cfg.flat_std and stds[m + 1 : hi + 1].max(initial=0.0) >= 2 * cfg.flat_std:
                out.append((c.frames[lo], c.frames[hi]))
            k = m + 1
            continue
        k += 1
    return sorted(out)


def judge_window(sigs: dict[int, Sig], first: int, last: int, cfg: ShotDetectorConfig) -> Transition | None:
    """Classify and locate the gradual transition between frames ``first`` and ``last`` (their
    signatures in ``sigs``), or None when the change is not a transition."""
    ks = [k for k in range(first, last + 1) if k in sigs]
    if len(ks) < 5 or ks[0] != first or ks[-1] != last:
        return None
    A, B = sigs[first], sigs[last]
    ramp = _fade_ramp(sigs, ks, cfg)
    if ramp is not None and (ramp[0] - 2 > first or ramp[1] + 2 < last):
        # A fade: judged between the stable frames around its ramp, not the window's ends (a
        # long fade's window reaches into the shot before it, or into the transition before).
        return judge_window(sigs, max(first, ramp[0] - 2), min(last, ramp[1] + 2), cfg)
    total = score(A, B, cfg.flat_std)
    if total < cfg.dissolve_min_score:
        return None
    # Where it starts and ends: the mean absolute luma difference to each end, relative to the
    # ends' own difference (linear in the mix of a dissolve and in the wiped area of a wipe).
    ab = float(np.abs(A.luma - B.luma).mean())
    if ab < 2.0:
        return None
    dA = np.array([float(np.abs(sigs[k].luma - A.luma).mean()) for k in ks]) / ab
    dB = np.array([float(np.abs(sigs[k].luma - B.luma).mean()) for k in ks]) / ab
    moved = np.nonzero(dA >= _EDGE)[0]
    pending = np.nonzero(dB >= _EDGE)[0]
    if not moved.size or not pending.size:
        return None
    start, end = ks[int(moved[0])], ks[int(pending[-1])] + 1
    if end - start < 2 or start == first or end > last:
        return None  # abrupt (a cut), or not contained in the window
    inner = [k for k in ks if start <= k < end]
    stds = np.array([sigs[k].std for k in inner])
    ends_contrast = min(A.std, B.std)
    # Fade: the picture passes through a nearly uniform frame between two pictures with contrast.
    if ends_contrast >= 2 * cfg.flat_std and stds.min() < max(1.5 * cfg.flat_std, 0.2 * ends_contrast):
        flat = [k for k in inner if sigs[k].std < max(1.5 * cfg.flat_std, 0.2 * ends_contrast)]
        before = sigs.get(flat[0] - 1)
        if before is not None and before.std >= 0.85 * A.std and float(np.abs(before.luma - A.luma).mean()) <= 0.2 * ab:
            return None  # the old shot cuts straight into the uniform frame: a cut (then a fade-in)
        seq = [start - 1, *inner, end] if start - 1 in sigs and end in sigs else inner
        for x, y in zip(seq, seq[1:]):
            if min(sigs[x].std, sigs[y].std) >= 2 * cfg.flat_std and score(sigs[x], sigs[y], cfg.flat_std) >= 2 * cfg.min_score:
                return None  # a hard cut between two pictures inside: not one fade (a flash near a cut)
        boundary = inner[int(np.argmin(stds))] + 1
        boundary = min(max(boundary, start + 1), end - 1) if end - start > 1 else start
        conf = round(min(0.6, 0.25 + 0.35 * min(1.0, total / 0.4)), 4)
        return Transition("fade", start, end, boundary, conf)
    if ends_contrast < 2 * cfg.flat_std:
        return None  # a ramp from or to a nearly uniform frame: a fade-in or -out inside a shot
    # Wipe or dissolve: when does each cell become closer to B than to A?
    h, w = cfg.analysis_height, cfg.analysis_width
    ya, yb = A.luma.reshape(h, w), B.luma.reshape(h, w)
    da_list, db_list = [], []
    for k in inner:
        yk = sigs[k].luma.reshape(h, w)
        da_list.append(cv2.resize(np.abs(yk - ya), (CELL_COLS, CELL_ROWS), interpolation=cv2.INTER_AREA))
        db_list.append(cv2.resize(np.abs(yk - yb), (CELL_COLS, CELL_ROWS), interpolation=cv2.INTER_AREA))
    da, db = np.asarray(da_list), np.asarray(db_list)
    diff_ab = cv2.resize(np.abs(ya - yb), (CELL_COLS, CELL_ROWS), interpolation=cv2.INTER_AREA)
    useful = diff_ab >= 12.0
    if useful.sum() < 0.25 * useful.size:
        return None
    closer_b = da > db  # (frames, rows, cols)
    switch = np.where(closer_b.any(axis=0), closer_b.argmax(axis=0), len(inner) - 1)[useful]
    duration = len(inner)
    q1, q3 = np.percentile(switch, [10, 90])
    mid = inner[min(len(inner) - 1, int(round(float(np.median(switch)))))]
    if duration >= 4 and (q3 - q1) >= 0.45 * duration:
        conf = round(min(0.6, 0.25 + 0.35 * min(1.0, total / 0.4)), 4)
        return Transition("wipe", start, end, max(start + 1, mid), conf)
    # A dissolve's middle frame (as far from A as from B) is the mean of the frames just before
    # and just after it.
    pos = {k: i for i, k in enumerate(ks)}
    cross = min(inner, key=lambda k: abs(dA[pos[k]] - dB[pos[k]]))
    blend = blend_error(sigs.get(start - 1, A), sigs[cross], sigs.get(end, B), cfg)
    if blend <= cfg.dissolve_blend_max:
        conf = round(min(0.6, 0.2 + 0.4 * (1 - blend) * min(1.0, total / 0.4)), 4)
        return Transition("dissolve", start, end, max(start + 1, cross), conf)
    return None


def _fade_ramp(sigs: dict[int, Sig], ks: list[int], cfg: ShotDetectorConfig) -> tuple[int, int] | None:
    """The frames (first, last) of the ramp of a fade through a nearly uniform frame: from the
    flattest frame of the window, the contrast keeps growing frame by frame on either side (down
    to black or white and back up). None without a uniform frame between two pictures."""
    stds = np.array([sigs[k].std for k in ks])
    i = int(np.argmin(stds))
    if stds[i] >= 1.5 * cfg.flat_std or min(stds[0], stds[-1]) < 2 * cfg.flat_std:
        return None

    def grows(a: int, b: int) -> bool:  # contrast grows from ks[a] to the adjacent ks[b]
        return abs(ks[a] - ks[b]) == 1 and stds[b] > stds[a] + 0.1 + 0.01 * stds[a]

    lo = i
    while lo > 0 and (stds[lo - 1] < 1.5 * cfg.flat_std or grows(lo, lo - 1)):
        lo -= 1
    hi = i
    while hi + 1 < len(ks) and (stds[hi + 1] < 1.5 * cfg.flat_std or grows(hi, hi + 1)):
        hi += 1
    return ks[lo], ks[hi]
