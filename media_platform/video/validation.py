"""Data tests of the video outputs, as pure functions returning a list of problems (empty = ok)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from media_platform.video.shots import Shot

TIME_TOLERANCE_S = 1e-3


def shot_tiling_problems(shots: Sequence[Shot], frame_count: int, duration_s: float) -> list[str]:
    """Shots must tile the whole video: start at frame 0 / 0 s, follow each other without gaps
    or overlaps (in frames and seconds), and end at the last frame / the duration."""
    if not shots:
        return ["no shots"]
    problems: list[str] = []
    if shots[0].start_frame != 0 or abs(shots[0].start_s) > TIME_TOLERANCE_S:
        problems.append(f"first shot starts at frame {shots[0].start_frame} / {shots[0].start_s} s")
    for prev, cur in zip(shots, shots[1:]):
        if cur.start_frame != prev.end_frame + 1:
            problems.append(f"shot {cur.index} starts at frame {cur.start_frame}, previous ends at {prev.end_frame}")
        if abs(cur.start_s - prev.end_s) > TIME_TOLERANCE_S:
            problems.append(f"shot {cur.index} starts at {cur.start_s} s, previous ends at {prev.end_s} s")
    for shot in shots:
        if shot.end_frame < shot.start_frame or shot.end_s <= shot.start_s:
            problems.append(f"shot {shot.index} is empty or reversed")
    if shots[-1].end_frame != frame_count - 1:
        problems.append(f"last shot ends at frame {shots[-1].end_frame}, video has {frame_count} frames")
    if abs(shots[-1].end_s - duration_s) > max(0.1, 0.01 * duration_s):
        problems.append(f"last shot ends at {shots[-1].end_s:.3f} s, video lasts {duration_s:.3f} s")
    return problems


def truncation_problem(
    declared_duration_s: float, declared_frames: int | None, decoded_duration_s: float, decoded_frames: int
) -> str | None:
    """A problem when the decodable video is clearly shorter than the container declares
    (a truncated or corrupt file), else None."""
    if declared_frames and decoded_frames < 0.95 * declared_frames - 2:
        return f"truncated or corrupt: only {decoded_frames} of {declared_frames} frames decodable"
    if declared_duration_s > 0 and decoded_duration_s < 0.9 * declared_duration_s - 0.5:
        return (f"truncated or corrupt: only {decoded_duration_s:.1f} s of "
                f"{declared_duration_s:.1f} s decodable")
    return None


def keyframe_problems(shots: Sequence[Shot], keyframe_frames: Sequence[tuple[int, int]]) -> list[str]:
    """Exactly one keyframe per shot, inside its shot. ``keyframe_frames`` is (shot, frame)."""
    problems: list[str] = []
    by_shot: dict[int, list[int]] = {}
    for shot_index, frame in keyframe_frames:
        by_shot.setdefault(shot_index, []).append(frame)
    for shot in shots:
        frames = by_shot.pop(shot.index, [])
        if len(frames) != 1:
            problems.append(f"shot {shot.index} has {len(frames)} keyframes")
        elif not shot.start_frame <= frames[0] <= shot.end_frame:
            problems.append(f"keyframe {frames[0]} of shot {shot.index} lies outside {shot.start_frame}-{shot.end_frame}")
    problems.extend(f"keyframe for unknown shot {s}" for s in sorted(by_shot))
    return problems


def embedding_problems(embeddings: np.ndarray, expected_rows: int, expected_dim: int) -> list[str]:
    """Embeddings must be finite, unit-norm, of the model's dimension, one per shot."""
    problems: list[str] = []
    if embeddings.ndim != 2 or embeddings.shape[0] != expected_rows:
        problems.append(f"shape {embeddings.shape}, expected ({expected_rows}, {expected_dim})")
        return problems
    if embeddings.shape[1] != expected_dim:
        problems.append(f"dimension {embeddings.shape[1]}, model's is {expected_dim}")
    if not np.isfinite(embeddings).all():
        problems.append("non-finite values")
    else:
        norms = np.linalg.norm(embeddings, axis=1)
        bad = np.flatnonzero(np.abs(norms - 1.0) > 1e-3)
        if bad.size:
            problems.append(f"{bad.size} embeddings not unit-norm (e.g. row {int(bad[0])}: {norms[bad[0]]:.4f})")
    return problems
