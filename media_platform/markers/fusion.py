"""Fusion of the audio and picture matches of a pair of episodes, and snapping to shot cuts.

A stretch repeated in another episode counts when either its sound or its picture repeats (a
dubbed intro keeps its picture, a recap narrated anew keeps its picture, an audio-only episode
has only sound). Where both find the same stretch (same offset within ``offset_tol_s``,
overlapping), they become one match: its span is the union of both, except that an edge the
picture places within ``edge_tol_s`` (0.8 s) of the sound's edge is taken from the picture (frame hashes
a quarter of a second apart, against Chromaprint points that each smear ~3 s of sound), and its
score is the better of the two plus a bonus for the agreement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from media_platform.markers.alignment import Match

__all__ = ["fuse", "snap"]


def fuse(
    audio: Sequence[Match],
    visual: Sequence[Match],
    *,
    offset_tol_s: float = 0.75,
    edge_tol_s: float = 0.8,
    agreement_bonus: float = 0.05,
    sound_compared: bool = False,
    picture_alone_min: float = 0.9,
) -> list[Match]:
    """One list of matches from both modalities (see the module docstring), by start.

    ``sound_compared``: both episodes have sound, so a picture match the sound does not confirm
    needs a score of at least ``picture_alone_min`` (smooth, textureless pictures resemble
    each other; a real repeat with new sound is rare)."""
    used: set[int] = set()
    out: list[Match] = []
    for a in audio:
        partners = [
            k for k, v in enumerate(visual)
            if k not in used
            and abs(v.offset - a.offset) <= offset_tol_s
            and min(a.a_end, v.a_end) - max(a.a_start, v.a_start) > -edge_tol_s
        ]
        if not partners:
            out.append(a)
            continue
        used.update(partners)
        vs = [visual[k] for k in partners]
        v_start = min(v.a_start for v in vs)
        v_end = max(v.a_end for v in vs)
        start = v_start if abs(v_start - a.a_start) <= edge_tol_s else min(v_start, a.a_start)
        end = v_end if abs(v_end - a.a_end) <= edge_tol_s else max(v_end, a.a_end)
        offset = float(np.median([v.offset for v in vs]))
        score = min(1.0, max(a.score, *(v.score for v in vs)) + agreement_bonus)
        out.append(Match(start, end, start + offset, end + offset, score, "audio+visual"))
    out.extend(v for k, v in enumerate(visual)
               if k not in used and (not sound_compared or v.score >= picture_alone_min))
    out.sort(key=lambda m: m.a_start)
    return out


def snap(t: float, cuts: np.ndarray, tol_s: float) -> float:
    """``t`` moved to the nearest shot cut within ``tol_s`` seconds, else unchanged."""
    if cuts.size == 0:
        return t
    k = int(np.argmin(np.abs(cuts - t)))
    return float(cuts[k]) if abs(float(cuts[k]) - t) <= tol_s else t
