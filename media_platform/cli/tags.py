"""``media-platform label``, ``train`` and ``suggest``: an editor teaches a label from examples.

``label`` stores positive and negative example shots in the metadata store (the catalogue's
database, so two editors never overwrite each other's file), ``train`` materializes the
label's ``tag_classifier`` partition through Dagster and prints its evaluation, and ``suggest``
lists the shots to label next from the four active-learning feeds.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from media_platform.catalogue import Catalogue
from media_platform.cli.code_location import load_code_location, open_instance, open_store
from media_platform.cli.inputs import EXIT_OK, EXIT_RUN_FAILED, CliError, check_text
from media_platform.cli.read import print_rows
from media_platform.layout import SHOTS, episode_key
from media_platform.storage import read_table
from media_platform.tags.classifier import (
    MIN_NEGATIVES,
    MIN_POSITIVES,
    ClassifierStore,
    require_min_examples,
)
from media_platform.tags.examples import require_labellable
from media_platform.tags.labels import LabelStore, ShotRef, check_label_name, parse_shot_ref
from media_platform.tags.suggestions import suggest_for_label


def _refs(values: list[str] | None, what: str) -> list[ShotRef]:
    refs = []
    for value in values or []:
        check_text(value, what)
        refs.append(parse_shot_ref(value))
    return refs


def cmd_label(args: argparse.Namespace) -> int:
    label = check_label_name(args.label)
    positives = _refs(args.positive, "--positive")
    negatives = _refs(args.negative, "--negative")
    removals = _refs(args.remove, "--remove")
    if not (positives or negatives or removals):
        raise CliError("give at least one --positive, --negative or --remove PARTITION:SHOT")
    store = open_store()
    labels = LabelStore(Catalogue(store))
    require_labellable(store, positives + negatives)
    result = labels.add(label, positives, negatives, editor=args.editor or "", remove=removals)
    load_code_location().add_label_partition(open_instance(), label)
    pos, neg = labels.counts(label)
    row = {"label": label, "added": result.added, "unchanged": result.unchanged, "removed": result.removed,
           "positives": pos, "negatives": neg}
    print_rows([row], args.json)
    if not args.json and (pos < MIN_POSITIVES or neg < MIN_NEGATIVES):
        print(f"note: training needs at least {MIN_POSITIVES} positive and {MIN_NEGATIVES} negative examples",
              file=sys.stderr)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    label = check_label_name(args.label)
    store = open_store()
    require_min_examples(label, *LabelStore(Catalogue(store)).counts(label),
                         detail=f" (add some: media-platform label {label} --positive P:S --negative P:S)")
    code = load_code_location()
    run_id = str(uuid.uuid4())
    result = code.train_label(open_instance(), label, run_id)
    if not result.success:
        for step, kind, message in code.run_step_events(open_instance(), run_id):
            if kind == "STEP_FAILURE":
                print(f"error: {step} failed for label {label!r}: {message}", file=sys.stderr)
        print(f"run {run_id} failed", file=sys.stderr)
        return EXIT_RUN_FAILED
    clf = ClassifierStore(store).current(label)
    if clf is None:  # pragma: no cover - a successful run stores one
        print(f"error: run {run_id} stored no classifier for {label!r}", file=sys.stderr)
        return EXIT_RUN_FAILED
    e = clf.evaluation
    print_rows([{"label": label, "version": clf.version, "cv_average_precision": round(e.cv_average_precision, 4),
                 "positives": e.positives, "negatives": e.negatives, "folds": e.folds,
                 "threshold": round(e.threshold, 4), "train_seconds": round(e.train_seconds, 3), "run_id": run_id}],
               args.json)
    if not args.json:
        print("shot_tags and the shot index follow through declarative automation (the sensor "
              "tags_follow_classifiers in dagster dev or dagster-daemon); without a daemon: "
              "media-platform run PARTITION --select 'shot_tags+'", file=sys.stderr)
    return EXIT_OK


def cmd_suggest(args: argparse.Namespace) -> int:
    label = check_label_name(args.label)
    store = open_store()
    result = suggest_for_label(store, label, args.limit, seed=args.seed)
    rows = []
    shots: dict[str, dict[int, tuple[float, float]]] = {}
    for s in result.suggestions:
        if s.partition not in shots:
            df = read_table(store, episode_key(s.partition, SHOTS))
            shots[s.partition] = {r["shot"]: (r["start_s"], r["end_s"]) for r in df.iter_rows(named=True)}
        start, end = shots[s.partition].get(s.shot, (None, None))
        rows.append({"partition": s.partition, "shot": s.shot, "feed": s.feed, "score": round(s.score, 4),
                     "start": start, "end": end})
    print_rows(rows, args.json)
    if not args.json:
        print(f"({len(rows)} of {result.pool_size} shots; scored by {result.scorer})", file=sys.stderr)
        for partition, reason in sorted(result.skipped.items()):
            print(f"note: {partition} left out: {reason}", file=sys.stderr)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="store example shots of a label (positive and negative) for a classifier")
    p.add_argument("label")
    p.add_argument("--positive", action="append", metavar="PARTITION:SHOT", help="a shot showing the label (repeatable)")
    p.add_argument("--negative", action="append", metavar="PARTITION:SHOT", help="a shot not showing it (repeatable)")
    p.add_argument("--remove", action="append", metavar="PARTITION:SHOT", help="forget this shot's example (repeatable)")
    p.add_argument("--editor", default=None, help="who labelled (recorded with the examples)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("train", help="train a label's classifier through Dagster and print its evaluation")
    p.add_argument("label")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("suggest", help="shots to label next for a label (active learning)")
    p.add_argument("label")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--seed", type=int, default=0, help="seed of the random feed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_suggest)
