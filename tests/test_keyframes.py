"""Keyframes from the shot detector's own decoding pass (one decode per video).

Real fixtures from ``../shared/media/video``: the rotated GoldenEye clip (1280x544, rotation
flag), its variable-frame-rate copy (B-frames: the coarse pass skips non-reference frames) and
Big Buck Bunny (VP8: every frame decoded). The keyframes chosen from the kept candidates are
compared with the two-pass path (targeted seeks around each shot's middle); decoding is
counted by wrapping ``av.open``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import av
import numpy as np
import pytest

import media_platform.video.keyframes as keyframes_module
from media_platform.video.frames import laplacian_variance, read_frames
from media_platform.video.keyframe_samples import (
    KeyframeSample,
    KeyframeSamples,
    candidates_from_table,
    candidates_table,
    shot_candidates,
)
from media_platform.video.keyframes import candidate_frames, extract_keyframes, select_keyframes
from media_platform.video.shots import Shot, detect_shots

CLIPS = ["pyscenedetect/issue-134-rotate.mp4", "pyscenedetect/goldeneye-vfr-drop3.mp4", "blender_bbb/big_buck_bunny_0_30.webm"]


class _Counting:
    """A container whose ``decode`` counts the frames it yields (everything else passes)."""

    def __init__(self, container, log: dict) -> None:
        self._c, self._log = container, log

    def __getattr__(self, name):
        return getattr(self._c, name)

    def decode(self, *args, **kwargs):
        for frame in self._c.decode(*args, **kwargs):
            self._log["frames"] += 1
            yield frame


@pytest.fixture
def decode_log(monkeypatch) -> dict:
    """Counts ``av.open`` calls and the frames decoded through ``container.decode``."""
    log = {"opens": 0, "frames": 0}
    real_open = av.open

    def counting_open(*args, **kwargs):
        log["opens"] += 1
        return _Counting(real_open(*args, **kwargs), log)

    monkeypatch.setattr(av, "open", counting_open)
    return log


@pytest.fixture(scope="module")
def detected(shared_media: Path) -> dict:
    """Each clip's detection (with its kept samples), once per module."""
    return {name: detect_shots(shared_media / "video" / name) for name in CLIPS}


def _one_decode(result, path: Path, opened: list) -> tuple[list, int]:
    """The assets' path: candidates stored by the shots step, read back by the keyframes step."""
    stored = candidates_table(result.keyframe_samples, result.shots)
    candidates = candidates_from_table(stored)

    @contextlib.contextmanager
    def open_master():
        opened.append(path)
        yield path

    return select_keyframes(result.shots, result.frame_times, candidates, open_master)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


@pytest.mark.parametrize("name", CLIPS)
def test_keyframes_need_no_second_decode_and_match_the_two_pass_path(
    name: str, detected: dict, shared_media: Path, decode_log: dict
) -> None:
    path = shared_media / "video" / name
    result = detected[name]
    opened: list = []
    frames, seeks = _one_decode(result, path, opened)
    # Every shot of these clips is long enough to have a kept candidate: nothing is decoded again.
    assert seeks == 0 and opened == [] and decode_log == {"opens": 0, "frames": 0}
    assert [kf.shot for kf in frames] == [s.index for s in result.shots]
    two_pass = extract_keyframes(path, result.shots, result.frame_times)
    for shot, kf, ref in zip(result.shots, frames, two_pass, strict=True):
        # inside the shot, in its middle half, at the shot's own time
        assert shot.start_frame <= kf.frame <= shot.end_frame
        assert abs(kf.frame - (shot.start_frame + shot.end_frame) / 2) <= shot.frame_count / 4
        assert kf.time_s == pytest.approx(result.frame_times[kf.frame])
        # the same size and orientation as the two-pass keyframe (upright, longest side 640)
        assert kf.image.shape == ref.image.shape and max(kf.image.shape[:2]) == 640
        assert kf.image.shape[0] > kf.image.shape[1] or "rotate" not in name
        # the JPEG shows the frame it names: close to that frame decoded the ordinary way (the
        # coarse pass skips the deblocking filter: H.264 loses little, VP8's filter matters more)
        exact = read_frames(path, [kf.frame], max_side=640)[kf.frame]
        assert _psnr(kf.image, exact) > (35.0 if path.suffix == ".mp4" else 27.0)
        # as sharp as the two-pass choice, or close (it picks among more frames, from a pass
        # that skips deblocking, which adds a little high-frequency energy)
        assert kf.sharpness >= 0.8 * ref.sharpness
        assert kf.sharpness == pytest.approx(laplacian_variance(kf.image), rel=0.1)  # JPEG round trip
    # the coarse pass decoded each frame at most once (only reference frames where it may skip)
    assert result.stats["coarse_decoded_frames"] <= result.frame_count


def test_whole_detection_decodes_the_video_once(shared_media: Path, decode_log: dict) -> None:
    path = shared_media / "video" / "pyscenedetect" / "goldeneye-vfr-drop3.mp4"
    result = detect_shots(path)
    during_detection = dict(decode_log)
    frames, seeks = _one_decode(result, path, [])
    assert seeks == 0 and decode_log == during_detection
    # probe (demux only) + coarse pass + one refinement pass over short windows
    assert during_detection["opens"] <= 3
    assert during_detection["frames"] == result.stats["coarse_decoded_frames"] < result.frame_count
    assert len(result.keyframe_samples.samples) <= result.duration_s * 2 + 1


def test_short_shots_fall_back_to_targeted_seeks(detected: dict, shared_media: Path, monkeypatch) -> None:
    name = "pyscenedetect/issue-134-rotate.mp4"
    path = shared_media / "video" / name
    result = detected[name]
    # Split the second shot (frames 90..209) so that a 5-frame shot sits between two kept samples.
    samples = result.keyframe_samples.samples
    kept = sorted(s.frame for s in samples)
    gap = next((a, b) for a, b in zip(kept, kept[1:], strict=False) if 100 <= a and b - a >= 8 and b < 200)
    a, b = gap[0] + 1, gap[0] + 5  # strictly between two samples
    s0, s1 = result.shots[0], result.shots[1]
    times = result.frame_times
    shots = [
        s0,
        Shot(1, s1.start_frame, a - 1, s1.start_s, float(times[a]), s1.confidence),
        Shot(2, a, b, float(times[a]), float(times[b + 1]), 0.9),
        Shot(3, b + 1, s1.end_frame, float(times[b + 1]), s1.end_s, 0.9),
    ]
    candidates = candidates_from_table(candidates_table(result.keyframe_samples, shots))
    assert 2 not in candidates and {0, 1, 3} <= set(candidates)
    requested: list[list[int]] = []
    real_read = keyframes_module.read_frames

    def counting_read(p, indices, *args, **kwargs):
        requested.append(sorted(indices))
        return real_read(p, indices, *args, **kwargs)

    monkeypatch.setattr(keyframes_module, "read_frames", counting_read)
    opened: list = []

    @contextlib.contextmanager
    def open_master():
        opened.append(path)
        yield path

    frames, seeks = select_keyframes(shots, times, candidates, open_master)
    assert seeks == 1 and opened == [path]
    assert requested == [sorted(candidate_frames(shots[2], spread=1))]  # 3 frames, not a pass
    short = frames[2]
    assert short.jpeg is None and a <= short.frame <= b
    [expected] = extract_keyframes(path, [shots[2]], times)
    assert short.frame == expected.frame and short.sharpness == expected.sharpness
    assert all(shots[i].start_frame <= frames[i].frame <= shots[i].end_frame for i in range(4))


def test_stale_candidates_outside_their_shot_are_not_used(detected: dict, shared_media: Path) -> None:
    name = "pyscenedetect/issue-134-rotate.mp4"
    result = detected[name]
    stored = candidates_from_table(candidates_table(result.keyframe_samples, result.shots))
    stored[0] = [KeyframeSample(result.shots[1].start_frame + 3, None, 1e9, stored[1][0].jpeg)]  # from shot 1
    path = shared_media / "video" / name
    frames, seeks = select_keyframes(result.shots, result.frame_times, stored, lambda: contextlib.nullcontext(path))
    assert seeks == 1 and frames[0].frame <= result.shots[0].end_frame


def test_memory_bound_holds_and_samples_keep_covering_the_video(shared_media: Path) -> None:
    path = shared_media / "video" / "blender_bbb" / "big_buck_bunny_0_30.webm"
    bound = 400_000  # about 8 of its ~50 kB JPEGs, for 60 half-second bins
    samples = KeyframeSamples(max_bytes=bound)
    free = KeyframeSamples()
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            samples.offer(i, frame.time, frame)
            free.offer(i, frame.time, frame)
            assert samples.bytes <= bound
    samples.finish()
    free.finish()
    assert len(free.samples) == 60 and free.decimations == 0  # 30 s at 2 per second
    assert samples.peak_bytes <= bound and samples.bytes == sum(len(s.jpeg) for s in samples.samples)
    assert samples.decimations >= 3 and samples.rate_hz == 2.0 / 2**samples.decimations
    assert 4 <= len(samples.samples) < 60
    # still covering the whole clip: one sample in every (longer) bin, the sharpest of the
    # half-second picks it merged
    best: dict[int, KeyframeSample] = {}
    for s in free.samples:
        b = int(s.time_s // samples.bin_s)
        if b not in best or s.sharpness > best[b].sharpness:
            best[b] = s
    assert [s.frame for s in samples.samples] == [best[b].frame for b in sorted(best)]


def test_candidates_lie_in_the_middle_half_nearest_first() -> None:
    samples = [KeyframeSample(f, None, float(f % 7), b"") for f in range(0, 200, 10)]
    [long, short, edge] = shot_candidates(samples, [0, 100, 0], [99, 104, 11], per_shot=3)
    assert [s.frame for s in long] == [40, 50, 60]  # middle 49.5: 40/50/60 nearest, in frame order
    assert short == [] and edge == []  # 100..104: middle half 101..103; 0..11: 3..8 has none
