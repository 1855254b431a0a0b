"""Frame signatures for shot detection and their comparisons.

Each decoded frame is reduced to a tiny signature straight from its YUV planes (a luma thumbnail
and luma/chroma histograms); :func:`score`, :func:`spread` and :func:`blend_error` compare them
(see :mod:`media_platform.video.shots`).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import cv2
import numpy as np

from media_platform.video.shot_config import ShotDetectorConfig

__all__ = ["CELL_COLS", "CELL_ROWS", "Sig", "blend_error", "cell_change", "cell_contrast", "cell_means",
           "masked", "masked_spread", "pixel_masks", "score", "signature", "spread"]

_HIST_BINS = 16
#: The grid of cells over which static regions (overlays) are estimated.
CELL_COLS, CELL_ROWS = 16, 9


@dataclass(frozen=True)
class Sig:
    """Tiny signature of one frame."""

    luma: np.ndarray  # (h*w,) float32 thumbnail, 0..255
    norm: np.ndarray | None  # zero-mean unit-variance luma, None when the frame is uniform
    mean: float
    std: float
    hist: np.ndarray  # (3*_HIST_BINS,) float32: Y, U, V histograms, each summing to 1
    u: np.ndarray | None = None  # (h/2, w/2) uint8 chroma thumbnails (masked comparisons)
    v: np.ndarray | None = None


def _plane(frame: av.VideoFrame, i: int) -> np.ndarray:
    p = frame.planes[i]
    return np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]


def _shrink(plane: np.ndarray, w: int, h: int) -> np.ndarray:
    """Downscale cheaply but without heavy aliasing: bilinear to 2x the target, then area."""
    ph, pw = plane.shape
    if pw > 4 * w and ph > 4 * h:
        plane = cv2.resize(plane, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(plane, (w, h), interpolation=cv2.INTER_AREA)


def signature(frame: av.VideoFrame, cfg: ShotDetectorConfig) -> Sig:
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
    return Sig(luma=luma, norm=norm, mean=mean, std=std, hist=hist, u=u, v=v)


def cell_means(sig: Sig, cfg: ShotDetectorConfig) -> np.ndarray:
    """Mean luma of each cell of the CELL_ROWS x CELL_COLS grid, flattened (float32)."""
    y = sig.luma.reshape(cfg.analysis_height, cfg.analysis_width)
    return cv2.resize(y, (CELL_COLS, CELL_ROWS), interpolation=cv2.INTER_AREA).ravel()


def cell_change(a: Sig, b: Sig, cells_a: np.ndarray, cells_b: np.ndarray, cfg: ShotDetectorConfig) -> np.ndarray:
    """Mean absolute luma change of each cell of the grid from ``a`` to ``b`` (float32, luma
    levels), after removing the median change of the cells' means: a change of level over the
    whole picture (lighting, exposure) does not count, a change in part of it is not spread over
    the rest. ``cells_a``/``cells_b``: their :func:`cell_means`."""
    shift = cells_b - cells_a
    mid = shift.size // 2
    shift.partition(mid)  # the (upper) median, without sorting
    offset = shift[mid]
    d = cv2.absdiff(b.luma, a.luma + offset).reshape(cfg.analysis_height, cfg.analysis_width)
    return cv2.resize(d, (CELL_COLS, CELL_ROWS), interpolation=cv2.INTER_AREA).ravel()


def cell_contrast(sig: Sig, cfg: ShotDetectorConfig) -> np.ndarray:
    """Luma standard deviation inside each cell of the grid (float32, luma levels)."""
    y = sig.luma.reshape(cfg.analysis_height, cfg.analysis_width)
    m = cv2.resize(y, (CELL_COLS, CELL_ROWS), interpolation=cv2.INTER_AREA)
    m2 = cv2.resize(y * y, (CELL_COLS, CELL_ROWS), interpolation=cv2.INTER_AREA)
    return np.sqrt(np.maximum(m2 - m * m, 0.0)).ravel()


def pixel_masks(cells: np.ndarray, cfg: ShotDetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """The luma and chroma pixels of the thumbnails that lie in the given cells (bool grid)."""
    grid = cells.reshape(CELL_ROWS, CELL_COLS).astype(np.uint8)
    w, h = cfg.analysis_width, cfg.analysis_height
    ym = cv2.resize(grid, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool).ravel()
    cm = cv2.resize(grid, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST).astype(bool).ravel()
    return ym, cm


def masked(sig: Sig, keep: np.ndarray, cfg: ShotDetectorConfig,
           pixels: tuple[np.ndarray, np.ndarray] | None = None) -> Sig:
    """The signature of only the cells ``keep`` (bool, CELL_ROWS*CELL_COLS) of the frame: the
    part of the picture outside static regions (overlays), compared with :func:`score`.
    ``pixels``: the cells' pixel masks when already known (:func:`pixel_masks`)."""
    ym, cm = pixels if pixels is not None else pixel_masks(keep, cfg)
    luma = sig.luma[ym]
    mean, std = float(luma.mean()), float(luma.std())
    norm = (luma - np.float32(mean)) * np.float32(1.0 / std) if std >= cfg.flat_std else None
    shift = 8 - int(np.log2(_HIST_BINS))
    assert sig.u is not None and sig.v is not None
    u, v = sig.u.ravel()[cm], sig.v.ravel()[cm]
    codes = np.concatenate([(luma.astype(np.uint8) >> shift), (u >> shift) + _HIST_BINS,
                            (v >> shift) + 2 * _HIST_BINS])
    hist = np.bincount(codes, minlength=3 * _HIST_BINS).astype(np.float32)
    hist[:_HIST_BINS] *= 1.0 / max(1, luma.size)
    hist[_HIST_BINS:] *= 1.0 / max(1, u.size)
    return Sig(luma=luma, norm=norm, mean=mean, std=std, hist=hist)


def masked_spread(a: Sig, b: Sig, keep: np.ndarray, cfg: ShotDetectorConfig,
                  pixels: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """:func:`spread` over the cells ``keep`` only, for two :func:`masked` signatures."""
    if a.norm is None or b.norm is None:
        return 1.0
    ym, _ = pixels if pixels is not None else pixel_masks(keep, cfg)
    d = np.zeros(cfg.analysis_height * cfg.analysis_width, np.float32)
    d[ym] = np.abs(a.norm - b.norm)
    cells = cv2.resize(d.reshape(cfg.analysis_height, cfg.analysis_width), (CELL_COLS, CELL_ROWS),
                       interpolation=cv2.INTER_AREA).ravel()
    return float(np.median(cells[keep]))


def score(a: Sig, b: Sig, flat_std: float) -> float:
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


def spread(a: Sig, b: Sig, cfg: ShotDetectorConfig) -> float:
    """How much of the picture changed between two frames: the median, over a coarse grid of
    cells (6 rows x 8 columns), of the mean absolute difference of the normalised luma. A cut
    changes nearly every region (typically 0.6 and more), a moving object only some while the
    rest of the picture stays put (median well below 0.5). 1.0 when a frame is uniform."""
    if a.norm is None or b.norm is None:
        return 1.0
    d = np.abs(a.norm - b.norm).reshape(cfg.analysis_height, cfg.analysis_width)
    cells = cv2.resize(d, (8, 6), interpolation=cv2.INTER_AREA)
    return float(np.median(cells))


def _contrast_gap(a: Sig, b: Sig, flat_std: float) -> float:
    """Weight of a mean-level change: full when one frame has real contrast (black to content is
    a cut), none between two low-contrast frames (lighting or a colour wash is not)."""
    return min(1.0, max(0.0, (max(a.std, b.std) - flat_std) / (2.0 * flat_std)))


def blend_error(a: Sig, m: Sig, b: Sig, cfg: ShotDetectorConfig) -> float:
    """How far the middle frame ``m`` is from the average of ``a`` and ``b`` (0 = a perfect
    cross-fade), relative to half their difference; inf when an end is uniform or dark (a fade
    from/to black is not a dissolve) or the ends hardly differ."""
    if a.norm is None or b.norm is None or min(a.mean, b.mean) <= 2 * cfg.flat_std:
        return float("inf")
    diff = float(np.abs(a.luma - b.luma).mean())
    if diff <= 1.0:
        return float("inf")
    return float(np.abs(m.luma - 0.5 * (a.luma + b.luma)).mean()) / (0.5 * diff)
