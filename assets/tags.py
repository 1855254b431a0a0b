"""Tag assets: per-shot multimodal features, shot tags, and the few-shot classifiers editors
train from labelled examples (Netflix's Video Annotator).

- ``shot_features`` (per episode) gathers what earlier assets stored: the CLIP image embedding,
  the YAMNet embedding averaged over the shot, the MiniLM embedding of the words spoken in it,
  and the neighbouring shots' context. No model runs.
- ``tag_classifier`` (per label) trains a logistic-regression head on the editors' examples and
  stores it as a new version with its cross-validated evaluation. Training a label is
  materializing its partition (UI, ``media-platform train LABEL``, or the API).
- ``shot_tags`` (per episode) scores every shot: the vocabulary's zero-shot visual and audio
  scores, their late fusion, and every current classifier. Declarative automation re-runs it
  for every tagged episode when a classifier changes, and ``shot_index`` follows, so search
  filters on the new tags without anyone launching a run.
"""


import io
import json
from collections.abc import Iterator

import dagster as dg
import numpy as np
import polars as pl
from PIL import Image

from assets.audio import shot_audio_features
from assets.common import (
    FOLLOW_UPSTREAM,
    OWNERS,
    episode_asset,
    episode_check,
    episode_for,
    image_markdown,
    licence_allows,
)
from assets.previews import chapters
from assets.video import shot_embeddings, shots_from_table
from media_platform import layout
from media_platform.audio.transcript_store import transcript_from_table
from media_platform.audio.yamnet import class_names
from media_platform.catalogue import Catalogue
from media_platform.errors import InvalidInputError
from media_platform.keys import printable
from media_platform.layout import episode_key
from media_platform.settings import get_settings
from media_platform.storage import Store, read_table, write_table
from media_platform.tags.audio_scores import audio_scores
from media_platform.tags.classifier import ClassifierStore, require_min_examples, train_classifier
from media_platform.tags.features import build_shot_features, features_to_table, sentence_spans
from media_platform.tags.labels import LabelStore, examples_digest
from media_platform.tags.pool import episode_features, training_set
from media_platform.tags.tagging import (
    parse_classifier_source,
    score_problems,
    searchable_tags,
    summary,
    tag_episode,
    tags_licence_problem,
)
from media_platform.tags.vocabulary import load_vocabulary
from media_platform.tags.zero_shot import prompt_bank, visual_scores
from media_platform.video.keyframes import contact_sheet
from resources import ClipEncoderResource, MediaStorage
from resources.partitions import labels_partitions


def _stored_clip_model(store: Store, key: str) -> str:
    df = read_table(store, episode_key(key, layout.SHOT_EMBEDDINGS))
    return str(df["model"][0]) if "model" in df.columns and len(df) else "unknown CLIP model"


@episode_asset(
    group_name="tags",
    kinds={"numpy", "parquet"},
    deps=[shot_embeddings, shot_audio_features, chapters],
)
def shot_features(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """Per shot, each modality separately with its layout recorded: the CLIP image embedding,
    the YAMNet 1024-d embedding averaged over the shot, the all-MiniLM-L6-v2 embedding of the
    words spoken during it (the stored sentence embeddings, weighted by overlap), and the mean
    of the neighbouring shots. Read from stored outputs only: no model runs."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "shot_features"):
        return
    shot_list = shots_from_table(read_table(store, episode_key(key, layout.SHOTS)))
    ids = [s.index for s in shot_list]
    clip_df = read_table(store, episode_key(key, layout.SHOT_EMBEDDINGS)).sort("shot")
    audio_df = read_table(store, episode_key(key, layout.SHOT_AUDIO_FEATURES)).sort("shot")
    if clip_df["shot"].to_list() != ids or audio_df["shot"].to_list() != ids:
        raise dg.Failure(description=f"{key}: shot_embeddings or shot_audio_features do not match the shots; re-run them")
    transcript = transcript_from_table(read_table(store, episode_key(key, layout.TRANSCRIPT)))
    stored = read_table(store, episode_key(key, layout.SENTENCE_EMBEDDINGS))
    vectors = np.asarray(stored["embedding"].to_list(), dtype=np.float32)
    sentences = sentence_spans(transcript, stored["text"].to_list(), vectors.reshape(len(stored), -1) if len(stored) else np.zeros((0, 0), np.float32))
    if sentences is None:
        context.log.warning(f"{key}: stored sentence embeddings do not match the transcript; no text features (re-run chapters)")
    if not ids:
        raise dg.Failure(description=f"{key}: the shots table is empty; re-run shots")
    has_track = json.loads(store.read_bytes(episode_key(key, layout.LOUDNESS_REPORT))).get("stream_index") is not None
    features = build_shot_features(
        [(s.start_s, s.end_s) for s in shot_list], ids,
        clip=np.asarray(clip_df["embedding"].to_list(), dtype=np.float32).reshape(len(ids), -1),
        clip_source=_stored_clip_model(store, key),
        # the silence given to a video without an audio track is no evidence: the block is absent
        audio=np.asarray(audio_df["audio_embedding"].to_list(), dtype=np.float32).reshape(len(ids), -1) if has_track else None,
        sentences=sentences,
    )
    uri = write_table(store, episode_key(key, layout.SHOT_FEATURES), features_to_table(features))
    store.write_bytes(episode_key(key, layout.SHOT_FEATURES_LAYOUT), json.dumps(features.layout.to_json()).encode())
    yield dg.MaterializeResult(metadata={
        "shots": len(ids),
        "layout": dg.MetadataValue.table(
            [dg.TableRecord({"block": b.name, "dim": b.dim, "source": b.source,
                             "present_in": int(features.present[b.name].sum())}) for b in features.layout.blocks],
            schema=dg.TableSchema(columns=[dg.TableColumn("block", "string"), dg.TableColumn("dim", "int"),
                                           dg.TableColumn("source", "string"), dg.TableColumn("present_in", "int")]),
        ),
        "layout_signature": features.layout.signature,
        "fused_dim": features.layout.dim,
        "uri": uri,
    })


@episode_check(asset=shot_features, blocking=True)
def features_match_layout(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Every shot has features, each block has the recorded dimension, all values are finite."""
    store = storage.get_store()
    key = context.partition_key
    features = episode_features(store, key)
    ids = read_table(store, episode_key(key, layout.SHOTS))["shot"].sort().to_list()
    problems = [] if features is not None else ["no stored features"]
    if features is not None:
        if sorted(int(s) for s in features.shots) != ids:
            problems.append(f"{len(features.shots)} feature rows for {len(ids)} shots")
        for block in features.layout.blocks:
            values = features.blocks[block.name]
            if values.shape != (len(features.shots), block.dim):
                problems.append(f"{block.name}: shape {values.shape}, layout says {block.dim}")
            elif not np.all(np.isfinite(values)):
                problems.append(f"{block.name}: values that are not finite")
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": "\n".join(problems) or "none"})


@dg.asset(
    partitions_def=labels_partitions,
    group_name="models",
    kinds={"scikit-learn"},
    owners=OWNERS,
    deps=[dg.AssetDep(shot_features, partition_mapping=dg.AllPartitionMapping())],
    output_required=False,
)
def tag_classifier(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """One label's few-shot classifier: a logistic-regression head on the frozen fused shot
    features of the editors' positive and negative examples (stored in the catalogue
    database). Each training that sees new examples is a new version, stored with its
    cross-validated average precision and example counts. The same examples on the same
    features keep the current version and materialize nothing, so no episode is re-tagged."""
    store = storage.get_store()
    label = context.partition_key
    labels = LabelStore(Catalogue(store))
    examples = labels.examples(label)
    data = training_set(store, examples)
    for reason in data.left_out[:20]:
        context.log.warning(f"label {label!r}: example left out: {reason}")
    try:
        require_min_examples(label, len(data.positives), len(data.negatives), detail=" with usable shot features" + (
            f" ({len(data.left_out)} left out, e.g. {data.left_out[0]})" if data.left_out else ""))
    except InvalidInputError as exc:
        raise dg.Failure(description=str(exc)) from None
    signature = data.layout.signature
    classifiers = ClassifierStore(store)
    digest = examples_digest(data.used)
    current = classifiers.current(label)
    if current is not None and current.examples_digest == digest and current.layout_signature == signature:
        context.log.info(f"label {label!r}: same examples and features as v{current.version}, which stays current")
        return  # nothing new: no materialization, so nothing downstream re-runs
    clf = train_classifier(label, data.positives, data.negatives, layout_signature=signature, examples_digest=digest,
                           version=labels.reserve_classifier_version(label, classifiers.next_version(label)),
                           layout=data.layout)
    uri = classifiers.save(clf)
    evaluation = clf.evaluation
    yield dg.MaterializeResult(metadata={
        "version": clf.version,
        "cv_average_precision": round(evaluation.cv_average_precision, 4),
        "positives": evaluation.positives,
        "negatives": evaluation.negatives,
        "folds": evaluation.folds,
        "threshold": round(evaluation.threshold, 4),
        "train_seconds": round(evaluation.train_seconds, 3),
        "layout_signature": signature,
        "examples_left_out": dg.MetadataValue.json(data.left_out[:100]),
        "examples": dg.MetadataValue.table(
            [dg.TableRecord({"shot": f"{e.partition}:{e.shot}", "positive": e.positive, "editor": printable(e.editor),
                             "labelled_at": e.labelled_at}) for e in data.used[:200]],
            schema=dg.TableSchema(columns=[dg.TableColumn("shot", "string"), dg.TableColumn("positive", "bool"),
                                           dg.TableColumn("editor", "string"), dg.TableColumn("labelled_at", "string")]),
        ),
        "uri": uri,
    })


@dg.asset_check(asset=tag_classifier, partitions_def=labels_partitions, blocking=True)
def classifier_is_evaluated(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """The label's current classifier has an evaluation over at least the minimum examples."""
    clf = ClassifierStore(storage.get_store()).current(context.partition_key)
    problems = _evaluation_problems(clf, context.partition_key)
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": "\n".join(problems) or "none"})


def _evaluation_problems(clf, label: str) -> list[str]:
    if clf is None:
        return [f"label {label!r} has no stored classifier"]
    e = clf.evaluation
    problems = []
    try:
        require_min_examples(f"{label}@v{clf.version}", e.positives, e.negatives)
    except InvalidInputError as exc:
        problems.append(str(exc))
    if not 0.0 <= e.cv_average_precision <= 1.0:
        problems.append(f"{label}@v{clf.version}: no cross-validated average precision")
    return problems


@episode_asset(
    group_name="tags",
    kinds={"pytorch", "scikit-learn", "parquet"},
    deps=[shot_features, shot_audio_features,
          dg.AssetDep(tag_classifier, partition_mapping=dg.AllPartitionMapping())],
    automation_condition=FOLLOW_UPSTREAM,
)
def shot_tags(
    context: dg.AssetExecutionContext, storage: MediaStorage, clip: ClipEncoderResource
) -> Iterator[dg.MaterializeResult]:
    """Tags per shot from stored features: the vocabulary's zero-shot CLIP scores (image–text
    similarity calibrated to [0, 1] against background prompts), YAMNet class scores, their late
    fusion (each modality's contribution kept), and every label's current classifier. Rows:
    shot, tag, score, source, above_threshold, weight."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "shot_tags"):
        return
    features = episode_features(store, key)
    if features is None:
        raise dg.Failure(description=f"{key}: no shot_features; materialize it first")
    try:
        vocab = load_vocabulary(get_settings().tag_vocabulary)
    except InvalidInputError as exc:
        raise dg.Failure(description=f"tag vocabulary: {exc}") from None
    notes: list[str] = []
    visual = None
    clip_block = next(b for b in features.layout.blocks if b.name == "clip")
    encoder = clip.get_encoder()
    if clip_block.source != encoder.spec.label:
        notes.append(f"no zero-shot visual scores: features come from {clip_block.source}, "
                     f"the configured CLIP model is {encoder.spec.label}")
    elif features.present["clip"].any():
        bank = prompt_bank(vocab, encoder.encode_text)
        visual = visual_scores(features.blocks["clip"], bank, logit_scale=encoder.logit_scale)
        visual[~features.present["clip"]] = np.nan
        if "random" in encoder.spec.weights:
            notes.append("CLIP runs with untrained weights: zero-shot visual scores are not semantic")
    audio = None
    if features.present["audio"].any():  # a video without an audio track has no audio evidence
        audio_df = read_table(store, episode_key(key, layout.SHOT_AUDIO_FEATURES)).sort("shot")
        if audio_df["shot"].to_list() != [int(x) for x in features.shots]:
            raise dg.Failure(description=f"{key}: shot_audio_features do not match shot_features; re-run shot_features")
        audio = audio_scores(np.asarray(audio_df["class_scores"].to_list(), dtype=np.float32),
                             np.asarray(audio_df["class_peaks"].to_list(), dtype=np.float32), vocab, class_names())
        audio[~features.present["audio"]] = np.nan
    else:
        notes.append("no audio track: no audio scores, fusion uses the picture alone")
    classifiers = ClassifierStore(store)
    current = []
    for label in classifiers.labels():
        try:
            clf = classifiers.current(label)
        except InvalidInputError as exc:  # one damaged file never stops the other labels
            notes.append(f"classifier {label!r} skipped: {exc}")
            continue
        if clf is not None:
            current.append(clf)
    result = tag_episode(features, vocab, visual=visual, audio=audio, classifiers=current)
    notes += result.notes
    for note in notes:
        context.log.warning(f"{key}: {note}")
    uri = write_table(store, episode_key(key, layout.SHOT_TAGS), result.table)
    counts = summary(result.table)
    sheet = _tagged_contact_sheet(store, key, searchable_tags(result.table))
    yield dg.MaterializeResult(metadata={
        "shots": len(features.shots),
        "rows": result.table.height,
        "vocabulary": f"{vocab.source} ({len(vocab.tags)} tags, {vocab.digest[:12]})",
        "classifiers": dg.MetadataValue.json(result.classifiers),
        "shots_per_tag": dg.MetadataValue.json(counts),
        "notes": "\n".join(notes) or "none",
        "tagged_keyframes": image_markdown(sheet, "image/jpeg", "tagged shots") if sheet else "no tag above threshold",
        "tagged_shots": dg.MetadataValue.md("\n".join(
            f"- shot {shot}: " + ", ".join(f"{t} {s:.2f}" for t, s in sorted(tags.items(), key=lambda kv: -kv[1]))
            for shot, tags in sorted(searchable_tags(result.table).items())[:100]) or "_(no tag above threshold)_"),
        "uri": uri,
    })


def _tagged_contact_sheet(store: Store, key: str, tagged: dict[int, dict[str, float]], limit: int = 24) -> bytes:
    """Keyframes of the tagged shots (strongest first), captioned with their top tags."""
    best = sorted(tagged.items(), key=lambda kv: -max(kv[1].values()))[:limit]
    images, captions = [], []
    for shot, tags in best:
        name = episode_key(key, f"{layout.KEYFRAME_DIR}/{layout.keyframe_name(shot)}")
        if store.exists(name):
            images.append(np.asarray(Image.open(io.BytesIO(store.read_bytes(name))).convert("RGB")))
            top = sorted(tags.items(), key=lambda kv: -kv[1])[:2]
            captions.append(f"#{shot} " + " ".join(f"{t} {v:.2f}" for t, v in top))
    return contact_sheet(images, captions) if images else b""


def _tags_table(storage: MediaStorage, key: str) -> pl.DataFrame | None:
    store = storage.get_store()
    name = episode_key(key, layout.SHOT_TAGS)
    return read_table(store, name) if store.exists(name) else None


@episode_check(asset=shot_tags, blocking=True)
def tag_scores_in_range(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Every score is finite and lies in [0, 1]."""
    table = _tags_table(storage, context.partition_key)
    problems = ["no stored tags"] if table is None else score_problems(table)
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": "\n".join(problems) or "none"})


@episode_check(asset=shot_tags)
def classifiers_in_use_are_evaluated(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Every classifier whose scores the tags carry has an evaluation over at least the minimum
    number of examples."""
    table = _tags_table(storage, context.partition_key)
    classifiers = ClassifierStore(storage.get_store())
    problems: list[str] = []
    used = sorted({parsed for s in (table["source"].unique().to_list() if table is not None else [])
                   if (parsed := parse_classifier_source(s)) is not None})
    for label, version in used:
        problems += _evaluation_problems(classifiers.load(label, version), label)
    return dg.AssetCheckResult(passed=not problems, metadata={
        "classifiers": ", ".join(f"{label}@v{v}" for label, v in used) or "none",
        "problems": "\n".join(problems) or "none"})


@episode_check(asset=shot_tags)
def tags_only_where_analysis_allowed(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Tags exist only for an episode whose licence in force allows analysis today."""
    problem = tags_licence_problem(storage.get_store(), context.partition_key)
    return dg.AssetCheckResult(passed=problem is None, metadata={"problem": problem or "none"})
