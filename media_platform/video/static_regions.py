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
from media_platform.video.shot_signatures import Sig, cell_means, masked, masked_spread, score

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
        subs = [masked(self.sigs[pos - d], keep, cfg) if pos - d >= 0 else None for d in range(4)]
        self.s1.append(score(subs[1], subs[0], cfg.flat_std))
        self.spread.append(masked_spread(subs[1], subs[0], keep, cfg))
        self.s2.append(score(subs[2], subs[0], cfg.flat_std) if subs[2] is not None else nan)
        self.s3.append(score(subs[3], subs[0], cfg.flat_std) if subs[3] is not None else nan)

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
