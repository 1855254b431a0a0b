"""Tests of shot boundary detection and frame access (media_platform.video.shots / frames).

Real fixtures with ground truth come from ``../shared/media/video``; synthetic clips are made
with ffmpeg's lavfi sources in tmp_path (a cut at a known frame, a fade, a dissolve, a flash,
an overlay appearing) and the bad inputs (empty, text, truncated, audio-only) are made there too.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from media_platform.errors import MediaError
from media_platform.video.frames import laplacian_variance, probe_frame_index, read_frames
from media_platform.video.keyframes import candidate_frames, extract_keyframes
from media_platform.video.shots import Shot, ShotDetectorConfig, detect_shots

# x264 with B-frames, scene-cut keyframes off: cuts land on non-reference frames, so the coarse
# pass cannot see them exactly and the refinement must find them.
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-bf", "3",
        "-x264-params", "scenecut=0:keyint=120:b-pyramid=normal"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def f1(detected: list[int], truth: list[int], tol: int = 1) -> float:
    unmatched = list(detected)
    tp = 0
    for g in truth:
        hit = next((d for d in unmatched if abs(d - g) <= tol), None)
        if hit is not None:
            unmatched.remove(hit)
            tp += 1
    if not detected and not truth:
        return 1.0
    p = tp / len(detected) if detected else 0.0
    r = tp / len(truth) if truth else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def assert_tiles(result) -> None:
    shots: list[Shot] = result.shots
    assert shots[0].start_frame == 0 and shots[0].start_s == 0.0 and shots[0].confidence == 1.0
    for a, b in itertools.pairwise(shots):
        assert b.start_frame == a.end_frame + 1
        assert b.start_s == pytest.approx(a.end_s)
        assert b.index == a.index + 1
        assert 0.0 <= b.confidence <= 1.0
    assert shots[-1].end_frame == result.frame_count - 1
    assert shots[-1].end_s == pytest.approx(result.duration_s)
    assert result.frame_times.shape == (result.frame_count,)
    for s in shots:
        assert s.start_s == pytest.approx(result.frame_times[s.start_frame])


# --------------------------------------------------------------------------------------------
# Real fixtures with ground truth


@pytest.fixture(scope="module")
def video_dir(shared_media: Path) -> Path:
    return shared_media / "video"


def test_big_buck_bunny_cuts_not_fade_or_text(video_dir: Path) -> None:
    path = video_dir / "blender_bbb" / "big_buck_bunny_0_30.webm"
    gt = json.loads(path.with_name("big_buck_bunny_0_30.gt.json").read_text())
    result = detect_shots(path)
    assert_tiles(result)
    cuts = result.cut_frames
    assert f1(cuts, gt["hard_cuts"]) >= 0.95, cuts
    lo, hi = gt["fade_in_from_black"]
    assert not [c for c in cuts if lo - 2 <= c <= hi + 2], "fade-in reported as a cut"
    assert result.frame_count == 720


@pytest.mark.parametrize("name", ["issue-134-rotate.mp4", "goldeneye-vfr-drop3.mp4"])
def test_goldeneye_cuts(video_dir: Path, name: str) -> None:
    path = video_dir / "pyscenedetect" / name
    gt = json.loads(path.with_name(name.replace(".mp4", ".gt.json")).read_text())
    truth = gt.get("hard_cuts_decoded_frame_index", gt.get("hard_cuts"))
    result = detect_shots(path)
    assert_tiles(result)
    assert f1(result.cut_frames, truth) >= 0.95, result.cut_frames
    if "hard_cuts_seconds" in gt:  # VFR: times from pts, within about one frame
        starts = [s.start_s for s in result.shots[1:]]
        assert starts == pytest.approx(gt["hard_cuts_seconds"], abs=0.045)
        assert result.frame_count == 160


def test_counter_is_one_shot_with_exact_times(video_dir: Path) -> None:
    result = detect_shots(video_dir / "pyscenedetect" / "counter.mp4")
    assert len(result.shots) == 1
    shot = result.shots[0]
    assert (shot.start_frame, shot.end_frame) == (0, 29)
    assert shot.start_s == 0.0 and shot.end_s == pytest.approx(3.0)
    assert result.frame_times[-1] == pytest.approx(2.9)


def test_skipping_matches_full_decoding(video_dir: Path) -> None:
    path = video_dir / "pyscenedetect" / "goldeneye-vfr-drop3.mp4"
    fast = detect_shots(path)
    full = detect_shots(path, ShotDetectorConfig(skip_nonref=False))
    assert fast.stats["mode"] == "skip_nonref" and full.stats["mode"] == "full"
    assert fast.stats["decoded_frames"] < full.stats["decoded_frames"]
    assert fast.cut_frames == full.cut_frames
    np.testing.assert_allclose(fast.frame_times, full.frame_times)


def test_read_frames_exact_and_upright(video_dir: Path) -> None:
    path = video_dir / "pyscenedetect" / "goldeneye-vfr-drop3.mp4"
    with av.open(str(path)) as c:
        seq = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    got = read_frames(path, [141, 59, 60, 5])
    for i in (5, 59, 60, 141):
        np.testing.assert_array_equal(got[i], seq[i])
    # Rotated file: display matrix -90 degrees -> upright picture is portrait, as ffmpeg shows it.
    rot = video_dir / "pyscenedetect" / "issue-134-rotate.mp4"
    frames = read_frames(rot, [100], max_side=320)
    assert frames[100].shape == (320, 136, 3)
    ref = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(rot), "-vf", "select=eq(n\\,100),scale=136:320",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True).stdout
    ref_img = np.frombuffer(ref, np.uint8).reshape(320, 136, 3).astype(np.int16)
    assert np.abs(frames[100].astype(np.int16) - ref_img).mean() < 12  # same orientation
    with pytest.raises(MediaError, match="out of range"):
        read_frames(rot, [240])


def test_keyframe_is_the_sharpest_frame_near_the_middle(video_dir: Path) -> None:
    path = video_dir / "pyscenedetect" / "issue-134-rotate.mp4"
    shot = Shot(index=1, start_frame=90, end_frame=209, start_s=3.754, end_s=8.759, confidence=1.0)
    [keyframe] = extract_keyframes(path, [shot], probe_frame_index(path).frame_times, max_side=256)
    assert 90 <= keyframe.frame <= 209 and abs(keyframe.frame - 149) <= 4
    image = keyframe.image
    assert image.dtype == np.uint8 and image.ndim == 3 and max(image.shape[:2]) == 256
    candidates = read_frames(path, candidate_frames(shot, spread=1), max_side=256)
    assert keyframe.sharpness == max(laplacian_variance(img) for img in candidates.values())


# --------------------------------------------------------------------------------------------
# Synthetic clips


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synth")


def test_synthetic_cut_exact_frame_on_b_frame(synth: Path) -> None:
    out = synth / "cut.mp4"
    # 50 frames of a moving test pattern, then 46 of colour bars: the cut is frame 50.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-f", "lavfi",
           "-i", "smptehdbars=s=320x180:r=25:d=1.84",
           "-filter_complex", "[0][1]concat=n=2:v=1:a=0", *X264, str(out))
    result = detect_shots(out)
    assert result.cut_frames == [50]
    assert result.frame_count == 96
    assert result.shots[1].start_s == pytest.approx(2.0)
    assert detect_shots(out, ShotDetectorConfig(skip_nonref=False)).cut_frames == [50]


def test_synthetic_fade_flash_overlay_are_not_cuts(synth: Path) -> None:
    out = synth / "nocut.mp4"
    # Fade in from black, a two-frame flash, a box appearing, fade out to black.
    vf = ("fade=t=in:st=0:d=1,eq=brightness=0.45:enable='between(n,40,41)',"
          "drawbox=x=20:y=20:w=90:h=30:color=white:t=fill:enable='gte(n,60)',fade=t=out:st=3:d=1")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=4", "-vf", vf, *X264, str(out))
    result = detect_shots(out)
    assert result.cut_frames == [], result.cut_frames
    assert_tiles(result)


def test_synthetic_dissolve_is_at_most_one_boundary(synth: Path) -> None:
    out = synth / "dissolve.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=3", "-f", "lavfi",
           "-i", "smptehdbars=s=320x180:r=25:d=3",
           "-filter_complex", "[0][1]xfade=transition=fade:duration=1:offset=2", *X264, str(out))
    result = detect_shots(out)
    cuts = result.cut_frames
    assert len(cuts) <= 1, cuts
    for c in cuts:  # the dissolve spans frames 50..75
        assert 48 <= c <= 77
        assert result.shots[1].confidence < 0.7
    # reported as a dissolve with its span (test_shot_classes.py measures this on real footage)
    assert [(s.transition, s.transition_start_frame < s.start_frame < s.transition_end_frame)
            for s in result.shots[1:]] == [("dissolve", True)]
    shot = result.shots[1]
    assert abs(shot.transition_start_frame - 50) <= 4 and abs(shot.transition_end_frame - 75) <= 4
    assert shot.transition_start_s == pytest.approx(shot.transition_start_frame / 25)


def test_synthetic_cut_to_black_then_fade_in_is_a_cut(synth: Path) -> None:
    out = synth / "cut_fade_in.mp4"
    # A dim shot, then a cut to black (frame 50) that fades in over 0.5 s to a bright,
    # low-contrast picture: the dim early fade frames score low against the previous shot (their
    # mean level happens to match it) but cannot show a return to it, so this is a cut, not a flash.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-f", "lavfi",
           "-i", "testsrc2=s=320x180:r=25:d=2", "-filter_complex",
           "[0]lutyuv=y='16+(val-16)*0.4'[a];[1]lutyuv=y='170+(val-128)*0.25',fade=t=in:st=0:d=0.5[b];"
           "[a][b]concat=n=2:v=1:a=0", *X264, str(out))
    assert detect_shots(out).cut_frames == [50]


def test_synthetic_object_jump_on_steady_background_is_not_a_cut(synth: Path) -> None:
    out = synth / "jump.mp4"
    # A dark square (a sixth of the picture) jumps across a steady background at frame 50: an
    # abrupt single-frame change, but of part of the picture only (fast motion), not a cut.
    box = "drawbox=y=40:w=100:h=100:color=0x101010:t=fill"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=3",
           "-vf", f"{box}:x=20:enable='lt(n,50)',{box}:x=190:enable='gte(n,50)'", *X264, str(out))
    assert detect_shots(out).cut_frames == []
    assert detect_shots(out, ShotDetectorConfig(skip_nonref=False)).cut_frames == []


def test_no_audio_track_is_fine(synth: Path) -> None:
    out = synth / "noaudio.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=1", *X264, str(out))
    result = detect_shots(out)
    assert result.frame_count == 10 and len(result.shots) == 1
    assert result.shots[0].end_s == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Bad input


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty") as err:
        detect_shots(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="does not exist"):
        detect_shots(tmp_path / "nope.mp4")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError, match="not a readable media file") as err:
        detect_shots(path)
    assert str(path) in str(err.value)
    with pytest.raises(MediaError):
        read_frames(path, [0])


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "tone.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=0.5", "-c:a", "aac", str(path))
    with pytest.raises(MediaError, match="no video stream") as err:
        detect_shots(path)
    assert str(path) in str(err.value)


def test_truncated_files(tmp_path: Path, video_dir: Path) -> None:
    """Policy: an MP4 whose index (moov) is lost fails with MediaError; one whose index survives
    yields shots for the decodable part, flagged ``truncated``."""
    src = video_dir / "pyscenedetect" / "issue-134-rotate.mp4"
    for faststart in (False, True):
        full = tmp_path / f"full_{faststart}.mp4"
        args = ["-movflags", "+faststart"] if faststart else []
        ffmpeg("-i", str(src), "-map", "0:v", "-c", "copy", *args, str(full))
        data = full.read_bytes()
        cut = tmp_path / f"cut_{faststart}.mp4"
        cut.write_bytes(data[: int(len(data) * 0.6)])
        try:
            result = detect_shots(cut)
        except MediaError as exc:
            assert str(cut) in str(exc)
            assert not faststart, "readable index: expected a partial result"
            continue
        assert result.truncated
        assert 0 < result.frame_count < 240
        assert_tiles(result)
        assert result.cut_frames[:1] == [90]
    idx = probe_frame_index(src)
    assert idx.frame_count == 240 and not idx.truncated
