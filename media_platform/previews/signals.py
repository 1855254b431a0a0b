"""What the audio says about a window: RMS energy, event-label coverage, and sentence edges
snapped to real pauses (ASR word times are ~0.1-0.3 s off)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from media_platform.audio.types import EventSegment
from media_platform.text.sentences import Sentence

_FRAMES_PER_CHUNK = 4096  # frames whose level is computed together (41 s at 10 ms; ~10 MB)


@dataclass(frozen=True)
class EnergyTrack:
    """Frame RMS level in dBFS (floored at -120) at a fixed hop."""

    hop_s: float
    db: np.ndarray

    @classmethod
    def from_samples(
        cls, samples: np.ndarray, sample_rate: int, hop_s: float = 0.01
    ) -> EnergyTrack:
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim > 1:
            x = x.mean(axis=1 if x.shape[1] < x.shape[0] else 0)
        hop = max(1, round(hop_s * sample_rate))
        n = len(x) // hop
        if n == 0:
            return cls(hop_s, np.zeros(0, np.float32))
        frames = x[: n * hop].reshape(n, hop)
        db = np.empty(n, np.float32)
        for f0 in range(0, n, _FRAMES_PER_CHUNK):  # an hour at once made GBs of float64 temporaries
            chunk = frames[f0 : f0 + _FRAMES_PER_CHUNK].astype(np.float64)
            rms = np.sqrt((chunk**2).mean(axis=1))
            db[f0 : f0 + len(chunk)] = 20 * np.log10(np.maximum(rms, 1e-6))
        return cls(hop * 1.0 / sample_rate, db)

    def index(self, t: float) -> int:
        return int(np.clip(round(t / self.hop_s), 0, len(self.db)))

    def slice(self, start: float, end: float) -> np.ndarray:
        return self.db[self.index(start) : self.index(end)]


@dataclass(frozen=True)
class EventTimeline:
    """Per-label cumulative coverage on a 10 ms grid, for O(1) window ratios."""

    step: float
    cum: dict[str, np.ndarray]

    @classmethod
    def build(
        cls, segments: Sequence[EventSegment], duration: float, step: float = 0.01
    ) -> EventTimeline:
        n = math.ceil(max(duration, 0.0) / step) + 1
        cum: dict[str, np.ndarray] = {}
        for label in ("speech", "music", "speech_over_music", "noise"):
            m = np.zeros(n, dtype=np.float64)
            for s in segments:
                if s.label == label:
                    a, b = round(s.start / step), round(s.end / step)
                    m[max(0, a) : max(0, min(n, b))] = 1.0
            cum[label] = np.concatenate([[0.0], np.cumsum(m)])
        return cls(step, cum)

    def share(self, label: str, start: float, end: float) -> float:
        c = self.cum[label]
        a = int(np.clip(round(start / self.step), 0, len(c) - 1))
        b = int(np.clip(round(end / self.step), 0, len(c) - 1))
        return float((c[b] - c[a]) / max(1, b - a))


def refine_edges(
    sentences: Sequence[Sentence], energy: EnergyTrack | None, search_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Snap sentence starts/ends to the edge of the nearest pause (a run of ≥ 50 ms more than
    30 dB below the speech level) within ``search_s`` outside / 0.2 s inside the ASR times."""
    starts = np.array([s.start for s in sentences], dtype=np.float64)
    ends = np.array([s.end for s in sentences], dtype=np.float64)
    if energy is None or not len(energy.db) or not len(sentences):
        return starts, ends
    voiced = np.concatenate([energy.slice(s.start, s.end) for s in sentences])
    level = float(np.median(voiced)) if len(voiced) else -20.0
    quiet = energy.db < level - 30
    min_run = max(2, round(0.05 / energy.hop_s))  # 50 ms
    inner = 0.2

    def runs(a: int, b: int) -> list[tuple[int, int]]:
        out, k = [], a
        while k < b:
            if quiet[k]:
                j = k
                while j < b and quiet[j]:
                    j += 1
                if j - k >= min_run:
                    out.append((k, j))
                k = j
            else:
                k += 1
        return out

    n = len(quiet)
    for i, s in enumerate(sentences):
        a = energy.index(s.start - search_s)
        b = min(n, energy.index(s.start + inner))
        r = [run for run in runs(a, b) if run[1] * energy.hop_s <= s.start + inner]
        if r:
            starts[i] = max(starts[i] - search_s, r[-1][1] * energy.hop_s)
        a = energy.index(s.end - inner)
        b = min(n, energy.index(s.end + search_s))
        r = [run for run in runs(a, b)]
        if r:
            ends[i] = min(ends[i] + search_s, r[0][0] * energy.hop_s)
        if ends[i] <= starts[i]:
            starts[i], ends[i] = s.start, s.end
    return starts, ends
