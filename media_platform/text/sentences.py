"""Sentences from transcript words.

Sentence-final punctuation (``. ? ! …``, abbreviations such as "Mr." excepted) ends a sentence;
a pause longer than ``hard_pause_s`` always does, and inside a stretch longer than
``fallback_max_sentence_s`` any pause longer than ``pause_s`` does. A transcript without any
sentence punctuation (e.g. a lower-cased ASR output or caption file) falls back to pauses
between words longer than ``pause_s`` (~0.6 s); any run that is still longer than
``max_sentence_s`` is split at its longest internal pause, recursively.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from media_platform.audio.types import Transcript, Word

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "approx",
        "dept",
        "est",
        "fig",
        "gen",
        "gov",
        "lt",
        "col",
        "sgt",
        "rev",
        "hon",
        "mt",
        "ft",
        "vol",
        "u.s",
        "u.k",
    ]
)


@dataclass(frozen=True)
class Sentence:
    """A sentence (or, without punctuation, a pause-delimited phrase) with its words.

    ``terminal`` is True when the last word carries sentence-final punctuation; ``gap_before``
    / ``gap_after`` are the silences (s) to the neighbouring words (``inf`` at the episode
    edges)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...]
    terminal: bool = False
    gap_before: float = math.inf
    gap_after: float = math.inf

    @property
    def duration(self) -> float:
        return self.end - self.start


def _is_terminal(word: str) -> bool:
    """True when ``word`` ends a sentence: ``. ? ! …`` (closing quotes allowed), except
    abbreviations ("Mr.", "etc.") and single initials ("F.")."""
    w = word.strip().rstrip("\"'”’)]")
    if not w or w[-1] not in ".?!…":
        return False
    if w.endswith(".") and not w.endswith(".."):
        core = w[:-1].lstrip("(\"'“‘").lower()
        if core in _ABBREVIATIONS or (len(core) == 1 and core.isalpha()):
            return False
    return True


def join_words(words: Sequence[Word]) -> str:
    """Join words into text. Whisper-style words carry their own leading space (and word
    pieces such as "-disposed" none), so they are concatenated as they are; words without
    leading spaces (subtitles, other ASR) are joined with single spaces."""
    if not words:
        return ""
    spaced = sum(1 for w in words if w.word[:1].isspace()) >= 0.5 * len(words)
    if spaced:
        text = "".join(w.word for w in words)
    else:
        text = " ".join(w.word.strip() for w in words)
    return re.sub(r"\s+", " ", text).strip()


def _split_long(words: list[Word], max_s: float, min_pause_s: float) -> list[list[Word]]:
    """Split a run of words longer than ``max_s`` at its longest pause (recursively)."""
    if len(words) < 2 or words[-1].end - words[0].start <= max_s:
        return [words]
    gaps = [words[i + 1].start - words[i].end for i in range(len(words) - 1)]
    k = int(np.argmax(gaps))
    if gaps[k] < min_pause_s:
        # no real pause: fall back to a comma, else keep the run whole
        commas = [
            i for i in range(len(words) - 1) if words[i].word.strip().endswith((",", ";", ":"))
        ]
        if not commas:
            return [words]
        mid = (words[0].start + words[-1].end) / 2
        k = min(commas, key=lambda i: abs(words[i].end - mid))
    return _split_long(words[: k + 1], max_s, min_pause_s) + _split_long(
        words[k + 1 :], max_s, min_pause_s
    )


def split_sentences(
    source: Transcript | Sequence[Word],
    *,
    pause_s: float = 0.6,
    hard_pause_s: float = 2.0,
    max_sentence_s: float = 30.0,
    fallback_max_sentence_s: float = 15.0,
    min_split_pause_s: float = 0.25,
) -> list[Sentence]:
    """Sentences of a transcript (see module docstring for the rules).

    ``source`` is a :class:`Transcript` or its words. Words with empty text are dropped.
    """
    words = [
        w for w in (source.words if isinstance(source, Transcript) else source) if w.word.strip()
    ]
    words.sort(key=lambda w: (w.start, w.end))
    if not words:
        return []
    punctuated = any(_is_terminal(w.word) for w in words)
    runs: list[list[Word]] = []
    cur: list[Word] = []
    for _i, w in enumerate(words):
        if cur:
            gap = w.start - cur[-1].end
            if gap > (hard_pause_s if punctuated else pause_s):
                runs.append(cur)
                cur = []
        cur.append(w)
        if punctuated and _is_terminal(w.word):
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    limit = max_sentence_s if punctuated else fallback_max_sentence_s
    pieces: list[list[Word]] = []
    for run in runs:
        if punctuated and run[-1].end - run[0].start > fallback_max_sentence_s:
            # a long stretch without sentence punctuation inside a punctuated transcript (ASR
            # drops punctuation at times): its pauses are boundaries too
            sub: list[list[Word]] = [[run[0]]]
            for prev, w in itertools.pairwise(run):
                if w.start - prev.end > pause_s:
                    sub.append([])
                sub[-1].append(w)
        else:
            sub = [run]
        for piece in sub:
            pieces.extend(_split_long(piece, limit, min_split_pause_s))
    out: list[Sentence] = []
    for k, p in enumerate(pieces):
        gap_before = p[0].start - pieces[k - 1][-1].end if k else math.inf
        gap_after = pieces[k + 1][0].start - p[-1].end if k + 1 < len(pieces) else math.inf
        out.append(
            Sentence(
                start=float(p[0].start),
                end=float(p[-1].end),
                text=join_words(p),
                words=tuple(p),
                terminal=_is_terminal(p[-1].word),
                gap_before=float(max(0.0, gap_before)),
                gap_after=float(max(0.0, gap_after)),
            )
        )
    return out
