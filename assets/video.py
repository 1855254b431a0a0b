"""Video assets: shots → keyframes → CLIP shot embeddings → the shot vector index.

Audio-only episodes skip these assets cleanly: ``shots`` yields nothing for them, and Dagster
skips everything downstream.
"""


import contextlib
import io
import json
import time
from collections.abc import Iterator

import dagster as dg
import numpy as np
import polars as pl
from PIL import Image

from assets.common import (
    FOLLOW_UPSTREAM,
    GPU_OP_TAGS,
    GPU_POOL,
    episode_asset,
    episode_check,
    episode_for,
    image_markdown,
    licence_allows,
    load_probe,
)
from assets.ingest import media_probe
from media_platform.errors import MediaError
from media_platform.layout import (
    FRAME_HASHES,
    FRAME_TIMES,
    KEYFRAME_CANDIDATES,
    KEYFRAME_DIR,
    KEYFRAMES,
    SHOT_TAGS,
    SHOTS,
    VIDEO_TIMING,
    episode_key,
    keyframe_name,
)
from media_platform.layout import SHOT_EMBEDDINGS as EMBEDDINGS
from media_platform.search.index import (
    IndexPoint,
    VectorIndexError,
    replace_partition_points,
    shot_point_id,
)
from media_platform.storage import read_table, write_table
from media_platform.tags.tagging import searchable_tags
from media_platform.video.keyframe_samples import candidates_from_table, candidates_table
from media_platform.video.keyframes import (
    contact_sheet,
    encode_jpeg,
    select_keyframes,
    shot_timeline,
)
from media_platform.video.shots import Shot, detect_shots
from media_platform.video.validation import (
    embedding_problems,
    keyframe_problems,
    shot_tiling_problems,
    truncation_problem,
)
from resources import ClipEncoderResource, MediaStorage, VectorIndexResource

#: The transition columns of ``shots`` (absent from files written before they existed).
_TRANSITION_COLUMNS = {"transition": pl.Utf8, "transition_start_frame": pl.Int64, "transition_end_frame": pl.Int64,
                       "transition_start_s": pl.Float64, "transition_end_s": pl.Float64}


def shots_from_table(df: pl.DataFrame) -> list[Shot]:
    return [
        Shot(index=r["shot"], start_frame=r["start_frame"], end_frame=r["end_frame"],
             start_s=r["start_s"], end_s=r["end_s"], confidence=r["confidence"],
             **{c: r.get(c) for c in _TRANSITION_COLUMNS})
        for r in df.sort("shot").iter_rows(named=True)
    ]


def shots_to_table(shots: list[Shot]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "shot": [s.index for s in shots],
            "start_frame": [s.start_frame for s in shots],
            "end_frame": [s.end_frame for s in shots],
            "start_s": [s.start_s for s in shots],
            "end_s": [s.end_s for s in shots],
            "confidence": [s.confidence for s in shots],
            **{c: [getattr(s, c) for s in shots] for c in _TRANSITION_COLUMNS},
        },
        schema={"shot": pl.Int64, "start_frame": pl.Int64, "end_frame": pl.Int64,
                "start_s": pl.Float64, "end_s": pl.Float64, "confidence": pl.Float64, **_TRANSITION_COLUMNS},
    )


def _shots_table_metadata(df: pl.DataFrame, limit: int = 100) -> dg.MetadataValue:
    rows = [dg.TableRecord({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
            for r in df.head(limit).iter_rows(named=True)]
    schema = dg.TableSchema(columns=[
        dg.TableColumn("shot", "int"), dg.TableColumn("start_frame", "int"),
        dg.TableColumn("end_frame", "int"), dg.TableColumn("start_s", "float"),
        dg.TableColumn("end_s", "float"), dg.TableColumn("confidence", "float"),
        dg.TableColumn("transition", "string"), dg.TableColumn("transition_start_frame", "int"),
        dg.TableColumn("transition_end_frame", "int"), dg.TableColumn("transition_start_s", "float"),
        dg.TableColumn("transition_end_s", "float"),
    ])
    return dg.MetadataValue.table(rows, schema=schema)


@episode_asset(
    group_name="video",
    kinds={"pyav", "parquet"},
    deps=[media_probe],
)
def shots(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """Shot boundaries: a coarse pass over the reference frames at reduced resolution
    (colour-histogram and pixel differences with an adaptive threshold; fades and dissolves are
    not cuts), refined to the exact frame around each candidate. One row per shot: index,
    first/last frame, start/end seconds (from timestamps, exact for variable frame rate), the
    confidence of the boundary that starts it, and how it begins: ``transition`` (cut, dissolve,
    fade, wipe; null for shot 0) with the transition's first and end frame and seconds."""
    store = storage.get_store()
    probe = load_probe(store, context.partition_key)
    if probe.kind != "video":
        context.log.info(f"{context.partition_key} is audio-only: no shots (video assets skipped)")
        return
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "shots"):
        return
    try:
        with store.local_copy(episode.master_key) as path:
            result = detect_shots(path)
    except MediaError as exc:
        raise dg.Failure(description=f"{episode.master_uri}: {exc.problem}") from exc
    declared = probe.video_duration_s or probe.duration_s  # the video stream's, not the longest stream's
    problem = truncation_problem(declared, probe.frame_count, result.duration_s, result.frame_count)
    if result.truncated and not problem:
        problem = f"truncated or corrupt: only the first {result.frame_count} frames are decodable"
    if problem:
        raise dg.Failure(description=f"{episode.master_uri}: {problem}")
    df = shots_to_table(result.shots)
    uri = write_table(store, episode_key(context.partition_key, SHOTS), df)
    write_table(
        store,
        episode_key(context.partition_key, FRAME_TIMES),
        pl.DataFrame({"frame": np.arange(len(result.frame_times)), "pts_s": np.asarray(result.frame_times, dtype=np.float64)}),
    )
    hashes = result.frame_hashes
    if hashes is not None:  # a few perceptual hashes a second from this same pass (markers)
        kept = np.asarray(hashes.frames, dtype=np.int64)
        write_table(store, episode_key(context.partition_key, FRAME_HASHES), pl.DataFrame(
            {"frame": kept, "time_s": np.asarray(result.frame_times, dtype=np.float64)[kept],
             "hash": np.asarray(hashes.hashes, dtype=np.uint64), "flat": hashes.flat,
             "level": np.asarray(hashes.level, dtype=np.float32)},
            schema={"frame": pl.Int64, "time_s": pl.Float64, "hash": pl.UInt64, "flat": pl.Boolean, "level": pl.Float32},
        ))
    write_table(  # keyframe candidates from this same pass: the keyframes need no decode of their own
        store, episode_key(context.partition_key, KEYFRAME_CANDIDATES), candidates_table(result.keyframe_samples, result.shots)
    )
    durations = df["end_s"] - df["start_s"]
    store.write_bytes(
        episode_key(context.partition_key, VIDEO_TIMING),
        json.dumps({"frame_count": result.frame_count, "duration_s": result.duration_s}).encode(),
    )
    yield dg.MaterializeResult(
        metadata={
            "num_shots": len(result.shots),
            "frame_count": result.frame_count,
            "duration_s": round(result.duration_s, 3),
            "mean_shot_s": round(float(durations.mean() or 0.0), 2),
            "timeline": image_markdown(shot_timeline(result.shots, result.duration_s), "image/png", "shots"),
            "shots": _shots_table_metadata(df),
            "detector": dg.MetadataValue.json({k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.stats.items()}),
            "uri": uri,
        },
    )


@episode_asset(
    group_name="video",
    kinds={"opencv", "jpeg"},
    deps=[shots],
)
def keyframes(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """One representative frame per shot: the sharpest (variance of the Laplacian) of a few frames
    around the shot's middle, upright, saved as JPEG. The candidates come from the shots pass
    (no second decode); only shots without one are decoded again, with targeted seeks. The
    metadata shows a contact sheet."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "keyframes"):
        return
    shot_list = shots_from_table(read_table(store, episode_key(key, SHOTS)))
    frame_times = read_table(store, episode_key(key, FRAME_TIMES))["pts_s"].to_numpy()
    cands_key = episode_key(key, KEYFRAME_CANDIDATES)  # absent when shots ran before one-decode
    candidates = candidates_from_table(read_table(store, cands_key)) if store.exists(cands_key) else {}
    try:
        frames, seeks = select_keyframes(shot_list, frame_times, candidates, lambda: store.local_copy(episode.master_key))
    except MediaError as exc:
        raise dg.Failure(description=f"{episode.master_uri}: {exc.problem}") from exc
    files = {keyframe_name(kf.shot): kf.jpeg or encode_jpeg(kf.image) for kf in frames}
    store.replace_folder(episode_key(key, KEYFRAME_DIR), files)
    table = pl.DataFrame({
        "shot": [kf.shot for kf in frames],
        "frame": [kf.frame for kf in frames],
        "time_s": [kf.time_s for kf in frames],
        "sharpness": [kf.sharpness for kf in frames],
        "uri": [store.uri(episode_key(key, f"{KEYFRAME_DIR}/{keyframe_name(kf.shot)}")) for kf in frames],
    })
    uri = write_table(store, episode_key(key, KEYFRAMES), table)
    sheet = contact_sheet([kf.image for kf in frames], [f"#{kf.shot} {kf.time_s:.1f}s" for kf in frames])
    yield dg.MaterializeResult(
        metadata={
            "num_keyframes": len(frames),
            "shots_decoded_again": seeks,  # shots too short for a candidate from the shots pass
            "contact_sheet": image_markdown(sheet, "image/jpeg", "keyframes") if sheet else "no keyframes",
            "folder": store.uri(episode_key(key, KEYFRAME_DIR)),
            "uri": uri,
        },
    )


@episode_asset(
    group_name="video",
    kinds={"pytorch", "parquet"},
    deps=[keyframes],
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
)
def shot_embeddings(
    context: dg.AssetExecutionContext, storage: MediaStorage, clip: ClipEncoderResource
) -> Iterator[dg.MaterializeResult]:
    """L2-normalized CLIP image embeddings of the keyframes (open_clip, batched; CUDA when
    present), with the model name, weights and dimension recorded."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "shot_embeddings"):
        return
    table = read_table(store, episode_key(key, KEYFRAMES)).sort("shot")
    images = [
        np.asarray(Image.open(io.BytesIO(store.read_bytes(episode_key(key, f"{KEYFRAME_DIR}/{keyframe_name(s)}")))).convert("RGB"))
        for s in table["shot"]
    ]
    encoder = clip.get_encoder()
    started = time.perf_counter()
    vectors = encoder.encode_images(images)
    elapsed = time.perf_counter() - started
    df = pl.DataFrame({
        "shot": table["shot"],
        "embedding": pl.Series(vectors.astype(np.float32).tolist(), dtype=pl.Array(pl.Float32, encoder.dim)),
        "model": [encoder.spec.label] * len(images),
    })
    uri = write_table(store, episode_key(key, EMBEDDINGS), df)
    if "random" in encoder.spec.weights:
        context.log.warning("CLIP runs with untrained weights: embeddings and search are not semantic")
    yield dg.MaterializeResult(
        metadata={
            "model": encoder.spec.model_name,
            "weights": encoder.spec.weights,
            "dimension": encoder.dim,
            "device": encoder.device,
            "num_embeddings": int(vectors.shape[0]),
            "images_per_s": round(len(images) / elapsed, 1) if elapsed > 0 and images else 0.0,
            "uri": uri,
        },
    )


@episode_asset(
    group_name="video",
    kinds={"qdrant"},
    deps=[shot_embeddings, dg.AssetKey("shot_tags")],
    automation_condition=FOLLOW_UPSTREAM,
)
def shot_index(
    context: dg.AssetExecutionContext, storage: MediaStorage, vector_index: VectorIndexResource
) -> Iterator[dg.MaterializeResult]:
    """The episode's shots in the vector index (Qdrant), with payload: partition, title, start,
    end, duration, keyframe URI, and the tags above threshold (``tags``, filterable) with their
    scores (``tag_scores``). It follows ``shot_tags`` when a classifier changes. Point ids are derived from (partition, shot), so a re-run never
    duplicates, and points of shots that no longer exist are removed."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "shot_index"):
        return
    shot_df = read_table(store, episode_key(key, SHOTS))
    joined = (
        shot_df.join(read_table(store, episode_key(key, EMBEDDINGS)), on="shot")
        .join(read_table(store, episode_key(key, KEYFRAMES)).select("shot", pl.col("uri").alias("keyframe_uri")), on="shot")
        .sort("shot")
    )
    tags_key = episode_key(key, SHOT_TAGS)  # absent when only the video assets are loaded
    tags = searchable_tags(read_table(store, tags_key)) if store.exists(tags_key) else {}
    vectors = np.asarray(joined["embedding"].to_list(), dtype=np.float32)
    points = [
        IndexPoint(
            id=shot_point_id(key, row["shot"]),
            vector=vectors[i],
            payload={
                "partition": key,
                "title": episode.title,
                "shot": row["shot"],
                "start_s": row["start_s"],
                "end_s": row["end_s"],
                "duration_s": row["end_s"] - row["start_s"],
                "keyframe_uri": row["keyframe_uri"],
                "tags": sorted(tags.get(row["shot"], {})),
                "tag_scores": {t: round(v, 4) for t, v in sorted(tags.get(row["shot"], {}).items())},
            },
        )
        for i, row in enumerate(joined.iter_rows(named=True))
    ]
    index = vector_index.get_index()
    if points:
        index.ensure_collection(vectors.shape[1])
    else:  # no shots to index: only remove what an earlier run indexed, if anything
        try:
            deleted = index.delete_partition(key)
        except VectorIndexError:
            deleted = 0  # no collection yet
        yield dg.MaterializeResult(metadata={"points_upserted": 0, "stale_points_deleted": deleted, "points_in_partition": 0})
        return
    session = getattr(index, "write_session", None)  # embedded index: one lock, one open store
    with session() if session else contextlib.nullcontext():
        upserted, deleted = replace_partition_points(index, key, points)
        stored = index.ids_for_partition(key)
    yield dg.MaterializeResult(
        metadata={
            "points_upserted": upserted,
            "stale_points_deleted": deleted,
            "points_in_partition": len(stored),
            "backend": type(index).__name__,
        },
    )


# --- Asset checks: the data tests of the video outputs, read back from storage ----------------


def _result(problems: list[str], **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": "\n".join(problems[:20]) or "none", **metadata},
    )


@episode_check(asset=shots, blocking=True)
def shots_tile_duration(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Shots cover the whole video, from frame 0 to the last frame, without gaps or overlaps."""
    store = storage.get_store()
    key = context.partition_key
    timing = json.loads(store.read_bytes(episode_key(key, VIDEO_TIMING)))
    shot_list = shots_from_table(read_table(store, episode_key(key, SHOTS)))
    return _result(shot_tiling_problems(shot_list, timing["frame_count"], timing["duration_s"]),
                   shots=len(shot_list), frame_count=timing["frame_count"])


@episode_check(asset=keyframes, blocking=True)
def one_keyframe_per_shot(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Exactly one keyframe per shot, lying inside its shot, and its JPEG exists."""
    store = storage.get_store()
    key = context.partition_key
    shot_list = shots_from_table(read_table(store, episode_key(key, SHOTS)))
    table = read_table(store, episode_key(key, KEYFRAMES))
    problems = keyframe_problems(shot_list, list(zip(table["shot"].to_list(), table["frame"].to_list())))
    stored = set(store.list_keys(episode_key(key, KEYFRAME_DIR)))
    missing = [s for s in table["shot"] if episode_key(key, f"{KEYFRAME_DIR}/{keyframe_name(s)}") not in stored]
    problems += [f"keyframe JPEG of shot {s} missing" for s in missing]
    return _result(problems, keyframes=table.height)


@episode_check(asset=shot_embeddings, blocking=True)
def embeddings_unit_norm(
    context: dg.AssetCheckExecutionContext, storage: MediaStorage, clip: ClipEncoderResource
) -> dg.AssetCheckResult:
    """Embeddings are finite, unit-norm, one per shot, of the model's dimension."""
    store = storage.get_store()
    key = context.partition_key
    df = read_table(store, episode_key(key, EMBEDDINGS))
    shot_count = read_table(store, episode_key(key, SHOTS)).height
    vectors = np.asarray(df["embedding"].to_list(), dtype=np.float32).reshape(df.height, -1)
    dim = clip.get_encoder().dim
    return _result(embedding_problems(vectors, shot_count, dim), dimension=dim)


@episode_check(asset=shot_index)
def index_holds_exactly_episode_shots(
    context: dg.AssetCheckExecutionContext, storage: MediaStorage, vector_index: VectorIndexResource
) -> dg.AssetCheckResult:
    """The index holds one point per shot of the episode, and no other point for it."""
    store = storage.get_store()
    key = context.partition_key
    shot_ids = {shot_point_id(key, s) for s in read_table(store, episode_key(key, SHOTS))["shot"]}
    stored = vector_index.get_index().ids_for_partition(key)
    problems = []
    if stored != shot_ids:
        problems.append(f"index holds {len(stored)} points for {key}, {len(shot_ids)} shots expected "
                        f"({len(stored - shot_ids)} extra, {len(shot_ids - stored)} missing)")
    return _result(problems, points=len(stored), shots=len(shot_ids))
