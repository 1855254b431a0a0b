"""Decoding passes of the shot detector: the coarse pass over (reference) frames and the full
decoding of short windows around cut candidates (see :mod:`media_platform.video.shots`).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av

from media_platform.video.frame_hashes import FrameHashes
from media_platform.video.frames import FrameIndex, open_video
from media_platform.video.keyframe_samples import KeyframeSamples
from media_platform.video.shot_config import ShotDetectorConfig
from media_platform.video.shot_signatures import Sig, blend_error, score, signature, spread
from media_platform.video.static_regions import StaticRegions

# Log under the detector's name, as before the split.
logger = logging.getLogger("media_platform.video.shots")

__all__ = ["Coarse", "IndexMismatch", "coarse_pass", "window_signatures"]


def _configure_decoder(stream: av.video.stream.VideoStream, cfg: ShotDetectorConfig) -> None:
    cc = stream.codec_context
    if cfg.threads:
        cc.thread_type = "AUTO"
    if cfg.skip_loop_filter:
        cc.options = {**dict(cc.options or {}), "skip_loop_filter": "all"}


class Coarse:
    """Signatures and scores of the coarse pass, over decoded frames j = 0..n-1."""

    def __init__(self) -> None:
        self.frames: list[int] = []  # decoded-frame index of each decoded frame
        self.s1: list[float] = []  # score(j-1, j)
        self.s2: list[float] = []  # score(j-2, j) where s1[j-1] >= min_score, else nan
        self.s3: list[float] = []  # score(j-3, j) where s1[j-2] >= min_score, else nan
        self.sl: list[float] = []  # score(j-L, j), dissolve span
        self.means: list[float] = []  # mean luma of decoded frame j
        self.stds: list[float] = []  # luma standard deviation of decoded frame j
        self.spread: list[float] = []  # spread(j-1, j) where s1 >= min_score, else 1.0
        self.blend: list[float] = []  # blend error of (j-L, j-L/2, j); inf if not testable or sl[j] is too low
        self.hashes = FrameHashes()  # perceptual hashes of the thumbnails, a few per second (markers)
        self.regions: StaticRegions | None = None  # scores outside static regions (overlays)
        self.samples = KeyframeSamples()  # keyframe candidates, a few per second (keyframes)


def coarse_pass(
    path: Path, index: FrameIndex | None, cfg: ShotDetectorConfig
) -> tuple[Coarse, list[int] | None, bool]:
    """Decode (skipping non-reference frames when ``index`` is given) and score.

    Returns the scores, the list of decoded pts when every frame was decoded (then it defines
    the frame index), and whether decoding stopped on an error.
    """
    span = max(2, cfg.dissolve_span)
    nan, inf = float("nan"), float("inf")
    coarse = Coarse()
    regions = coarse.regions = StaticRegions(cfg)
    ring: deque[Sig] = deque(maxlen=span + 1)
    all_pts: list[int] | None = None if index is not None else []
    truncated = False
    with open_video(path) as (container, stream):
        _configure_decoder(stream, cfg)
        if index is not None:
            stream.codec_context.skip_frame = "NONREF"
        counter = 0
        last_pts = None
        try:
            for frame in container.decode(stream):
                pts = frame.pts
                if index is not None:
                    if pts is None:
                        raise IndexMismatch("decoded frame without pts")
                    fi = index.index_of(int(pts))
                    if fi is None:
                        raise IndexMismatch(f"decoded pts {pts} not in the packet index")
                else:
                    if pts is None or (last_pts is not None and pts <= last_pts):
                        pts = (last_pts + 1) if last_pts is not None else counter
                    fi = counter
                    all_pts.append(int(pts))  # type: ignore[union-attr]
                last_pts = pts
                counter += 1
                sig = signature(frame, cfg)
                coarse.hashes.offer(fi, frame.time, sig.luma.reshape(cfg.analysis_height, cfg.analysis_width))
                coarse.samples.offer(fi, frame.time, frame)
                coarse.frames.append(fi)
                coarse.means.append(sig.mean)
                coarse.stds.append(sig.std)
                n = len(ring)
                s1 = score(ring[-1], sig, cfg.flat_std) if n >= 1 else 0.0
                coarse.s1.append(s1)
                coarse.spread.append(spread(ring[-1], sig, cfg) if s1 >= cfg.min_score else 1.0)
                # score(j-2, j) and score(j-3, j) only serve the transient test of a candidate
                # at j-1 or j-2; the blend error only a dissolve candidate: computed on demand.
                s1s = coarse.s1
                coarse.s2.append(
                    score(ring[-2], sig, cfg.flat_std) if n >= 2 and s1s[-2] >= cfg.min_score else nan
                )
                coarse.s3.append(
                    score(ring[-3], sig, cfg.flat_std) if n >= 3 and s1s[-3] >= cfg.min_score else nan
                )
                sl = score(ring[0], sig, cfg.flat_std) if n >= span else 0.0
                coarse.sl.append(sl)
                coarse.blend.append(
                    blend_error(ring[0], ring[span // 2], sig, cfg)
                    if n >= span and cfg.detect_dissolves and sl >= cfg.dissolve_min_score else inf
                )
                ring.append(sig)
                regions.push(sig)
        except av.error.FFmpegError as exc:
            truncated = True
            logger.warning("%s: decoding stopped after %d frames: %s", path, counter, exc)
        coarse.samples.finish()  # keeps the last bin's frame while the decoder is still open
    regions.finish()
    return coarse, all_pts, truncated


class IndexMismatch(Exception):
    """Decoded frames do not map onto the packet index; fall back to full decoding."""


def window_signatures(
    path: Path,
    index: FrameIndex,
    windows: list[tuple[int, int]],
    cfg: ShotDetectorConfig,
) -> tuple[dict[int, Sig], int]:
    """Decode every frame in each (first, last) window (inclusive) and return their signatures
    {frame: Sig} and the number of frames decoded with full decoding inside windows.

    Windows after the same keyframe are decoded in one run (one seek, reference frames only
    between them). The runs are shared among up to :func:`_workers` threads, each with its own
    demuxer and a single-threaded decoder: a seek flushes a frame-threaded decoder, so short runs
    keep its threads idle, while whole runs side by side keep the cores busy (decoding releases
    the GIL). A single-threaded decoder also returns the last frames of the file, which a
    frame-threaded one keeps in its pipeline when the packets run out.
    """
    groups: dict[int, list[tuple[int, int]]] = {}
    for first, last in _merged(windows):
        groups.setdefault(index.keyframe_before(first), []).append((first, last))
    runs = sorted(groups.items())
    if not runs:
        return {}, 0
    # Contiguous shares of about equal work (frames from each keyframe to the end of its run).
    costs = [group[-1][1] - (index.index_of(key) or 0) + 1 for key, group in runs]
    n = min(_workers(cfg), len(runs))
    shares: list[list[tuple[int, list[tuple[int, int]]]]] = [[] for _ in range(n)]
    total, done = float(sum(costs)), 0.0
    for run, cost in zip(runs, costs, strict=True):
        shares[min(n - 1, int(n * done / total))].append(run)
        done += cost
    shares = [share for share in shares if share]
    if len(shares) == 1:
        parts = [_decode_runs(path, index, shares[0], cfg)]
    else:
        with ThreadPoolExecutor(max_workers=len(shares)) as pool:
            parts = list(pool.map(lambda share: _decode_runs(path, index, share, cfg), shares))
    sigs: dict[int, Sig] = {}
    decoded = 0
    for part, count in parts:
        sigs.update(part)
        decoded += count
    return sigs, decoded


def _workers(cfg: ShotDetectorConfig) -> int:
    """Decoding threads for the refinement runs: one per core (at most 4), 1 without threads."""
    return max(1, min(4, os.cpu_count() or 1)) if cfg.threads else 1


def _decode_runs(
    path: Path, index: FrameIndex, runs: list[tuple[int, list[tuple[int, int]]]], cfg: ShotDetectorConfig
) -> tuple[dict[int, Sig], int]:
    """Signatures of every frame of the windows of each (keyframe, windows) run, in order."""
    sigs: dict[int, Sig] = {}
    decoded = 0
    with open_video(path) as (container, stream):
        cc = stream.codec_context
        cc.thread_count = 1  # see window_signatures
        if cfg.skip_loop_filter:
            cc.options = {**dict(cc.options or {}), "skip_loop_filter": "all"}
        for keyframe, group in runs:
            bounds = [(int(index.pts[a]), int(index.pts[b])) for a, b in group]
            container.seek(keyframe, stream=stream, backward=True, any_frame=False)
            w = 0
            for packet in container.demux(stream):
                # The empty packet at the end of the file drains the frames the decoder still
                # holds (reordering delay): the file's last frames.
                ppts = packet.pts if packet.pts is not None else packet.dts
                # Frames before the (next) window are only needed as references.
                if packet.size:
                    cc.skip_frame = "NONREF" if ppts is not None and ppts < bounds[w][0] else "DEFAULT"
                for frame in stream.decode(packet):
                    if w >= len(bounds) or frame.pts is None or frame.pts < bounds[w][0]:
                        continue
                    fi = index.index_of(int(frame.pts))
                    if fi is None:
                        continue
                    if fi not in sigs:
                        sigs[fi] = signature(frame, cfg)
                        decoded += 1
                    while w < len(bounds) and frame.pts >= bounds[w][1]:
                        w += 1
                if w >= len(bounds):
                    break
            cc.skip_frame = "DEFAULT"
    return sigs, decoded


def _merged(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
