"""Zero-shot visual tag scores: CLIP image embeddings against the vocabulary's text prompts.

:func:`prompt_bank` encodes every tag's prompts once and averages them into one text embedding
per tag (CLIP's prompt ensembling: the mean of the L2-normalised prompt embeddings,
renormalised), and the background prompts likewise into one "background" embedding.
:func:`visual_scores` turns image embeddings into calibrated scores in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from media_platform.tags.vectors import sigmoid, unit_rows
from media_platform.tags.vocabulary import Vocabulary

DEFAULT_LOGIT_SCALE = 100.0  # CLIP's learned temperature hits its clamp, 100, in training


@dataclass(frozen=True)
class PromptBank:
    """One unit text embedding per tag (rows of ``tag_embeddings``; zeros and ``has_prompts``
    False for tags without prompts) and the background embedding."""

    names: tuple[str, ...]
    tag_embeddings: np.ndarray  # (T, d) float32
    has_prompts: np.ndarray  # (T,) bool
    background: np.ndarray  # (d,) float32 unit vector (zeros when there are no background prompts)
    background_prompts: tuple[str, ...]

    @property
    def dim(self) -> int:
        return int(self.tag_embeddings.shape[1])


def ensemble(embeddings: np.ndarray) -> np.ndarray:
    """The prompt-ensemble embedding: mean of the unit rows, renormalised to a unit vector."""
    unit, _ = unit_rows(embeddings)
    return unit_rows(unit.mean(axis=0, keepdims=True))[0][0].astype(np.float32)


def prompt_bank(vocab: Vocabulary, encode_text: Callable[[list[str]], np.ndarray]) -> PromptBank:
    """Encode every prompt of ``vocab`` in one call of ``encode_text`` (texts -> (n, d) array,
    e.g. :meth:`media_platform.video.clip.ClipEncoder.encode_text`) and ensemble them per tag."""
    texts: list[str] = []
    for tag in vocab.tags:
        texts.extend(tag.prompts)
    texts.extend(vocab.background_prompts)
    if not texts:
        raise ValueError(f"{vocab.source}: no prompts to encode")
    emb = np.asarray(encode_text(texts), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ValueError(f"encode_text returned shape {emb.shape} for {len(texts)} texts")
    dim = emb.shape[1]
    rows = np.zeros((len(vocab.tags), dim), np.float32)
    has = np.zeros(len(vocab.tags), bool)
    pos = 0
    for i, tag in enumerate(vocab.tags):
        k = len(tag.prompts)
        if k:
            rows[i] = ensemble(emb[pos : pos + k])
            has[i] = True
        pos += k
    nb = len(vocab.background_prompts)
    background = ensemble(emb[pos : pos + nb]) if nb else np.zeros(dim, np.float32)
    return PromptBank(tuple(vocab.names()), rows, has, background, tuple(vocab.background_prompts))


def visual_scores(
    image_embeddings: np.ndarray, bank: PromptBank, *, logit_scale: float = DEFAULT_LOGIT_SCALE
) -> np.ndarray:
    """Calibrated zero-shot scores ``(n, T)`` in [0, 1]; NaN in the columns of tags without prompts.

    A raw CLIP cosine similarity is not a probability: its level depends on the image and the
    prompt (typical matching pairs sit around 0.3, non-matching ones around 0.2), so a fixed
    threshold on it means little. CLIP itself classifies by a softmax over classes of the cosine
    similarities times its learned logit scale (100). Tags are not exclusive, so each tag is
    scored by a two-way softmax of its own ensemble embedding against the background ensemble
    ("a photo of something", "a video frame", ...), the "none of these" class::

        score = exp(s * cos(img, tag)) / (exp(s * cos(img, tag)) + exp(s * cos(img, background)))
              = sigmoid(s * (cos(img, tag) - cos(img, background)))

    This is CLIP's own zero-shot decision, asked "this tag, or a generic image?". An image that
    matches the tag no better than a generic description scores 0.5 or less; one far from the
    tag scores ~0; one that matches the tag far better than the background (a cosine margin of
    0.05 at s = 100) scores ~1 (0.993). The score ranks the tags of one image as their cosine
    similarities do, since the background term is shared. Pass the model's own scale
    (:attr:`media_platform.video.clip.ClipEncoder.logit_scale`) when it is not 100.
    Without background prompts the background similarity is taken as 0. Rows of zeros (a shot
    without a CLIP embedding, as ``shot_features`` stores it) and rows with NaN score NaN.
    """
    x = np.asarray(image_embeddings, dtype=np.float64)
    if x.ndim != 2 or (x.shape[0] and x.shape[1] != bank.dim):
        raise ValueError(f"image embeddings of shape {x.shape}, expected (n, {bank.dim})")
    if not np.isfinite(logit_scale) or logit_scale <= 0:
        raise ValueError(f"logit_scale must be a positive number, got {logit_scale}")
    x, kept = unit_rows(x) if x.size else (x.reshape(0, bank.dim), np.zeros(0, bool))
    absent = ~kept  # zero rows, NaN
    tag_sim = x @ bank.tag_embeddings.astype(np.float64).T  # (n, T)
    bg_sim = x @ bank.background.astype(np.float64)  # (n,)
    margin = float(logit_scale) * (tag_sim - bg_sim[:, None])
    scores = sigmoid(margin)
    scores[:, ~bank.has_prompts] = np.nan
    scores[absent] = np.nan
    return scores.astype(np.float32)


def score_images(
    image_embeddings: np.ndarray,
    vocab: Vocabulary,
    encode_text: Callable[[list[str]], np.ndarray],
    *,
    logit_scale: float = DEFAULT_LOGIT_SCALE,
) -> np.ndarray:
    """:func:`visual_scores` with a bank built on the spot (for one-off use and tests)."""
    return visual_scores(image_embeddings, prompt_bank(vocab, encode_text), logit_scale=logit_scale)


def top_tags(scores: np.ndarray, names: Sequence[str], k: int = 3) -> list[list[tuple[str, float]]]:
    """The ``k`` best-scoring tags of each row (NaN columns skipped), best first."""
    out: list[list[tuple[str, float]]] = []
    for row in np.asarray(scores, dtype=np.float64):
        order = [j for j in np.argsort(-np.nan_to_num(row, nan=-1.0)) if np.isfinite(row[j])]
        out.append([(names[j], float(row[j])) for j in order[:k]])
    return out
