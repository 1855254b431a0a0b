"""Preview candidates as Parquet-ready tables, and the data tests of a rendered preview."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from media_platform.audio.types import EventSegment
from media_platform.previews.candidates import Candidate, CandidateConfig, CandidateSet
from media_platform.previews.features import FEATURE_NAMES
from media_platform.previews.render import PreviewCheck
from media_platform.text.sentences import Sentence


def candidates_to_table(cset: CandidateSet) -> tuple[pl.DataFrame, dict[str, Any]]:
    """(one row per candidate with its features, flags and raw values; the set's summary)."""
    rows = [
        {
            "start": c.start, "end": c.end, "duration": c.duration, "clean": c.clean,
            "full_length": c.full_length, "first_sentence": c.first_sentence,
            "last_sentence": c.last_sentence, "text": c.text, "flags": list(c.flags),
            **{f"f_{name}": float(c.features.get(name, 0.0)) for name in FEATURE_NAMES},
            "info_json": json.dumps(c.info, default=float),
        }
        for c in cset.candidates
    ]
    schema = {
        "start": pl.Float64, "end": pl.Float64, "duration": pl.Float64, "clean": pl.Boolean,
        "full_length": pl.Boolean, "first_sentence": pl.Int64, "last_sentence": pl.Int64,
        "text": pl.Utf8, "flags": pl.List(pl.Utf8),
        **{f"f_{name}": pl.Float64 for name in FEATURE_NAMES}, "info_json": pl.Utf8,
    }
    summary = {"duration_s": cset.duration_s, "speech_s": cset.speech_s,
               "ad_sentences": list(cset.ad_sentences), "notes": list(cset.notes)}
    return pl.DataFrame(rows, schema=schema), summary


def candidate_set_from_table(df: pl.DataFrame, summary: dict[str, Any]) -> CandidateSet:
    """The inverse of :func:`candidates_to_table`."""
    candidates = tuple(
        Candidate(
            start=r["start"], end=r["end"], first_sentence=r["first_sentence"],
            last_sentence=r["last_sentence"], text=r["text"],
            features={name: r[f"f_{name}"] for name in FEATURE_NAMES},
            info=json.loads(r["info_json"] or "{}"), flags=tuple(r["flags"] or ()),
            full_length=r["full_length"],
        )
        for r in df.iter_rows(named=True)
    )
    return CandidateSet(
        candidates=candidates, duration_s=float(summary["duration_s"]), speech_s=float(summary["speech_s"]),
        ad_sentences=tuple(summary.get("ad_sentences", ())), notes=tuple(summary.get("notes", ())),
    )


@dataclass(frozen=True)
class PreviewRules:
    """What a good preview must satisfy (the asset check's parameters)."""

    target_s: float = 30.0
    min_s: float = 15.0
    exclude_tail_frac: float = 0.15
    tail_min_episode_s: float = 60.0
    target_lufs: float = -16.0
    boundary_tolerance_s: float = 0.35
    #: A full-length preview lasts from ``target_s - full_slack_s`` to ``target_s + max_over_s``:
    #: the windows the candidate generator offers as full-length (one rule, its defaults).
    full_slack_s: float = CandidateConfig.full_slack_s
    max_over_s: float = CandidateConfig.max_over_s


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def preview_problems(
    start: float,
    end: float,
    episode_duration_s: float,
    sentences: Sequence[Sentence],
    ad_spans: Sequence[tuple[float, float]],
    events: Sequence[EventSegment],
    check: PreviewCheck,
    rules: PreviewRules = PreviewRules(),
    *,
    shorter_reason: str | None = None,
) -> list[str]:
    """Problems of a rendered preview ``[start, end]`` (empty list = good):

    - duration within the full-length bounds (``target_s - full_slack_s`` to ``target_s +
      max_over_s``, the candidates' own); or between the minimum and the target when no clean
      full-length window exists (``shorter_reason`` says why); or the whole episode when the
      episode is shorter than the target;
    - it starts on a sentence start and ends on a sentence end;
    - it lies outside the excluded tail (long episodes);
    - it overlaps no ad sentence and no music-only segment (more than 0.5 s);
    - its loudness is within ±1 LU of the target and its fades are present.
    """
    problems: list[str] = []
    duration = end - start
    rendered = check.duration_s
    if abs(rendered - duration) > 0.5:
        problems.append(f"rendered {rendered:.2f} s for a {duration:.2f} s span")
    if episode_duration_s < rules.target_s:
        if duration < min(rules.min_s, episode_duration_s) - 1.0 and not shorter_reason:
            problems.append(f"{duration:.1f} s preview of a {episode_duration_s:.1f} s episode without a reason")
    elif not rules.target_s - rules.full_slack_s - 0.05 <= duration <= rules.target_s + rules.max_over_s + 0.05:
        if not (rules.min_s - 1.0 <= duration <= rules.target_s + 1.0 and shorter_reason):
            problems.append(f"duration {duration:.1f} s: not within {rules.target_s - rules.full_slack_s:g}-"
                            f"{rules.target_s + rules.max_over_s:g} s nor a recorded shorter clean window "
                            f"(min {rules.min_s:.0f} s)")
    tol = rules.boundary_tolerance_s
    if not any(abs(s.start - start) <= tol for s in sentences):
        problems.append(f"starts at {start:.2f} s, not on a sentence start")
    if not any(abs(s.end - end) <= tol for s in sentences):
        problems.append(f"ends at {end:.2f} s, not on a sentence end")
    if episode_duration_s >= rules.tail_min_episode_s:
        tail = episode_duration_s * (1.0 - rules.exclude_tail_frac)
        if end > tail + tol:
            problems.append(f"ends at {end:.1f} s, inside the excluded tail (after {tail:.1f} s)")
    for span in ad_spans:
        if _overlap((start, end), span) > tol:
            problems.append(f"overlaps the ad at {span[0]:.1f}-{span[1]:.1f} s")
    for seg in events:
        if seg.label == "music" and _overlap((start, end), (seg.start, seg.end)) > 0.5:
            problems.append(f"overlaps music at {seg.start:.1f}-{seg.end:.1f} s")
    if not abs(check.lufs - rules.target_lufs) <= 1.0:
        problems.append(f"loudness {check.lufs:.1f} LUFS, target {rules.target_lufs:.0f} ±1")
    if not check.fades_ok:
        problems.append(f"fades missing (head {check.head_db:.1f} dB, tail {check.tail_db:.1f} dB, body {check.body_db:.1f} dB)")
    return problems
