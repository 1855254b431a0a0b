"""The stored markers table (``episode_markers.parquet``) and its checks.

One row per marker: ``kind``, ``start``, ``end`` (seconds), ``confidence`` (0..1) and
``evidence`` (JSON text: the episodes sharing the span, their spans, the modalities).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from media_platform.markers.alignment import Match
from media_platform.markers.decisions import MARKER_KINDS, Marker, MarkerConfig

__all__ = ["AVOIDED_KINDS", "avoid_spans", "marker_problems", "marker_spans", "markers_table", "pair_cache",
           "read_pair_cache"]

#: The kinds a preview stays out of and search can leave out (not ``preview_of_next``: that is
#: the next episode's own material, not repeated filler of this one).
AVOIDED_KINDS = ("intro", "recap", "credits")

_SCHEMA = {"kind": pl.Utf8, "start": pl.Float64, "end": pl.Float64, "confidence": pl.Float64, "evidence": pl.Utf8}


def markers_table(markers: Sequence[Marker]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "kind": [m.kind for m in markers],
            "start": [float(m.start) for m in markers],
            "end": [float(m.end) for m in markers],
            "confidence": [float(m.confidence) for m in markers],
            "evidence": [json.dumps(m.evidence, sort_keys=True, default=float) for m in markers],
        },
        schema=_SCHEMA,
    )


def marker_problems(table: pl.DataFrame, duration_s: float, config: MarkerConfig | None = None) -> list[str]:
    """What is wrong with a markers table: unknown kinds, spans outside the episode or not
    ordered, overlaps, lengths outside the kind's bounds, confidences outside 0..1."""
    cfg = config or MarkerConfig()
    problems: list[str] = []
    rows = sorted(table.iter_rows(named=True), key=lambda r: (r["start"], r["end"]))
    tol = 0.05
    for r in rows:
        where = f"{r['kind']} {r['start']:.2f}-{r['end']:.2f} s"
        if r["kind"] not in MARKER_KINDS:
            problems.append(f"{where}: unknown kind")
            continue
        if not (-tol <= r["start"] < r["end"] <= duration_s + tol):
            problems.append(f"{where}: outside the episode (0-{duration_s:.2f} s) or empty")
        lo, hi = cfg.bounds(r["kind"])
        if not lo - tol <= r["end"] - r["start"] <= hi + tol:
            problems.append(f"{where}: lasts {r['end'] - r['start']:.2f} s, outside {lo:.0f}-{hi:.0f} s")
        if not 0.0 <= r["confidence"] <= 1.0:
            problems.append(f"{where}: confidence {r['confidence']} outside 0..1")
    for a, b in zip(rows, rows[1:]):
        if b["start"] < a["end"] - tol:
            problems.append(f"{a['kind']} {a['start']:.2f}-{a['end']:.2f} s overlaps {b['kind']} {b['start']:.2f}-{b['end']:.2f} s")
    return problems


def avoid_spans(table: pl.DataFrame) -> list[tuple[float, float]]:
    """The spans a preview must stay out of: every intro, recap and credits marker."""
    return [(start, end) for _, start, end in marker_spans(table, AVOIDED_KINDS)]


def marker_spans(table: pl.DataFrame, kinds: Sequence[str] = MARKER_KINDS) -> list[tuple[str, float, float]]:
    """``(kind, start, end)`` of the markers of ``kinds``, in time order."""
    spans = [(str(r["kind"]), float(r["start"]), float(r["end"])) for r in table.iter_rows(named=True)
             if r["kind"] in kinds]
    return sorted(spans, key=lambda m: (m[1], m[2]))


def pair_cache(signature: str, pairs: dict[str, tuple[str, list[Match]]]) -> bytes:
    """The alignment cache of one episode (``episode_markers_pairs.json``): its fingerprints'
    signature and, per other episode, that one's signature and the matches (this episode's
    side first), so a later run aligns only the pairs whose fingerprints changed."""
    doc = {"signature": signature, "pairs": {
        other: {"signature": sig, "matches": [[m.a_start, m.a_end, m.b_start, m.b_end, m.score, m.source] for m in ms]}
        for other, (sig, ms) in sorted(pairs.items())}}
    return json.dumps(doc, default=float).encode()


def read_pair_cache(data: bytes, signature: str) -> dict[str, tuple[str, list[Match]]]:
    """The cached pairs, when the cache was written for fingerprints of this ``signature``
    (else none); an unreadable cache is no cache."""
    try:
        doc = json.loads(data)
        if doc.get("signature") != signature:
            return {}
        return {other: (entry["signature"], [Match(float(a0), float(a1), float(b0), float(b1), float(sc), str(src))
                                             for a0, a1, b0, b1, sc, src in entry["matches"]])
                for other, entry in doc["pairs"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
