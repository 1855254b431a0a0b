"""Audio tag scores from a shot's YAMNet class scores.

YAMNet gives, per 0.48 s frame, an independent sigmoid probability for each of the 521 AudioSet
classes. A shot is many frames, summarised (in ``shot_audio_features``) by the mean and the
maximum ("peak") of each class over its frames. Neither alone answers "is this tag heard in the
shot?":

* the mean measures how much of the shot the sound fills. It suits sustained sound (music,
  speech, rain) but dilutes a short event: one gunshot frame in a 20 s shot (42 frames) has a
  mean of at most 1/42;
* the peak detects an event however short (multiple-instance max pooling), but a single
  spurious frame of a sustained class decides it.

Each tag therefore blends the two with its ``peak_weight`` ``w`` (near 1 for transient events,
low for sustained ones), per class ``c``::

    s_c = w * peak_c + (1 - w) * mean_c

and the tag scores the best of its classes, ``max_c s_c``: the classes of a tag are
alternatives (a dog is heard as "Bark" or as "Howl"), and AudioSet's parent and child classes
overlap, so a sum or mean would reward listing synonyms. Scores stay in [0, 1] because both
inputs are probabilities and the blend is convex. Tags without YAMNet classes get NaN ("no
audio evidence", which fusion treats as absent, not as 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from media_platform.tags.vocabulary import Vocabulary


def class_indices(vocab: Vocabulary, class_names: Sequence[str]) -> list[np.ndarray]:
    """Per tag, the column indices of its YAMNet classes in ``class_names`` (model order).

    Raises:
        ValueError: a class of the vocabulary is not among ``class_names``.
    """
    position = {name: i for i, name in enumerate(class_names)}
    out: list[np.ndarray] = []
    for tag in vocab.tags:
        missing = [c for c in tag.yamnet_classes if c not in position]
        if missing:
            raise ValueError(f"{vocab.source}: tag {tag.name!r}: class {missing[0]!r} not in the model's class names")
        out.append(np.array([position[c] for c in tag.yamnet_classes], dtype=np.int64))
    return out


def audio_scores(
    class_scores: np.ndarray,
    class_peaks: np.ndarray,
    vocab: Vocabulary,
    class_names: Sequence[str],
) -> np.ndarray:
    """``(n, T)`` float32 audio scores in [0, 1] per shot and tag (order of ``vocab.tags``),
    from the shots' mean (``class_scores``) and peak (``class_peaks``) YAMNet class scores,
    both ``(n, len(class_names))``; NaN for tags without classes and for shots whose scores
    are NaN (no audio)."""
    mean = np.asarray(class_scores, dtype=np.float64)
    peak = np.asarray(class_peaks, dtype=np.float64)
    if mean.size == 0 and peak.size == 0:  # no shots (an empty table reads as shape (0,))
        return np.zeros((0, len(vocab.tags)), dtype=np.float32)
    if mean.ndim != 2 or mean.shape[1] != len(class_names):
        raise ValueError(f"class_scores of shape {mean.shape}, expected (n, {len(class_names)})")
    if peak.shape != mean.shape:
        raise ValueError(f"class_peaks of shape {peak.shape}, expected {mean.shape}")
    mean = np.clip(mean, 0.0, 1.0)  # NaN stays NaN
    peak = np.clip(peak, 0.0, 1.0)
    # The peak of a shot is never below its mean; stored values may violate that by rounding
    # (float16 frame scores), which the blend must not turn into a score above both.
    peak = np.fmax(peak, mean)
    out = np.full((mean.shape[0], len(vocab.tags)), np.nan, dtype=np.float64)
    for j, (tag, idx) in enumerate(zip(vocab.tags, class_indices(vocab, class_names))):
        if idx.size == 0:
            continue
        w = tag.peak_weight
        blended = w * peak[:, idx] + (1.0 - w) * mean[:, idx]
        out[:, j] = blended.max(axis=1)  # NaN for a shot with NaN scores
    return out.astype(np.float32)

