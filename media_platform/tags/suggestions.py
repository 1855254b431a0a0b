"""What an editor should label next for a label: the four Video Annotator feeds over every
episode's stored shot features, scored by the label's current classifier, or, before one is
trained, by the examples' prototype. The command-line tool and the API both call
:func:`suggest_for_label`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from media_platform.catalogue import Catalogue
from media_platform.errors import InvalidInputError
from media_platform.storage import Store
from media_platform.tags.active_learning import Suggestion, check_limit, prototype_scores, suggest
from media_platform.tags.classifier import ClassifierStore, score_features
from media_platform.tags.features import fused_matrix
from media_platform.tags.labels import LabelStore, check_label_name
from media_platform.tags.pool import analysable_partitions, score_episodes, training_set


@dataclass
class LabelSuggestions:
    """The suggestions, what scored them, and the episodes left out with the reason."""

    label: str
    suggestions: list[Suggestion]
    scorer: str
    threshold: float
    pool_size: int
    skipped: dict[str, str] = field(default_factory=dict)


def suggest_for_label(store: Store, label: str, limit: int = 20, *, seed: int = 0) -> LabelSuggestions:
    """Shots to label next for ``label``, mixed from the four feeds, never a labelled shot.

    Raises:
        InvalidInputError: a bad label name or limit, or a label with neither a classifier nor
            any example (label a few shots first: the feeds need something to rank by).
    """
    check_label_name(label)
    check_limit(limit)
    catalogue = Catalogue(store)
    labels = LabelStore(catalogue)
    examples = labels.examples(label)
    clf = ClassifierStore(store).current(label)
    partitions, refused = analysable_partitions(catalogue)
    if clf is not None:
        keys, scores, skipped = score_episodes(store, partitions, lambda f: score_features(clf, f),
                                               layout_signature=clf.layout_signature)
        scorer, threshold = f"classifier {label}@v{clf.version}", clf.evaluation.threshold
    elif examples:
        data = training_set(store, examples)
        if data.layout is None or not (len(data.positives) or len(data.negatives)):
            raise InvalidInputError(f"label {label!r}: none of its examples has usable shot features yet")
        keys, scores, skipped = score_episodes(
            store, partitions,
            lambda f: prototype_scores(fused_matrix(f), data.positives if len(data.positives) else None,
                                       data.negatives if len(data.negatives) else None),
            layout_signature=data.layout.signature)
        scorer, threshold = "prototype of the examples (no classifier trained yet)", 0.5
    else:
        raise InvalidInputError(
            f"label {label!r} has no examples and no classifier: label a few shots first "
            f"(media-platform label {label} --positive PARTITION:SHOT ...)"
        )
    skipped.update(refused)
    labelled = {(e.partition, e.shot) for e in examples}
    picks = suggest(keys, scores, labelled, limit, threshold=threshold, seed=seed) if keys else []
    return LabelSuggestions(label=label, suggestions=picks, scorer=scorer, threshold=threshold,
                            pool_size=len(keys), skipped=skipped)
