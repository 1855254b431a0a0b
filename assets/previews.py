"""Podcast previews (Spotify-style): topic chapters, preview candidates, the ranked choice, and
the rendered clip with fades; plus the learning-to-rank model trained from a golden set.

The chapters and the preview choice read the episode's markers (``episode_markers``, upstream
of both): intro, recap, credits and preview-of-next are chapters of their own, and no preview
overlaps an intro, recap or credits. When a series' markers change, ``markers_follow_series``
(sensors/markers.py) re-runs the chapters and the preview of the episodes whose markers moved."""

import json
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import dagster as dg
import numpy as np
import polars as pl

from assets.audio import audio, audio_events, transcript
from assets.common import (
    OWNERS,
    episode_asset,
    episode_check,
    episode_for,
    licence_allows,
    load_probe,
)
from media_platform import layout
from media_platform.audio.decode import decode_audio
from media_platform.audio.loudness import normalize_loudness
from media_platform.audio.render import encode_audio_file, read_wav_16k
from media_platform.audio.transcript_store import events_from_tables, transcript_from_table
from media_platform.layout import episode_key
from media_platform.markers.chapters import chapters_with_markers
from media_platform.markers.usage import marker_overlaps, stored_markers
from media_platform.previews.candidates import CandidateConfig, build_candidates
from media_platform.previews.ranking import (
    choose_preview,
    evaluate,
    load_golden,
    resolve_ranker,
    train_ranker,
)
from media_platform.previews.render import check_preview, render_audio_preview, render_video_preview
from media_platform.previews.store import (
    PreviewRules,
    candidate_set_from_table,
    candidates_to_table,
    preview_problems,
)
from media_platform.storage import read_table, write_table
from media_platform.text import (
    MiniLMEmbedder,
    analyze_transcript,
    chapters_to_rows,
    split_sentences,
)
from resources import MediaStorage

# By key, not by import: a code location (or a test) without the marker assets still builds
# chapters and previews, which then read no markers.
EPISODE_MARKERS = dg.AssetKey("episode_markers")

RANKER_KEY = "models/preview_ranker.json"
GOLDEN_KEY = "models/preview_golden.json"


class PreviewConfig(dg.Config):
    """Preview length, clean-window rules and fades."""

    target_s: float = 30.0
    min_s: float = 15.0
    exclude_tail_frac: float = 0.15
    fade_in_s: float = 0.5
    fade_out_s: float = 1.0
    target_lufs: float = -16.0
    true_peak_ceiling_dbtp: float = -1.0


def _load_events(store, key: str):
    return events_from_tables(read_table(store, episode_key(key, layout.AUDIO_EVENT_FRAMES)),
                              read_table(store, episode_key(key, layout.AUDIO_EVENTS)))


def _load_transcript(store, key: str):
    return transcript_from_table(read_table(store, episode_key(key, layout.TRANSCRIPT)))


def _analysis_with_stored_embeddings(store, key: str):
    """The transcript's text analysis, reusing the sentence embeddings ``chapters`` stored
    (the sentence split is deterministic, so they line up); recomputed only if they don't."""
    transcript = _load_transcript(store, key)
    sentences = split_sentences(transcript)
    stored = read_table(store, episode_key(key, layout.SENTENCE_EMBEDDINGS))
    if not sentences:  # nothing to embed
        return analyze_transcript(transcript, sentences=sentences)
    if stored["text"].to_list() == [s.text for s in sentences]:
        vectors = np.asarray(stored["embedding"].to_list(), dtype=np.float32).reshape(len(sentences), -1)
        return analyze_transcript(transcript, sentences=sentences, embeddings=vectors)
    return analyze_transcript(transcript, MiniLMEmbedder.shared(), sentences=sentences)


@episode_asset(
    group_name="previews",
    kinds={"pytorch", "parquet"},
    deps=[transcript, EPISODE_MARKERS],
)
def chapters(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """Topic chapters of the transcript: TextTiling-style boundaries over all-MiniLM-L6-v2
    sentence embeddings (depth scores, adaptive threshold, minimum length), each with start,
    end, keywords and a short title from them; plus the episode's top keywords. The markers are
    chapters of their own ("Intro", "Recap", "Credits", "Preview of the next episode"), and the
    topic chapters fill the rest (:mod:`media_platform.markers.chapters`). A re-run after the
    markers changed reuses the stored sentence embeddings."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "chapters"):
        return
    if store.exists(episode_key(key, layout.SENTENCE_EMBEDDINGS)):
        analysis = _analysis_with_stored_embeddings(store, key)
    else:
        analysis = analyze_transcript(_load_transcript(store, key), MiniLMEmbedder.shared())
    markers = stored_markers(store, key)
    write_table(store, episode_key(key, layout.SENTENCE_EMBEDDINGS), pl.DataFrame({
        "text": [sentence.text for sentence in analysis.sentences],
        "embedding": pl.Series(analysis.embeddings.tolist(), dtype=pl.Array(pl.Float32, analysis.embeddings.shape[1])),
    }))
    duration = max(analysis.duration_s, float(load_probe(store, key).duration_s or 0.0))  # silence too: an intro without words
    rows = chapters_to_rows(chapters_with_markers(analysis.chapters, markers.spans, duration))
    df = pl.DataFrame(rows, schema={"start": pl.Float64, "end": pl.Float64, "title": pl.Utf8, "keywords": pl.List(pl.Utf8)})
    uri = write_table(store, episode_key(key, layout.CHAPTERS), df)
    store.write_bytes(episode_key(key, layout.EPISODE_KEYWORDS), json.dumps(list(analysis.keywords)).encode())
    yield dg.MaterializeResult(
        metadata={
            "chapters": len(rows),
            "sentences": len(analysis.sentences),
            "keywords": ", ".join(analysis.keywords),
            "markers": len(markers.spans),
            "table": dg.MetadataValue.md("\n".join(
                f"- **{r['start']:.0f}–{r['end']:.0f} s** {r['title']} ({', '.join(r['keywords'][:5])})" for r in rows
            ) or "_(no speech)_"),
            "uri": uri,
        }
    )


@episode_asset(
    group_name="previews",
    kinds={"python", "parquet"},
    deps=[chapters, audio_events, audio],
)
def preview_candidates(
    context: dg.AssetExecutionContext, config: PreviewConfig, storage: MediaStorage
) -> Iterator[dg.MaterializeResult]:
    """Every window of the target length that starts at a sentence start and ends at a sentence
    end (shorter clean windows down to the minimum when no clean full-length one exists), with
    features: speech and music ratios, energy and its variation, speaking rate, linguistic
    completeness, intro/outro phrases, ad likelihood (a small logistic model over sponsor
    phrases and music under speech), spoiler risk (tail position and cues), topic coverage."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "preview_candidates"):
        return
    analysis = _analysis_with_stored_embeddings(store, key)
    events = _load_events(store, key)
    samples = read_wav_16k(store.read_bytes(episode_key(key, layout.AUDIO_16K)))
    cset = build_candidates(analysis, events.segments, samples, 16000, config=CandidateConfig(
        target_s=config.target_s, min_s=config.min_s, exclude_tail_frac=config.exclude_tail_frac))
    df, summary = candidates_to_table(cset)
    summary["ad_spans"] = [[analysis.sentences[i].start, analysis.sentences[i].end] for i in cset.ad_sentences]
    uri = write_table(store, episode_key(key, layout.PREVIEW_CANDIDATES), df)
    store.write_bytes(episode_key(key, layout.PREVIEW_CANDIDATES_SUMMARY), json.dumps(summary).encode())
    flags = df.explode("flags").drop_nulls("flags").group_by("flags").len().sort("len", descending=True)
    yield dg.MaterializeResult(
        metadata={
            "candidates": df.height,
            "clean": int(df["clean"].sum()) if df.height else 0,
            "speech_s": round(cset.speech_s, 1),
            "ad_sentences": len(cset.ad_sentences),
            "why_not_clean": dg.MetadataValue.json({r["flags"]: r["len"] for r in flags.to_dicts()}),
            "notes": "\n".join(cset.notes) or "none",
            "uri": uri,
        }
    )


@dg.asset(
    group_name="models",
    kinds={"numpy"},
    owners=OWNERS,
)
def preview_ranker(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """A learning-to-rank model for previews (pairwise logistic ranker), trained from the golden
    set ``models/preview_golden.json`` in storage (a JSON list of {episode, start, end}: human
    picks) over those episodes' candidates. When present it replaces the default scoring in
    ``preview_selection``. Its evaluation (mean IoU of chosen vs golden clips, top-1 hit rate,
    default vs learned) is stored as metadata.

    An optional model: nothing depends on it in the asset graph, so a run of previews never
    waits for it and is never skipped because of it; ``preview_selection`` reads the stored
    ranker when one exists. Without a golden set it materializes a record saying so."""
    store = storage.get_store()
    if not store.exists(GOLDEN_KEY):
        context.log.info(f"no golden set at {store.uri(GOLDEN_KEY)}: previews use the default scoring")
        yield dg.MaterializeResult(metadata={
            "ranker": "default",
            "reason": f"no golden set at {store.uri(GOLDEN_KEY)}: previews use the default scoring",
            "stored_ranker": store.uri(RANKER_KEY) if store.exists(RANKER_KEY) else "none",
        })
        return
    with store.local_copy(GOLDEN_KEY) as path:
        golden = load_golden(path)
    sets = {}
    for clip in golden:
        cand_key = episode_key(clip.episode, layout.PREVIEW_CANDIDATES)
        if clip.episode in sets or not store.exists(cand_key):
            continue
        summary = json.loads(store.read_bytes(episode_key(clip.episode, layout.PREVIEW_CANDIDATES_SUMMARY)))
        sets[clip.episode] = candidate_set_from_table(read_table(store, cand_key), summary)
    if not sets:
        raise dg.Failure(description=f"{store.uri(GOLDEN_KEY)}: no golden episode has preview candidates yet")
    ranker = train_ranker(sets, golden)
    default = evaluate({ep: choose_preview(cs).choice for ep, cs in sets.items()}, golden)
    learned = evaluate({ep: choose_preview(cs, ranker).choice for ep, cs in sets.items()}, golden)
    with TemporaryDirectory() as tmp:
        uri = store.put_file(RANKER_KEY, ranker.save(Path(tmp) / "ranker.json"))
    yield dg.MaterializeResult(
        metadata={
            "episodes": len(sets),
            "golden_clips": len(golden),
            "mean_iou_default": round(default.mean_iou, 3),
            "top1_hit_rate_default": round(default.top1_hit_rate, 3),
            "mean_iou_learned": round(learned.mean_iou, 3),
            "top1_hit_rate_learned": round(learned.top1_hit_rate, 3),
            "uri": uri,
        }
    )


@episode_asset(
    group_name="previews",
    kinds={"python"},
    deps=[preview_candidates, EPISODE_MARKERS],  # not preview_ranker: an optional model never blocks a preview
)
def preview_selection(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """The chosen preview span: the best clean candidate under the learned ranker when one has
    been trained (``preview_ranker``, read from storage when present), else the transparent
    default scoring (weights in config). Each feature's
    contribution to the score is stored with the choice, with the reasons. An episode without
    speech or without a clean window gets no preview and the reason (not a failure). No preview
    overlaps the episode's intro, recap or credits markers; the record keeps the markers it
    avoided (and their note, e.g. the first episode of a series has none yet), so a later change
    of the markers is seen (``markers_follow_series``)."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "preview_selection"):
        return
    summary = json.loads(store.read_bytes(episode_key(key, layout.PREVIEW_CANDIDATES_SUMMARY)))
    cset = candidate_set_from_table(read_table(store, episode_key(key, layout.PREVIEW_CANDIDATES)), summary)
    with TemporaryDirectory() as tmp:
        learned = None
        if store.exists(RANKER_KEY):
            learned = Path(tmp) / "ranker.json"
            learned.write_bytes(store.read_bytes(RANKER_KEY))
        ranker = resolve_ranker(learned)
    markers = stored_markers(store, key)
    outcome = choose_preview(cset, ranker, avoid=[(a, b) for _, a, b in markers.avoided])
    choice = outcome.choice.to_row() if outcome.choice else None
    record = {"choice": choice, "reason": outcome.reason, "candidates": outcome.n_candidates, "clean": outcome.n_clean,
              "markers": markers.to_json(), "markers_note": markers.note}
    uri = store.write_bytes(episode_key(key, layout.PREVIEW_SELECTION), json.dumps(record, default=float).encode())
    metadata = {"reason": outcome.reason, "ranker": choice["ranker"] if choice else ranker.name,
                "markers_avoided": ", ".join(f"{k} {a:.1f}-{b:.1f} s" for k, a, b in markers.avoided) or "none",
                "markers_note": markers.note or "none", "candidates": outcome.n_candidates, "clean_candidates": outcome.n_clean, "uri": uri}
    if choice:
        metadata.update({
            "start": round(choice["start"], 2), "end": round(choice["end"], 2), "score": choice["score"],
            "text": dg.MetadataValue.md(choice["text"]),
            "contributions": dg.MetadataValue.json(choice["contributions"]),
        })
    yield dg.MaterializeResult(metadata=metadata)


@episode_asset(
    group_name="previews",
    kinds={"ffmpeg", "mp3"},
    deps=[preview_selection, audio],
)
def preview(
    context: dg.AssetExecutionContext, config: PreviewConfig, storage: MediaStorage
) -> Iterator[dg.MaterializeResult]:
    """The preview clip: the chosen span cut from the loudness-normalized audio with fade-in and
    fade-out (default 0.5 s / 1.0 s), brought to the loudness target, as MP3; for video
    episodes also an MP4 clip of the span. Metadata: start, end, text, reasons, and a player."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "preview"):
        return
    selection = json.loads(store.read_bytes(episode_key(key, layout.PREVIEW_SELECTION)))
    choice = selection["choice"]
    if choice is None:
        for name in (layout.PREVIEW_MP3, layout.PREVIEW_MP4, layout.PREVIEW_RECORD):
            store.delete(episode_key(key, name))
        context.log.info(f"{key}: no preview: {selection['reason']}")
        yield dg.MaterializeResult(metadata={"preview": "none", "reason": selection["reason"]})
        return
    start, end = float(choice["start"]), float(choice["end"])
    probe = load_probe(store, key)
    with TemporaryDirectory(prefix="media-platform-preview-") as tmp:
        raw = Path(tmp) / "raw.flac"  # lossless cut: the MP3 is encoded once, after levelling
        with store.local_copy(episode_key(key, layout.AUDIO_NORMALIZED_FLAC)) as source:
            render_audio_preview(source, start, end, raw, fade_in_s=config.fade_in_s, fade_out_s=config.fade_out_s)
        clip = decode_audio(raw, sr=None, mono=False)
        levelled, _ = normalize_loudness(clip.samples, clip.sample_rate, config.target_lufs, config.true_peak_ceiling_dbtp)
        mp3 = encode_audio_file(levelled, clip.sample_rate, Path(tmp) / "preview.mp3")
        mp3_uri = store.put_file(episode_key(key, layout.PREVIEW_MP3), mp3)
        mp4_uri = None
        if probe.kind == "video":
            with store.local_copy(episode.master_key) as master:
                mp4 = render_video_preview(master, start, end, Path(tmp) / "preview.mp4",
                                           fade_in_s=config.fade_in_s, fade_out_s=config.fade_out_s)
            mp4_uri = store.put_file(episode_key(key, layout.PREVIEW_MP4), mp4)
    record = {**choice, "uri": mp3_uri, "video_uri": mp4_uri, "reason": selection["reason"]}
    store.write_bytes(episode_key(key, layout.PREVIEW_RECORD), json.dumps(record, default=float).encode())
    yield dg.MaterializeResult(
        metadata={
            "start": round(start, 2),
            "end": round(end, 2),
            "duration_s": round(end - start, 2),
            "text": dg.MetadataValue.md(choice["text"]),
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in choice["reasons"])),
            "listen": dg.MetadataValue.url(mp3_uri),
            "player": dg.MetadataValue.md(f'<audio controls src="{mp3_uri}"></audio>\n\n[{mp3_uri}]({mp3_uri})'),
            **({"video": dg.MetadataValue.url(mp4_uri)} if mp4_uri else {}),
        }
    )


@episode_check(asset=preview)
def preview_is_clean(context: dg.AssetCheckExecutionContext, config: PreviewConfig, storage: MediaStorage) -> dg.AssetCheckResult:
    """The preview lasts the target (3 s shorter to 2 s longer: the full-length candidates' own
    bounds), or between the minimum and the target when no clean
    full-length window exists (the reason recorded), or the whole episode when it is shorter;
    it starts and ends on sentence boundaries, lies outside the excluded tail, overlaps no ad, no
    music-only segment and none of the episode's current intro, recap and credits markers, is
    within ±1 LU of the loudness target, and has its fades."""
    store = storage.get_store()
    key = context.partition_key
    if not store.exists(episode_key(key, layout.PREVIEW_RECORD)):
        selection = json.loads(store.read_bytes(episode_key(key, layout.PREVIEW_SELECTION)))
        return dg.AssetCheckResult(passed=True, metadata={"preview": "none", "reason": selection["reason"]})
    record = json.loads(store.read_bytes(episode_key(key, layout.PREVIEW_RECORD)))
    summary = json.loads(store.read_bytes(episode_key(key, layout.PREVIEW_CANDIDATES_SUMMARY)))
    sentences = split_sentences(_load_transcript(store, key))
    events = _load_events(store, key)
    with store.local_copy(episode_key(key, layout.PREVIEW_MP3)) as mp3:
        measured = check_preview(mp3)
    shorter = next((r for r in record.get("reasons", []) if "shorter" in r.lower() or "no clean" in r.lower()), None)
    rules = PreviewRules(target_s=config.target_s, min_s=config.min_s, exclude_tail_frac=config.exclude_tail_frac,
                         target_lufs=config.target_lufs)
    problems = preview_problems(
        record["start"], record["end"], float(summary["duration_s"]), sentences,
        [tuple(s) for s in summary.get("ad_spans", [])], events.segments, measured, rules, shorter_reason=shorter,
    ) + marker_overlaps(record["start"], record["end"], stored_markers(store, key).avoided)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": "\n".join(problems) or "none", "lufs": round(measured.lufs, 2),
                  "duration_s": round(measured.duration_s, 2), "fades": measured.fades_ok},
    )
