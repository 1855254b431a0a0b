"""Keywords of an episode and of its chapters.

TF-IDF-ish: term frequency in the span × log inverse *sentence* frequency × the square root of
the share of the term's occurrences that fall in this span, with a stop-word list and a bonus
for words seen capitalised mid-sentence (names). A chapter title is its top keywords.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from media_platform.text.sentences import Sentence
from media_platform.text.tokens import content_terms, raw_tokens


@dataclass
class TermStats:
    """Content terms per sentence, their sentence frequency (``df``), their frequency in the
    whole episode (``total_tf``) and the terms that look like names (``proper``)."""

    sentence_terms: list[list[str]]
    df: Counter[str]
    total_tf: Counter[str]
    proper: set[str]

    @property
    def n(self) -> int:
        return len(self.sentence_terms)

    def idf(self, term: str) -> float:
        return math.log(1.0 + self.n / max(1, self.df[term]))


def term_stats(sentences: Sequence[Sentence]) -> TermStats:
    """The :class:`TermStats` of ``sentences``."""
    sentence_terms = [content_terms(s.text) for s in sentences]
    df: Counter[str] = Counter()
    total_tf: Counter[str] = Counter()
    for terms in sentence_terms:
        df.update(set(terms))
        total_tf.update(terms)
    proper: set[str] = set()
    lower_seen: set[str] = set()
    for s in sentences:
        for k, tok in enumerate(raw_tokens(s.text)):
            t = tok.lower().removesuffix("'s")
            if tok[0].isupper() and k > 0 and len(tok) > 1 and not tok.isupper():
                proper.add(t)
            elif tok[0].islower():
                lower_seen.add(t)
    return TermStats(sentence_terms, df, total_tf, proper - lower_seen)


def _rank_terms(scores: dict[str, float], k: int) -> tuple[str, ...]:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
    return tuple(t for t, _ in ranked[:k])


def span_keywords(stats: TermStats, idx: range, k: int) -> tuple[str, ...]:
    """Top ``k`` keywords of the sentences ``idx`` (a chapter) against the whole episode."""
    tf: Counter[str] = Counter()
    for i in idx:
        tf.update(stats.sentence_terms[i])
    scores = {
        t: c * stats.idf(t) * math.sqrt(c / stats.total_tf[t]) * (1.5 if t in stats.proper else 1.0)
        for t, c in tf.items()
    }
    return _rank_terms(scores, k)


def episode_keywords(stats: TermStats, k: int = 10) -> tuple[str, ...]:
    """Top ``k`` keywords of the whole episode (tf × log(1 + N/df) over sentences, names ×1.5)."""
    scores = {
        t: c * stats.idf(t) * (1.5 if t in stats.proper else 1.0) for t, c in stats.total_tf.items()
    }
    return _rank_terms(scores, k)


def title_from_keywords(keywords: Sequence[str], n: int = 3, fallback: str = "Chapter") -> str:
    """A short title: the first ``n`` keywords, capitalised, joined with ", "."""
    words = [k[:1].upper() + k[1:] for k in keywords[:n]]
    return ", ".join(words) if words else fallback
