"""Marker assets: intro, recap, credits and preview-of-next spans of every episode of a series.

audio ─► audio_fingerprint ─┐
shots ─► visual_fingerprint ┴► episode_markers (aligned against the series' other episodes)

``visual_fingerprint`` re-packages the frame hashes the shot detector kept during its own pass
(no second decode); an audio-only episode has none, and its markers come from sound alone
(``episode_markers`` runs when either fingerprint exists). ``episode_markers`` reads the fingerprints of every episode of the series
(series grouping: :mod:`media_platform.markers.series`) from storage.
"""


import hashlib
import json
import time
from collections.abc import Iterator

import dagster as dg
import numpy as np

from assets.audio import audio
from assets.common import (
    OWNERS,
    episode_asset,
    episode_check,
    episode_for,
    licence_allows,
    load_probe,
)
from assets.video import shots
from media_platform import layout
from media_platform.catalogue import Catalogue
from media_platform.errors import MediaError
from media_platform.layout import episode_key
from media_platform.markers.alignment import Match
from media_platform.markers.decisions import (
    MarkerConfig,
    SeriesEpisode,
    decide_series,
    pair_matches,
)
from media_platform.markers.fingerprints import AUDIO_POINT_S, Fingerprint
from media_platform.markers.fingerprints import audio_fingerprint as chromaprint
from media_platform.markers.fingerprints import visual_fingerprint as visual_from_hashes
from media_platform.markers.series import episode_order, series_members, series_name
from media_platform.markers.store import marker_problems, markers_table, pair_cache, read_pair_cache
from media_platform.storage import Store, read_table, write_table
from resources import MediaStorage
from resources.partitions import episodes_partitions


def _duration(store: Store, key: str) -> float:
    probe = load_probe(store, key)
    return float(probe.duration_s or 0.0)


@episode_asset(group_name="markers", kinds={"ffmpeg", "parquet"}, deps=[audio])
def audio_fingerprint(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """Chromaprint points (algorithm 2, FFmpeg's chromaprint muxer) of the whole episode, from
    the 16 kHz audio the ``audio`` asset already decoded: one 32-bit point every 0.124 s."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "audio_fingerprint"):
        return
    duration = _duration(store, key)
    started = time.perf_counter()
    try:
        with store.local_copy(episode_key(key, layout.AUDIO_16K)) as path:
            fp = chromaprint(path, duration)
    except MediaError as exc:
        raise dg.Failure(description=f"{key}: {exc.problem}") from exc
    elapsed = time.perf_counter() - started
    uri = write_table(store, episode_key(key, layout.AUDIO_FINGERPRINT), fp.to_table())
    yield dg.MaterializeResult(metadata={
        "points": len(fp), "seconds": round(len(fp) * AUDIO_POINT_S, 1), "wall_s": round(elapsed, 3),
        "uri": uri,
    })


@episode_asset(group_name="markers", kinds={"parquet"}, deps=[shots])
def visual_fingerprint(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """64-bit perceptual hashes of about 4 frames a second, computed by the shot detector from
    the thumbnails of the frames it decoded anyway (``frame_hashes.parquet``): no second decode."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "visual_fingerprint"):
        return
    if load_probe(store, key).kind != "video":  # a podcast: no picture; its markers use sound alone
        context.log.info(f"{key}: no picture, no visual fingerprint")
        return
    hashes_key = episode_key(key, layout.FRAME_HASHES)
    if not store.exists(hashes_key):
        raise dg.Failure(description=f"{key}: no frame hashes: its shots were detected before markers existed; "
                         f"re-run shots (media-platform run {key} --select 'shots+')")
    df = read_table(store, hashes_key).sort("time_s")
    timing = json.loads(store.read_bytes(episode_key(key, layout.VIDEO_TIMING)))
    fp = visual_from_hashes(df["time_s"].to_numpy(), df["hash"].to_numpy(), df["flat"].to_numpy(),
                            df["level"].to_numpy(), float(timing["duration_s"]))
    uri = write_table(store, episode_key(key, layout.VISUAL_FINGERPRINT), fp.to_table())
    yield dg.MaterializeResult(metadata={
        "hashes": len(fp), "uniform_frames": int(fp.flat.sum()), "uri": uri,
    })


def _load(store: Store, key: str, kind: str, name: str, step: float, duration: float) -> Fingerprint | None:
    k = episode_key(key, name)
    if not store.exists(k):
        return None
    return Fingerprint.from_table(kind, read_table(store, k), step, duration)


def _series_episode(store: Store, key: str, order: tuple) -> SeriesEpisode | None:
    duration = _duration(store, key) if store.exists(episode_key(key, layout.PROBE)) else 0.0
    audio_fp = _load(store, key, "audio", layout.AUDIO_FINGERPRINT, AUDIO_POINT_S, duration)
    visual_fp = _load(store, key, "visual", layout.VISUAL_FINGERPRINT, 0.25, duration)
    if audio_fp is None and visual_fp is None:
        return None
    cuts = np.empty(0)
    if visual_fp is not None and store.exists(episode_key(key, layout.SHOTS)):
        cuts = read_table(store, episode_key(key, layout.SHOTS)).sort("shot")["start_s"].to_numpy()[1:]
        duration = visual_fp.duration_s or duration
    return SeriesEpisode(key, duration, order, audio_fp, visual_fp, cuts)


@dg.op(
    ins={"fingerprints": dg.In(dg.Nothing)},
    out=dg.Out(dg.Nothing, is_required=False),
)
def markers_from_fingerprints(context: dg.OpExecutionContext, storage: MediaStorage) -> Iterator[dg.Output]:
    """The computation of ``episode_markers`` (see there)."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "episode_markers"):
        return
    members = series_members(Catalogue(store).episodes(), key)
    series = [s for e in members if (s := _series_episode(store, e.partition_key, episode_order(e))) is not None]
    if not any(s.key == key for s in series):
        raise dg.Failure(description=f"{key}: no fingerprint stored; materialize audio_fingerprint first")
    started = time.perf_counter()
    signatures = {s.key: _signature(store, s.key) for s in series}
    pairs, reused = _cached_pairs(store, series, signatures)
    for other in series:  # this episode's pairs, aligned now when not cached
        if other.key != key and (key, other.key) not in pairs and (other.key, key) not in pairs:
            pairs[(key, other.key)] = pair_matches(next(s for s in series if s.key == key), other)
    decided = decide_series(series, MarkerConfig(), pairs=pairs)[key]
    mine = {o.key: (signatures[o.key], pairs[(key, o.key)] if (key, o.key) in pairs else [m.swapped() for m in pairs[(o.key, key)]])
            for o in series if o.key != key and ((key, o.key) in pairs or (o.key, key) in pairs)}
    store.write_bytes(episode_key(key, layout.EPISODE_MARKER_PAIRS), pair_cache(signatures[key], mine))
    elapsed = time.perf_counter() - started
    table = markers_table(decided.markers)
    uri = write_table(store, episode_key(key, layout.EPISODE_MARKERS), table)
    me = next(s for s in series if s.key == key)
    sources = [name for name, fp in (("audio", me.audio), ("picture", me.visual)) if fp is not None]
    report = {"series": series_name(episode), "episodes": [s.key for s in series], "notes": decided.notes,
              "sources": sources, "markers": [m.to_row() for m in decided.markers]}
    store.write_bytes(episode_key(key, layout.EPISODE_MARKERS_REPORT), json.dumps(report, default=float).encode())
    yield dg.Output(None, metadata={
        "series": series_name(episode),
        "series_episodes": len(series),
        "evidence": ", ".join(sources),
        "markers": dg.MetadataValue.md("\n".join(
            f"- {m.kind}: {m.start:.2f}-{m.end:.2f} s (confidence {m.confidence:.2f})" for m in decided.markers) or "none"),
        "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in decided.notes) or "none"),
        "wall_s": round(elapsed, 3),
        "pairs_reused": reused,
        "uri": uri,
    })


@dg.graph_asset(
    ins={"audio_fingerprint": dg.AssetIn(dagster_type=dg.Nothing),
         "visual_fingerprint": dg.AssetIn(dagster_type=dg.Nothing)},
    partitions_def=episodes_partitions,
    owners=OWNERS,
    group_name="markers",
    kinds={"python", "parquet"},
)
def episode_markers(audio_fingerprint, visual_fingerprint):  # noqa: ANN001, ANN201 (Dagster graph inputs)
    """``intro``, ``recap``, ``credits`` and ``preview_of_next`` spans of the episode, each with a
    confidence and its evidence (the episodes sharing it, their spans, sound and/or picture),
    from aligning it against every other fingerprinted episode of its series. A single episode
    gets no marker and the reason (``episode_markers.json``).

    It runs when *either* fingerprint was made: both fingerprints feed one fan-in input, and
    Dagster skips a step only when none of an input's sources produced anything. So an
    audio-only episode (no shots, hence no ``visual_fingerprint``) gets its markers from sound
    alone in the same run, before its chapters and preview, which read them."""
    return markers_from_fingerprints(fingerprints=[audio_fingerprint, visual_fingerprint])


def _signature(store: Store, key: str) -> str:
    """Identity of an episode's fingerprints (both files' bytes)."""
    digest = hashlib.blake2b(digest_size=12)
    for name in (layout.AUDIO_FINGERPRINT, layout.VISUAL_FINGERPRINT):
        k = episode_key(key, name)
        digest.update(store.read_bytes(k) if store.exists(k) else b"-")
    return digest.hexdigest()


def _cached_pairs(
    store: Store, series: list[SeriesEpisode], signatures: dict[str, str]
) -> tuple[dict[tuple[str, str], list[Match]], int]:
    """Pairs aligned by earlier runs (any member's cache) whose fingerprints are unchanged."""
    pairs: dict[tuple[str, str], list[Match]] = {}
    for s in series:
        k = episode_key(s.key, layout.EPISODE_MARKER_PAIRS)
        if not store.exists(k):
            continue
        for other, (sig, matches) in read_pair_cache(store.read_bytes(k), signatures[s.key]).items():
            if other in signatures and sig == signatures[other] and (other, s.key) not in pairs:
                pairs[(s.key, other)] = matches
    return pairs, len(pairs)


@episode_check(asset=episode_markers, blocking=True)
def markers_are_consistent(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Markers lie inside the episode, do not overlap, and respect their kind's length bounds."""
    store = storage.get_store()
    key = context.partition_key
    table = read_table(store, episode_key(key, layout.EPISODE_MARKERS))
    duration = _duration(store, key)
    problems = marker_problems(table, duration, MarkerConfig())
    return dg.AssetCheckResult(passed=not problems, metadata={
        "problems": "\n".join(problems[:20]) or "none", "markers": table.height,
    })


__all__ = ["audio_fingerprint", "episode_markers", "markers_are_consistent", "visual_fingerprint"]
