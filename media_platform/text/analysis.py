"""Sentences, topic chapters, keywords and embeddings of a word-timed transcript, in one pass.

:func:`analyze_transcript` splits the transcript into sentences
(:mod:`~media_platform.text.sentences`), embeds them (:mod:`~media_platform.text.embedders`),
cuts chapters with TextTiling (:mod:`~media_platform.text.segmentation`) and titles them with
their keywords (:mod:`~media_platform.text.keywords`); it also gives the episode's top keywords
and the embedding centroid that the preview ranking uses for topic coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from media_platform.audio.types import Transcript
from media_platform.text.embedders import Embedder, MiniLMEmbedder, l2_normalize
from media_platform.text.keywords import (
    episode_keywords,
    span_keywords,
    term_stats,
    title_from_keywords,
)
from media_platform.text.segmentation import DEFAULT_CHAPTER_CONFIG, ChapterConfig, segment_topics
from media_platform.text.sentences import Sentence, split_sentences


@dataclass(frozen=True)
class Chapter:
    """A topic chapter. Chapters tile the episode from 0 to its duration."""

    start: float
    end: float
    title: str
    keywords: tuple[str, ...]
    first_sentence: int = 0
    last_sentence: int = -1


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
        return l2_normalize((self.embeddings[first : last + 1] * w[:, None]).sum(0))


def analyze_transcript(
    transcript: Transcript,
    embedder: Embedder | None = None,
    *,
    config: ChapterConfig = DEFAULT_CHAPTER_CONFIG,
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
    centroid = l2_normalize((emb * w[:, None]).sum(0)).astype(np.float32)
    spans = segment_topics(sents, emb, duration_s=max(duration, sents[-1].end), config=config)
    stats = term_stats(sents)
    chapters: list[Chapter] = []
    end_t = max(duration, sents[-1].end)
    for ci, (a, b) in enumerate(spans):
        start = 0.0 if ci == 0 else (sents[a - 1].end + sents[a].start) / 2
        end = end_t if ci == len(spans) - 1 else (sents[b].end + sents[b + 1].start) / 2
        kws = span_keywords(stats, range(a, b + 1), config.chapter_keywords)
        title = title_from_keywords(kws, config.title_keywords, fallback=f"Chapter {ci + 1}")
        chapters.append(Chapter(round(start, 3), round(end, 3), title, kws, a, b))
    return TextAnalysis(
        sentences=sents,
        embeddings=emb,
        chapters=tuple(chapters),
        keywords=episode_keywords(stats, config.episode_keywords),
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
