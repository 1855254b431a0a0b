"""The ad model: phrase lexicons and a logistic ad classifier over them, per sentence and block.

A logistic model with hand-set weights (see :data:`AD_WEIGHTS`) over phrase-group features
``log1p(count)`` (capped at 2) for sponsor / code / offer / url / call-to-action phrases and the
share of speech over a music bed. The weights are chosen so that no single weak cue makes an ad
(one call to action: p≈0.08; a music bed alone: p≈0.38; "sponsored by" alone: p≈0.4) while two
strong cues, or phrases plus a music bed, do (p > 0.5). Sentences are scored with their own text
and acoustics (:func:`flag_ad_sentences`), then each sentence adds its strongest neighbour's
positive logit (ads come in blocks) and short gaps between flagged sentences are filled.

The lexicons of intro/outro phrases and spoiler cues are counted alongside
(:func:`phrase_counts`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence

from media_platform.text.sentences import Sentence


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


def phrase_counts(text: str) -> dict[str, int]:
    """Counts of each ad phrase group, intro/outro phrases and spoiler cues in ``text``."""
    out = {g: len(rx.findall(text)) for g, rx in AD_PHRASES.items()}
    out["intro_outro"] = len(INTRO_OUTRO.findall(text))
    out["spoiler"] = len(SPOILER_CUES.findall(text))
    return out


def ad_logit(counts: Mapping[str, int], music_under_speech: float) -> float:
    """Logit of the ad classifier: bias + Σ w_g · min(2, log1p(count_g)) + w · music share."""
    z = AD_WEIGHTS["bias"] + AD_WEIGHTS["music_under_speech"] * float(music_under_speech)
    for g in AD_PHRASES:
        z += AD_WEIGHTS[g] * min(2.0, math.log1p(counts.get(g, 0)))
    return z


def sigmoid(z: float) -> float:
    """The logistic function, its argument clipped to ±50."""
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def ad_probability(counts: Mapping[str, int], music_under_speech: float = 0.0) -> float:
    """Probability that speech with these :func:`phrase_counts` (over a music bed for the given
    share of its time) is an ad."""
    return sigmoid(ad_logit(counts, music_under_speech))


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
