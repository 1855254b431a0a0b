"""The features of a preview window, its raw values and its cleanliness flags.

Features (all scaled to about 0..1 so that ranking weights are comparable and a ranker can learn
from them): ``length_fit``, ``speech_ratio``, ``music_ratio`` (music or speech over music),
``music_under_speech``, ``energy`` and ``energy_variation`` (RMS), ``rate_fit`` (speaking rate
near a natural 2.7 words/s), ``completeness`` (starts at a sentence start, ends at a sentence
end, no dangling "and"/"because"), ``boundary_pause``, ``intro_outro``, ``ad_prob`` (the
logistic ad classifier of :mod:`~media_platform.previews.ad_model`), ``ad_overlap`` (share of the
window in sentences flagged as an ad block), ``spoiler_cues``, ``position``, ``in_tail``,
``topic_similarity`` (cosine to the episode centroid), ``keyword_coverage`` (share of the
episode's top keywords). Raw values (seconds, words/s, dB) go to the ``info`` dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from media_platform.previews.ad_model import (
    AD_PHRASES,
    ad_probability,
    flag_ad_sentences,
    phrase_counts,
)
from media_platform.previews.signals import EnergyTrack, EventTimeline, refine_edges
from media_platform.text.analysis import TextAnalysis
from media_platform.text.sentences import Sentence
from media_platform.text.tokens import tokenize

if TYPE_CHECKING:  # pragma: no cover
    from media_platform.previews.candidates import CandidateConfig

FEATURE_NAMES: tuple[str, ...] = (
    "length_fit",
    "speech_ratio",
    "music_ratio",
    "music_under_speech",
    "energy",
    "energy_variation",
    "rate_fit",
    "completeness",
    "boundary_pause",
    "intro_outro",
    "ad_prob",
    "ad_overlap",
    "spoiler_cues",
    "position",
    "in_tail",
    "topic_similarity",
    "keyword_coverage",
)


DANGLING = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "cause",
        "that",
        "which",
        "who",
        "whom",
        "whose",
        "the",
        "a",
        "an",
        "to",
        "of",
        "with",
        "for",
        "if",
        "when",
        "while",
        "although",
        "though",
        "then",
        "like",
        "um",
        "uh",
        "my",
        "your",
        "our",
        "their",
        "his",
        "her",
        "its",
        "is",
        "was",
        "are",
        "were",
        "in",
        "on",
        "at",
        "by",
        "from",
        "as",
        "into",
        "than",
        "whether",
    ]
)
CONNECTORS = frozenset(["and", "but", "or", "so", "because", "also", "then"])


def _last_word(s: Sentence) -> str:
    toks = tokenize(s.words[-1].word) if s.words else []
    return toks[-1] if toks else ""


def _first_word(s: Sentence) -> str:
    toks = tokenize(s.words[0].word) if s.words else []
    return toks[0] if toks else ""


@dataclass(frozen=True)
class WindowFeaturizer:
    """What the windows of one episode are measured against: sentence edges snapped to pauses
    (``starts``/``ends``), phrase counts and music-bed share per sentence, the ad-flagged
    sentences, the speech level, the top keywords and where the spoiler tail starts."""

    analysis: TextAnalysis
    timeline: EventTimeline
    energy: EnergyTrack | None
    config: CandidateConfig
    duration: float
    bed_episode: bool
    starts: np.ndarray
    ends: np.ndarray
    speech_level: float
    counts: list[dict[str, int]]
    som_sent: list[float]
    ad_sentences: list[int]
    ad_mask: np.ndarray
    top_kw: set[str]
    sent_terms: list[set[str]]
    tail_start: float

    @classmethod
    def build(
        cls,
        analysis: TextAnalysis,
        timeline: EventTimeline,
        energy: EnergyTrack | None,
        *,
        duration: float,
        bed_episode: bool,
        config: CandidateConfig,
    ) -> WindowFeaturizer:
        sents = analysis.sentences
        starts, ends = refine_edges(sents, energy, config.refine_search_s)
        speech_level = -20.0
        if energy is not None:
            voiced = np.concatenate([energy.slice(a, b) for a, b in zip(starts, ends)])
            speech_level = float(np.median(voiced)) if len(voiced) else -20.0

        counts = [phrase_counts(s.text) for s in sents]
        som_sent = [timeline.share("speech_over_music", a, b) for a, b in zip(starts, ends)]
        ad_sents = flag_ad_sentences(sents, counts, som_sent, config.ad_fill_sentences)
        ad_mask = np.zeros(len(sents), dtype=bool)
        ad_mask[ad_sents] = True
        top_kw = set(analysis.keywords[: config.top_keywords])
        sent_terms = [set(tokenize(s.text)) for s in sents]
        tail_on = config.exclude_tail_frac > 0 and duration >= config.tail_min_episode_s
        tail_start = duration * (1.0 - config.exclude_tail_frac) if tail_on else math.inf
        return cls(
            analysis=analysis,
            timeline=timeline,
            energy=energy,
            config=config,
            duration=duration,
            bed_episode=bed_episode,
            starts=starts,
            ends=ends,
            speech_level=speech_level,
            counts=counts,
            som_sent=som_sent,
            ad_sentences=ad_sents,
            ad_mask=ad_mask,
            top_kw=top_kw,
            sent_terms=sent_terms,
            tail_start=tail_start,
        )

    def window(self, i: int, j: int) -> tuple[dict[str, float], dict[str, float], tuple[str, ...]]:
        """``(features, info, flags)`` of the window from sentence ``i`` to sentence ``j``."""
        analysis, config, timeline, energy = self.analysis, self.config, self.timeline, self.energy
        sents, starts, ends, counts = analysis.sentences, self.starts, self.ends, self.counts
        duration, speech_level, bed_episode = self.duration, self.speech_level, self.bed_episode
        a, b = float(starts[i]), float(ends[j])
        d = max(1e-6, b - a)
        span = sents[i : j + 1]
        c: dict[str, int] = {}
        for k in range(i, j + 1):
            for g, v in counts[k].items():
                c[g] = c.get(g, 0) + v
        speech = timeline.share("speech", a, b)
        som = timeline.share("speech_over_music", a, b)
        music = timeline.share("music", a, b)
        n_words = sum(len(s.words) for s in span)
        wps = n_words / d
        last = sents[j]
        end_ok = 1.0 if (last.terminal or last.gap_after >= config.pause_s) else 0.0
        dangling = 1.0 if (_last_word(last) in DANGLING and not last.terminal) else 0.0
        prev_ok = i == 0 or sents[i - 1].terminal or sents[i].gap_before >= config.pause_s
        start_ok = (1.0 if prev_ok else 0.0) * (0.5 if _first_word(sents[i]) in CONNECTORS else 1.0)
        completeness = (start_ok + end_ok + (1.0 - dangling)) / 3.0
        gb = sents[i].gap_before if math.isfinite(sents[i].gap_before) else 1.0
        ga = last.gap_after if math.isfinite(last.gap_after) else 1.0
        boundary_pause = (min(1.0, gb / config.pause_s) + min(1.0, ga / config.pause_s)) / 2
        ad_p = ad_probability(c, som)
        ad_overlap = sum(float(ends[k] - starts[k]) for k in range(i, j + 1) if self.ad_mask[k]) / d
        info: dict[str, float] = {
            "duration_s": d,
            "words": float(n_words),
            "words_per_s": wps,
            "ad_phrases": float(sum(c.get(g, 0) for g in AD_PHRASES)),
            "intro_outro_phrases": float(c.get("intro_outro", 0)),
            "spoiler_cues": float(c.get("spoiler", 0)),
        }
        energy_f, energy_var = 0.5, 0.0
        if energy is not None:
            db = energy.slice(a, b)
            v = db[db > speech_level - 30]
            if len(v):
                rel = float(v.mean()) - speech_level
                info["energy_rel_db"] = rel
                info["energy_std_db"] = float(v.std())
                energy_f = float(np.clip(0.5 + rel / 12.0, 0.0, 1.0))
                energy_var = float(np.clip(v.std() / 12.0, 0.0, 1.0))
        emb = analysis.span_embedding(i, j)
        topic = float(np.clip(emb @ analysis.centroid, 0.0, 1.0)) if len(emb) else 0.0
        terms = set().union(*self.sent_terms[i : j + 1])
        kw_cov = len(terms & self.top_kw) / len(self.top_kw) if self.top_kw else 0.0
        feats = {
            "length_fit": min(1.0, d / config.target_s),
            "speech_ratio": min(1.0, speech + som),
            "music_ratio": min(1.0, music + som),
            "music_under_speech": som,
            "energy": energy_f,
            "energy_variation": energy_var,
            "rate_fit": math.exp(-(((wps - config.natural_rate_wps) / 1.0) ** 2)),
            "completeness": completeness,
            "boundary_pause": boundary_pause,
            "intro_outro": min(1.0, float(c.get("intro_outro", 0))),
            "ad_prob": ad_p,
            "ad_overlap": min(1.0, ad_overlap),
            "spoiler_cues": min(1.0, c.get("spoiler", 0) / 2.0),
            "position": ((a + b) / 2) / duration if duration > 0 else 0.0,
            "in_tail": 1.0 if b > self.tail_start + 1e-6 else 0.0,
            "topic_similarity": topic,
            "keyword_coverage": kw_cov,
        }
        flags: list[str] = []
        if feats["speech_ratio"] < config.min_speech_ratio:
            flags.append("low_speech")
        music_s = music * d
        bed_sentence = not bed_episode and any(self.som_sent[k] > 0.5 for k in range(i, j + 1))
        if (
            music > config.max_music_ratio
            or music_s > config.max_music_s
            or bed_sentence
            or (not bed_episode and som > config.max_music_ratio)
        ):
            flags.append("music")
        if ad_p > config.max_ad_prob or ad_overlap > 0:
            flags.append("ad")
        if c.get("intro_outro", 0) > 0:
            flags.append("intro_outro")
        if feats["in_tail"] > 0:
            flags.append("tail")
        return feats, info, tuple(flags)
