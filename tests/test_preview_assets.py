"""Previews end to end through Dagster on the assembled podcast (ground truth by construction),
licence enforcement inside the assets, and the learning-to-rank asset."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from platform_harness import check_results, materialized, platform_for_test

from assets import audio, catalogue, ingest, previews, video
from media_platform.catalogue import Catalogue
from media_platform.cli.show import show_rows
from media_platform.layout import episode_key

EPISODE = dg.AssetSelection.all() - dg.AssetSelection.groups("models", "catalogue")
AUDIO_TO_PREVIEW = EPISODE - dg.AssetSelection.groups("video")
HOST_READ = (12.5, 39.23)
AD_READ = (40.23, 65.62)
MP3_DELAY = 0.05  # the MP3 adds about 25 ms of encoder delay


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    modules = [ingest, video, audio, previews, catalogue]
    with platform_for_test(tmp_path_factory.mktemp("preview-platform"), shared_media, modules) as p:
        yield p


def test_podcast_preview_lies_inside_the_host_read(platform) -> None:
    key = platform.ingest(platform.media / "podcast/podcast_assembled.mp3", "Assembled Podcast")
    result = platform.run(key, AUDIO_TO_PREVIEW)
    assert result.success
    checks = check_results(result)
    assert checks["preview_is_clean"], checks
    store = platform.store
    [row] = show_rows(store, key, "preview")
    assert set(row) >= {"start", "end", "text", "score", "reasons", "uri"}
    assert HOST_READ[0] - 0.3 <= row["start"] and row["end"] <= HOST_READ[1] + 0.3 + MP3_DELAY
    assert row["end"] <= AD_READ[0] and row["start"] >= 12.0  # no intro music, no ad
    assert 15.0 <= row["end"] - row["start"] <= 30.0  # the shorter-clean-window case
    assert row["text"].strip()[0].isupper() and row["text"].rstrip().endswith((".", "!", "?"))
    assert Path(row["uri"].removeprefix("file://")).is_file()
    chapters = show_rows(store, key, "chapters")
    assert chapters and set(chapters[0]) == {"start", "end", "title", "keywords"}


@pytest.mark.parametrize("selection", ["*preview", "+key:preview or key:preview_ranker"])
def test_preview_with_its_upstream_yields_a_preview_without_a_golden_set(platform, selection: str) -> None:
    """What "Materialize preview with its upstream" in the UI runs (Dagster's own selection
    syntax), with and without the optional ranker in the same run: with no golden set the ranker
    has nothing to learn, and that must never skip preview_selection and preview."""
    store = platform.store
    assert not store.exists("models/preview_golden.json")
    key = platform.ingest(platform.media / "podcast/podcast_assembled.mp3", "Assembled Podcast")
    store.delete(episode_key(key, "preview.json"))
    result = platform.run(key, dg.AssetSelection.from_string(selection))
    assert result.success
    done = materialized(result)
    assert {"preview_selection", "preview"} <= done, done
    assert not [e for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    if "preview_ranker" in selection:
        [ranker] = [e for e in result.get_asset_materialization_events()
                    if e.asset_key.to_user_string() == "preview_ranker"]
        assert "no golden set" in ranker.materialization.metadata["reason"].value
    [row] = show_rows(store, key, "preview")
    assert row["uri"] and 15.0 <= row["end"] - row["start"] <= 30.0


def test_all_music_episode_has_no_preview_and_says_why(platform, tmp_path: Path) -> None:
    music = tmp_path / "music.flac"
    src = platform.media / "podcast/podcast_assembled.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-t", "12", str(music)], check=True)
    key = platform.ingest(music, "Only Music")
    result = platform.run(key, AUDIO_TO_PREVIEW)
    assert result.success
    row = show_rows(platform.store, key, "preview")[0]
    assert row["uri"] is None and "no speech" in row["reasons"][0]


def test_no_derivatives_licence_gets_transcript_but_no_preview(platform, tmp_path: Path) -> None:
    jfk = tmp_path / "jfk.flac"
    jfk.write_bytes((platform.media / "audio/whisper_jfk/jfk.flac").read_bytes())
    key = platform.ingest(jfk, "JFK Inaugural", licence={"identifier": "cc-by-nd-4.0"})
    result = platform.run(key, AUDIO_TO_PREVIEW)  # a manual run of everything
    assert result.success
    done = materialized(result)
    assert {"audio", "audio_events", "transcript", "chapters"} <= done
    assert "preview" not in done
    store = platform.store
    assert not store.exists(episode_key(key, "preview.mp3"))


def test_no_derivatives_video_gets_shots_and_transcript_from_a_manual_run(platform, tmp_path: Path) -> None:
    clip = tmp_path / "rotate.mp4"
    clip.write_bytes((platform.media / "video/pyscenedetect/issue-134-rotate.mp4").read_bytes())
    key = platform.ingest(clip, "GoldenEye ND", licence={"identifier": "cc-by-nd-4.0"})
    result = platform.run(key, EPISODE)  # everything, as "Materialize all" in the UI would
    assert result.success
    done = materialized(result)
    assert {"shots", "keyframes", "shot_embeddings", "shot_index", "transcript", "preview_selection"} <= done
    assert "preview" not in done and not platform.store.exists(episode_key(key, "preview.mp4"))


def test_analysis_forbidden_title_keeps_only_its_master(platform, tmp_path: Path) -> None:
    clip = tmp_path / "test.wav"
    clip.write_bytes((platform.media / "audio/picovoice/test.wav").read_bytes())
    key = platform.ingest(clip, "Locked Title", licence={"identifier": "all-rights-reserved"})
    result = platform.run(key, EPISODE)
    assert result.success
    assert materialized(result) == {"master", "media_probe"}


def test_learned_ranker_from_a_golden_set(platform) -> None:
    store = platform.store
    key = next(e.partition_key for e in Catalogue(store).episodes() if e.title == "Assembled Podcast")
    store.write_bytes("models/preview_golden.json", json.dumps([{"episode": key, "start": 12.5, "end": 39.2}]).encode())
    result = platform.run(selection=dg.AssetSelection.assets("preview_ranker"))
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["mean_iou_learned"].value >= 0.8 and meta["top1_hit_rate_learned"].value == 1.0
    again = platform.run(key, dg.AssetSelection.assets("preview_selection"))
    assert again.success
    selection = json.loads(store.read_bytes(episode_key(key, "preview_selection.json")))
    assert selection["choice"]["ranker"] != "default"


def test_catalogue_compliance_check(platform) -> None:
    result = platform.run(selection=dg.AssetSelection.assets("episode_catalogue"))
    assert result.success and check_results(result) == {"licence_compliance": True}
