"""`media-platform show`: an episode's stored outputs read back as rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from media_platform import layout
from media_platform.audio.transcript_store import transcript_rows
from media_platform.catalogue import Catalogue
from media_platform.layout import episode_key
from media_platform.storage import Store, read_table

Rows = list[dict[str, Any]]


def _master(store: Store, partition: str) -> Rows:
    episode = Catalogue(store).get(partition)
    if episode is None:
        raise FileNotFoundError(f"{partition}: not in the catalogue")
    row = episode.to_row()
    row["licence"] = json.loads(row.pop("licence_json"))
    row["metadata"] = json.loads(row.pop("metadata_json"))
    return [row]


def _probe(store: Store, partition: str) -> Rows:
    return [json.loads(store.read_bytes(episode_key(partition, layout.PROBE)))]


def _table(name: str, columns: list[str] | None = None) -> Callable[[Store, str], Rows]:
    def read(store: Store, partition: str) -> Rows:
        df = read_table(store, episode_key(partition, name))
        return (df.select(columns) if columns else df).to_dicts()

    return read


def _embeddings(store: Store, partition: str) -> Rows:
    df = read_table(store, episode_key(partition, layout.SHOT_EMBEDDINGS)).sort("shot")
    vectors = np.asarray(df["embedding"].to_list(), dtype=np.float32)
    return [
        {"shot": int(s), "dimension": int(v.shape[0]), "norm": round(float(np.linalg.norm(v)), 6),
         "head": [round(float(x), 4) for x in v[:4]]}
        for s, v in zip(df["shot"], vectors)
    ]


def _transcript(store: Store, partition: str) -> Rows:
    return transcript_rows(read_table(store, episode_key(partition, layout.TRANSCRIPT)))


def _loudness(store: Store, partition: str) -> Rows:
    return [json.loads(store.read_bytes(episode_key(partition, layout.LOUDNESS_REPORT)))]


def _shot_audio(store: Store, partition: str) -> Rows:
    return read_table(store, episode_key(partition, layout.SHOT_AUDIO_FEATURES)).select("shot", "top_classes").to_dicts()


def _shot_features(store: Store, partition: str) -> Rows:
    layout_json = json.loads(store.read_bytes(episode_key(partition, layout.SHOT_FEATURES_LAYOUT)))
    df = read_table(store, episode_key(partition, layout.SHOT_FEATURES))
    present = [c for c in df.columns if c.endswith("_present")]
    return [{"shot": r["shot"], **{c: r[c] for c in present}, "layout": layout_json.get("signature")}
            for r in df.select("shot", *present).iter_rows(named=True)]


def _preview(store: Store, partition: str) -> Rows:
    key = episode_key(partition, layout.PREVIEW_RECORD)
    if store.exists(key):
        r = json.loads(store.read_bytes(key))
        return [{"start": r["start"], "end": r["end"], "text": r["text"], "score": r["score"],
                 "reasons": r["reasons"], "uri": r["uri"], "video_uri": r.get("video_uri")}]
    selection = json.loads(store.read_bytes(episode_key(partition, layout.PREVIEW_SELECTION)))
    if selection["choice"] is not None:  # chosen, but never rendered (e.g. the licence forbids it)
        raise FileNotFoundError(f"{store.uri(key)}: no rendered preview")
    return [{"start": None, "end": None, "text": "", "score": None, "reasons": [selection["reason"]], "uri": None}]


def _preview_selection(store: Store, partition: str) -> Rows:
    return [json.loads(store.read_bytes(episode_key(partition, layout.PREVIEW_SELECTION)))]


SHOWABLE_ASSETS: dict[str, Callable[[Store, str], Rows]] = {
    "master": _master,
    "media_probe": _probe,
    "shots": _table(layout.SHOTS, ["shot", "start_frame", "end_frame", "start_s", "end_s", "confidence"]),
    "keyframes": _table(layout.KEYFRAMES),
    "shot_embeddings": _embeddings,
    "audio": _loudness,
    "audio_events": _table(layout.AUDIO_EVENTS, ["label", "start", "end", "confidence"]),
    "transcript": _transcript,
    "shot_audio_features": _shot_audio,
    "chapters": _table(layout.CHAPTERS, ["start", "end", "title", "keywords"]),
    "shot_features": _shot_features,
    "shot_tags": _table(layout.SHOT_TAGS, ["shot", "tag", "score", "source", "above_threshold"]),
    "preview_candidates": _table(layout.PREVIEW_CANDIDATES, ["start", "end", "duration", "clean", "flags", "text"]),
    "preview_selection": _preview_selection,
    "preview": _preview,
    "episode_markers": _table(layout.EPISODE_MARKERS, ["kind", "start", "end", "confidence"]),
}


def show_rows(store: Store, partition: str, asset: str) -> Rows:
    """Rows of ``asset`` for ``partition``; FileNotFoundError when it is not materialized."""
    return SHOWABLE_ASSETS[asset](store, partition)
