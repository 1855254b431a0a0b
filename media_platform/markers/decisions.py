"""Marker decisions for a whole series: ``intro``, ``recap``, ``credits`` and
``preview_of_next`` spans of every episode, from the stretches each shares with the others.

Every pair of episodes is aligned once (sound and picture, :mod:`~media_platform.markers.alignment`,
fused by :mod:`~media_platform.markers.fusion`). Then, per episode E of the n in the series:

- **Versions** - another episode sharing more than ``duplicate_frac`` of the shorter one is
  another version of it (a merged or re-cut file): it is not evidence (otherwise the whole
  episode would be one long "intro"), and a note says so.
- **Intro** - the stretches E shares with another episode O where both lie in their openings
  (the first ``opening_frac``, at most ``opening_max_s``) are intro candidates, wherever they
  start (cold opens of any length). The *core* is the candidate stretch (one piece of
  material: one offset) that the most other episodes share, when a majority of them do (at
  least ``ceil((n-1)/2)``, one for two episodes; ties: the longest). A
  candidate overlapping E's core whose counterpart overlaps O's core extends the intro, so an
  intro shortened in some episodes keeps its full length in the others. Outside the length
  bounds, no intro and the reason.
- **Credits** - the same in the endings (the last ``ending_frac``, at most ``ending_max_s``);
  uniform (black) frames or silence up to the end extend the credits to the end.
- **Recap** - stretches of E's opening, outside its intro, repeated from an *earlier* episode's
  material that is neither that episode's intro nor its credits (at least ``recap_min_s``;
  pieces closer than ``merge_gap_s`` are one recap).
- **Preview of the next** - stretches of E's ending, outside its credits, repeated in a *later*
  episode outside that one's intro, credits and recap.
- A single episode gets no marker and the reason; so does an episode without shared material.

Edges are snapped to the nearest shot cut within ``snap_s`` when the episode has video.
Confidence: the mean match score of the supporting stretches, scaled by the share of the other
episodes supporting the span (intro, credits) or 0.85 for a span supported by one episode
(recap, preview). The evidence lists the supporting episodes, their spans and the modalities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from media_platform.markers.alignment import Match, align
from media_platform.markers.fingerprints import SILENCE_DB, Fingerprint
from media_platform.markers.fusion import fuse, snap

__all__ = ["MARKER_KINDS", "EpisodeMarkers", "Marker", "MarkerConfig", "SeriesEpisode", "decide_series", "pair_matches"]

MARKER_KINDS = ("recap", "intro", "credits", "preview_of_next")


@dataclass(frozen=True)
class MarkerConfig:
    """Windows, length bounds and tolerances of the marker decisions (seconds or fractions)."""

    opening_frac: float = 0.4
    opening_max_s: float = 900.0
    ending_frac: float = 0.35
    ending_max_s: float = 600.0
    intro_min_s: float = 5.0
    intro_max_s: float = 150.0
    credits_min_s: float = 5.0
    credits_max_s: float = 600.0
    recap_min_s: float = 3.0
    recap_max_s: float = 300.0
    preview_min_s: float = 3.0
    preview_max_s: float = 180.0
    duplicate_frac: float = 0.8
    merge_gap_s: float = 2.0
    snap_s: float = 0.6
    tail_flat_s: float = 10.0

    def bounds(self, kind: str) -> tuple[float, float]:
        prefix = "preview" if kind == "preview_of_next" else kind
        return getattr(self, f"{prefix}_min_s"), getattr(self, f"{prefix}_max_s")


@dataclass(frozen=True)
class SeriesEpisode:
    """What the decisions need of one episode: its fingerprints (either may be missing), its
    shot cuts (seconds, empty for audio) and its place in the series (``order``)."""

    key: str
    duration_s: float
    order: tuple[Any, ...]
    audio: Fingerprint | None = None
    visual: Fingerprint | None = None
    cuts: np.ndarray = field(default_factory=lambda: np.empty(0))

    def opening_end(self, cfg: MarkerConfig) -> float:
        return min(self.duration_s * cfg.opening_frac, cfg.opening_max_s)

    def ending_start(self, cfg: MarkerConfig) -> float:
        return self.duration_s - min(self.duration_s * cfg.ending_frac, cfg.ending_max_s)


@dataclass(frozen=True)
class Marker:
    kind: str
    start: float
    end: float
    confidence: float
    evidence: dict[str, Any]

    def to_row(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": round(self.start, 3), "end": round(self.end, 3),
                "confidence": round(self.confidence, 3), "evidence": self.evidence}


@dataclass
class EpisodeMarkers:
    key: str
    markers: list[Marker]
    notes: list[str]


Span = tuple[float, float]
Pairs = dict[tuple[str, str], list[Match]]


def pair_matches(a: SeriesEpisode, b: SeriesEpisode) -> list[Match]:
    """Fused matches of ``a`` against ``b`` (a's side first)."""
    audio = align(a.audio, b.audio) if a.audio is not None and b.audio is not None else []
    visual = align(a.visual, b.visual) if a.visual is not None and b.visual is not None else []
    return fuse(audio, visual, sound_compared=a.audio is not None and b.audio is not None)


def _overlap(x: Span, y: Span) -> float:
    return max(0.0, min(x[1], y[1]) - max(x[0], y[0]))


class _Series:
    def __init__(self, episodes: Sequence[SeriesEpisode], cfg: MarkerConfig, pairs: Pairs | None) -> None:
        self.eps = {e.key: e for e in episodes}
        self.cfg = cfg
        self.pairs: Pairs = {}
        keys = list(self.eps)
        for i, ka in enumerate(keys):
            for kb in keys[i + 1:]:
                if pairs and (ka, kb) in pairs:
                    ms = pairs[(ka, kb)]
                elif pairs and (kb, ka) in pairs:
                    ms = [m.swapped() for m in pairs[(kb, ka)]]
                else:
                    ms = pair_matches(self.eps[ka], self.eps[kb])
                self.pairs[(ka, kb)] = ms
                self.pairs[(kb, ka)] = [m.swapped() for m in ms]
        self.versions: dict[str, dict[str, float]] = {k: {} for k in keys}
        for (ka, kb), ms in self.pairs.items():
            shared = self._union_length([(m.a_start, m.a_end) for m in ms])
            shorter = min(self.eps[ka].duration_s, self.eps[kb].duration_s)
            if shorter > 0 and shared > cfg.duplicate_frac * shorter:
                self.versions[ka][kb] = shared / self.eps[ka].duration_s

    @staticmethod
    def _union_length(spans: list[Span]) -> float:
        total, end = 0.0, -math.inf
        for s, e in sorted(spans):
            if e > end:
                total += e - max(s, end)
                end = e
        return total

    def others(self, key: str) -> list[str]:
        return [k for k in self.eps if k != key and k not in self.versions[key]]

    def matches(self, a: str, b: str) -> list[Match]:
        return self.pairs[(a, b)]

    # -- intro and credits: shared by most of the series ------------------------------------

    def _window(self, key: str, kind: str) -> Span:
        e = self.eps[key]
        if kind == "intro":
            return 0.0, e.opening_end(self.cfg)
        return e.ending_start(self.cfg), e.duration_s

    def _candidates(self, key: str, other: str, kind: str) -> list[Match]:
        w_e, w_o = self._window(key, kind), self._window(other, kind)
        if kind == "intro":
            return [m for m in self.matches(key, other) if m.a_start < w_e[1] and m.b_start < w_o[1]]
        return [m for m in self.matches(key, other) if m.a_end > w_e[0] and m.b_end > w_o[0]]

    def core(self, key: str, kind: str) -> tuple[Span | None, int, list[str]]:
        """The shared span of the window: the candidate stretch that the most other episodes
        share (each counts once when one of its candidates covers half of it; ties: the longest),
        when a majority of the others do; its support and the others sharing it. One stretch is
        one piece of material (one offset), so an adjacent recap never merges into it."""
        others = self.others(key)
        if not others:
            return None, 0, []
        need = max(1, math.ceil(len(others) / 2))
        cands = {o: self._candidates(key, o, kind) for o in others}

        def sharing(m: Match) -> list[str]:
            span = (m.a_start, m.a_end)
            return [o for o, ms in cands.items()
                    if any(_overlap(span, (x.a_start, x.a_end)) >= 0.5 * min(m.length, x.length) for x in ms)]

        best: tuple[tuple[int, float], Match, list[str]] | None = None
        for ms in cands.values():
            for m in ms:
                who = sharing(m)
                rank = (len(who), m.length)
                if best is None or rank > best[0]:
                    best = (rank, m, who)
        if best is None:
            return None, 0, []
        (support, _), m, who = best
        if support < need:
            return None, support, []
        return (m.a_start, m.a_end), support, who


def _snap_span(ep: SeriesEpisode, span: Span, cfg: MarkerConfig) -> Span:
    s = 0.0 if span[0] <= cfg.snap_s else snap(span[0], ep.cuts, cfg.snap_s)
    e = ep.duration_s if ep.duration_s - span[1] <= cfg.snap_s else snap(span[1], ep.cuts, cfg.snap_s)
    return s, e


def _extend_to_end(ep: SeriesEpisode, span: Span, cfg: MarkerConfig) -> Span:
    """Credits followed only by uniform frames (or digital silence) up to the end reach the end."""
    if ep.duration_s - span[1] > cfg.tail_flat_s:
        return span
    for fp in (ep.visual, ep.audio):
        if fp is None or len(fp) == 0:
            continue
        tail = fp.times >= span[1] + (0.75 if fp.kind == "audio" else 0.0)  # sound edges are ±0.5 s
        empty = fp.flat if fp.kind == "visual" else fp.level <= SILENCE_DB
        if tail.any() and bool(empty[tail].all()):
            return span[0], ep.duration_s
    return span


def _group(spans: list[Span], gap: float) -> list[Span]:
    out: list[Span] = []
    for s, e in sorted(spans):
        if out and s - out[-1][1] <= gap:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _minus(span: Span, holes: list[Span]) -> list[Span]:
    pieces = [span]
    for h in holes:
        nxt = []
        for s, e in pieces:
            if h[1] <= s or h[0] >= e:
                nxt.append((s, e))
                continue
            if h[0] > s:
                nxt.append((s, h[0]))
            if h[1] < e:
                nxt.append((h[1], e))
        pieces = nxt
    return [p for p in pieces if p[1] - p[0] > 0.05]


def decide_series(
    episodes: Sequence[SeriesEpisode], config: MarkerConfig | None = None, *, pairs: Pairs | None = None
) -> dict[str, EpisodeMarkers]:
    """Markers of every episode of one series (see the module docstring)."""
    cfg = config or MarkerConfig()
    series = _Series(episodes, cfg, pairs)
    out = {k: EpisodeMarkers(k, [], []) for k in series.eps}
    shared: dict[str, dict[str, Span]] = {k: {} for k in series.eps}  # kind -> span per episode
    for key, em in out.items():
        for other, share in series.versions[key].items():
            em.notes.append(f"{other} shares {share:.0%} of this episode: another version of it, not used as evidence")
        if not series.others(key):
            em.notes.append("no intro: the only episode of its series (nothing to align against)"
                            if len(series.eps) == 1 else "no intro: every other episode of the series is a version of this one")
    cores = {(k, kind): series.core(k, kind) for k in series.eps for kind in ("intro", "credits")}
    for key, em in out.items():
        ep = series.eps[key]
        others = series.others(key)
        if not others:
            continue
        for kind in ("intro", "credits"):
            core, support, sharing = cores[(key, kind)]
            need = max(1, math.ceil(len(others) / 2))
            if core is None:
                where = "opening" if kind == "intro" else "ending"
                em.notes.append(f"no {kind}: nothing in the {where} is shared by {need} of the {len(others)} other episodes"
                                f" (at most {support})")
                continue
            span, used = core, []
            for o in others:
                o_core = cores[(o, kind)][0]
                for m in series._candidates(key, o, kind):
                    if o_core is None:
                        continue
                    # the same material on both sides (not an adjacent recap touching the core)
                    mine = _overlap((m.a_start, m.a_end), core) >= 0.5 * min(m.length, core[1] - core[0])
                    theirs = _overlap((m.b_start, m.b_end), o_core) >= 0.5 * min(m.b_end - m.b_start, o_core[1] - o_core[0])
                    if mine and theirs:
                        span = (min(span[0], m.a_start), max(span[1], m.a_end))
                        used.append((o, m))
            if kind == "credits":
                span = _extend_to_end(ep, span, cfg)
            span = _snap_span(ep, span, cfg)
            lo, hi = cfg.bounds(kind)
            if not lo <= span[1] - span[0] <= hi:
                em.notes.append(f"no {kind}: the shared span {span[0]:.1f}-{span[1]:.1f} s lasts {span[1] - span[0]:.1f} s,"
                                f" outside {lo:.0f}-{hi:.0f} s")
                continue
            shared[key][kind] = span
            em.markers.append(_marker(kind, span, used or [(o, None) for o in sharing], len(others), support))
    for key, em in out.items():  # recaps need every episode's intro and credits
        _add_repeats(series, key, em, shared, "recap")
    for key, em in out.items():  # previews need every episode's recap
        _add_repeats(series, key, em, shared, "preview_of_next")
    for em in out.values():
        em.markers = _without_overlaps(em.markers, cfg)
        kinds = {m.kind for m in em.markers}
        if "intro" not in kinds and not any(n.startswith("no intro") for n in em.notes):
            em.notes.append("no intro: its shared opening was rejected (see above)")
    return out


def _marker(kind: str, span: Span, used: list[tuple[str, Match | None]], n_others: int, support: int) -> Marker:
    scores = [m.score for _, m in used if m is not None]
    sources = sorted({s for _, m in used if m is not None for s in m.source.split("+")})
    partners = sorted({o for o, _ in used})
    score = float(np.mean(scores)) if scores else 0.5
    share = len(partners) / max(1, n_others) if kind in ("intro", "credits") else 0.85
    confidence = score * min(1.0, 0.6 + 0.4 * share) if kind in ("intro", "credits") else score * share
    evidence = {
        "episodes": partners,
        "support": max(support, len(partners)),
        "of": n_others,
        "sources": sources,
        "match_score": round(score, 3),
        "spans": [{"episode": o, "start": round(m.b_start, 2), "end": round(m.b_end, 2), "source": m.source}
                  for o, m in used if m is not None][:20],
    }
    return Marker(kind, span[0], span[1], float(np.clip(confidence, 0.0, 1.0)), evidence)


def _add_repeats(series: _Series, key: str, em: EpisodeMarkers, shared: dict[str, dict[str, Span]], kind: str) -> None:
    cfg = series.cfg
    ep = series.eps[key]
    mine = list(shared[key].values())
    later = kind == "preview_of_next"
    window = (ep.ending_start(cfg), ep.duration_s) if later else (0.0, ep.opening_end(cfg))
    pieces: list[tuple[Span, str, Match]] = []
    for o in series.others(key):
        if (series.eps[o].order > ep.order) != later or series.eps[o].order == ep.order:
            continue
        theirs = [s for k, s in shared[o].items() if k in ("intro", "credits", "recap")]
        if not later:  # a recap repeats their body, not what follows their credits (a preview of this one)
            tail = shared[o]["credits"][0] if "credits" in shared[o] else series.eps[o].ending_start(cfg)
            theirs.append((tail, series.eps[o].duration_s))
        for m in series.matches(key, o):
            a, b = (m.a_start, m.a_end), (m.b_start, m.b_end)
            if _overlap(a, window) < 0.5 * (a[1] - a[0]):
                continue
            if any(_overlap(b, t) > 0.5 * (b[1] - b[0]) for t in theirs):
                continue  # their intro or credits (or recap): not material of their own
            for piece in _minus(a, mine):
                pieces.append((piece, o, m))
    lo, hi = cfg.bounds(kind)
    for group in _group([p for p, _, _ in pieces], cfg.merge_gap_s):
        group = _snap_span(ep, group, cfg)
        if not lo <= group[1] - group[0] <= hi:
            continue
        used = [(o, m) for p, o, m in pieces if _overlap(p, group) > 0]
        em.markers.append(_marker(kind, group, used, len(series.others(key)), len({o for o, _ in used})))
        shared[key].setdefault(kind, group)


def _without_overlaps(markers: list[Marker], cfg: MarkerConfig) -> list[Marker]:
    """Sorted by start; a marker starting inside the previous one starts at its end, and is
    dropped when what is left is shorter than its kind's minimum."""
    out: list[Marker] = []
    for m in sorted(markers, key=lambda m: (m.start, m.end)):
        if out and m.start < out[-1].end:
            m = Marker(m.kind, out[-1].end, m.end, m.confidence, m.evidence)
        if m.end - m.start < cfg.bounds(m.kind)[0]:
            continue
        out.append(m)
    return out
