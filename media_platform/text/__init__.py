"""Text-side analysis of transcripts: sentences, topic chapters, keywords, embeddings.

Pure domain code (no Dagster). One module a job: :mod:`~media_platform.text.tokens` (tokens,
stop words), :mod:`~media_platform.text.sentences`, :mod:`~media_platform.text.embedders`,
:mod:`~media_platform.text.segmentation` (TextTiling), :mod:`~media_platform.text.keywords`,
and :mod:`~media_platform.text.analysis`, which runs them all over a transcript.
"""

from media_platform.text.analysis import (
    Chapter,
    TextAnalysis,
    analyze_transcript,
    chapters_to_rows,
)
from media_platform.text.embedders import Embedder, MiniLMEmbedder
from media_platform.text.segmentation import ChapterConfig, segment_topics
from media_platform.text.sentences import Sentence, split_sentences
from media_platform.text.tokens import tokenize

__all__ = [
    "Chapter",
    "ChapterConfig",
    "Embedder",
    "MiniLMEmbedder",
    "Sentence",
    "TextAnalysis",
    "analyze_transcript",
    "chapters_to_rows",
    "segment_topics",
    "split_sentences",
    "tokenize",
]
