"""Keyframe candidates kept from the shot detector's own decoding pass (one decode per video).

The shot detector's coarse pass decodes the video once (only the reference frames when a
packet index exists, see :mod:`media_platform.video.shot_decoding`). :class:`KeyframeSamples`
rides on that pass: for every decoded frame it computes a cheap sharpness score (variance of
the Laplacian of a 4x subsampled luma plane, ~0.04 ms), and for each time bin of
``1 / rate_hz`` seconds it keeps the sharpest decoded frame as a JPEG at the keyframe size
(longest side :data:`KEYFRAME_MAX_SIDE`, upright), with its sharpness measured as
:func:`media_platform.video.frames.laplacian_variance` on that image (the measure the keyframes
table has always reported). Only one decoded frame is held at a time (the bin's best so far).

**Memory bound.** The JPEGs kept together never exceed ``max_bytes`` (default
:data:`MAX_SAMPLE_BYTES`, 96 MiB; a 1280x720 frame at 640x360 and quality 90 is 25-60 kB, so
about 40 minutes at 2 per second fit). When the next JPEG would pass the bound, the bins are
doubled in length, each merged pair keeping its sharper sample, so the set keeps covering the
whole video at a lower rate. Besides the JPEGs there are a few held decoded frames (the bin's best
so far and at most :data:`IN_FLIGHT` being converted) and a few numbers per kept sample.

**Off the decoding thread.** A bin's winner is converted, scored and JPEG-encoded on one worker
thread (swscale and OpenCV release the GIL), while the pass goes on decoding and scoring; the
results are admitted in bin order, so the kept set is the same as converting inline: the
sharpest frame of each bin (bins already in flight when the memory bound doubles the bins were
cut at the old length; a sample admitted into the last kept sample's bin replaces it only when
sharper).

After detection, :func:`shot_candidates` keeps for each shot up to :data:`PER_SHOT` samples
nearest to its middle, inside the middle half of the shot (the first and last frames of a shot
can belong to a transition). Shots with no such sample (shorter than about two bins) are left
to targeted seeks (:func:`media_platform.video.keyframes.extract_keyframes`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np
import polars as pl
from av.video.reformatter import VideoReformatter

from media_platform.video.frames import frame_to_rgb, laplacian_variance

if TYPE_CHECKING:  # shots imports this module
    from media_platform.video.shots import Shot

__all__ = [
    "KEYFRAME_MAX_SIDE",
    "MAX_SAMPLE_BYTES",
    "PER_SHOT",
    "SAMPLE_RATE_HZ",
    "KeyframeSample",
    "KeyframeSamples",
    "best_candidates",
    "candidates_from_table",
    "candidates_table",
    "encode_jpeg",
    "shot_candidates",
]

KEYFRAME_MAX_SIDE = 640
"""Longest side of a keyframe image, in pixels."""

SAMPLE_RATE_HZ = 2.0
"""Samples kept per second of video (the sharpest decoded frame of each half second)."""

MAX_SAMPLE_BYTES = 96 * 1024 * 1024
"""Bound on the JPEG bytes kept in memory during a pass (see the module docstring)."""

PER_SHOT = 3
"""Samples kept per shot for the keyframe step to choose from (the sharpest wins)."""

JPEG_QUALITY = 90

IN_FLIGHT = 4
"""Bin winners being converted at once, at most (each holds one decoded frame)."""


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of an RGB uint8 image."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV cannot encode a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


@dataclass(frozen=True)
class KeyframeSample:
    """One kept frame: decoded-frame index, presentation time (stream seconds), sharpness
    (variance of the Laplacian of the keyframe-sized image) and the JPEG of that image."""

    frame: int
    time_s: float | None
    sharpness: float
    jpeg: bytes


def quick_sharpness(frame: av.VideoFrame) -> float:
    """Variance of the Laplacian of the luma plane subsampled 4x in each direction: a cheap
    ranking of the decoded frames of one bin (motion blur, defocus), no colour conversion."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray", "nv12"):
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[::4, : plane.width : 4]
    else:  # 10-bit and other layouts: convert (rare; costs a conversion per frame)
        luma = frame.to_ndarray(format="gray")[::4, ::4]
    _, sd = cv2.meanStdDev(cv2.Laplacian(np.ascontiguousarray(luma), cv2.CV_16S))
    return float(sd[0, 0]) ** 2


class KeyframeSamples:
    """Collects keyframe candidates during a decoding pass (see the module docstring).

    Call :meth:`offer` with every decoded frame in presentation order, then :meth:`finish`;
    :attr:`samples` holds the kept frames in frame order.
    """

    def __init__(
        self,
        rate_hz: float = SAMPLE_RATE_HZ,
        *,
        max_side: int = KEYFRAME_MAX_SIDE,
        max_bytes: int = MAX_SAMPLE_BYTES,
        quality: int = JPEG_QUALITY,
    ) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.bin_s = 1.0 / rate_hz
        self.max_side = max_side
        self.max_bytes = max_bytes
        self.quality = quality
        self.samples: list[KeyframeSample] = []
        self.bytes = 0
        self.peak_bytes = 0
        self.offered = 0
        self.decimations = 0
        self.seconds = 0.0  # time spent here (scoring; converting and JPEG encoding on the worker)
        self._times: list[float] = []  # binning time of each kept sample
        self._reformatter: VideoReformatter | None = VideoReformatter()  # one swscale context for the pass
        self._pending: tuple[int, float, float, float | None, av.VideoFrame] | None = None  # frame, t, score, time, frame
        self._worker: ThreadPoolExecutor | None = None
        self._converting: deque[tuple[float, Future[tuple[KeyframeSample, float]]]] = deque()  # (t, sample) in bin order

    @property
    def rate_hz(self) -> float:
        """The current sampling rate (lower than asked after decimations)."""
        return 1.0 / self.bin_s

    def _bin(self, t: float) -> int:
        return int(np.floor(t / self.bin_s))

    def offer(self, frame_index: int, time_s: float | None, frame: av.VideoFrame) -> None:
        """Score one decoded frame; keep the sharpest of each bin once the bin is complete."""
        started = time.perf_counter()
        self.offered += 1
        t = time_s if time_s is not None else frame_index / 25.0  # no timestamp: nominal 25 fps
        pending = self._pending
        if pending is not None and self._bin(t) != self._bin(pending[1]):
            self._convert(pending)
            pending = self._pending = None
        score = quick_sharpness(frame)
        if pending is None or score > pending[2]:
            self._pending = (frame_index, t, score, time_s, frame)
        self.seconds += time.perf_counter() - started

    def finish(self) -> KeyframeSamples:
        """Keep the last bin's sample; returns self."""
        if self._pending is not None:
            self._convert(self._pending)
            self._pending = None
        while self._converting:
            self._admit_oldest()
        if self._worker is not None:
            self._worker.shutdown()
        self._worker = None
        self._reformatter = None  # the pass is over (and the samples stay picklable)
        return self

    def _convert(self, pending: tuple[int, float, float, float | None, av.VideoFrame]) -> None:
        """Hand a bin's winner to the worker; admit the oldest results beyond :data:`IN_FLIGHT`."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="keyframe-samples")
        self._converting.append((pending[1], self._worker.submit(self._sample, pending)))
        while len(self._converting) > IN_FLIGHT:
            self._admit_oldest()

    def _admit_oldest(self) -> None:
        t, future = self._converting.popleft()
        sample, seconds = future.result()
        self.seconds += seconds
        self._keep(sample, t)

    def _sample(self, pending: tuple[int, float, float, float | None, av.VideoFrame]) -> tuple[KeyframeSample, float]:
        """On the worker: the keyframe-sized image's JPEG and sharpness, and the time it took."""
        started = time.perf_counter()
        frame_index, _, _, time_s, frame = pending
        if self._reformatter is None:
            self._reformatter = VideoReformatter()
        image = frame_to_rgb(frame, self.max_side, self._reformatter)  # AREA, as the seeks (BILINEAR is blurrier)
        jpeg = encode_jpeg(image, self.quality)
        return KeyframeSample(frame_index, time_s, laplacian_variance(image), jpeg), time.perf_counter() - started

    def _keep(self, sample: KeyframeSample, t: float) -> None:
        jpeg = sample.jpeg
        if self.samples and self._bin(self._times[-1]) == self._bin(t):  # a bin cut before the bins grew
            if sample.sharpness <= self.samples[-1].sharpness:
                return
            self.bytes -= len(self.samples[-1].jpeg)
            self.samples.pop()
            self._times.pop()
        while self.samples and self.bytes + len(jpeg) > self.max_bytes:
            self._decimate()
            if self._bin(self._times[-1]) == self._bin(t):  # the new sample joins the last one's bin
                if sample.sharpness <= self.samples[-1].sharpness:
                    return
                self.bytes -= len(self.samples[-1].jpeg)
                self.samples.pop()
                self._times.pop()
        self.samples.append(sample)
        self._times.append(t)
        self.bytes += len(jpeg)
        self.peak_bytes = max(self.peak_bytes, self.bytes)

    def _decimate(self) -> None:
        """Double the bin length; of the samples that now share a bin keep the sharpest."""
        self.bin_s *= 2.0
        self.decimations += 1
        kept: list[KeyframeSample] = []
        times: list[float] = []
        for sample, t in zip(self.samples, self._times, strict=True):
            if times and self._bin(times[-1]) == self._bin(t):
                if sample.sharpness > kept[-1].sharpness:
                    kept[-1], times[-1] = sample, t
                continue
            kept.append(sample)
            times.append(t)
        self.samples, self._times = kept, times
        self.bytes = sum(len(s.jpeg) for s in kept)


def shot_candidates(
    samples: Sequence[KeyframeSample], starts: Sequence[int], ends: Sequence[int], per_shot: int = PER_SHOT
) -> list[list[KeyframeSample]]:
    """For each shot (first frame ``starts[i]``, last frame ``ends[i]``, inclusive), the samples
    inside the middle half of the shot, at most ``per_shot`` of them, nearest to the middle
    first. An empty list means the shot needs a targeted seek."""
    frames = np.asarray([s.frame for s in samples], dtype=np.int64)
    order = np.argsort(frames, kind="stable")
    frames = frames[order]
    out: list[list[KeyframeSample]] = []
    for start, end in zip(starts, ends, strict=True):
        middle = (start + end) / 2.0
        reach = (end - start) / 4.0
        lo = int(np.searchsorted(frames, max(start, int(np.ceil(middle - reach))), side="left"))
        hi = int(np.searchsorted(frames, min(end, int(np.floor(middle + reach))), side="right"))
        inside = sorted(range(lo, hi), key=lambda k: (abs(frames[k] - middle), frames[k]))[:per_shot]
        out.append([samples[int(order[k])] for k in sorted(inside, key=lambda k: frames[k])])
    return out


def best_candidates(
    samples: Sequence[KeyframeSample], starts: Sequence[int], ends: Sequence[int], per_shot: int = PER_SHOT
) -> list[KeyframeSample | None]:
    """For each shot, the sharpest of its :func:`shot_candidates` (nearest the middle on a tie),
    or None when it has none."""
    out: list[KeyframeSample | None] = []
    for (start, end), cands in zip(zip(starts, ends, strict=True), shot_candidates(samples, starts, ends, per_shot), strict=True):
        middle = (start + end) / 2.0
        out.append(max(cands, key=lambda c: (c.sharpness, -abs(c.frame - middle), -c.frame)) if cands else None)
    return out


_TABLE_SCHEMA = {"shot": pl.Int64, "frame": pl.Int64, "sharpness": pl.Float64, "jpeg": pl.Binary}


def candidates_table(samples: KeyframeSamples | None, shots: Sequence[Shot]) -> pl.DataFrame:
    """Each shot's best candidate (:func:`best_candidates`) in its stored form, one row per shot
    that has one: shot, frame, sharpness, jpeg. It passes the candidates from the shots step to
    the keyframes step."""
    kept = samples.samples if samples is not None else []
    chosen = best_candidates(kept, [s.start_frame for s in shots], [s.end_frame for s in shots])
    rows = [(shot.index, c) for shot, c in zip(shots, chosen, strict=True) if c is not None]
    return pl.DataFrame(
        {"shot": [s for s, _ in rows], "frame": [c.frame for _, c in rows],
         "sharpness": [c.sharpness for _, c in rows], "jpeg": [c.jpeg for _, c in rows]},
        schema=_TABLE_SCHEMA,
    )


def candidates_from_table(df: pl.DataFrame) -> dict[int, list[KeyframeSample]]:
    """Shot -> its stored candidates (see :func:`candidates_table`)."""
    out: dict[int, list[KeyframeSample]] = {}
    for row in df.iter_rows(named=True):
        out.setdefault(int(row["shot"]), []).append(
            KeyframeSample(int(row["frame"]), None, float(row["sharpness"]), bytes(row["jpeg"]))
        )
    return out
