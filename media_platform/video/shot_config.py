"""Tuning of the shot detector (:func:`media_platform.video.shots.detect_shots`), shared by
its signature, decoding and candidate modules."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ShotDetectorConfig"]


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
        min_shot_frames: minimum distance between two boundaries, in frames (2: the shots of a
            fast montage count; one-frame changes are flashes, judged by the transient test).
        flat_std: luma standard deviation (0..255) below which a thumbnail counts as uniform
            (black, white, a colour card): compared by mean level only.
        detect_dissolves: also report gradual transitions (dissolves, fades, wipes) as one
            boundary each, with their span (:mod:`media_platform.video.transitions`).
        dissolve_span: span of the gradual-change test, in decoded frames.
        dissolve_min_score: minimum difference across the span.
        dissolve_contrast: the span's difference must exceed the neighbouring spans' by this
            factor (proposals use 0.8 of it: each is then judged on every frame).
        dissolve_blend_max: maximum relative error of "middle frame = mean of both ends".
        static_window, static_lookahead: decoded frames before and after a pair over which a
            grid cell must keep its mean luma within ``static_range`` (0..255) to count as a static
            region (a persistent overlay: ticker band, logo, boxed subtitles, letterbox); change is
            then measured outside those cells only.
        static_max_fraction: above this fraction of the frame the static cells are taken for a
            still picture, not an overlay, and the whole frame is compared.
        static_min_cells: fewer static cells than this are ignored.
        abrupt_min: a cut may also be found as a jump of most of the picture: at least this
            fraction of the grid's cells change by ``adaptive_ratio`` times their own change over
            the ``window`` neighbouring pairs and by ``abrupt_floor`` (0..255) luma levels at least,
            as a single spike (``peak_ratio`` times the fraction at either neighbouring pair). This
            needs no overlay mask: the cells of a scrolling ticker change at every pair and those of
            static overlays or subtitles do not change at the cut
            (:mod:`media_platform.video.static_regions`).
        abrupt_floor: see ``abrupt_min``.
        abrupt_content: the jumping cells' median change must reach this fraction of their
            contrast (luma standard deviation inside the cell): new content, not the same
            picture's grain re-encoded (a keyframe's quality step changes every cell a little).
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
    min_shot_frames: int = 2
    flat_std: float = 6.0
    detect_dissolves: bool = True
    dissolve_span: int = 8
    dissolve_min_score: float = 0.22
    dissolve_contrast: float = 2.5
    dissolve_blend_max: float = 0.45
    static_window: int = 24
    static_lookahead: int = 12
    static_range: float = 6.0
    static_max_fraction: float = 0.6
    static_min_cells: int = 3
    abrupt_min: float = 0.45
    abrupt_floor: float = 3.0
    abrupt_content: float = 0.5
    skip_nonref: bool = True
    skip_loop_filter: bool = True
    threads: bool = True
