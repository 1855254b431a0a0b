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
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from media_platform.video.shot_config import ShotDetectorConfig
from media_platform.video.shot_signatures import (
    Sig,
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
    mask)."""

    def __init__(self, cfg: ShotDetectorConfig) -> None:
        self.cfg = cfg
        self.back, self.ahead = cfg.static_window, cfg.static_lookahead
        self.cells: deque[np.ndarray] = deque(maxlen=self.back + self.ahead + 1)
        self.sigs: deque[Sig] = deque(maxlen=self.ahead + 4)
        self.count = 0
        self.keep: list[np.ndarray | None] = []
        self.s1: list[float] = []
        self.s2: list[float] = []
        self.s3: list[float] = []
        self.spread: list[float] = []
        self._key: bytes | None = None
        self._pixels: tuple[np.ndarray, np.ndarray] | None = None
        self._subs: dict[int, Sig] = {}

    def push(self, sig: Sig) -> None:
        self.cells.append(cell_means(sig, self.cfg))
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
