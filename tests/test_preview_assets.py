"""Previews end to end through Dagster on the assembled podcast (ground truth by construction),
licence enforcement inside the assets, and the learning-to-rank asset."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint

from assets import audio, catalogue, ingest, previews, video
from assets.common import episodes_partitions
from media_platform.catalogue import Catalogue
from media_platform.config import episode_key
from media_platform.ingest.register import register_master
from media_platform.outputs import show_rows
from resources import ClipEncoderResource, MediaStorage, TranscriberResource, VectorIndexResource

MODULES = [ingest, video, audio, previews, catalogue]
ALL = [*dg.load_assets_from_modules(MODULES), *dg.load_asset_checks_from_modules(MODULES)]
EPISODE = dg.AssetSelection.all() - dg.AssetSelection.groups("models", "catalogue")
AUDIO_TO_PREVIEW = EPISODE - dg.AssetSelection.groups("video")
HOST_READ = (12.5, 39.23)
AD_READ = (40.23, 65.62)
MP3_DELAY = 0.05  # the MP3 adds about 25 ms of encoder delay


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    root = tmp_path_factory.mktemp("preview-platform")
    checkpoint, config = write_tiny_clip_checkpoint(root / "clip")
    resources = {
        "storage": MediaStorage(root=str(root / "home")),
        "clip": ClipEncoderResource(model_name=TINY_CLIP_NAME, checkpoint_path=str(checkpoint), model_config_path=str(config)),
        "vector_index": VectorIndexResource(embedded_path=str(root / "index")),
        "transcriber": TranscriberResource(),
    }
    with dg.instance_for_test() as instance:
        yield {"resources": resources, "instance": instance, "media": shared_media}


def _ingest(platform, path: Path, title: str, licence: dict | None = None) -> str:
    store = platform["resources"]["storage"].get_store()
    reg = register_master(store, Catalogue(store), path, title=title, licence=licence)
    platform["instance"].add_dynamic_partitions(episodes_partitions.name, [reg.episode.partition_key])
    return reg.episode.partition_key


def _run(platform, selection, key: str | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(ALL, instance=platform["instance"], resources=platform["resources"],
                          partition_key=key, selection=selection, raise_on_error=False)


def _checks(result) -> dict[str, bool]:
    return {e.event_specific_data.check_name: e.event_specific_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_podcast_preview_lies_inside_the_host_read(platform) -> None:
    key = _ingest(platform, platform["media"] / "podcast/podcast_assembled.mp3", "Assembled Podcast")
    result = _run(platform, AUDIO_TO_PREVIEW, key)
    assert result.success
    checks = _checks(result)
    assert checks["preview_is_clean"], checks
    store = platform["resources"]["storage"].get_store()
    [row] = show_rows(store, key, "preview")
    assert set(row) >= {"start", "end", "text", "score", "reasons", "uri"}
    assert HOST_READ[0] - 0.3 <= row["start"] and row["end"] <= HOST_READ[1] + 0.3 + MP3_DELAY
    assert row["end"] <= AD_READ[0] and row["start"] >= 12.0  # no intro music, no ad
    assert 15.0 <= row["end"] - row["start"] <= 30.0  # the shorter-clean-window case
    assert row["text"].strip()[0].isupper() and row["text"].rstrip().endswith((".", "!", "?"))
    assert Path(row["uri"].removeprefix("file://")).is_file()
    chapters = show_rows(store, key, "chapters")
    assert chapters and set(chapters[0]) == {"start", "end", "title", "keywords"}


def test_all_music_episode_has_no_preview_and_says_why(platform, tmp_path: Path) -> None:
    music = tmp_path / "music.flac"
    src = platform["media"] / "podcast/podcast_assembled.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-t", "12", str(music)], check=True)
    key = _ingest(platform, music, "Only Music")
    result = _run(platform, AUDIO_TO_PREVIEW, key)
    assert result.success
    row = show_rows(platform["resources"]["storage"].get_store(), key, "preview")[0]
    assert row["uri"] is None and "no speech" in row["reasons"][0]


def test_no_derivatives_licence_gets_transcript_but_no_preview(platform, tmp_path: Path) -> None:
    jfk = tmp_path / "jfk.flac"
    jfk.write_bytes((platform["media"] / "audio/whisper_jfk/jfk.flac").read_bytes())
    key = _ingest(platform, jfk, "JFK Inaugural", licence={"identifier": "cc-by-nd-4.0"})
    result = _run(platform, AUDIO_TO_PREVIEW, key)  # a manual run of everything
    assert result.success
    done = _materialized(result)
    assert {"audio", "audio_events", "transcript", "chapters"} <= done
    assert "preview" not in done
    store = platform["resources"]["storage"].get_store()
    assert not store.exists(episode_key(key, "preview.mp3"))


def test_analysis_forbidden_title_keeps_only_its_master(platform, tmp_path: Path) -> None:
    clip = tmp_path / "test.wav"
    clip.write_bytes((platform["media"] / "audio/picovoice/test.wav").read_bytes())
    key = _ingest(platform, clip, "Locked Title", licence={"identifier": "all-rights-reserved"})
    result = _run(platform, EPISODE, key)
    assert result.success
    assert _materialized(result) == {"master", "media_probe"}


def test_learned_ranker_from_a_golden_set(platform) -> None:
    store = platform["resources"]["storage"].get_store()
    key = next(e.partition_key for e in Catalogue(store).episodes() if e.title == "Assembled Podcast")
    store.write_bytes("models/preview_golden.json", json.dumps([{"episode": key, "start": 12.5, "end": 39.2}]).encode())
    result = _run(platform, dg.AssetSelection.assets("preview_ranker"))
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["mean_iou_learned"].value >= 0.8 and meta["top1_hit_rate_learned"].value == 1.0
    again = _run(platform, dg.AssetSelection.assets("preview_selection"), key)
    assert again.success
    selection = json.loads(store.read_bytes(episode_key(key, "preview_selection.json")))
    assert selection["choice"]["ranker"] != "default"


def test_catalogue_compliance_check(platform) -> None:
    result = _run(platform, dg.AssetSelection.assets("episode_catalogue"))
    assert result.success and _checks(result) == {"licence_compliance": True}
