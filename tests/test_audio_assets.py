"""The audio assets end to end with ``dg.materialize`` on a temporary instance: real decoding,
loudness normalization, YAMNet (ONNX) and faster-whisper with the bundled tiny.en model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from platform_harness import check_results, platform_for_test

from assets import audio, ingest, video
from media_platform.audio import yamnet
from media_platform.audio.embedding_store import (
    AUDIO_EMBEDDING_SOURCE,
    embeddings_from_table,
    mean_embedding_per_span,
)
from media_platform.cli.show import show_rows
from media_platform.layout import episode_key
from media_platform.storage import read_table
from media_platform.tags.features import make_layout

AUDIO_SELECTION = dg.AssetSelection.assets("master", "media_probe", "audio", "audio_events", "transcript")


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    with platform_for_test(tmp_path_factory.mktemp("audio-platform"), shared_media, [ingest, video, audio]) as p:
        yield p


def test_podcast_audio_events_and_transcript(platform) -> None:
    key = platform.ingest(platform.media / "podcast/podcast_assembled.mp3", "Assembled Podcast")
    result = platform.run(key, AUDIO_SELECTION)
    assert result.success
    checks = check_results(result)
    assert checks == {"content_hash_matches_catalogue": True, "loudness_on_target": True,
                      "event_frames_cover_duration": True, "words_ordered_and_plausible": True}
    store = platform.store
    loudness = show_rows(store, key, "audio")[0]
    assert abs(loudness["lufs_after"] + 16.0) <= 1.0 and loudness["true_peak_after"] <= -1.0 + 0.05

    events = show_rows(store, key, "audio_events")
    assert set(events[0]) == {"label", "start", "end", "confidence"}
    labels = {e["label"] for e in events}
    assert {"music", "speech", "speech_over_music"} <= labels
    host = [e for e in events if e["label"] == "speech" and e["start"] < 20]
    assert host and abs(host[0]["start"] - 12.5) <= 1.0  # ground truth: host read starts at 12.5 s

    rows = show_rows(store, key, "transcript")
    assert rows and set(rows[0]) == {"start", "end", "text", "words"}
    text = " ".join(r["text"] for r in rows).lower()
    assert "dashwood" in text and "country" in text  # host read and JFK clip
    first_word = rows[0]["words"][0]
    assert set(first_word) == {"word", "start", "end", "probability"} and first_word["start"] >= 11.5
    run = json.loads(store.read_bytes(episode_key(key, "transcript_run.json")))
    assert run["whisper_run"] is True


def test_subtitle_sidecar_replaces_whisper(platform, tmp_path: Path) -> None:
    store = platform.store
    srt = platform.media / "audio/whisper_jfk/jfk.srt"
    store.put_file("sidecars/jfk.srt", srt)
    key = platform.ingest(platform.media / "audio/whisper_jfk/jfk.flac", "JFK", subtitle_key="sidecars/jfk.srt")
    result = platform.run(key, AUDIO_SELECTION)
    assert result.success and all(check_results(result).values())
    df = read_table(store, episode_key(key, "transcript.parquet"))
    assert df["source"][0].startswith("subtitle:srt")
    assert "ask not what your country can do for you" in " ".join(df["text"]).lower()
    assert json.loads(store.read_bytes(episode_key(key, "transcript_run.json")))["whisper_run"] is False


def test_silence_gives_no_words(platform, tmp_path: Path) -> None:
    silence = tmp_path / "room.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silence), "synth", "6", "whitenoise", "vol", "0.0005"], check=True)
    key = platform.ingest(silence, "Room Tone")
    result = platform.run(key, AUDIO_SELECTION)
    assert result.success and all(check_results(result).values())
    assert show_rows(platform.store, key, "transcript") == []


def test_video_episode_gets_per_shot_audio_features(platform) -> None:
    key = platform.ingest(platform.media / "video/blender_bbb/big_buck_bunny_0_30.webm", "Big Buck Bunny")
    selection = dg.AssetSelection.assets("master", "media_probe", "shots", "audio", "audio_events", "shot_audio_features")
    result = platform.run(key, selection)
    assert result.success
    store = platform.store
    shots = read_table(store, episode_key(key, "shots.parquet"))
    feats = read_table(store, episode_key(key, "shot_audio_features.parquet"))
    assert feats["shot"].to_list() == shots["shot"].to_list()
    assert dict(feats.schema) == {
        "shot": pl.Int64,
        "audio_embedding": pl.Array(pl.Float32, 1024),
        "class_scores": pl.Array(pl.Float32, 521),
        "class_peaks": pl.Array(pl.Float32, 521),
        "top_classes": pl.List(pl.Utf8),
    }
    assert all(len(t) == 3 for t in feats["top_classes"].to_list())
    # audio_events stored YAMNet's embedding layer per frame, with the graph's quantisation
    frames = read_table(store, episode_key(key, "audio_event_frames.parquet"))
    table = read_table(store, episode_key(key, "audio_embedding_frames.parquet"))
    assert table.columns == ["frame", "time_s", "embedding", "scale", "zero_point", "hop_s"]
    assert table.height == frames.height and table["embedding"].dtype == pl.Array(pl.UInt8, 1024)
    assert table["scale"].unique().to_list() == [yamnet.embedding_quantisation().scale]
    # the shot's audio_embedding is the mean of the stored, dequantised frames it covers
    times, emb = embeddings_from_table(table)
    spans = list(zip(shots["start_s"].to_list(), shots["end_s"].to_list()))
    mean = np.asarray(feats["audio_embedding"].to_list(), np.float32)
    assert np.allclose(mean, mean_embedding_per_span(times, 0.48, emb, spans), atol=1e-6)
    # the asset names the same source the shot features' audio block records in its layout
    metadata = result.asset_materializations_for_node("shot_audio_features")[0].metadata
    audio_block = next(b for b in make_layout(clip_dim=8, clip_source="any").blocks if b.name == "audio")
    assert metadata["audio_embedding"].value == audio_block.source == AUDIO_EMBEDDING_SOURCE
    assert (mean >= 0).all() and (mean.max(axis=1) > 0).all()
    scores = np.asarray(feats["class_scores"].to_list(), np.float32)
    peaks = np.asarray(feats["class_peaks"].to_list(), np.float32)
    assert (peaks >= scores - 1e-6).all() and (peaks > scores + 1e-3).any()
    names = yamnet.class_names()
    assert feats["top_classes"].to_list() == [[names[i] for i in np.argsort(r)[::-1][:3]] for r in scores]


def test_shot_audio_features_name_a_missing_embedding_table(platform) -> None:
    """An episode whose audio_events predate the embedding table fails with a clear message."""
    key = platform.ingest(platform.media / "video/pyscenedetect/issue-134-rotate.mp4", "Rotate")
    selection = dg.AssetSelection.assets("master", "media_probe", "shots", "audio", "audio_events")
    assert platform.run(key, selection).success
    platform.store.delete(episode_key(key, "audio_embedding_frames.parquet"))
    result = platform.run(key, dg.AssetSelection.assets("shot_audio_features"))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "audio_embedding_frames.parquet: missing" in str(failure.event_specific_data.error)
