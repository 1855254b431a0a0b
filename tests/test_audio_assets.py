"""The audio assets end to end with ``dg.materialize`` on a temporary instance: real decoding,
loudness normalization, YAMNet (ONNX) and faster-whisper with the bundled tiny.en model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint

from assets import audio, ingest, video
from assets.common import episodes_partitions
from media_platform.catalogue import Catalogue
from media_platform.config import episode_key
from media_platform.ingest.register import register_master
from media_platform.outputs import show_rows
from media_platform.storage import read_table
from resources import ClipEncoderResource, MediaStorage, TranscriberResource, VectorIndexResource

MODULES = [ingest, video, audio]
ALL = [*dg.load_assets_from_modules(MODULES), *dg.load_asset_checks_from_modules(MODULES)]
AUDIO_SELECTION = dg.AssetSelection.assets("master", "media_probe", "audio", "audio_events", "transcript")


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    root = tmp_path_factory.mktemp("audio-platform")
    checkpoint, config = write_tiny_clip_checkpoint(root / "clip")
    resources = {
        "storage": MediaStorage(root=str(root / "home")),
        "clip": ClipEncoderResource(model_name=TINY_CLIP_NAME, checkpoint_path=str(checkpoint), model_config_path=str(config)),
        "vector_index": VectorIndexResource(embedded_path=str(root / "index")),
        "transcriber": TranscriberResource(),
    }
    with dg.instance_for_test() as instance:
        yield {"resources": resources, "instance": instance, "media": shared_media}


def _ingest(platform, path: Path, title: str, **metadata) -> str:
    store = platform["resources"]["storage"].get_store()
    reg = register_master(store, Catalogue(store), path, title=title, metadata=metadata or None)
    platform["instance"].add_dynamic_partitions(episodes_partitions.name, [reg.episode.partition_key])
    return reg.episode.partition_key


def _run(platform, key: str, selection=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(ALL, instance=platform["instance"], resources=platform["resources"],
                          partition_key=key, selection=selection, raise_on_error=False)


def _checks(result) -> dict[str, bool]:
    return {e.event_specific_data.check_name: e.event_specific_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def test_podcast_audio_events_and_transcript(platform) -> None:
    key = _ingest(platform, platform["media"] / "podcast/podcast_assembled.mp3", "Assembled Podcast")
    result = _run(platform, key, AUDIO_SELECTION)
    assert result.success
    checks = _checks(result)
    assert checks == {"content_hash_matches_catalogue": True, "loudness_on_target": True,
                      "event_frames_cover_duration": True, "words_ordered_and_plausible": True}
    store = platform["resources"]["storage"].get_store()
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
    store = platform["resources"]["storage"].get_store()
    srt = platform["media"] / "audio/whisper_jfk/jfk.srt"
    store.put_file("sidecars/jfk.srt", srt)
    key = _ingest(platform, platform["media"] / "audio/whisper_jfk/jfk.flac", "JFK", subtitle_key="sidecars/jfk.srt")
    result = _run(platform, key, AUDIO_SELECTION)
    assert result.success and all(_checks(result).values())
    df = read_table(store, episode_key(key, "transcript.parquet"))
    assert df["source"][0].startswith("subtitle:srt")
    assert "ask not what your country can do for you" in " ".join(df["text"]).lower()
    assert json.loads(store.read_bytes(episode_key(key, "transcript_run.json")))["whisper_run"] is False


def test_silence_gives_no_words(platform, tmp_path: Path) -> None:
    silence = tmp_path / "room.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", str(silence), "synth", "6", "whitenoise", "vol", "0.0005"], check=True)
    key = _ingest(platform, silence, "Room Tone")
    result = _run(platform, key, AUDIO_SELECTION)
    assert result.success and all(_checks(result).values())
    assert show_rows(platform["resources"]["storage"].get_store(), key, "transcript") == []


def test_video_episode_gets_per_shot_audio_features(platform) -> None:
    key = _ingest(platform, platform["media"] / "video/blender_bbb/big_buck_bunny_0_30.webm", "Big Buck Bunny")
    selection = dg.AssetSelection.assets("master", "media_probe", "shots", "audio", "audio_events", "shot_audio_features")
    result = _run(platform, key, selection)
    assert result.success
    store = platform["resources"]["storage"].get_store()
    shots = read_table(store, episode_key(key, "shots.parquet"))
    feats = read_table(store, episode_key(key, "shot_audio_features.parquet"))
    assert feats["shot"].to_list() == shots["shot"].to_list()
    assert feats["audio_embedding"].dtype.size == 521
    assert all(len(t) == 3 for t in feats["top_classes"].to_list())
