"""One representative keyframe per shot, and contact sheets of them.

The keyframe of a shot is the sharpest of a few frames around the shot's middle (variance of
the Laplacian), always inside the shot. Frames are decoded upright (rotation applied).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from media_platform.video.frames import laplacian_variance, read_frames
from media_platform.video.shots import Shot

KEYFRAME_MAX_SIDE = 640


@dataclass(frozen=True)
class Keyframe:
    shot: int
    frame: int
    time_s: float
    sharpness: float
    image: np.ndarray  # RGB uint8, upright


def candidate_frames(shot: Shot, spread: int = 2) -> list[int]:
    """Frames around the middle of ``shot`` (middle first), all inside the shot."""
    middle = (shot.start_frame + shot.end_frame) // 2
    frames = [middle]
    for offset in range(1, spread + 1):
        for cand in (middle - offset * 2, middle + offset * 2):
            if shot.start_frame <= cand <= shot.end_frame and cand not in frames:
                frames.append(cand)
    return frames


def extract_keyframes(
    path: str | Path,
    shots: Sequence[Shot],
    frame_times: np.ndarray,
    *,
    spread: int = 1,
    max_side: int = KEYFRAME_MAX_SIDE,
) -> list[Keyframe]:
    """The sharpest frame near the middle of each shot, in shot order."""
    wanted = {shot.index: candidate_frames(shot, spread) for shot in shots}
    all_frames = sorted({f for frames in wanted.values() for f in frames})
    decoded = read_frames(path, all_frames, max_side=max_side)
    keyframes: list[Keyframe] = []
    for shot in shots:
        scored = [(laplacian_variance(decoded[f]), -abs(i), f) for i, f in enumerate(wanted[shot.index]) if f in decoded]
        if not scored:
            raise RuntimeError(f"{path}: could not decode any frame of shot {shot.index}")
        best_sharpness, _, best = max(scored)
        time_s = float(frame_times[best]) if best < len(frame_times) else shot.start_s
        keyframes.append(Keyframe(shot.index, best, time_s, best_sharpness, decoded[best]))
    return keyframes


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an RGB image."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


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
