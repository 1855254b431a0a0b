"""Alignment of two fingerprints: every stretch of one episode that repeats in another, at any
offset, with its position in both.

How (:func:`align`):

1. **Candidate offsets** - an inverted index of the other episode's hashes split into bands
   (two 16-bit halves of an audio point, four 16-bit quarters of a frame hash) votes for the
   offsets (in points) at which equal bands occur. Band values that are very common (silence,
   a constant picture) vote for nothing. Offsets with enough votes that are the best of their
   neighbourhood become candidates. Bands, unlike exact values, survive re-encoding.
2. **Diagonal runs** - at each candidate offset the Hamming distance between aligned points
   (the best of the offset and its two neighbours, since points are sampled at different
   phases in each episode) decides which points match; a sliding majority smooths it, and runs
   at least ``min_run_s`` long (gaps up to ``max_gap_s`` bridged) are kept. Each run's edges
   are its first and last matching points, turned into seconds.
3. **Deduplication** - runs found at neighbouring offsets overlap; the best-scoring run of an
   overlapping group is kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from media_platform.markers.fingerprints import (
    AUDIO_END_LEAD_S,
    AUDIO_START_LAG_S,
    Fingerprint,
    popcount,
)

__all__ = ["AlignConfig", "Match", "align", "config_for"]


@dataclass(frozen=True)
class AlignConfig:
    """Tuning of :func:`align` for one kind of fingerprint."""

    max_bits: int  # a point matches when at most this many bits differ
    edge_bits: int  # a run starts and ends on points this close (a clear match)
    min_score: float  # runs whose mean score is lower are chance resemblance
    window: int  # points of the sliding majority
    min_run_s: float  # shortest repeated stretch reported
    max_gap_s: float  # non-matching stretch bridged inside a run
    min_votes: int  # band votes an offset needs to be tried
    max_offsets: int = 40  # candidate offsets tried per pair, best voted first
    common_band: int = 64  # a band value seen more often than this in one episode votes for nothing


AUDIO_ALIGN = AlignConfig(max_bits=10, edge_bits=6, min_score=0.6, window=9, min_run_s=3.0, max_gap_s=0.5, min_votes=6)
VISUAL_ALIGN = AlignConfig(max_bits=12, edge_bits=8, min_score=0.75, window=3, min_run_s=2.0, max_gap_s=1.0, min_votes=3)


def config_for(kind: str) -> AlignConfig:
    return AUDIO_ALIGN if kind == "audio" else VISUAL_ALIGN


@dataclass(frozen=True)
class Match:
    """A stretch of episode A repeated in episode B: ``[a_start, a_end]`` of A is
    ``[b_start, b_end]`` of B (seconds); ``score`` in 0..1 (1 = identical points)."""

    a_start: float
    a_end: float
    b_start: float
    b_end: float
    score: float
    source: str  # "audio", "visual" or "audio+visual"

    @property
    def length(self) -> float:
        return self.a_end - self.a_start

    @property
    def offset(self) -> float:
        """Where A's stretch lies in B relative to A (b - a), seconds."""
        return self.b_start - self.a_start

    def swapped(self) -> Match:
        return Match(self.b_start, self.b_end, self.a_start, self.a_end, self.score, self.source)


def _bands(hashes: np.ndarray, bits: int) -> list[np.ndarray]:
    h = hashes.astype(np.uint64)
    return [((h >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.int64) for k in range(bits // 16)]


def _candidate_offsets(a: Fingerprint, b: Fingerprint, cfg: AlignConfig) -> list[int]:
    votes: Counter[int] = Counter()
    ok_a, ok_b = ~a.flat, ~b.flat
    for band_a, band_b in zip(_bands(a.hashes, a.bits), _bands(b.hashes, b.bits)):
        index: dict[int, list[int]] = {}
        for j in np.flatnonzero(ok_b):
            index.setdefault(int(band_b[j]), []).append(int(j))
        common_a = Counter(int(v) for v in band_a[ok_a])
        for i in np.flatnonzero(ok_a):
            value = int(band_a[i])
            js = index.get(value)
            if not js or len(js) > cfg.common_band or common_a[value] > cfg.common_band:
                continue
            for j in js:
                votes[j - int(i)] += 1
    ranked = [(n, d) for d, n in votes.items() if n >= cfg.min_votes]
    ranked.sort(reverse=True)
    chosen: list[int] = []
    for _, d in ranked:
        if all(abs(d - c) > 1 for c in chosen):
            chosen.append(d)
        if len(chosen) >= cfg.max_offsets:
            break
    return chosen


def _diagonal_errors(a: Fingerprint, b: Fingerprint, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices i of A overlapping B at offset ``d`` (i + d in B), and the smallest bit error of
    A[i] against B[i+d-1 .. i+d+1]."""
    n, m = len(a), len(b)
    i0, i1 = max(0, -d), min(n, m - d)
    if i1 <= i0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
    idx = np.arange(i0, i1)
    worst = a.bits
    err = np.full(idx.shape[0], worst, dtype=np.int32)
    for k in (-1, 0, 1):
        j = idx + d + k
        ok = (j >= 0) & (j < m)
        e = np.full(idx.shape[0], worst, dtype=np.int32)
        e[ok] = popcount(a.hashes[idx[ok]] ^ b.hashes[j[ok]])
        e[ok & (a.flat[idx] | b.flat[np.clip(j, 0, m - 1)])] = worst
        err = np.minimum(err, e)
    return idx, err


def _runs(mask: np.ndarray, max_gap: int) -> list[tuple[int, int]]:
    """(first, last) of the runs of True in ``mask``, gaps up to ``max_gap`` bridged."""
    on = np.flatnonzero(mask)
    if on.size == 0:
        return []
    runs = []
    start = prev = int(on[0])
    for k in on[1:]:
        k = int(k)
        if k - prev - 1 > max_gap:
            runs.append((start, prev))
            start = k
        prev = k
    runs.append((start, prev))
    return runs


def _to_seconds(fp: Fingerprint, first: int, last: int) -> tuple[float, float]:
    if fp.kind == "audio":
        start = fp.times[first] + AUDIO_START_LAG_S if first > 2 else 0.0  # nothing before the first points
        # the last points summarise the final seconds (and the padding after them has no
        # content): a run reaching them reaches the end
        rest = fp.flat[last + 4:]
        end = fp.duration_s if bool(rest.all()) else fp.times[last] + AUDIO_END_LEAD_S
    else:
        # the change happened between the last point that differs and the first that matches
        start = (fp.times[first - 1] + fp.times[first]) / 2.0 if first > 0 else 0.0
        end = (fp.times[last] + fp.times[last + 1]) / 2.0 if last < len(fp) - 1 else fp.duration_s
    return float(max(0.0, start)), float(min(fp.duration_s, end))


def align(a: Fingerprint, b: Fingerprint, config: AlignConfig | None = None) -> list[Match]:
    """Every stretch of ``a`` repeated in ``b`` (see the module docstring), best first."""
    if a.kind != b.kind:
        raise ValueError(f"cannot align a {a.kind} fingerprint with a {b.kind} one")
    cfg = config or config_for(a.kind)
    if len(a) < cfg.window or len(b) < cfg.window:
        return []
    step = a.step_s
    max_gap = max(0, int(round(cfg.max_gap_s / step)))
    min_len = cfg.min_run_s
    kernel = np.ones(cfg.window, dtype=np.float32) / cfg.window
    found: list[tuple[float, Match]] = []
    for d in _candidate_offsets(a, b, cfg):
        idx, err = _diagonal_errors(a, b, d)
        if idx.size < cfg.window:
            continue
        hit = err <= cfg.max_bits
        majority = np.convolve(hit.astype(np.float32), kernel, mode="same") >= 0.5
        # edges sit on clear matches that are sustained (3 of 5 around), not on a stray one
        clear = err <= cfg.edge_bits
        clear &= np.convolve(clear.astype(np.int32), np.ones(5, dtype=np.int32), mode="same") >= 3
        for r0, r1 in _runs(majority & hit, max_gap):
            strong = np.flatnonzero(clear[r0 : r1 + 1])
            if strong.size == 0:
                continue
            r0, r1 = r0 + int(strong[0]), r0 + int(strong[-1])
            ia, ib = int(idx[r0]), int(idx[r1])
            a0, a1 = _to_seconds(a, ia, ib)
            if a1 - a0 < min_len:
                continue
            inside = err[r0 : r1 + 1]
            on = idx[r0 : r1 + 1][inside <= cfg.max_bits]
            shift = float(np.median(b.times[np.clip(on + d, 0, len(b) - 1)] - a.times[on]))
            b0 = max(0.0, a0 + shift)
            b1 = min(b.duration_s, a1 + shift)
            if b1 - b0 < min_len:
                continue
            score = float(np.clip(1.0 - inside.mean() / (a.bits / 2.0), 0.0, 1.0))
            if score < cfg.min_score:
                continue
            found.append((score * (a1 - a0), Match(a0, a1, b0, b1, score, a.kind)))
    found.sort(key=lambda t: t[0], reverse=True)
    kept: list[Match] = []
    for _, m in found:
        if any(_overlap(m.a_start, m.a_end, k.a_start, k.a_end) > 0.5 * min(m.length, k.length) for k in kept):
            continue
        kept.append(m)
    return kept


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))
