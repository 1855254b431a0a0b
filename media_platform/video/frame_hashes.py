"""Perceptual hashes of the frames the shot detector decodes, kept at a low rate.

The shot detector reduces every frame it decodes to a small luma thumbnail
(:mod:`media_platform.video.shot_signatures`); :class:`FrameHashes` keeps a 64-bit DCT
perceptual hash of that thumbnail for the first decoded frame of every ``1 / rate`` seconds.
They are the visual fingerprint of the episode (intro, recap and credits markers,
:mod:`media_platform.markers`) and cost no decoding of their own.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["FLAT_STD", "FrameHashes", "VISUAL_RATE_HZ", "frame_hash"]

VISUAL_RATE_HZ = 4.0
"""Perceptual hashes kept per second of video (the first decoded frame of each 1/4 s)."""

FLAT_STD = 6.0
"""Luma standard deviation (0..255) under which a thumbnail is uniform (black, a colour card)."""


def frame_hash(luma: np.ndarray) -> tuple[int, bool, float]:
    """64-bit DCT perceptual hash of a luma thumbnail (any size, 0..255), whether the frame is
    flat (nearly uniform), and its mean level.

    The thumbnail is resized to 32x32, transformed with a 2-D DCT, and the 8x8 lowest
    frequencies are compared with the median of those but the DC term: robust to re-encoding, scaling
    and small brightness changes, different for different pictures.
    """
    img = np.asarray(luma, dtype=np.float32)
    mean, std = float(img.mean()), float(img.std())
    if std < FLAT_STD:
        return 0, True, mean
    small = cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA)
    coeffs = cv2.dct(small)[:8, :8].ravel()
    bits = coeffs > np.median(coeffs[1:])  # the DC term's bit is constant; 63 carry the picture
    return int.from_bytes(np.packbits(bits).tobytes(), "big"), False, mean


class FrameHashes:
    """Collects hashes during a decoding pass: the first frame of each ``1 / rate`` s bin."""

    def __init__(self, rate_hz: float = VISUAL_RATE_HZ) -> None:
        self.rate = rate_hz
        self.frames: list[int] = []  # decoded-frame index
        self.hashes: list[int] = []
        self.flat: list[bool] = []
        self.level: list[float] = []
        self._last_bin: int | None = None

    def offer(self, frame_index: int, time_s: float | None, luma: np.ndarray) -> None:
        """Keep this frame's hash when it opens a new time bin (``time_s`` None: keep it)."""
        if time_s is not None:
            b = int(np.floor(time_s * self.rate))
            if self._last_bin is not None and b <= self._last_bin:
                return
            self._last_bin = b
        value, flat, level = frame_hash(luma)
        self.frames.append(frame_index)
        self.hashes.append(value)
        self.flat.append(flat)
        self.level.append(level)
