"""Static regions of the picture (persistent overlays) and change measured outside them.

News and sports footage carries overlays that never change: a ticker band, a lower third, a
channel logo, boxed subtitles (and letterbox bars). A hard cut underneath changes only the rest
of the frame, so "most of the frame changed" and a whole-frame correlation both understate it.
Here a cell of a coarse grid is *static* at a pair of decoded frames when its mean luma stays
within ``static_range`` over a window of decoded frames on both sides of the pair (the pair
itself included: a cell that changes at a cut is never static there). When the static cells
are a minority of the frame (an overlay, not a still picture), the pair is also scored on the
other cells only. Scoring runs ``static_lookahead`` decoded frames behind the decoder, so the
window sees both sides without keeping more than a few signatures.

Overlays that are not static (a ticker scrolling every frame, subtitles that change at their
own moments) are handled by a second measure that needs no mask: how much of the frame changed
*abruptly*. Each cell's change between two decoded frames (mean absolute luma difference, after
removing the frame's median level shift, so a lighting change does not count) is compared with
that cell's own change over the neighbouring pairs, as PySceneDetect's AdaptiveDetector compares a
frame's change with its neighbours', but per cell. A cut makes most cells jump at once; the cells
of a scrolling ticker change at every pair (their own baseline is high), static and subtitle
cells do not change at the cut, and motion is steady. ``abrupt[j]`` is the fraction of cells that
jumped at pair j; where it is high, the cells and the evidence for a flash (the frame before
looks like one shortly after, on those cells) are kept for the cut decision
(:mod:`media_platform.video.shot_candidates`).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from media_platform.video.shot_config import ShotDetectorConfig
from media_platform.video.shot_signatures import (
    Sig,
    cell_change,
    cell_contrast,
    cell_means,
    masked,
    masked_spread,
    pixel_masks,
    score,
)

__all__ = ["StaticRegions"]


class StaticRegions:
    """Feed every decoded frame's signature in order; read the masked scores afterwards.

    After :meth:`finish`, for each decoded position j (pair j-1 -> j): ``keep[j]`` is the bool
    cell mask of the compared (non-static) cells or None (whole frame), and ``s1``/``s2``/``s3``/
    ``spread`` the masked score(j-1, j), score(j-2, j), score(j-3, j) and spread (nan without a
    mask). ``abrupt[j]``: the fraction of cells whose change jumped at pair j (exact where it is
    at least half of ``abrupt_min``, else an upper bound below that); where it reaches
    ``abrupt_min``: ``abrupt_cells[j]`` (those cells), ``abrupt_change[j]`` (their mean change,
    luma levels), ``abrupt_ratio[j]`` (against their own baseline), ``abrupt_content[j]`` (the median of
    their change relative to their contrast: about 1 for new content, small for the same
    content re-encoded) and ``abrupt_return[j]`` (the
    smallest change of those cells from the frame before the pair to one of the next two, or
    from the frame after it to one of the two before its predecessor, relative to their change:
    small for a flash)."""

    def __init__(self, cfg: ShotDetectorConfig) -> None:
        self.cfg = cfg
        self.back, self.ahead = cfg.static_window, cfg.static_lookahead
        self.cells: deque[np.ndarray] = deque(maxlen=self.back + self.ahead + 1)
        self.sigs: deque[Sig] = deque(maxlen=self.ahead + 4)
        self.diffs: deque[np.ndarray | None] = deque(maxlen=self.ahead + cfg.window + 1)  # per pair
        self.count = 0
        self.keep: list[np.ndarray | None] = []
        self.s1: list[float] = []
        self.s2: list[float] = []
        self.s3: list[float] = []
        self.spread: list[float] = []
        self._key: bytes | None = None
        self._pixels: tuple[np.ndarray, np.ndarray] | None = None
        self._subs: dict[int, Sig] = {}
        self.abrupt: list[float] = []
        self.abrupt_cells: dict[int, np.ndarray] = {}
        self.abrupt_change: dict[int, float] = {}
        self.abrupt_ratio: dict[int, float] = {}
        self.abrupt_return: dict[int, float] = {}
        self.abrupt_content: dict[int, float] = {}

    def push(self, sig: Sig) -> None:
        cells = cell_means(sig, self.cfg)
        self.diffs.append(cell_change(self.sigs[-1], sig, self.cells[-1], cells, self.cfg) if self.sigs else None)
        self.cells.append(cells)
        self.sigs.append(sig)
        self.count += 1
        if self.count > self.ahead:
            self._score(self.count - 1 - self.ahead, self.ahead)

    def finish(self) -> None:
        """Score the last pairs (their window has less lookahead)."""
        for lag in range(min(self.ahead, self.count) - 1, -1, -1):
            self._score(self.count - 1 - lag, lag)

    def _score(self, k: int, lag: int) -> None:
        """Pair k-1 -> k, where k is ``lag`` frames behind the newest."""
        nan = math.nan
        self._abrupt(k, lag)
        keep = self._mask(lag)
        self.keep.append(keep)
        if keep is None or k == 0:
            self.s1.append(nan)
            self.s2.append(nan)
            self.s3.append(nan)
            self.spread.append(nan)
            return
        cfg = self.cfg
        pos = len(self.sigs) - 1 - lag  # index of frame k in self.sigs
        key = keep.tobytes()
        if key != self._key:  # the mask changes rarely: masked signatures are reused
            self._key, self._pixels, self._subs = key, pixel_masks(keep, cfg), {}
        self._subs = {f: sg for f, sg in self._subs.items() if f >= k - 3}

        def sub(d: int) -> Sig | None:
            if pos - d < 0:
                return None
            if k - d not in self._subs:
                self._subs[k - d] = masked(self.sigs[pos - d], keep, cfg, self._pixels)
            return self._subs[k - d]

        s1 = self.s1
        self.s1.append(score(sub(1), sub(0), cfg.flat_std))
        self.spread.append(masked_spread(sub(1), sub(0), keep, cfg, self._pixels))
        # score(k-2, k) and score(k-3, k) serve only the transient test after a change
        need2 = len(s1) >= 2 and s1[-2] >= 0.5 * cfg.min_score
        need3 = len(s1) >= 3 and s1[-3] >= 0.5 * cfg.min_score
        self.s2.append(score(sub(2), sub(0), cfg.flat_std) if need2 and sub(2) is not None else nan)
        self.s3.append(score(sub(3), sub(0), cfg.flat_std) if need3 and sub(3) is not None else nan)

    def _abrupt(self, k: int, lag: int) -> None:
        """The cells whose change jumped at pair k-1 -> k against their own neighbouring pairs."""
        cfg = self.cfg
        diffs = self.diffs
        pos = len(diffs) - 1 - lag
        d = diffs[pos]
        if d is None:
            self.abrupt.append(0.0)
            return
        moved = d >= cfg.abrupt_floor
        bound = float(moved.mean())
        if bound < cfg.abrupt_min / cfg.peak_ratio:  # cannot matter: neither a cut nor a neighbour's peer
            self.abrupt.append(bound)
            return
        neigh = [diffs[i] for i in range(max(0, pos - cfg.window), min(len(diffs), pos + cfg.window + 1))
                 if i != pos and diffs[i] is not None]
        if neigh:  # each cell's (upper) median change over the neighbouring pairs
            stack = np.asarray(neigh)
            base = np.partition(stack, len(neigh) // 2, axis=0)[len(neigh) // 2]
        else:
            base = np.zeros_like(d)
        fired = moved & (d >= cfg.adaptive_ratio * base)
        frac = float(fired.mean())
        self.abrupt.append(frac)
        if frac < cfg.abrupt_min:
            return
        change = float(d[fired].mean())
        self.abrupt_cells[k] = fired
        self.abrupt_change[k] = change
        self.abrupt_ratio[k] = change / max(1.0, float(base[fired].mean()))
        # New content or the same content's grain: two unrelated textures differ by about their
        # own contrast, re-encoding (a keyframe's quality step) changes a small part of it.
        sp = len(self.sigs) - 1 - lag  # frame k in self.sigs
        texture = np.maximum(cell_contrast(self.sigs[sp - 1], cfg), cell_contrast(self.sigs[sp], cfg))
        self.abrupt_content[k] = float(np.median(d[fired] / np.maximum(texture[fired], 1.0)))
        # Flash evidence: the frame before the pair against the next two frames (a change that
        # reverts), the frame after it against the two before its predecessor (the return of one).
        cp = len(self.cells) - 1 - lag
        across = []
        for a, b in ((-1, 1), (-1, 2), (0, -2), (0, -3)):
            if 0 <= sp + min(a, b) and sp + max(a, b) < len(self.sigs) and 0 <= cp + min(a, b):
                x = cell_change(self.sigs[sp + a], self.sigs[sp + b], self.cells[cp + a], self.cells[cp + b], cfg)
                across.append(float(x[fired].mean()))
        self.abrupt_return[k] = min(across) / change if across else math.inf

    def _mask(self, lag: int) -> np.ndarray | None:
        """The cells to compare at the frame ``lag`` behind the newest, or None (whole frame)."""
        cfg = self.cfg
        n = len(self.cells)
        lo = max(0, n - 1 - lag - self.back)
        if n - lo < min(12, self.back):
            return None
        window = np.asarray(list(self.cells)[lo:])
        static = np.ptp(window, axis=0) <= cfg.static_range
        count = int(static.sum())
        if count < cfg.static_min_cells or count > cfg.static_max_fraction * static.size:
            return None
        return ~static
