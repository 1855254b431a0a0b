"""Word tokens of transcript text and the stop-word list that keeps them from being keywords.

The stop words are data: ``stopwords.txt`` next to this module, one lower-case word a line
(``#`` starts a comment line).
"""

from __future__ import annotations

import re
from importlib import resources

_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")


def _load_stopwords() -> frozenset[str]:
    text = resources.files(__package__).joinpath("stopwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


STOPWORDS: frozenset[str] = _load_stopwords()


def raw_tokens(text: str) -> list[str]:
    """Word tokens of ``text`` as written (case kept, possessive kept)."""
    return _TOKEN_RE.findall(text)


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
