"""``/labels``: examples, training through Dagster, evaluation, suggestions; ``/runs``: a
training run's status (owner: server helper).

- ``POST /labels/{label}`` stores positive and negative example shots (and removals) in one
  transaction, like ``media-platform label``, and adds the label's Dagster partition.
- ``POST /labels/{label}/train`` queues the ``tag_classifier`` materialization of the label
  (:mod:`media_platform.api.training`) and answers 202 with the run id and its status URL.
- ``GET /runs/{run_id}``: QUEUED, STARTED, SUCCESS, FAILURE... from the Dagster instance.
- ``GET /labels/{label}``: the examples, their counts and the current classifier's evaluation.
- ``GET /labels/{label}/suggestions``: the active-learning feeds
  (:func:`media_platform.tags.suggestions.suggest_for_label`) as shot results.

Episodes hidden by the licence rule are unknown here too: they cannot be labelled, and their
shots never appear among examples or suggestions.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from media_platform.api.app import bad_input, get_context, not_found
from media_platform.api.context import ApiContext
from media_platform.errors import InvalidInputError
from media_platform.keys import printable
from media_platform.tags.classifier import ClassifierStore, TooFewExamples, require_min_examples
from media_platform.tags.examples import require_labellable
from media_platform.tags.labels import (
    ContradictoryLabels,
    ShotRef,
    check_label_name,
    parse_shot_ref,
)
from media_platform.tags.suggestions import suggest_for_label

Ctx = Annotated[ApiContext, Depends(get_context)]
router = APIRouter(tags=["labels"])

MAX_EXAMPLES_PER_REQUEST = 500
MAX_SUGGESTIONS = 200


class LabelChange(BaseModel):
    """Examples to store for a label (``PARTITION:SHOT`` ids) and examples to forget."""

    positive: list[str] = Field(default_factory=list, max_length=MAX_EXAMPLES_PER_REQUEST)
    negative: list[str] = Field(default_factory=list, max_length=MAX_EXAMPLES_PER_REQUEST)
    remove: list[str] = Field(default_factory=list, max_length=MAX_EXAMPLES_PER_REQUEST)
    editor: str = Field("", max_length=200)


def _label(label: str) -> str:
    try:
        return check_label_name(label)
    except InvalidInputError as exc:
        raise bad_input("path", "label", str(exc)) from None


def _refs(values: list[str], field: str) -> list[ShotRef]:
    refs = []
    for i, value in enumerate(values):
        try:
            refs.append(parse_shot_ref(value))
        except InvalidInputError as exc:
            raise bad_input("body", field, f"item {i}: {exc}") from None
    return refs


def _require_visible(ctx: ApiContext, refs: list[ShotRef], field: str) -> None:
    """A hidden episode's shot is refused exactly like an unknown episode's."""
    from media_platform.api.visibility import visible

    partitions = sorted({r.partition for r in refs})
    shown = visible(ctx, partitions)
    for ref in refs:
        if ref.partition not in shown:
            raise bad_input("body", field, f"{ref}: unknown partition {ref.partition!r}")


@router.post("/labels/{label}", summary="store example shots of a label (positive, negative, removals)")
def add_examples(label: str, change: Annotated[LabelChange, Body()], ctx: Ctx) -> dict[str, Any]:
    label = _label(label)
    fields = {"positive": _refs(change.positive, "positive"), "negative": _refs(change.negative, "negative"),
              "remove": _refs(change.remove, "remove")}
    if not any(fields.values()):
        raise bad_input("body", "positive", "give at least one positive, negative or remove shot id")
    for name in ("positive", "negative"):
        _require_visible(ctx, fields[name], name)
        try:
            require_labellable(ctx.store, fields[name])
        except InvalidInputError as exc:
            raise bad_input("body", name, str(exc)) from None
    labels = ctx.labels()
    try:
        editor = change.editor
        result = labels.add(label, fields["positive"], fields["negative"], editor=editor, remove=fields["remove"])
    except ContradictoryLabels as exc:
        raise bad_input("body", "negative", str(exc)) from None
    except InvalidInputError as exc:
        raise bad_input("body", "editor", str(exc)) from None
    ctx.launcher().add_partition(label)
    positives, negatives = labels.counts(label)
    return {"label": label, "added": result.added, "unchanged": result.unchanged, "removed": result.removed,
            "positives": positives, "negatives": negatives}


@router.post("/labels/{label}/train", status_code=202,
             summary="train the label's classifier through Dagster (answers at once with the run id)")
def train(label: str, ctx: Ctx) -> JSONResponse:
    label = _label(label)
    try:
        require_min_examples(label, *ctx.labels().counts(label))
    except TooFewExamples as exc:
        raise bad_input("path", "label", str(exc)) from None
    run_id = ctx.launcher().launch(label)
    base = ctx.settings.dagster_ui_url.rstrip("/")
    body = {"run_id": run_id, "label": label, "status_url": f"/runs/{run_id}", "dagster_url": f"{base}/runs/{run_id}"}
    return JSONResponse(status_code=202, content=body, headers={"Location": f"/runs/{run_id}"})


@router.get("/runs/{run_id}", summary="a training run's status (QUEUED, STARTED, SUCCESS, FAILURE...)")
def run_status(run_id: str, ctx: Ctx) -> dict[str, Any]:
    try:
        run_id = str(uuid.UUID(run_id))
    except ValueError:
        raise bad_input("path", "run_id", "not a run id (a UUID)") from None
    status = ctx.launcher().status(run_id)
    if status is None:
        raise not_found(f"unknown run {run_id}")
    return status


@router.get("/labels/{label}", summary="a label's examples, their counts and the classifier's evaluation")
def label_detail(label: str, ctx: Ctx) -> dict[str, Any]:
    from media_platform.api.visibility import visible

    label = _label(label)
    examples = ctx.labels().examples(label)
    shown = visible(ctx, sorted({e.partition for e in examples}))
    examples = [e for e in examples if e.partition in shown]
    clf = ClassifierStore(ctx.store).current(label)
    if not examples and clf is None:
        raise not_found(f"label {printable(label)} has no examples and no classifier")
    classifier = None
    if clf is not None:
        e = clf.evaluation
        classifier = {"version": clf.version, "average_precision": round(e.cv_average_precision, 4),
                      "positives": e.positives, "negatives": e.negatives, "threshold": round(e.threshold, 4),
                      "folds": e.folds, "trained_at": clf.trained_at}
    return {"label": label, "positives": sum(e.positive for e in examples),
            "negatives": sum(not e.positive for e in examples),
            "examples": [{"id": f"{e.partition}:{e.shot}", "positive": e.positive, "editor": e.editor,
                          "labelled_at": e.labelled_at} for e in examples],
            "classifier": classifier}


@router.get("/labels/{label}/suggestions", summary="shots to label next (the active-learning feeds)")
def suggestions(ctx: Ctx, label: str, limit: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS)] = 20,
                seed: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    from media_platform.api.search_routes import shot_table
    from media_platform.api.visibility import visible

    label = _label(label)
    wanted = limit
    for _ in range(3):  # ask again for more when hidden episodes' shots were left out
        try:
            found = suggest_for_label(ctx.store, label, min(MAX_SUGGESTIONS, wanted), seed=seed)
        except InvalidInputError as exc:
            raise bad_input("path", "label", str(exc)) from None
        shown = visible(ctx, sorted({s.partition for s in found.suggestions}))
        picks = [s for s in found.suggestions if s.partition in shown]
        hidden = len(found.suggestions) - len(picks)
        if len(picks) >= limit or not hidden or wanted >= MAX_SUGGESTIONS:
            break
        wanted += hidden
    table = shot_table(ctx)
    out = []
    for s in picks:
        row = table.row_of(s.partition, s.shot)
        if row is None or not table.searchable_row(row):  # not in the metadata database (yet)
            continue
        out.append({**table.result(row, None), "feed": s.feed, "label_score": round(float(s.score), 6)})
        if len(out) == limit:
            break
    return {"label": label, "scorer": found.scorer, "threshold": round(found.threshold, 6),
            "pool_size": found.pool_size, "suggestions": out}
