"""Preview candidates: sentence-aligned windows of an episode and their features.

Pure, typed domain code (no Dagster). Inputs are the shared shapes of
:mod:`media_platform.audio.types` (``EventSegment`` timeline), a :class:`~media_platform.text.
chapters.TextAnalysis` of the transcript, and optionally the (mono) audio samples.

Windows
    Every span that starts at a sentence start and ends at a sentence end, whose length is the
    target (default 30 s) within a small tolerance (``target - full_slack_s`` ..
    ``target + max_over_s``). Sentence edges are snapped to the nearest real pause in the audio
    when samples are given (ASR word times are ~0.1-0.3 s off). When no *clean* window of the
    target length exists (each would reach into an ad, intro/outro, music or the spoiler tail),
    shorter clean windows down to ``min_s`` (default 15 s) become candidates as well; when the
    whole episode is shorter than that, windows down to ``abs_min_s``.

Features (``Candidate.features``; all scaled to about 0..1 so that ranking weights are
comparable and a ranker can learn from them)
    ``length_fit``, ``speech_ratio``, ``music_ratio`` (music or speech over music),
    ``music_under_speech``, ``energy`` and ``energy_variation`` (RMS), ``rate_fit`` (speaking
    rate near a natural 2.7 words/s), ``completeness`` (starts at a sentence start, ends at a
    sentence end, no dangling "and"/"because"), ``boundary_pause``, ``intro_outro``,
    ``ad_prob`` (logistic ad classifier), ``ad_overlap`` (share of the window in sentences
    flagged as an ad block), ``spoiler_cues``, ``position``, ``in_tail``, ``topic_similarity``
    (cosine to the episode centroid), ``keyword_coverage`` (share of the episode's top keywords).
    Raw values (seconds, words/s, dB) are in ``Candidate.info``.

Ad classifier (:func:`ad_logit`)
    A logistic model with hand-set weights (see :data:`AD_WEIGHTS`) over phrase-group features
    ``log1p(count)`` (capped at 2) for sponsor / code / offer / url / call-to-action phrases and
    the share of speech over a music bed. The weights are chosen so that no single weak cue makes
    an ad (one call to action: p≈0.08; a music bed alone: p≈0.38; "sponsored by" alone: p≈0.4)
    while two strong cues, or phrases plus a music bed, do (p > 0.5). Sentences are scored with
    their own text and acoustics, then each sentence adds its strongest neighbour's positive
    logit (ads come in blocks) and short gaps between flagged sentences are filled.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from media_platform.audio.types import EventSegment
from media_platform.text.analysis import TextAnalysis
from media_platform.text.sentences import Sentence
from media_platform.text.tokens import tokenize

# --------------------------------------------------------------------------------------------
# Phrase lexicons
# --------------------------------------------------------------------------------------------


def _rx(body: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w'])(?:" + body + r")(?![\w'])", re.IGNORECASE)


_DIGIT_WORDS = "one|two|three|four|five|six|seven|eight|nine|zero|pound|star|\\d"

AD_PHRASES: dict[str, re.Pattern[str]] = {
    "sponsor": _rx(
        r"sponsored by|brought to you by|(?:our|today'?s|this week'?s) sponsors?|supported by"
        r"|thanks to our (?:sponsors?|partners?)|a word from our sponsors?|paid partnership"
        r"|ad[- ]free|advertis\w*"
    ),
    "code": _rx(
        r"use (?:the )?(?:promo |offer |discount )?code|promo code|coupon code|offer code"
        r"|discount code|checkout code|at checkout"
    ),
    "offer": re.compile(
        r"\d+\s?%\s?off\b|(?<![\w'])(?:percent off|free trial|first month free|free shipping"
        r"|limited time|discount|money[- ]back|special offer|risk[- ]free|sign[- ]up bonus)(?![\w'])",
        re.IGNORECASE,
    ),
    "url": re.compile(
        r"\b[a-z0-9-]+\s?\.\s?(?:com|net|org|io|co)\b|(?<![\w'])(?:dot com|dot co|dot net"
        r"|slash [a-z]+|www)(?![\w'])",
        re.IGNORECASE,
    ),
    "cta": _rx(
        rf"press (?:{_DIGIT_WORDS})|call (?:now|today|us)|dial|sign up|head (?:over )?to|go to"
        r"|visit|download (?:the|our) app|order (?:now|today)|available (?:at|now)|get yours"
        r"|shop now|learn more at"
    ),
}

#: Hand-set logistic weights of the ad classifier (see module docstring).
AD_WEIGHTS: dict[str, float] = {
    "bias": -3.5,
    "sponsor": 4.0,
    "code": 3.0,
    "offer": 2.2,
    "url": 2.2,
    "cta": 1.6,
    "music_under_speech": 3.0,
}

INTRO_OUTRO = _rx(
    r"welcome (?:back )?to|welcome back|thanks? (?:you )?(?:so much )?for listening"
    r"|thank you for (?:joining|tuning)|subscribe|rate (?:and|&) review|leave (?:us )?a review"
    r"|see you next (?:time|week)|until next time|i'?m your host|this is episode"
    r"|on (?:today'?s|this) episode|in this episode|follow us|next episode|patreon"
    r"|that'?s (?:all|it) for (?:today|this week)|coming up (?:after|on)"
)

SPOILER_CUES = _rx(
    r"died|dies|dead|killed|kills|murdered|murderer|won|wins|winner|the ending|in the end"
    r"|ends up|turns out|spoilers?|finale|twist|revealed|reveals?|survives?|the culprit"
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


def phrase_counts(text: str) -> dict[str, int]:
    """Counts of each ad phrase group, intro/outro phrases and spoiler cues in ``text``."""
    out = {g: len(rx.findall(text)) for g, rx in AD_PHRASES.items()}
    out["intro_outro"] = len(INTRO_OUTRO.findall(text))
    out["spoiler"] = len(SPOILER_CUES.findall(text))
    return out


def ad_logit(counts: dict[str, int], music_under_speech: float) -> float:
    """Logit of the ad classifier: bias + Σ w_g · min(2, log1p(count_g)) + w · music share."""
    z = AD_WEIGHTS["bias"] + AD_WEIGHTS["music_under_speech"] * float(music_under_speech)
    for g in AD_PHRASES:
        z += AD_WEIGHTS[g] * min(2.0, math.log1p(counts.get(g, 0)))
    return z


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def ad_probability(text: str, music_under_speech: float = 0.0) -> float:
    """Probability that ``text`` (spoken over a music bed for the given share) is an ad."""
    return _sigmoid(ad_logit(phrase_counts(text), music_under_speech))


# --------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------


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
        frames = x[: n * hop].reshape(n, hop).astype(np.float64)
        rms = np.sqrt((frames**2).mean(axis=1))
        db = 20 * np.log10(np.maximum(rms, 1e-6))
        return cls(hop * 1.0 / sample_rate, db.astype(np.float32))

    def index(self, t: float) -> int:
        return int(np.clip(round(t / self.hop_s), 0, len(self.db)))

    def slice(self, start: float, end: float) -> np.ndarray:
        return self.db[self.index(start) : self.index(end)]


@dataclass(frozen=True)
class _Timeline:
    """Per-label cumulative coverage on a 10 ms grid, for O(1) window ratios."""

    step: float
    cum: dict[str, np.ndarray]

    @classmethod
    def build(
        cls, segments: Sequence[EventSegment], duration: float, step: float = 0.01
    ) -> _Timeline:
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


def _refine_edges(
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


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateConfig:
    """Window and cleanliness settings.

    ``include_short``: ``"auto"`` adds windows shorter than the target (down to ``min_s``) only
    when no clean full-length window exists; ``"always"`` / ``"never"`` force it.
    Clean = speech_ratio ≥ ``min_speech_ratio``, pure music ≤ ``max_music_ratio`` and ≤
    ``max_music_s`` seconds, music under speech ≤ ``max_music_ratio`` and no sentence mostly
    over a music bed (both unless more than half of the episode's speech has a bed),
    ``ad_prob`` ≤ ``max_ad_prob`` and no ad-flagged sentence, no intro/outro phrase, not ending in
    the last ``exclude_tail_frac`` of the episode (spoiler risk; only for episodes of at least
    ``tail_min_episode_s``, a short clip has no "ending" to protect).
    """

    target_s: float = 30.0
    min_s: float = 15.0
    abs_min_s: float = 5.0
    full_slack_s: float = 3.0
    max_over_s: float = 2.0
    include_short: Literal["auto", "always", "never"] = "auto"
    exclude_tail_frac: float = 0.15
    tail_min_episode_s: float = 60.0
    min_speech_ratio: float = 0.5
    max_music_ratio: float = 0.15
    max_music_s: float = 1.5
    max_ad_prob: float = 0.5
    ad_fill_sentences: int = 3
    pause_s: float = 0.6
    natural_rate_wps: float = 2.7
    top_keywords: int = 10
    refine_search_s: float = 0.5


@dataclass(frozen=True)
class Candidate:
    """A preview window with its features (0..1), raw values and cleanliness flags."""

    start: float
    end: float
    first_sentence: int
    last_sentence: int
    text: str
    features: dict[str, float]
    info: dict[str, float] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    full_length: bool = True

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def clean(self) -> bool:
        return not self.flags


@dataclass(frozen=True)
class CandidateSet:
    """All candidates of an episode plus what the episode looked like."""

    candidates: tuple[Candidate, ...]
    duration_s: float
    speech_s: float
    ad_sentences: tuple[int, ...]
    notes: tuple[str, ...] = ()

    @property
    def clean(self) -> list[Candidate]:
        return [c for c in self.candidates if c.clean]


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


def _last_word(s: Sentence) -> str:
    toks = tokenize(s.words[-1].word) if s.words else []
    return toks[-1] if toks else ""


def _first_word(s: Sentence) -> str:
    toks = tokenize(s.words[0].word) if s.words else []
    return toks[0] if toks else ""


def flag_ad_sentences(
    sentences: Sequence[Sentence],
    counts: Sequence[dict[str, int]],
    som: Sequence[float],
    fill: int = 3,
    max_fill_s: float = 90.0,
) -> list[int]:
    """Indices of sentences in ad blocks: own logit + strongest neighbour's positive logit > 0,
    then gaps of ≤ ``fill`` sentences (≤ ``max_fill_s``) between flagged sentences filled, and
    a run of sentences over one music bed (``som`` > 0.5 each) flagged as a whole when any of
    them is."""
    n = len(sentences)
    z = [ad_logit(counts[i], som[i]) for i in range(n)]
    flagged = []
    for i in range(n):
        nb = max([z[k] for k in (i - 1, i + 1) if 0 <= k < n] + [0.0])
        if z[i] + max(0.0, nb) > 0:
            flagged.append(i)
    out = set(flagged)
    for a, b in itertools.pairwise(flagged):
        if 1 < b - a <= fill + 1 and sentences[b].start - sentences[a].end <= max_fill_s:
            out.update(range(a + 1, b))
    # a run of sentences over one music bed is one block: flagged together
    k = 0
    while k < n:
        if som[k] <= 0.5:
            k += 1
            continue
        j = k
        while j + 1 < n and som[j + 1] > 0.5 and sentences[j + 1].start - sentences[j].end < 2.0:
            j += 1
        if out & set(range(k, j + 1)):
            out.update(range(k, j + 1))
        k = j + 1
    return sorted(out)


def build_candidates(
    analysis: TextAnalysis,
    events: Sequence[EventSegment] | None,
    samples: np.ndarray | None = None,
    sample_rate: int | None = None,
    *,
    config: CandidateConfig = CandidateConfig(),
) -> CandidateSet:
    """Enumerate and featurise the preview windows of an episode (see module docstring).

    ``events`` is the episode's event timeline (uncovered time counts as silence; ``None``
    means unknown: the transcript is trusted as all speech). ``samples`` (mono or (n, ch)
    float) at ``sample_rate`` enable RMS features and pause snapping.
    """
    sents = analysis.sentences
    duration = float(analysis.duration_s or (sents[-1].end if sents else 0.0))
    if samples is not None and sample_rate:
        duration = max(duration, len(samples) / float(sample_rate))
    notes: list[str] = []
    if events is None:
        events = tuple(EventSegment("speech", s.start, s.end, 1.0) for s in sents)
        notes.append("no event timeline: transcript spans taken as speech")
    timeline = _Timeline.build(events, max(duration, max((e.end for e in events), default=0.0)))
    speech_s = sum(e.end - e.start for e in events if e.label in ("speech", "speech_over_music"))
    som_s = sum(e.end - e.start for e in events if e.label == "speech_over_music")
    bed_episode = speech_s > 0 and som_s / speech_s > 0.5
    if bed_episode:
        notes.append("music bed under most speech: speech over music not treated as unclean")
    if not sents:
        return CandidateSet((), duration, speech_s, (), tuple(notes + ["no sentences"]))

    energy = (
        EnergyTrack.from_samples(samples, int(sample_rate))
        if samples is not None and sample_rate
        else None
    )
    starts, ends = _refine_edges(sents, energy, config.refine_search_s)
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

    def featurise(i: int, j: int, full: bool) -> Candidate:
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
        ad_p = _sigmoid(ad_logit(c, som))
        ad_overlap = sum(float(ends[k] - starts[k]) for k in range(i, j + 1) if ad_mask[k]) / d
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
        terms = set().union(*sent_terms[i : j + 1])
        kw_cov = len(terms & top_kw) / len(top_kw) if top_kw else 0.0
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
            "in_tail": 1.0 if b > tail_start + 1e-6 else 0.0,
            "topic_similarity": topic,
            "keyword_coverage": kw_cov,
        }
        flags: list[str] = []
        if feats["speech_ratio"] < config.min_speech_ratio:
            flags.append("low_speech")
        music_s = music * d
        bed_sentence = not bed_episode and any(som_sent[k] > 0.5 for k in range(i, j + 1))
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
        return Candidate(
            start=round(a, 3),
            end=round(b, 3),
            first_sentence=i,
            last_sentence=j,
            text=" ".join(s.text for s in span),
            features=feats,
            info=info,
            flags=tuple(flags),
            full_length=full,
        )

    def windows(lo: float, hi: float) -> list[tuple[int, int]]:
        out = []
        for i in range(len(sents)):
            for j in range(i, len(sents)):
                d = ends[j] - starts[i]
                if d > hi:
                    break
                if d >= lo:
                    out.append((i, j))
        return out

    hi = config.target_s + config.max_over_s
    full_lo = config.target_s - config.full_slack_s
    cands = [featurise(i, j, True) for i, j in windows(full_lo, hi)]
    need_short = config.include_short == "always" or (
        config.include_short == "auto" and not any(c.clean for c in cands)
    )
    if need_short and config.include_short != "never":
        short = [featurise(i, j, False) for i, j in windows(config.min_s, full_lo - 1e-9)]
        if short:
            notes.append(
                f"no clean {config.target_s:g} s window: shorter windows down to {config.min_s:g} s added"
            )
        cands += short
        if not any(c.clean for c in cands) and config.abs_min_s < config.min_s:
            tiny = [
                featurise(i, j, False) for i, j in windows(config.abs_min_s, config.min_s - 1e-9)
            ]
            if tiny:
                notes.append(
                    f"no clean window of {config.min_s:g} s or more: down to {config.abs_min_s:g} s"
                )
            cands += tiny
    return CandidateSet(tuple(cands), duration, speech_s, tuple(ad_sents), tuple(notes))
