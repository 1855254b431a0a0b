"""English text normalisation for word-error-rate comparison of transcripts."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _english_normalizer() -> Any:
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize_text(text: str) -> str:
    """Normalise English text for word-error-rate comparison.

    Uses Whisper's ``EnglishTextNormalizer`` (the one behind the Whisper paper's WER figures):
    lowercase, punctuation removed, contractions and British/American spellings standardised,
    titles expanded ("Mr." -> "mister"), fillers ("uh", "um") removed, and spelled-out numbers
    converted to digits so "ten" and "10" compare equal.
    """
    return " ".join(_english_normalizer()(text).split())
