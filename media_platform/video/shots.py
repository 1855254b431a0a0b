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
   largest difference (and at every further pair that is a spike of its own: the cuts of a
   montage). Candidates whose change is spread over the window (motion) are dropped.
5. **Gradual transitions** (optional, :mod:`media_platform.video.transitions`) – a large
   difference across a span of decoded frames flanked by stable stretches, or a nearly uniform
   frame between two pictures, is judged on every frame of its window: a fade passes through a
   uniform frame, in a dissolve every cell of a grid switches from the old to the new picture at
   the same moment, in a wipe the switching sweeps across the picture. It becomes one boundary
   (at its middle, lower confidence than a cut) whose shot carries ``transition`` and the
   transition's first and end frame; other gradual changes (camera moves) are not boundaries.
   A cut straight to black followed by a fade-in stays a cut.
6. Boundaries closer than ``min_shot_frames`` (2) keep the more confident one.

Persistent overlays (ticker bands, lower thirds, logos, boxed subtitles, letterbox bars) are
left out of the comparison where they are found (:mod:`media_platform.video.static_regions`);
a cut is also found where most cells of a grid jump at once against their own recent change,
which needs no mask (a scrolling ticker changes at every frame, subtitles at their own moments,
and a mirrored copy of the same shot has the same histograms), and
runs of large changes between sparsely decoded frames (a fast montage, or a cut next to motion)
are judged frame by frame: a short shot is followed by another picture, a flash by the same one.

Bad input raises :class:`media_platform.errors.MediaError`. A truncated file either fails to
open (e.g. MP4 whose index is at the end: MediaError) or, when the readable part decodes,
yields shots for the decodable part with ``ShotDetectionResult.truncated = True`` (and a
logged warning): the partial result is still correct for what it covers, and callers that need
complete files can reject it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from media_platform.errors import MediaError
from media_platform.video.frame_hashes import FrameHashes
from media_platform.video.frames import FrameIndex, probe_frame_index
from media_platform.video.keyframe_samples import KeyframeSamples
from media_platform.video.shot_candidates import (
    abrupt_candidates,
    abrupt_frame_cut,
    confidence,
    cut_candidates,
    effective_scores,
    enforce_min_length,
    frame_cuts,
)
from media_platform.video.shot_config import ShotDetectorConfig
from media_platform.video.shot_decoding import IndexMismatch, coarse_pass, window_signatures
from media_platform.video.transitions import Transition, gradual_windows, judge_window

logger = logging.getLogger(__name__)

__all__ = ["Shot", "ShotDetectionResult", "ShotDetectorConfig", "boundaries_to_shots", "detect_shots"]

# Codecs whose non-reference frames can be skipped while every output frame still maps to a
# demuxed packet (one packet = one displayed frame).
_SKIP_SAFE_CODECS = frozenset({"h264", "hevc", "mpeg2video", "mpeg1video", "mpeg4"})


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
        transition: how this shot begins: "cut", "dissolve", "fade" (through black, white or a
            flat colour) or "wipe"; None for shot 0.
        transition_start_frame, transition_end_frame: the frames [start, end) of a gradual
            transition (mixed frames of both shots; the shot starts inside it, at its middle);
            for a cut both are ``start_frame``; None for shot 0.
        transition_start_s, transition_end_s: the same in seconds (``end`` is the next frame's
            time); for a cut both are ``start_s``.
    """

    index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    confidence: float
    transition: str | None = None
    transition_start_frame: int | None = None
    transition_end_frame: int | None = None
    transition_start_s: float | None = None
    transition_end_s: float | None = None

    @property
    def frame_count(self) -> int:
        """Number of frames in the shot."""
        return self.end_frame - self.start_frame + 1

    @property
    def duration_s(self) -> float:
        """Length of the shot in seconds."""
        return self.end_s - self.start_s


@dataclass
class ShotDetectionResult:
    """Output of :func:`detect_shots`.

    Attributes:
        shots: shots tiling the video (first starts at frame 0, last ends at ``frame_count-1``).
        frame_count: number of frames (of the decodable part when ``truncated``).
        duration_s: first frame's pts to the end of the last frame, in seconds.
        frame_times: (frame_count,) float64 presentation times in seconds, relative to frame 0.
        stats: diagnostics: decoded_frames, coarse_decoded_frames, refined_windows,
            refined_frames, cut_candidates, bursts, jump_candidates (most cells jumping at once),
            dissolves, fades, wipes, mode, wall_s, frames_per_s.
        truncated: the file ended early or failed to decode part-way; shots cover the readable part.
        frame_hashes: perceptual hashes of a few decoded frames a second, from the same pass
            (the visual fingerprint of :mod:`media_platform.markers`).
        keyframe_samples: keyframe candidates from the same pass, a few JPEGs a second (the
            keyframes need no decoding pass of their own, :mod:`media_platform.video.keyframes`).
    """

    shots: list[Shot]
    frame_count: int
    duration_s: float
    frame_times: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False
    frame_hashes: FrameHashes | None = None
    keyframe_samples: KeyframeSamples | None = None

    @property
    def cut_frames(self) -> list[int]:
        """First frame of every shot but the first (the boundaries)."""
        return [s.start_frame for s in self.shots[1:]]


def boundaries_to_shots(
    boundaries: dict[int, float], frame_times: np.ndarray, duration_s: float,
    gradual: dict[int, Transition] | None = None,
) -> list[Shot]:
    """Turn {first frame of a new shot: confidence} into shots tiling all frames; boundaries in
    ``gradual`` begin with that transition, the others with a cut."""
    n = int(frame_times.shape[0])
    gradual = gradual or {}

    def time_of(f: int) -> float:
        return float(frame_times[f]) if f < n else float(duration_s)

    starts = [0] + sorted(f for f in boundaries if 0 < f < n)
    shots: list[Shot] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] - 1 if k + 1 < len(starts) else n - 1
        end_s = float(frame_times[end + 1]) if end + 1 < n else float(duration_s)
        t = gradual.get(start)
        kind, t0, t1 = (None, None, None) if k == 0 else (t.kind, t.start, t.end) if t else ("cut", start, start)
        shots.append(
            Shot(
                index=k,
                start_frame=start,
                end_frame=end,
                start_s=float(frame_times[start]),
                end_s=end_s,
                confidence=1.0 if k == 0 else float(boundaries[start]),
                transition=kind,
                transition_start_frame=t0,
                transition_end_frame=t1,
                transition_start_s=None if t0 is None else time_of(t0),
                transition_end_s=None if t1 is None else time_of(t1),
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
        coarse, all_pts, dec_truncated = coarse_pass(p, index if use_skip else None, cfg)
    except IndexMismatch as exc:
        logger.info("%s: %s; decoding every frame", p, exc)
        mode = "full"
        coarse, all_pts, dec_truncated = coarse_pass(p, None, cfg)
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

    # Hard cuts: candidates on the coarse scores, refined to the exact frame where needed;
    # bursts (runs of large changes between sparsely decoded frames) are judged frame by frame.
    cands, bursts = cut_candidates(coarse, cfg)
    keep = coarse.regions.keep if coarse.regions is not None else [None] * len(frames)
    s1_eff = effective_scores(coarse)["s1"]
    todo = [(j, score, ratio, False) for j, score, ratio in cands]
    todo += [(j, float(s1_eff[j]), cfg.adaptive_ratio, True) for j in bursts]
    # Cuts where most of the picture jumped at once, which the scores above dilute (an overlay that
    # changes by itself, two framings of the same picture).
    jumps = abrupt_candidates(coarse, cfg, {j for j, *_ in todo})
    windows = [(frames[j - 1], frames[j]) for j, *_ in todo + jumps if frames[j] - frames[j - 1] > 1]
    sigs, refined_frames = (
        window_signatures(p, index, [(a, min(b + 2, frame_count - 1)) for a, b in windows], cfg)
        if (windows and mode == "skip_nonref") else ({}, 0)
    )
    bounds: dict[int, float] = {}
    cut_js: set[int] = set()
    for j, score, ratio, burst in todo:
        a, b = frames[j - 1], frames[j]
        if b - a == 1:
            found = [(b, score)]
        else:
            window = {k: sg for k, sg in sigs.items() if a <= k <= b + 2}
            if b not in window:  # could not refine (decode error): keep the coarse position
                found = [] if burst else [(b, score)]
            else:
                found = frame_cuts(window, a, b, score, keep[j], cfg, burst)
        for frame, s in found:
            r = ratio * s / max(score, 1e-6)
            bounds[frame] = max(bounds.get(frame, 0.0), confidence(s, r, cfg))
        if found:
            cut_js.add(j)
    regions = coarse.regions
    for j, conf in jumps:
        a, b = frames[j - 1], frames[j]
        cells = regions.abrupt_cells[j]  # type: ignore[union-attr]
        at = b if b - a == 1 or b not in sigs else abrupt_frame_cut(
            sigs, a, b, cells, regions.abrupt_change[j], cfg)  # type: ignore[union-attr]
        if at is not None:
            bounds[at] = max(bounds.get(at, 0.0), conf)
            cut_js.add(j)

    # Gradual transitions (dissolves, fades, wipes): judged on every frame of their window; a
    # transition replaces the cuts found inside it (the steps of a fast fade).
    gradual: dict[int, Transition] = {}
    if cfg.detect_dissolves:
        spans = [(max(0, a - 1), min(frame_count - 1, b + 1)) for a, b in gradual_windows(coarse, cfg, cut_js)]
        more, n_dec = window_signatures(p, index, spans, cfg) if spans else ({}, 0)
        refined_frames += n_dec
        for a, b in spans:
            t = judge_window({k: sg for k, sg in more.items() if a <= k <= b}, a, b, cfg)
            if t is None or any(t.start <= g.end and g.start <= t.end for g in gradual.values()):
                continue
            inside = [f for f in bounds if t.start - 1 <= f <= t.end]
            if t.kind != "fade" and any(bounds[f] > t.confidence for f in inside):
                continue  # a clear cut inside: not a gradual transition
            for f in inside:
                del bounds[f]
            bounds[t.boundary] = t.confidence
            gradual[t.boundary] = t

    bounds = enforce_min_length(bounds, cfg.min_shot_frames)
    frame_times = index.frame_times
    duration_s = index.duration_s
    shots = boundaries_to_shots(bounds, frame_times, duration_s, gradual)
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
        "bursts": len(bursts),
        "jump_candidates": len(jumps),
        "dissolves": sum(1 for f, t in gradual.items() if f in bounds and t.kind == "dissolve"),
        "fades": sum(1 for f, t in gradual.items() if f in bounds and t.kind == "fade"),
        "wipes": sum(1 for f, t in gradual.items() if f in bounds and t.kind == "wipe"),
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
        frame_hashes=coarse.hashes,
        keyframe_samples=coarse.samples,
    )
