"""Preview candidates: sentence-aligned windows of an episode, each with its features.

Pure, typed domain code (no Dagster). Inputs are the shared shapes of
:mod:`media_platform.audio.types` (``EventSegment`` timeline), a
:class:`~media_platform.text.analysis.TextAnalysis` of the transcript, and optionally the (mono)
audio samples.

Windows
    Every span that starts at a sentence start and ends at a sentence end, whose length is the
    target (default 30 s) within a small tolerance (``target - full_slack_s`` ..
    ``target + max_over_s``). Sentence edges are snapped to the nearest real pause in the audio
    when samples are given (ASR word times are ~0.1-0.3 s off). When no *clean* window of the
    target length exists (each would reach into an ad, intro/outro, music or the spoiler tail),
    shorter clean windows down to ``min_s`` (default 15 s) become candidates as well; when the
    whole episode is shorter than that, windows down to ``abs_min_s``.

Each window's features, raw values and cleanliness flags come from
:class:`~media_platform.previews.features.WindowFeaturizer`; the ad classifier behind ``ad_prob``
is :mod:`~media_platform.previews.ad_model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from media_platform.audio.types import EventSegment
from media_platform.previews.features import WindowFeaturizer
from media_platform.previews.signals import EnergyTrack, EventTimeline
from media_platform.text.analysis import TextAnalysis


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


DEFAULT_CANDIDATE_CONFIG = CandidateConfig()


def build_candidates(
    analysis: TextAnalysis,
    events: Sequence[EventSegment] | None,
    samples: np.ndarray | None = None,
    sample_rate: int | None = None,
    *,
    config: CandidateConfig = DEFAULT_CANDIDATE_CONFIG,
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
    timeline = EventTimeline.build(events, max(duration, max((e.end for e in events), default=0.0)))
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
    featurizer = WindowFeaturizer.build(
        analysis, timeline, energy, duration=duration, bed_episode=bed_episode, config=config
    )
    starts, ends = featurizer.starts, featurizer.ends

    def featurise(i: int, j: int, full: bool) -> Candidate:
        feats, info, flags = featurizer.window(i, j)
        return Candidate(
            start=round(float(starts[i]), 3),
            end=round(float(ends[j]), 3),
            first_sentence=i,
            last_sentence=j,
            text=" ".join(s.text for s in sents[i : j + 1]),
            features=feats,
            info=info,
            flags=flags,
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
    return CandidateSet(
        tuple(cands), duration, speech_s, tuple(featurizer.ad_sentences), tuple(notes)
    )
