"""The video assets end to end with ``dg.materialize`` on a temporary instance.

CLIP runs a tiny architecture from a checkpoint file written by the test (no weights can be
downloaded here); everything else is real: PyAV decoding, the shot detector, JPEG keyframes,
the embedded Qdrant engine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from clip_fixtures import TINY_CLIP_DIM
from platform_harness import check_results, platform_for_test

from assets import ingest, video
from media_platform.catalogue import Catalogue
from media_platform.layout import episode_key
from media_platform.search.index import shot_point_id
from media_platform.storage import LocalStore, read_table


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    with platform_for_test(tmp_path_factory.mktemp("platform"), shared_media, [ingest, video]) as p:
        yield p


def test_video_episode_end_to_end(platform) -> None:
    key = platform.ingest(platform.media / "video/pyscenedetect/issue-134-rotate.mp4", "GoldenEye Rotated")
    result = platform.run(key)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"master", "media_probe", "shots", "keyframes", "shot_embeddings", "shot_index"}
    assert all(check_results(result).values()), check_results(result)

    store = platform.store
    shots = read_table(store, episode_key(key, "shots.parquet"))
    starts = shots["start_frame"].to_list()
    for cut in (90, 210):  # ground truth: hard cuts at frames 90 and 210
        assert any(abs(s - cut) <= 1 for s in starts)
    keyframes = read_table(store, episode_key(key, "keyframes.parquet"))
    assert keyframes.height == shots.height
    # keyframes are upright: the master is 1280x544 with a 90-degree rotation flag
    from PIL import Image

    with store.local_copy(episode_key(key, "keyframes/shot_00000.jpg")) as jpg:
        width, height = Image.open(jpg).size
    assert height > width

    emb = read_table(store, episode_key(key, "shot_embeddings.parquet"))
    vectors = np.asarray(emb["embedding"].to_list())
    assert vectors.shape == (shots.height, TINY_CLIP_DIM)

    index = platform.resources["vector_index"].get_index()
    assert index.ids_for_partition(key) == {shot_point_id(key, s) for s in shots["shot"]}
    hit = index.search(vectors[1], limit=1)[0]
    assert hit.payload["partition"] == key and hit.payload["shot"] == 1 and hit.score > 0.99

    # Re-running is idempotent: same shots, same points, nothing duplicated.
    again = platform.run(key)
    assert again.success
    assert index.count(key) == shots.height


def test_audio_only_episode_skips_video_assets(platform) -> None:
    key = platform.ingest(platform.media / "audio/whisper_jfk/jfk.flac", "JFK")
    result = platform.run(key)
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"master", "media_probe"} <= materialized
    assert not materialized & {"shots", "keyframes", "shot_embeddings", "shot_index"}


def test_video_without_audio_track(platform, tmp_path: Path) -> None:
    silent = tmp_path / "no_audio.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
         "-f", "lavfi", "-i", "smptebars=size=320x240:rate=25:duration=2",
         "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent)],
        check=True,
    )
    key = platform.ingest(silent, "Silent Bars")
    result = platform.run(key)
    assert result.success
    shots = read_table(platform.store, episode_key(key, "shots.parquet"))
    assert shots.height == 2 and abs(shots["start_frame"][1] - 50) <= 1


def _failure_description(result: dg.ExecuteInProcessResult) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    data = failure.step_failure_data
    return (data.user_failure_data.description if data.user_failure_data else None) or data.error.message


def test_bad_episodes_fail_alone_and_keep_others(platform, tmp_path: Path) -> None:
    good = platform.ingest(platform.media / "video/pyscenedetect/counter.mp4", "Counter")
    assert platform.run(good).success
    store: LocalStore = platform.store
    before = store.read_bytes(episode_key(good, "shots.parquet"))
    index = platform.resources["vector_index"].get_index()

    # A truncated video whose header (moov first) still probes: registered, then its run fails
    # with an error naming the file.
    faststart = tmp_path / "faststart.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(platform.media / "video/pyscenedetect/issue-134-rotate.mp4"),
                    "-c", "copy", "-movflags", "+faststart", str(faststart)], check=True)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 2])
    bad = platform.ingest(truncated, "Truncated")
    result = platform.run(bad)
    assert not result.success
    message = _failure_description(result)
    assert f"masters/{bad}/master.mp4" in message and "truncated" in message

    # A master corrupted in storage after ingestion: the blocking hash check stops the run.
    other = platform.ingest(platform.media / "video/pyscenedetect/goldeneye-vfr-drop3.mp4", "VFR")
    episode = Catalogue(store).get(other)
    store.write_bytes(episode.master_key, b"not a video any more")
    result = platform.run(other)
    assert not result.success and check_results(result)["content_hash_matches_catalogue"] is False

    # The good episode's outputs and index points are untouched.
    assert store.read_bytes(episode_key(good, "shots.parquet")) == before
    assert index.count(good) == 1


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [("zero.mp4", b"", "empty file"), ("notes.mp4", b"just some text\n" * 50, "not a readable media file")],
)
def test_bad_files_are_refused_at_ingestion(platform, tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    from media_platform.errors import MediaError

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError) as err:
        platform.ingest(path, "Bad")
    assert str(path) in str(err.value) and problem in str(err.value)


def test_counter_frame_arithmetic(platform) -> None:
    key = platform.ingest(platform.media / "video/pyscenedetect/counter.mp4", "Counter")
    store = platform.store
    if not store.exists(episode_key(key, "shots.parquet")):
        assert platform.run(key).success
    shots = read_table(store, episode_key(key, "shots.parquet")).to_dicts()
    assert shots == [{"shot": 0, "start_frame": 0, "end_frame": 29, "start_s": 0.0, "end_s": 3.0, "confidence": 1.0,
                      "transition": None, "transition_start_frame": None, "transition_end_frame": None,
                      "transition_start_s": None, "transition_end_s": None}]


def test_shot_table_is_replaced_atomically(platform) -> None:
    """No temporary or staging files are left beside the outputs after runs."""
    home = Path(platform.resources["storage"].root)
    leftovers = [p for p in home.rglob("*") if p.name.endswith((".tmp", ".staging", ".old"))]
    assert leftovers == []
    assert shutil.which("ffmpeg")


def test_audio_outlasting_the_picture_is_not_truncation(platform, tmp_path: Path) -> None:
    """Audio longer than the video stream (credits over black, screen recordings) is normal."""
    clip = tmp_path / "long_audio.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=3",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-c:a", "aac", str(clip)],
        check=True,
    )
    key = platform.ingest(clip, "Long Audio")
    result = platform.run(key, dg.AssetSelection.assets("master", "media_probe", "shots"))
    assert result.success
    shots = read_table(platform.store, episode_key(key, "shots.parquet"))
    assert shots["end_frame"][-1] == 74


def test_undecodable_payload_is_refused_at_ingestion(platform, tmp_path: Path) -> None:
    """A header that probes fine over zeroed frame data is not media we can use."""
    from media_platform.errors import MediaError

    src = tmp_path / "fs.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(src)], check=True)
    data = bytearray(src.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 4:] = bytes(len(data) - mdat - 4)
    zeroed = tmp_path / "zeroed.mp4"
    zeroed.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="zeroed.mp4: not decodable"):
        platform.ingest(zeroed, "Zeroed")
