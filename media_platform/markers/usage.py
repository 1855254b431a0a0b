"""What the chapters, the preview and its check read of an episode's markers.

``episode_markers`` stores the spans (``episode_markers.parquet``) and a report with the notes
(``episode_markers.json``: "no intro: the only episode of its series", ...). An episode whose
markers were never computed (an output from before markers existed) reads as having none, with
that said in the note, so nothing downstream fails on it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from media_platform import layout
from media_platform.layout import episode_key
from media_platform.markers.store import AVOIDED_KINDS, marker_spans
from media_platform.storage import Store, read_table

__all__ = ["StoredMarkers", "marker_overlaps", "stored_markers", "uses_stale_markers"]


@dataclass(frozen=True)
class StoredMarkers:
    """An episode's marker spans ``(kind, start, end)`` in time order, and why there are none
    or few (the notes of ``episode_markers``)."""

    spans: tuple[tuple[str, float, float], ...]
    note: str

    @property
    def avoided(self) -> list[tuple[str, float, float]]:
        """The intro, recap and credits spans: what a preview stays out of."""
        return [m for m in self.spans if m[0] in AVOIDED_KINDS]

    def to_json(self) -> list[list]:
        return [[kind, round(start, 3), round(end, 3)] for kind, start, end in self.spans]


def stored_markers(store: Store, key: str) -> StoredMarkers:
    """The markers ``episode_markers`` stored for partition ``key`` (none, and why, if absent)."""
    table_key = episode_key(key, layout.EPISODE_MARKERS)
    if not store.exists(table_key):
        return StoredMarkers((), "no markers computed for this episode")
    spans = tuple(marker_spans(read_table(store, table_key)))
    note = ""
    report_key = episode_key(key, layout.EPISODE_MARKERS_REPORT)
    if store.exists(report_key):
        try:
            note = "; ".join(str(n) for n in json.loads(store.read_bytes(report_key)).get("notes", []))
        except (ValueError, AttributeError):
            note = ""
    return StoredMarkers(spans, note)


def marker_overlaps(start: float, end: float, spans: Sequence[tuple[str, float, float]],
                    tolerance_s: float = 0.05) -> list[str]:
    """One problem per marker that ``[start, end]`` overlaps by more than ``tolerance_s``."""
    return [f"overlaps the {kind} at {a:.2f}-{b:.2f} s" for kind, a, b in spans
            if min(end, b) - max(start, a) > tolerance_s]


def uses_stale_markers(store: Store, key: str) -> bool:
    """Whether the episode's stored preview choice was made with other markers than the ones
    stored now (``preview_selection.json`` records them; a choice from before markers were
    recorded counts as stale). False when there is no preview choice to redo."""
    selection_key = episode_key(key, layout.PREVIEW_SELECTION)
    if not store.exists(selection_key):
        return False
    try:
        used = json.loads(store.read_bytes(selection_key)).get("markers")
    except (ValueError, AttributeError):
        return True
    return used != stored_markers(store, key).to_json()
