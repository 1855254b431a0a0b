"""Refinement windows of the shot detector (``shot_decoding.window_signatures``): every frame of
a window is decoded, up to the file's last frame, and the result does not depend on how many
decoding threads share the runs. Real fixture: the GoldenEye clip with B-frames
(``../shared/media/video/pyscenedetect/goldeneye-vfr-drop3.mp4``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import media_platform.video.shot_decoding as shot_decoding
from media_platform.video.frames import probe_frame_index
from media_platform.video.shot_config import ShotDetectorConfig

CLIP = "pyscenedetect/goldeneye-vfr-drop3.mp4"


@pytest.fixture(scope="module")
def clip(shared_media: Path):
    path = shared_media / "video" / CLIP
    return path, probe_frame_index(path)


def test_windows_reach_the_last_frame_of_the_file(clip) -> None:
    # A frame-threaded decoder kept the file's last frames in its pipeline when the packets ran
    # out: a window ending at the last frame came back without them.
    path, index = clip
    n = index.frame_count
    windows = [(n - 40, n - 30), (n - 12, n - 1)]
    sigs, decoded = shot_decoding.window_signatures(path, index, windows, ShotDetectorConfig())
    wanted = set(range(n - 40, n - 29)) | set(range(n - 12, n))
    assert wanted <= set(sigs)
    assert decoded == len(sigs)


def test_windows_are_the_same_on_one_or_several_decoding_threads(clip, monkeypatch) -> None:
    path, index = clip
    n = index.frame_count
    # Runs after different keyframes, so that several threads get a share.
    keys = [index.index_of(int(k)) for k in index.keyframe_pts]
    starts = [k + 3 for k in keys if k is not None and k + 10 < n][:4] or [0]
    windows = [(a, min(n - 1, a + 6)) for a in starts] + [(n - 5, n - 1)]
    cfg = ShotDetectorConfig()
    monkeypatch.setattr(shot_decoding, "_workers", lambda cfg: 3)
    many, _ = shot_decoding.window_signatures(path, index, windows, cfg)
    monkeypatch.setattr(shot_decoding, "_workers", lambda cfg: 1)
    one, _ = shot_decoding.window_signatures(path, index, windows, cfg)
    assert set(many) == set(one)
    assert all((many[k].luma == one[k].luma).all() and (many[k].hist == one[k].hist).all() for k in one)
