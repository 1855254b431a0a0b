"""Frame-exact shot boundary detection, fast.

How it works (see :func:`detect_shots`):

1. **Index** – a demux-only pass lists every frame's pts (:func:`probe_frame_index`); frame ``i``
   is the ``i``-th pts in ascending order. This gives exact, VFR-safe frame indices and times
   even for frames that are never decoded.
2. **Coarse pass** – the decoder skips non-reference frames (``skip_frame=NONREF``; typically
   the B-frames, about half the frames of H.264/HEVC) and the deblocking filter, uses threads,
   and each decoded frame is reduced to a tiny signature straight from its YUV planes (no RGB
   conversion): a 64x36 luma thumbnail and luma/chroma histograms. For codecs where skipping is
   not safe to map back to indices (VP8 and others) every frame is decoded instead.
3. **Scoring** – the difference between successive decoded frames mixes a luma *correlation*
   distance (invariant to brightness gain and offset, so fades and exposure changes barely
   register) with luma and chroma histogram distances. A boundary candidate needs an absolute
   minimum score and a score several times the local median of its neighbours (an adaptive
   threshold, as in PySceneDetect's AdaptiveDetector). A moderate change that leaves most of
   the picture in place (a fast object in front of a steady background) is rejected: a cut
   changes nearly every region of a coarse grid. A change that reverts within two frames
   (flash, a frame of glitch) is rejected by comparing the frames on either side of it (only a
   frame of comparable contrast can show the return: the dim first frames of a fade-in after a
   cut to black cannot), and
   frames that are nearly uniform (black) are compared by mean level only, so a ramp from or to
   black (a fade) is gradual and never passes the adaptive test.
4. **Refinement** – when a candidate lies between two decoded frames more than one frame apart,
   a short window is decoded fully (seek to the keyframe before it, skip non-reference frames up
   to the window, decode the window) and the boundary is put at the exact frame pair with the
   largest difference. Candidates whose change is spread over the window (motion) are dropped.
5. **Dissolves** (optional) – a large difference across about half a second that is flanked by
   stable stretches, where the middle frame looks like the average of both ends, is reported as
   one boundary at its middle with a lower confidence. Fades from or to black are not dissolves.
6. Boundaries closer than ``min_shot_frames`` keep the more confident one.

Bad input raises :class:`media_platform.errors.MediaError`. A truncated file either fails to
open (e.g. MP4 whose index is at the end: MediaError) or, when the readable part decodes,
yields shots for the decodable part with ``ShotDetectionResult.truncated = True`` (and a
logged warning): the partial result is still correct for what it covers, and callers that need
complete files can reject it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from media_platform.errors import MediaError
from media_platform.video.frames import FrameIndex, open_video, probe_frame_index

logger = logging.getLogger(__name__)

__all__ = ["Shot", "ShotDetectionResult", "ShotDetectorConfig", "boundaries_to_shots", "detect_shots"]

# Codecs whose non-reference frames can be skipped while every output frame still maps to a
# demuxed packet (one packet = one displayed frame).
_SKIP_SAFE_CODECS = frozenset({"h264", "hevc", "mpeg2video", "mpeg1video", "mpeg4"})
_HIST_BINS = 16


@dataclass(frozen=True)
class Shot:
    """One shot: a run of consecutive frames between two boundaries.

    Attributes:
        index: 0-based shot number.
        start_frame: first frame (0-based decoded-frame index).
        end_frame: last frame, inclusive.
        start_s: presentation time of ``start_frame`` relative to the first frame (from pts).
        end_s: the next shot's ``start_s``; for the last shot, the end of the video (last pts
            plus its frame duration).
        confidence: confidence (0..1) of the boundary that starts this shot; 1.0 for shot 0.
    """

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    confidence: float

    @property
    def frame_count(self) -> int:
        """Number of frames in the shot."""
        return self.end_frame - self.start_frame + 1

    @property
    def duration_s(self) -> float:
        """Length of the shot in seconds."""
        return self.end_s - self.start_s


@dataclass
class ShotDetectorConfig:
    """Tuning of :func:`detect_shots`. Scores are in 0..1 (0 = identical frames, ~0.5 = unrelated
    frames).

    Attributes:
        analysis_width, analysis_height: size of the luma thumbnail compared between frames.
        min_score: absolute minimum difference score for a hard cut.
        adaptive_ratio: a cut's score must be at least this multiple of the median score of its
            ``window`` decoded neighbours on each side.
        strong_score: above this score a smaller multiple (``strong_ratio``) suffices (busy
            scenes with a very clear cut).
        window: neighbours on each side for the adaptive baseline (decoded frames).
        flash_keep: a candidate is a transient (flash) and dropped when the frame before it and
            one of the next two decoded frames differ by less than this fraction of its score.
        peak_ratio: a cut's score must be this multiple of both neighbouring pair scores (motion
            spreads its change over several pairs, a cut is a single spike).
        spread_min: below ``strong_score``, a cut must change most of the picture: the median
            over a grid of cells of the normalised luma change must reach this (an object moving
            fast in front of a steady background changes only part of it).
        flash_contrast: the frame after a transient must have at least this fraction of the
            contrast (luma std) of the frame before it to count as "the same picture again"
            (a low-contrast frame, e.g. the start of a fade-in after a cut to black, cannot
            confirm a return).
        dark_luma: mean luma (0..255) below which a frame may be part of a fade.
        fade_span: decoded frames on each side checked for a monotonic luma ramp (fade).
        refine_keep: after refinement the best single frame pair must carry at least this fraction
            of the coarse score (otherwise the change was spread out: motion, not a cut).
        min_shot_frames: minimum distance between two boundaries, in frames.
        flat_std: luma standard deviation (0..255) below which a thumbnail counts as uniform
            (black, white, a colour card): compared by mean level only.
        detect_dissolves: also report gradual transitions (dissolves) as one boundary.
        dissolve_span: span of the dissolve test, in decoded frames.
        dissolve_min_score: minimum difference across the span.
        dissolve_contrast: the span's difference must exceed the neighbouring spans' by this factor.
        dissolve_blend_max: maximum relative error of "middle frame = mean of both ends".
        skip_nonref: coarse pass skips non-reference frames (where safe for the codec).
        skip_loop_filter: skip the deblocking filter during analysis decoding.
        threads: let the decoder use frame/slice threads.
    """

    analysis_width: int = 64
    analysis_height: int = 36
    min_score: float = 0.10
    adaptive_ratio: float = 3.0
    strong_score: float = 0.35
    strong_ratio: float = 2.0
    window: int = 6
    flash_keep: float = 0.45
    refine_keep: float = 0.55
    peak_ratio: float = 2.0
    spread_min: float = 0.45
    flash_contrast: float = 0.5
    dark_luma: float = 48.0
    fade_span: int = 3
    min_shot_frames: int = 6
    flat_std: float = 6.0
    detect_dissolves: bool = True
    dissolve_span: int = 8
    dissolve_min_score: float = 0.22
    dissolve_contrast: float = 2.5
    dissolve_blend_max: float = 0.45
    skip_nonref: bool = True
    skip_loop_filter: bool = True
    threads: bool = True


@dataclass
class ShotDetectionResult:
    """Output of :func:`detect_shots`.

    Attributes:
        shots: shots tiling the video (first starts at frame 0, last ends at ``frame_count-1``).
        frame_count: number of frames (of the decodable part when ``truncated``).
        duration_s: first frame's pts to the end of the last frame, in seconds.
        frame_times: (frame_count,) float64 presentation times in seconds, relative to frame 0.
        stats: diagnostics: decoded_frames, coarse_decoded_frames, refined_windows,
            refined_frames, dissolves, mode, wall_s, frames_per_s.
        truncated: the file ended early or failed to decode part-way; shots cover the readable part.
    """

    shots: list[Shot]
    frame_count: int
    duration_s: float
    frame_times: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False

    @property
    def cut_frames(self) -> list[int]:
        """First frame of every shot but the first (the boundaries)."""
        return [s.start_frame for s in self.shots[1:]]


# --------------------------------------------------------------------------------------------
# Frame signatures and their difference


@dataclass(frozen=True)
class _Sig:
    """Tiny signature of one frame."""

    luma: np.ndarray  # (h*w,) float32 thumbnail, 0..255
    norm: np.ndarray | None  # zero-mean unit-variance luma, None when the frame is uniform
    mean: float
    std: float
    hist: np.ndarray  # (3*_HIST_BINS,) float32: Y, U, V histograms, each summing to 1


def _plane(frame: av.VideoFrame, i: int) -> np.ndarray:
    p = frame.planes[i]
    return np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]


def _shrink(plane: np.ndarray, w: int, h: int) -> np.ndarray:
    """Downscale cheaply but without heavy aliasing: bilinear to 2x the target, then area."""
    ph, pw = plane.shape
    if pw > 4 * w and ph > 4 * h:
        plane = cv2.resize(plane, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(plane, (w, h), interpolation=cv2.INTER_AREA)


def _signature(frame: av.VideoFrame, cfg: ShotDetectorConfig) -> _Sig:
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    w, h = cfg.analysis_width, cfg.analysis_height
    y = _shrink(_plane(frame, 0), w, h)
    u = _shrink(_plane(frame, 1), w // 2, h // 2)
    v = _shrink(_plane(frame, 2), w // 2, h // 2)
    # One bincount for the three histograms (Y bins, then U, then V).
    shift = 8 - int(np.log2(_HIST_BINS))
    codes = np.concatenate([(y >> shift).ravel(), (u >> shift).ravel() + _HIST_BINS,
                            (v >> shift).ravel() + 2 * _HIST_BINS])
    hist = np.bincount(codes, minlength=3 * _HIST_BINS).astype(np.float32)
    hist[:_HIST_BINS] *= 1.0 / y.size
    hist[_HIST_BINS:] *= 1.0 / u.size
    m, sd = cv2.meanStdDev(y)
    mean, std = float(m[0, 0]), float(sd[0, 0])
    luma = y.ravel().astype(np.float32)
    norm = (luma - np.float32(mean)) * np.float32(1.0 / std) if std >= cfg.flat_std else None
    return _Sig(luma=luma, norm=norm, mean=mean, std=std, hist=hist)


def _score(a: _Sig, b: _Sig, flat_std: float) -> float:
    """Difference of two frames in 0..1 (~0.5 and more for unrelated frames, ~0 for identical).

    The structural part is the luma correlation distance (gain/offset invariant: fades,
    flashes and exposure changes hardly count); for low-contrast frames, whose correlation is
    noise, it blends into a mean-level difference. Histogram distances (luma and chroma) add
    colour evidence but only in proportion to the structural change, so a change of colour or
    level alone (grading, lighting, a colour card behind the same overlay) is not a cut.
    """
    level = min(1.0, abs(a.mean - b.mean) / 96.0)
    if a.norm is not None and b.norm is not None:
        corr = float(np.dot(a.norm, b.norm)) / a.norm.shape[0]
        p_ncc = min(1.0, max(0.0, (1.0 - corr) / 2.0))
        trust = min(1.0, max(0.0, (min(a.std, b.std) - flat_std) / (2.0 * flat_std)))
        p = trust * p_ncc + (1.0 - trust) * level * _contrast_gap(a, b, flat_std)
    else:  # a uniform frame: only its level can differ
        p = level * _contrast_gap(a, b, flat_std)
    # Luma: histogram intersection distance. Chroma: earth mover's distance of the U and V
    # histograms (proportional to the colour shift, not jumpy at bin edges), scaled so that a
    # shift of a quarter of the range counts fully.
    d = a.hist - b.hist
    h_y = 0.5 * float(np.abs(d[:_HIST_BINS]).sum())
    emd_uv = float(np.abs(np.cumsum(d[_HIST_BINS:].reshape(2, _HIST_BINS), axis=1)).sum()) / (2 * _HIST_BINS)
    hist = 0.5 * h_y + 0.5 * min(1.0, 4.0 * emd_uv)
    return 0.6 * p + 0.4 * hist * min(1.0, p / 0.2)


def _spread(a: _Sig, b: _Sig, cfg: ShotDetectorConfig) -> float:
    """How much of the picture changed between two frames: the median, over a coarse grid of
    cells (6 rows x 8 columns), of the mean absolute difference of the normalised luma. A cut
    changes nearly every region (typically 0.6 and more), a moving object only some while the
    rest of the picture stays put (median well below 0.5). 1.0 when a frame is uniform."""
    if a.norm is None or b.norm is None:
        return 1.0
    d = np.abs(a.norm - b.norm).reshape(cfg.analysis_height, cfg.analysis_width)
    cells = cv2.resize(d, (8, 6), interpolation=cv2.INTER_AREA)
    return float(np.median(cells))


def _contrast_gap(a: _Sig, b: _Sig, flat_std: float) -> float:
    """Weight of a mean-level change: full when one frame has real contrast (black to content is
    a cut), none between two low-contrast frames (lighting or a colour wash is not)."""
    return min(1.0, max(0.0, (max(a.std, b.std) - flat_std) / (2.0 * flat_std)))


# --------------------------------------------------------------------------------------------
# Decoding


def _configure_decoder(stream: av.video.stream.VideoStream, cfg: ShotDetectorConfig) -> None:
    cc = stream.codec_context
    if cfg.threads:
        cc.thread_type = "AUTO"
    if cfg.skip_loop_filter:
        cc.options = {**dict(cc.options or {}), "skip_loop_filter": "all"}


class _Coarse:
    """Signatures and scores of the coarse pass, over decoded frames j = 0..n-1."""

    def __init__(self) -> None:
        self.frames: list[int] = []  # decoded-frame index of each decoded frame
        self.s1: list[float] = []  # score(j-1, j)
        self.s2: list[float] = []  # score(j-2, j) where s1[j-1] >= min_score, else nan
        self.s3: list[float] = []  # score(j-3, j) where s1[j-2] >= min_score, else nan
        self.sl: list[float] = []  # score(j-L, j), dissolve span
        self.means: list[float] = []  # mean luma of decoded frame j
        self.stds: list[float] = []  # luma standard deviation of decoded frame j
        self.spread: list[float] = []  # _spread(j-1, j) where s1 >= min_score, else 1.0
        self.blend: list[float] = []  # blend error of (j-L, j-L/2, j); inf if not testable or sl[j] is too low


def _coarse_pass(
    path: Path, index: FrameIndex | None, cfg: ShotDetectorConfig
) -> tuple[_Coarse, list[int] | None, bool]:
    """Decode (skipping non-reference frames when ``index`` is given) and score.

    Returns the scores, the list of decoded pts when every frame was decoded (then it defines
    the frame index), and whether decoding stopped on an error.
    """
    span = max(2, cfg.dissolve_span)
    nan, inf = float("nan"), float("inf")
    coarse = _Coarse()
    ring: deque[_Sig] = deque(maxlen=span + 1)
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
                        raise _IndexMismatch("decoded frame without pts")
                    fi = index.index_of(int(pts))
                    if fi is None:
                        raise _IndexMismatch(f"decoded pts {pts} not in the packet index")
                else:
                    if pts is None or (last_pts is not None and pts <= last_pts):
                        pts = (last_pts + 1) if last_pts is not None else counter
                    fi = counter
                    all_pts.append(int(pts))  # type: ignore[union-attr]
                last_pts = pts
                counter += 1
                sig = _signature(frame, cfg)
                coarse.frames.append(fi)
                coarse.means.append(sig.mean)
                coarse.stds.append(sig.std)
                n = len(ring)
                s1 = _score(ring[-1], sig, cfg.flat_std) if n >= 1 else 0.0
                coarse.s1.append(s1)
                coarse.spread.append(_spread(ring[-1], sig, cfg) if s1 >= cfg.min_score else 1.0)
                # score(j-2, j) and score(j-3, j) only serve the transient test of a candidate
                # at j-1 or j-2; the blend error only a dissolve candidate: computed on demand.
                s1s = coarse.s1
                coarse.s2.append(
                    _score(ring[-2], sig, cfg.flat_std) if n >= 2 and s1s[-2] >= cfg.min_score else nan
                )
                coarse.s3.append(
                    _score(ring[-3], sig, cfg.flat_std) if n >= 3 and s1s[-3] >= cfg.min_score else nan
                )
                sl = _score(ring[0], sig, cfg.flat_std) if n >= span else 0.0
                coarse.sl.append(sl)
                coarse.blend.append(
                    _blend_error(ring[0], ring[span // 2], sig, cfg)
                    if n >= span and cfg.detect_dissolves and sl >= cfg.dissolve_min_score else inf
                )
                ring.append(sig)
        except av.error.FFmpegError as exc:
            truncated = True
            logger.warning("%s: decoding stopped after %d frames: %s", path, counter, exc)
    return coarse, all_pts, truncated


def _blend_error(a: _Sig, m: _Sig, b: _Sig, cfg: ShotDetectorConfig) -> float:
    """How far the middle frame ``m`` is from the average of ``a`` and ``b`` (0 = a perfect
    cross-fade), relative to half their difference; inf when an end is uniform or dark (a fade
    from/to black is not a dissolve) or the ends hardly differ."""
    if a.norm is None or b.norm is None or min(a.mean, b.mean) <= 2 * cfg.flat_std:
        return float("inf")
    diff = float(np.abs(a.luma - b.luma).mean())
    if diff <= 1.0:
        return float("inf")
    return float(np.abs(m.luma - 0.5 * (a.luma + b.luma)).mean()) / (0.5 * diff)


class _IndexMismatch(Exception):
    """Decoded frames do not map onto the packet index; fall back to full decoding."""


def _refine_windows(
    path: Path,
    index: FrameIndex,
    windows: list[tuple[int, int]],
    cfg: ShotDetectorConfig,
) -> tuple[dict[int, float], int]:
    """Decode every frame in each (first, last) window and score adjacent pairs.

    Returns {frame k: score(k-1, k)} for k in (first, last] of every window, and the number of
    frames decoded with full decoding inside windows.
    """
    pair_scores: dict[int, float] = {}
    decoded = 0
    windows = sorted(windows)
    with open_video(path) as (container, stream):
        _configure_decoder(stream, cfg)
        cc = stream.codec_context
        for first, last in windows:
            first_pts = int(index.pts[first])
            last_pts = int(index.pts[last])
            container.seek(index.keyframe_before(first), stream=stream, backward=True, any_frame=False)
            prev: _Sig | None = None
            prev_fi = -2
            done = False
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                ppts = packet.pts if packet.pts is not None else packet.dts
                # Frames before the window are only needed as references.
                cc.skip_frame = "NONREF" if ppts is not None and ppts < first_pts else "DEFAULT"
                for frame in stream.decode(packet):
                    if frame.pts is None or frame.pts < first_pts:
                        continue
                    fi = index.index_of(int(frame.pts))
                    if fi is None:
                        continue
                    sig = _signature(frame, cfg)
                    decoded += 1
                    if prev is not None and fi == prev_fi + 1:
                        pair_scores[fi] = _score(prev, sig, cfg.flat_std)
                    prev, prev_fi = sig, fi
                    if frame.pts >= last_pts:
                        done = True
                        break
                if done:
                    break
            cc.skip_frame = "DEFAULT"
    return pair_scores, decoded


# --------------------------------------------------------------------------------------------
# Decisions


def _confidence(score: float, ratio: float, cfg: ShotDetectorConfig) -> float:
    a = min(1.0, max(0.0, (score - cfg.min_score) / max(1e-6, 0.45 - cfg.min_score)))
    b = min(1.0, max(0.0, (ratio - cfg.strong_ratio) / (2.0 * cfg.adaptive_ratio)))
    return round(0.3 + 0.35 * a + 0.35 * b, 4)


def _cut_candidates(c: _Coarse, cfg: ShotDetectorConfig) -> list[tuple[int, float, float]]:
    """Decoded positions j (cut between decoded j-1 and j) with their score and adaptive ratio."""
    s1 = np.asarray(c.s1, dtype=np.float64)
    n = s1.shape[0]
    out: list[tuple[int, float, float]] = []
    if n < 2:
        return out
    s2 = np.asarray(c.s2)
    s3 = np.asarray(c.s3)
    means = np.asarray(c.means)
    stds = np.asarray(c.stds)
    spread = np.asarray(c.spread)
    for j in np.nonzero(s1[1:] >= cfg.min_score)[0] + 1:
        j = int(j)
        lo, hi = max(1, j - cfg.window), min(n, j + cfg.window + 1)
        neigh = np.concatenate([s1[lo:j], s1[j + 1 : hi]])
        base = float(np.median(neigh)) if neigh.size else 0.0
        ratio = s1[j] / max(base, 0.01)
        if not (ratio >= cfg.adaptive_ratio or (s1[j] >= cfg.strong_score and ratio >= cfg.strong_ratio)):
            continue
        # Motion: a cut is a single-pair spike, motion spreads over neighbouring pairs.
        side = max(s1[j - 1] if j > 1 else 0.0, s1[j + 1] if j + 1 < n else 0.0)
        if s1[j] < cfg.peak_ratio * side:
            continue
        # Fade: dark frames whose mean level ramps monotonically (from/to black).
        if _in_fade(means, j, cfg) and not (s1[j] >= cfg.strong_score and s1[j] >= 2.0 * cfg.peak_ratio * side):
            continue
        # Local change: a fast object in front of a steady background is not a cut.
        if s1[j] < cfg.strong_score and spread[j] < cfg.spread_min:
            continue
        # Transient: the frame before and a frame shortly after look alike (flash, glitch).
        # Only a frame with comparable contrast can show that (a dim frame scores low against
        # anything: its correlation is noise and its mean may happen to match).
        across = []
        for k, s_across in ((j + 1, s2), (j + 2, s3)):
            if k < n and _comparable_contrast(stds[j - 1], stds[k], cfg):
                across.append(s_across[k])
        if across and min(across) < cfg.flash_keep * s1[j]:
            continue
        out.append((j, float(s1[j]), float(ratio)))
    return out


def _comparable_contrast(std_a: float, std_b: float, cfg: ShotDetectorConfig) -> bool:
    """Two frames whose similarity can be judged: both uniform, or contrasts of the same order."""
    if max(std_a, std_b) < cfg.flat_std:
        return True
    return min(std_a, std_b) >= cfg.flash_contrast * max(std_a, std_b)


def _in_fade(means: np.ndarray, j: int, cfg: ShotDetectorConfig) -> bool:
    """True when decoded frames j-1, j are dark and the mean luma keeps ramping in the same
    direction on at least one side of the step j-1 -> j (a fade from or to black), as opposed
    to a step between two steady levels (a cut)."""
    if min(means[j - 1], means[j]) >= cfg.dark_luma:
        return False
    direction = np.sign(means[j] - means[j - 1])
    if direction == 0:
        return False
    k = cfg.fade_span
    before = np.diff(means[max(0, j - 1 - k) : j]) * direction
    after = np.diff(means[j : j + 1 + k]) * direction
    min_step = 0.3
    return bool((before.size >= 2 and np.all(before > min_step)) or (after.size >= 2 and np.all(after > min_step)))


def _dissolve_candidates(
    c: _Coarse, cut_js: set[int], cfg: ShotDetectorConfig
) -> list[tuple[int, float]]:
    """Gradual transitions: (decoded position of the middle, confidence)."""
    L = max(2, cfg.dissolve_span)
    sl = np.asarray(c.sl, dtype=np.float64)
    s1 = np.asarray(c.s1, dtype=np.float64)
    n = sl.shape[0]
    out: list[tuple[int, float]] = []
    j = 2 * L
    while j < n - L:
        v = sl[j]
        if v < cfg.dissolve_min_score or v < sl[max(0, j - L // 2) : j + L // 2 + 1].max():
            j += 1
            continue
        flank = max(sl[j - L], sl[min(n - 1, j + L)])
        inside = s1[j - L + 1 : j + 1]
        blend = c.blend[j]
        if (
            v >= cfg.dissolve_contrast * flank
            and inside.max() <= 0.5 * v
            and not any(k in cut_js for k in range(j - L, j + L + 1))
            and blend <= cfg.dissolve_blend_max
        ):
            conf = round(min(0.6, 0.2 + 0.4 * (1 - blend) * min(1.0, v / 0.4)), 4)
            out.append((j - L // 2, conf))
            j += L
            continue
        j += 1
    return out


def _enforce_min_length(bounds: dict[int, float], min_len: int) -> dict[int, float]:
    """Keep boundaries at least ``min_len`` frames apart, the more confident one winning."""
    kept: dict[int, float] = {}
    for frame, conf in sorted(bounds.items(), key=lambda kv: (-kv[1], kv[0])):
        if all(abs(frame - other) >= min_len for other in kept):
            kept[frame] = conf
    return dict(sorted(kept.items()))


def boundaries_to_shots(
    boundaries: dict[int, float], frame_times: np.ndarray, duration_s: float
) -> list[Shot]:
    """Turn {first frame of a new shot: confidence} into shots tiling all frames."""
    n = int(frame_times.shape[0])
    starts = [0] + sorted(f for f in boundaries if 0 < f < n)
    shots: list[Shot] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] - 1 if k + 1 < len(starts) else n - 1
        end_s = float(frame_times[end + 1]) if end + 1 < n else float(duration_s)
        shots.append(
            Shot(
                index=k,
                start_frame=start,
                end_frame=end,
                start_s=float(frame_times[start]),
                end_s=end_s,
                confidence=1.0 if k == 0 else float(boundaries[start]),
            )
        )
    return shots


def detect_shots(path: str | Path, config: ShotDetectorConfig | None = None) -> ShotDetectionResult:
    """Detect the shots of the first video stream of ``path``, frame-exact.

    Raises MediaError when the file is missing, empty, not a video, has no video stream or no
    decodable frame. See the module docstring for the method and the truncated-file policy.
    """
    cfg = config or ShotDetectorConfig()
    p = Path(path)
    t0 = time.perf_counter()
    index = probe_frame_index(p)
    use_skip = cfg.skip_nonref and index.codec in _SKIP_SAFE_CODECS
    mode = "skip_nonref" if use_skip else "full"
    try:
        coarse, all_pts, dec_truncated = _coarse_pass(p, index if use_skip else None, cfg)
    except _IndexMismatch as exc:
        logger.info("%s: %s; decoding every frame", p, exc)
        mode = "full"
        coarse, all_pts, dec_truncated = _coarse_pass(p, None, cfg)
    if not coarse.frames:
        raise MediaError(p, "no video frame could be decoded (truncated or corrupt stream)")
    if all_pts is not None:
        # Every frame was decoded: the decoded frames are the truth (covers codecs with
        # invisible frames and decoding that stopped early).
        last_duration = index.last_duration
        index = FrameIndex(
            pts=np.asarray(all_pts, dtype=np.int64),
            keyframe_pts=index.keyframe_pts,
            time_base=index.time_base,
            last_duration=last_duration,
            codec=index.codec,
            width=index.width,
            height=index.height,
            truncated=index.truncated or dec_truncated,
        )
    elif dec_truncated:
        last = coarse.frames[-1]
        index = FrameIndex(
            pts=index.pts[: last + 1], keyframe_pts=index.keyframe_pts, time_base=index.time_base,
            last_duration=index.last_duration, codec=index.codec, width=index.width,
            height=index.height, truncated=True,
        )
    frames = coarse.frames
    frame_count = index.frame_count

    # Hard cuts: candidates on the coarse scores, refined to the exact frame where needed.
    cands = _cut_candidates(coarse, cfg)
    windows = [(frames[j - 1], frames[j]) for j, _, _ in cands if frames[j] - frames[j - 1] > 1]
    pair_scores, refined_frames = (
        _refine_windows(p, index, windows, cfg) if (windows and mode == "skip_nonref") else ({}, 0)
    )
    bounds: dict[int, float] = {}
    cut_js: set[int] = set()
    for j, score, ratio in cands:
        a, b = frames[j - 1], frames[j]
        if b - a == 1:
            frame, s = b, score
        else:
            inside = {k: pair_scores[k] for k in range(a + 1, b + 1) if k in pair_scores}
            if not inside:  # could not refine (decode error): keep the coarse position
                frame, s = b, score
            else:
                frame = max(inside, key=lambda k: inside[k])
                s = inside[frame]
                if s < cfg.min_score or s < cfg.refine_keep * score:
                    continue  # spread over several frames: motion, not a cut
        ratio = ratio * s / max(score, 1e-6)
        bounds[frame] = max(bounds.get(frame, 0.0), _confidence(s, ratio, cfg))
        cut_js.add(j)

    dissolves = _dissolve_candidates(coarse, cut_js, cfg) if cfg.detect_dissolves else []
    for j, conf in dissolves:
        bounds.setdefault(frames[j], conf)

    bounds = _enforce_min_length(bounds, cfg.min_shot_frames)
    frame_times = index.frame_times
    duration_s = index.duration_s
    shots = boundaries_to_shots(bounds, frame_times, duration_s)
    wall = time.perf_counter() - t0
    truncated = index.truncated or dec_truncated
    if truncated:
        logger.warning("%s: truncated or corrupt; shots cover the first %d decodable frames", p, frame_count)
    stats = {
        "mode": mode,
        "codec": index.codec,
        "frame_count": frame_count,
        "coarse_decoded_frames": len(frames),
        "refined_windows": len(windows),
        "refined_frames": refined_frames,
        "decoded_frames": len(frames) + refined_frames,
        "cut_candidates": len(cands),
        "dissolves": len(dissolves),
        "wall_s": round(wall, 4),
        "frames_per_s": round(frame_count / wall, 1) if wall > 0 else None,
    }
    return ShotDetectionResult(
        shots=shots,
        frame_count=frame_count,
        duration_s=duration_s,
        frame_times=frame_times,
        stats=stats,
        truncated=truncated,
    )
