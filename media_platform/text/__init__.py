"""Text-side analysis of transcripts: sentences, topic chapters, keywords, embeddings.

Pure domain code (no Dagster). See :mod:`media_platform.text.chapters`.
"""

from media_platform.text.chapters import (
    Chapter,
    ChapterConfig,
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    Sentence,
    TextAnalysis,
    analyze_transcript,
    chapters_to_rows,
    segment_topics,
    split_sentences,
    tokenize,
)

__all__ = [
    "Chapter",
    "ChapterConfig",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "Sentence",
    "TextAnalysis",
    "analyze_transcript",
    "chapters_to_rows",
    "segment_topics",
    "split_sentences",
    "tokenize",
]
