"""One representative keyframe per shot, and contact sheets of them.

The keyframe of a shot is the sharpest of a few frames around the shot's middle (variance of
the Laplacian), always inside the shot, upright, at most :data:`KEYFRAME_MAX_SIDE` pixels on
its longest side.

One decode per video: the shot detector keeps keyframe candidates from its own pass
(:mod:`media_platform.video.keyframe_samples`, the sharpest decoded frame of each half second,
as JPEG), and :func:`select_keyframes` picks each shot's keyframe among the candidates in the
middle half of the shot. Only shots without such a candidate (shorter than about a second) are
decoded again, with targeted seeks to a few frames around their middle
(:func:`extract_keyframes`), never a full pass.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from media_platform.video.frames import laplacian_variance, read_frames
from media_platform.video.keyframe_samples import KEYFRAME_MAX_SIDE, KeyframeSample
from media_platform.video.keyframe_samples import encode_jpeg as _encode_jpeg
from media_platform.video.shots import Shot

__all__ = [
    "KEYFRAME_MAX_SIDE",
    "Keyframe",
    "candidate_frames",
    "contact_sheet",
    "encode_jpeg",
    "extract_keyframes",
    "keyframes_from_samples",
    "select_keyframes",
    "shot_timeline",
]


@dataclass(frozen=True)
class Keyframe:
    shot: int
    frame: int
    time_s: float
    sharpness: float
    image: np.ndarray  # RGB uint8, upright
    jpeg: bytes | None = None  # the JPEG the image was decoded from (kept as is), if any


def candidate_frames(shot: Shot, spread: int = 2) -> list[int]:
    """Frames around the middle of ``shot`` (middle first), all inside the shot."""
    middle = (shot.start_frame + shot.end_frame) // 2
    frames = [middle]
    for offset in range(1, spread + 1):
        for cand in (middle - offset * 2, middle + offset * 2):
            if shot.start_frame <= cand <= shot.end_frame and cand not in frames:
                frames.append(cand)
    return frames


def _time_of(frame: int, frame_times: np.ndarray, shot: Shot) -> float:
    return float(frame_times[frame]) if frame < len(frame_times) else shot.start_s


def extract_keyframes(
    path: str | Path,
    shots: Sequence[Shot],
    frame_times: np.ndarray,
    *,
    spread: int = 1,
    max_side: int = KEYFRAME_MAX_SIDE,
) -> list[Keyframe]:
    """The sharpest frame near the middle of each shot, in shot order, decoded with targeted
    seeks (a few GOPs per shot; the fallback for shots without kept candidates)."""
    wanted = {shot.index: candidate_frames(shot, spread) for shot in shots}
    all_frames = sorted({f for frames in wanted.values() for f in frames})
    decoded = read_frames(path, all_frames, max_side=max_side)
    keyframes: list[Keyframe] = []
    for shot in shots:
        scored = [(laplacian_variance(decoded[f]), -abs(i), f) for i, f in enumerate(wanted[shot.index]) if f in decoded]
        if not scored:
            raise RuntimeError(f"{path}: could not decode any frame of shot {shot.index}")
        best_sharpness, _, best = max(scored)
        keyframes.append(Keyframe(shot.index, best, _time_of(best, frame_times, shot), best_sharpness, decoded[best]))
    return keyframes


def _decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("keyframe candidate is not a decodable JPEG")
    return np.ascontiguousarray(image[:, :, ::-1])


def keyframes_from_samples(
    shots: Sequence[Shot],
    frame_times: np.ndarray,
    candidates: Mapping[int, Sequence[KeyframeSample]],
) -> tuple[dict[int, Keyframe], list[Shot]]:
    """Each shot's keyframe from its kept candidates (``candidates[shot index]``): the sharpest,
    the one nearest the middle on a tie. Candidates outside their shot (a stale list) are
    ignored. Returns the keyframes by shot and the shots left without one."""
    chosen: dict[int, Keyframe] = {}
    missing: list[Shot] = []
    for shot in shots:
        middle = (shot.start_frame + shot.end_frame) / 2.0
        inside = [c for c in candidates.get(shot.index, ()) if shot.start_frame <= c.frame <= shot.end_frame]
        if not inside:
            missing.append(shot)
            continue
        best = max(inside, key=lambda c: (c.sharpness, -abs(c.frame - middle), -c.frame))
        chosen[shot.index] = Keyframe(
            shot.index, best.frame, _time_of(best.frame, frame_times, shot), best.sharpness,
            _decode_jpeg(best.jpeg), best.jpeg,
        )
    return chosen, missing


def select_keyframes(
    shots: Sequence[Shot],
    frame_times: np.ndarray,
    candidates: Mapping[int, Sequence[KeyframeSample]],
    open_master: Callable[[], AbstractContextManager[str | Path]],
    *,
    max_side: int = KEYFRAME_MAX_SIDE,
) -> tuple[list[Keyframe], int]:
    """One keyframe per shot, in shot order: from the kept candidates where a shot has some,
    else with targeted seeks into the master (``open_master()`` yields its local path; it is
    opened only when some shot needs it). Returns the keyframes and how many shots needed seeks."""
    chosen, missing = keyframes_from_samples(shots, frame_times, candidates)
    if missing:
        with open_master() as path:
            chosen.update((kf.shot, kf) for kf in extract_keyframes(path, missing, frame_times, max_side=max_side))
    return [chosen[shot.index] for shot in shots], len(missing)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB image."""
    return _encode_jpeg(image, quality)


def contact_sheet(
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    thumb_width: int = 192,
    columns: int = 6,
    max_images: int = 60,
) -> bytes:
    """A JPEG grid of thumbnails with a label under each (at most ``max_images``)."""
    images = list(images)[:max_images]
    labels = list(labels)[:max_images]
    if not images:
        return b""
    thumbs = []
    for img in images:
        h, w = img.shape[:2]
        th = max(1, round(h * thumb_width / w))
        thumbs.append(Image.fromarray(img).resize((thumb_width, th), Image.Resampling.BILINEAR))
    cell_h = max(t.height for t in thumbs) + 16
    cols = min(columns, len(thumbs))
    rows = (len(thumbs) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (thumb_width + 4) + 4, rows * (cell_h + 4) + 4), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, (thumb, label) in enumerate(zip(thumbs, labels, strict=True)):
        x = 4 + (i % cols) * (thumb_width + 4)
        y = 4 + (i // cols) * (cell_h + 4)
        sheet.paste(thumb, (x, y))
        draw.text((x + 2, y + thumb.height + 2), label, fill=(230, 230, 230))
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def shot_timeline(shots: Sequence[Shot], duration_s: float, width: int = 900, height: int = 28) -> bytes:
    """A PNG strip showing each shot's span in alternating colours, darker for low confidence."""
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    total = max(duration_s, 1e-6)
    palette = [(66, 133, 244), (52, 168, 83)]
    for shot in shots:
        x0 = int(shot.start_s / total * width)
        x1 = max(x0 + 1, int(shot.end_s / total * width))
        shade = palette[shot.index % 2]
        draw.rectangle([x0, 0, x1 - 1, height - 1], fill=shade)
        draw.line([x0, 0, x0, height - 1], fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
