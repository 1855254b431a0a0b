"""Chapters that respect the markers: every intro, recap, credits and preview-of-next span is a
chapter of its own, titled by its kind, and the topic chapters fill the rest.

What an editor expects of a chapter list (a podcast app's or a video player's chapter menu):
"Intro" where the theme plays, "Recap" where last week's material is repeated, "Credits" at the
end, and the episode's own topics in between, so "skip to the next chapter" skips the intro.
So no topic chapter starts or ends inside a marker:

- the topic chapters (TextTiling over the transcript, :mod:`media_platform.text.analysis`) are
  cut at the marker edges and keep their titles and keywords on each piece outside the markers;
- a piece shorter than ``min_chapter_s`` joins its neighbour in the same stretch between two
  markers (the previous one, else the next), so a topic boundary a second after the intro does
  not leave a one-second chapter; a stretch of its own (a 3 s cold open) is kept whole;
- a stretch between two markers shorter than ``min_gap_s`` (edges a frame apart) joins the
  chapter before it (the next one at the very start);
- the result still tiles the episode from 0 to its end. Without markers the chapters are
  returned unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from media_platform.text.analysis import Chapter

__all__ = ["MARKER_CHAPTER_TITLES", "chapters_with_markers"]

MARKER_CHAPTER_TITLES = {
    "intro": "Intro",
    "recap": "Recap",
    "credits": "Credits",
    "preview_of_next": "Preview of the next episode",
}


def _spans(markers: Sequence[tuple[str, float, float]], end_t: float) -> list[tuple[str, float, float]]:
    """The markers clipped to the episode, in time order, overlaps trimmed (later starts later)."""
    out: list[tuple[str, float, float]] = []
    for kind, start, end in sorted(markers, key=lambda m: (m[1], m[2])):
        start = max(start, out[-1][2] if out else 0.0, 0.0)
        end = min(end, end_t)
        if kind in MARKER_CHAPTER_TITLES and end > start:
            out.append((kind, start, end))
    return out


def _pieces(chapters: Sequence[Chapter], lo: float, hi: float, fallback: int) -> list[Chapter]:
    """The topic chapters cut to [lo, hi]; a whole-stretch piece titled ``Chapter n`` when the
    episode has no topic chapter (no speech)."""
    pieces = [replace(c, start=max(c.start, lo), end=min(c.end, hi)) for c in chapters if min(c.end, hi) > max(c.start, lo)]
    return pieces or [Chapter(lo, hi, f"Chapter {fallback}", ())]


def _merge_short(pieces: list[Chapter], min_chapter_s: float) -> list[Chapter]:
    pieces = list(pieces)
    i = 0
    while len(pieces) > 1 and i < len(pieces):
        p = pieces[i]
        if p.end - p.start >= min_chapter_s:
            i += 1
            continue
        if i > 0:
            pieces[i - 1] = replace(pieces[i - 1], end=p.end, last_sentence=max(pieces[i - 1].last_sentence, p.last_sentence))
        else:
            pieces[1] = replace(pieces[1], start=p.start, first_sentence=min(pieces[1].first_sentence, p.first_sentence))
        del pieces[i]
    return pieces


def chapters_with_markers(
    chapters: Sequence[Chapter],
    markers: Sequence[tuple[str, float, float]],
    duration_s: float,
    *,
    min_chapter_s: float = 5.0,
    min_gap_s: float = 1.0,
) -> list[Chapter]:
    """``chapters`` (tiling 0..end) with the ``markers`` (kind, start, end) as chapters of their
    own, as the module describes."""
    end_t = max([duration_s, *(c.end for c in chapters)])
    spans = _spans(markers, end_t)
    if not spans:
        return list(chapters)
    out: list[Chapter] = []
    cursor, fallback = 0.0, 1
    for kind, start, end in [*spans, ("", end_t, end_t)]:
        if start - cursor >= min_gap_s:
            pieces = _merge_short(_pieces(chapters, cursor, start, fallback), min_chapter_s)
            fallback += 1
            out.extend(pieces)
        elif start > cursor and out:  # a sliver between two markers: the chapter before takes it
            out[-1] = replace(out[-1], end=start)
        elif start > cursor:  # a sliver at the very start: the first marker chapter takes it
            start = 0.0
        if kind:
            out.append(Chapter(start, end, MARKER_CHAPTER_TITLES[kind], ()))
        cursor = end
    return [replace(c, start=round(c.start, 3), end=round(c.end, 3)) for c in out]
