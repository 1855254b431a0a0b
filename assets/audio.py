"""Audio assets: loudness-normalized audio, audio events (YAMNet), word-timed transcripts, and
per-shot audio features for video episodes.

Video masters without an audio track skip these assets cleanly (``audio`` yields nothing).
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import dagster as dg
import numpy as np
import polars as pl

from assets.common import (
    GPU_OP_TAGS,
    GPU_POOL,
    episode_asset,
    episode_check,
    episode_for,
    image_markdown,
    licence_allows,
    load_probe,
)
from assets.ingest import media_probe
from assets.video import shots, shots_from_table
from media_platform import layout
from media_platform.audio.decode import (
    audio_streams,
    choose_main_stream,
    decode_audio,
    silent_soundtrack,
    to_mono_16k,
)
from media_platform.audio.embedding_store import (
    AUDIO_EMBEDDING_SOURCE,
    embeddings_from_table,
    events_embeddings_table,
    mean_embedding_per_span,
)
from media_platform.audio.events import (
    detect_events,
    mean_class_scores_per_span,
    peak_class_scores_per_span,
)
from media_platform.audio.loudness import normalize_loudness
from media_platform.audio.render import (
    encode_audio_file,
    events_timeline_png,
    read_wav_16k,
    wav_16k_bytes,
)
from media_platform.audio.sidecars import is_supported_link, load_sidecar_transcript
from media_platform.audio.transcript_store import (
    events_from_tables,
    events_to_tables,
    transcript_from_table,
    transcript_problems,
    transcript_to_table,
)
from media_platform.audio.types import EventSegment
from media_platform.audio.yamnet import class_names
from media_platform.errors import MediaError
from media_platform.ingest.transcripts import fetch_linked_transcripts
from media_platform.layout import episode_key
from media_platform.storage import read_table, write_table
from resources import MediaStorage, TranscriberResource

SPEECH_LABELS = ("speech", "speech_over_music")


class LoudnessConfig(dg.Config):
    """Loudness normalization of the listening copy."""

    target_lufs: float = -16.0
    true_peak_ceiling_dbtp: float = -1.0


def _segments_table(segments: tuple[EventSegment, ...] | list[EventSegment]) -> dg.MetadataValue:
    rows = [dg.TableRecord({"label": s.label, "start": round(s.start, 2), "end": round(s.end, 2),
                            "confidence": round(s.confidence, 3)}) for s in list(segments)[:200]]
    schema = dg.TableSchema(columns=[dg.TableColumn("label", "string"), dg.TableColumn("start", "float"),
                                     dg.TableColumn("end", "float"), dg.TableColumn("confidence", "float")])
    return dg.MetadataValue.table(rows, schema=schema)


@episode_asset(
    group_name="audio",
    kinds={"ffmpeg", "pyloudnorm"},
    deps=[media_probe],
)
def audio(
    context: dg.AssetExecutionContext, config: LoudnessConfig, storage: MediaStorage
) -> Iterator[dg.MaterializeResult]:
    """The master's main audio stream (the default-flagged one, else the richest), in two forms:
    16 kHz mono for the models, and a loudness-normalized full-quality FLAC plus an MP3 to
    listen to. Integrated loudness is measured per ITU-R BS.1770 (pyloudnorm) and brought to
    the target (default −16 LUFS) under a true-peak ceiling (default −1 dBTP) with a look-ahead
    limiter, so nothing clips."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "audio"):
        return
    probe = load_probe(store, key)
    target, ceiling = config.target_lufs, config.true_peak_ceiling_dbtp
    if probe.has_audio:
        try:
            with store.local_copy(episode.master_key) as path:
                streams = audio_streams(path)
                main = choose_main_stream(streams, path)
                decoded = decode_audio(path, sr=None, mono=False, stream_index=main.index)
        except MediaError as exc:
            raise dg.Failure(description=f"{episode.master_uri}: {exc.problem}") from exc
    elif probe.kind == "video":  # a silent picture's soundtrack is silence: shot features and tags still work
        streams, main, decoded = [], None, silent_soundtrack(probe.video_duration_s or probe.duration_s)
        context.log.info(f"{key} has no audio track: its soundtrack is {decoded.samples.shape[0] / 16000:.2f} s of silence")
    else:
        context.log.info(f"{key} has no audio track: audio assets skipped")
        return
    mono16 = to_mono_16k(decoded.samples, decoded.sample_rate)  # decoded once, resampled here
    normalized, report = normalize_loudness(decoded.samples, decoded.sample_rate, target, ceiling)
    with TemporaryDirectory(prefix="media-platform-audio-") as tmp:
        flac = encode_audio_file(normalized, decoded.sample_rate, Path(tmp) / "normalized.flac")
        mp3 = encode_audio_file(normalized, decoded.sample_rate, Path(tmp) / "normalized.mp3")
        flac_uri = store.put_file(episode_key(key, layout.AUDIO_NORMALIZED_FLAC), flac)
        mp3_uri = store.put_file(episode_key(key, layout.AUDIO_NORMALIZED_MP3), mp3)
    store.write_bytes(episode_key(key, layout.AUDIO_16K), wav_16k_bytes(mono16))
    report_data = {**report.as_dict(), "stream_index": main.index if main else None, "streams": len(streams)}
    store.write_bytes(episode_key(key, layout.LOUDNESS_REPORT), json.dumps(report_data, default=str).encode())
    yield dg.MaterializeResult(
        metadata={
            "lufs_before": round(report.lufs_before, 2),
            "lufs_after": round(report.lufs_after, 2),
            "true_peak_before_dbtp": round(report.true_peak_before, 2),
            "true_peak_after_dbtp": round(report.true_peak_after, 2),
            "gain_db": round(report.gain_db, 2),
            "limited": report.limited,
            "duration_s": round(report.duration_s, 2),
            "stream": (f"#{main.index} {main.codec} {main.channels} ch {main.sample_rate} Hz ({len(streams)} audio streams)"
                       if main else "none: the video has no audio track (silence)"),
            "listen": dg.MetadataValue.url(mp3_uri),
            "normalized_flac": flac_uri,
            "note": report.note or "",
        }
    )


@episode_check(asset=audio)
def loudness_on_target(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Loudness after normalization within ±1 LU of the target, true peak under the ceiling
    (silence, which has no loudness, passes with a note)."""
    report = json.loads(storage.get_store().read_bytes(episode_key(context.partition_key, layout.LOUDNESS_REPORT)))
    after, target = report["lufs_after"], report["target_lufs"]
    silent = after is None or not np.isfinite(float(after))
    passed = silent or (abs(float(after) - target) <= 1.0 and report["true_peak_after"] <= report["true_peak_ceiling_dbtp"] + 0.05)
    return dg.AssetCheckResult(
        passed=bool(passed),
        metadata={"lufs_after": str(after), "target_lufs": target, "true_peak_after": report["true_peak_after"],
                  "ceiling_dbtp": report["true_peak_ceiling_dbtp"], "note": "silence" if silent else ""},
    )


@episode_asset(
    group_name="audio",
    kinds={"onnx", "parquet"},
    deps=[audio],
)
def audio_events(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """What is heard, every 0.48 s: YAMNet (8-bit ONNX) scores for its 521 classes, grouped
    into speech / music / noise / silence probabilities by a calibrated decision layer
    (class groups, energy, temporal smoothing, speech over a music bed), and the smoothed
    timeline of speech, music, speech_over_music, noise and silence segments. The same pass
    stores YAMNet's 1024-d embedding per frame (``audio_embedding_frames.parquet``): read from
    the ONNX graph's embedding layer (exposed as an extra output), 8-bit quantised as the graph
    computes it, with the graph's scale and zero point recorded beside the codes."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "audio_events"):
        return
    samples = read_wav_16k(store.read_bytes(episode_key(key, layout.AUDIO_16K)))
    started = time.perf_counter()
    events = detect_events(samples)
    elapsed = time.perf_counter() - started
    frames, segments = events_to_tables(events)
    write_table(store, episode_key(key, layout.AUDIO_EVENT_FRAMES), frames)
    write_table(store, episode_key(key, layout.AUDIO_EMBEDDING_FRAMES), events_embeddings_table(events))
    uri = write_table(store, episode_key(key, layout.AUDIO_EVENTS), segments)
    totals = segments.group_by("label").agg((pl.col("end") - pl.col("start")).sum().alias("s"))
    yield dg.MaterializeResult(
        metadata={
            "frames": int(len(events.frame_times)),
            "embedding": f"yamnet-1024 uint8 (ONNX embedding layer, scale {events.embedding_scale:.9g}, "
                         f"zero point {events.embedding_zero_point})",
            "frames_per_s": round(len(events.frame_times) / elapsed, 1) if elapsed > 0 else 0.0,
            "real_time_factor": round(events.duration_s / elapsed, 1) if elapsed > 0 else 0.0,
            "seconds_by_label": dg.MetadataValue.json({r["label"]: round(r["s"], 2) for r in totals.to_dicts()}),
            "timeline": image_markdown(events_timeline_png(events.segments, events.duration_s), "image/png", "audio events"),
            "segments": _segments_table(events.segments),
            "uri": uri,
        }
    )


@episode_check(asset=audio_events)
def event_frames_cover_duration(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Event frames cover the whole duration, and the segments tile it without gaps."""
    store = storage.get_store()
    key = context.partition_key
    events = events_from_tables(read_table(store, episode_key(key, layout.AUDIO_EVENT_FRAMES)),
                                read_table(store, episode_key(key, layout.AUDIO_EVENTS)))
    report = json.loads(store.read_bytes(episode_key(key, layout.LOUDNESS_REPORT)))
    duration = float(report["duration_s"])
    problems = []
    covered = (events.frame_times[-1] + events.frame_hop_s) if len(events.frame_times) else 0.0
    if covered < duration - 1e-3:
        problems.append(f"frames cover {covered:.2f} s of {duration:.2f} s")
    segs = events.segments
    if not segs or abs(segs[0].start) > 1e-3 or abs(segs[-1].end - duration) > events.frame_hop_s:
        problems.append("segments do not span the duration")
    problems += [f"gap or overlap at {b.start:.2f} s" for a, b in zip(segs, segs[1:]) if abs(a.end - b.start) > 1e-3]
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": "\n".join(problems) or "none"})


@episode_asset(
    group_name="audio",
    kinds={"whisper", "parquet"},
    deps=[audio_events],
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
)
def transcript(
    context: dg.AssetExecutionContext, storage: MediaStorage, transcriber: TranscriberResource
) -> Iterator[dg.MaterializeResult]:
    """Word-timed transcript: faster-whisper (bundled tiny.en by default; any model, CUDA
    float16 when present, int8 on CPU) with word timestamps, run only where ``audio_events``
    heard speech (with a margin), optionally only over the middle of long episodes. Where the
    master came with subtitles (SRT, WebVTT, Podcasting 2.0 JSON), they are the transcript and
    Whisper does not run."""
    store = storage.get_store()
    key = context.partition_key
    episode = episode_for(context, store)
    if not licence_allows(context, episode, "transcript"):
        return
    report = json.loads(store.read_bytes(episode_key(key, layout.LOUDNESS_REPORT)))
    duration = float(report["duration_s"])
    # ingest fetches the feed's podcast:transcript links (lazily, safely); audio only parses
    linked = fetch_linked_transcripts(episode.metadata.get("transcript_urls"), wanted=is_supported_link)
    sidecar, sidecar_note = load_sidecar_transcript(store, episode.metadata, duration, linked)
    if sidecar_note and sidecar is None and sidecar_note != "no sidecar transcript":
        context.log.warning(f"{key}: {sidecar_note}; transcribing with Whisper instead")
    if sidecar is not None:
        result, run_report = sidecar, {"source": sidecar.source, "whisper_run": False, "sidecar": sidecar_note}
    else:
        samples = read_wav_16k(store.read_bytes(episode_key(key, layout.AUDIO_16K)))
        segs = read_table(store, episode_key(key, layout.AUDIO_EVENTS))
        regions = [(r["start"], r["end"]) for r in segs.iter_rows(named=True) if r["label"] in SPEECH_LABELS]
        result, run_report = transcriber.transcribe(samples, regions)
        run_report["whisper_run"] = True
    uri = write_table(store, episode_key(key, layout.TRANSCRIPT), transcript_to_table(result))
    store.write_bytes(episode_key(key, layout.TRANSCRIPT_REPORT), json.dumps(run_report, default=str).encode())
    text = result.text
    yield dg.MaterializeResult(
        metadata={
            "source": result.source,
            "language": result.language,
            "segments": len(result.segments),
            "words": len(result.words),
            "run": dg.MetadataValue.json({k: (round(v, 3) if isinstance(v, float) else v) for k, v in run_report.items()
                                           if isinstance(v, (int, float, str, bool)) or v is None}),
            "text": dg.MetadataValue.md(text[:3000] + (" …" if len(text) > 3000 else "") if text else "_(no speech)_"),
            "uri": uri,
        }
    )


@episode_check(asset=transcript)
def words_ordered_and_plausible(context: dg.AssetCheckExecutionContext, storage: MediaStorage) -> dg.AssetCheckResult:
    """Words are ordered, non-overlapping and inside the audio; speech-dominated audio yields a
    non-empty transcript and audio without speech yields none (no hallucinated words)."""
    store = storage.get_store()
    key = context.partition_key
    result = transcript_from_table(read_table(store, episode_key(key, layout.TRANSCRIPT)))
    segs = read_table(store, episode_key(key, layout.AUDIO_EVENTS))
    duration = float(json.loads(store.read_bytes(episode_key(key, layout.LOUDNESS_REPORT)))["duration_s"])
    speech_s = float(segs.filter(pl.col("label").is_in(SPEECH_LABELS)).select((pl.col("end") - pl.col("start")).sum()).item() or 0.0)
    problems = transcript_problems(result, duration, speech_s)
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": "\n".join(problems) or "none",
                                                              "words": len(result.words), "speech_s": round(speech_s, 2)})


@episode_asset(
    group_name="video",
    kinds={"numpy", "parquet"},
    deps=[shots, audio_events],
)
def shot_audio_features(context: dg.AssetExecutionContext, storage: MediaStorage) -> Iterator[dg.MaterializeResult]:
    """Per-shot audio features, from the stored audio events alone (no model is re-run):
    ``audio_embedding``, the mean over the shot's frames of YAMNet's 1024-d embedding (read
    from the ONNX graph's embedding layer, exposed as an extra output, 8-bit quantised as the
    graph computes it, dequantised here); ``class_scores``, the mean of the 521 class scores;
    ``class_peaks``, their maximum over the shot's frames; and ``top_classes``, the shot's
    three dominant classes."""
    store = storage.get_store()
    key = context.partition_key
    if not licence_allows(context, episode_for(context, store), "shot_audio_features"):
        return
    shot_list = shots_from_table(read_table(store, episode_key(key, layout.SHOTS)))
    events = events_from_tables(read_table(store, episode_key(key, layout.AUDIO_EVENT_FRAMES)),
                                read_table(store, episode_key(key, layout.AUDIO_EVENTS)))
    embedding_key = episode_key(key, layout.AUDIO_EMBEDDING_FRAMES)
    if not store.exists(embedding_key):
        raise dg.Failure(description=f"{embedding_key}: missing (written by audio_events since the embedding "
                                     "layer was exposed): re-materialize audio_events for this episode")
    times, embeddings = embeddings_from_table(read_table(store, embedding_key))
    spans = [(s.start_s, s.end_s) for s in shot_list]
    means = mean_class_scores_per_span(events, spans)
    peaks = peak_class_scores_per_span(events, spans)
    audio_embedding = mean_embedding_per_span(times, events.frame_hop_s, embeddings, spans)
    names = class_names()
    top = [[names[i] for i in np.argsort(row)[::-1][:3]] for row in means]

    def array(values: np.ndarray) -> pl.Series:
        return pl.Series(values.astype(np.float32).tolist(), dtype=pl.Array(pl.Float32, values.shape[1]))

    df = pl.DataFrame({
        "shot": [s.index for s in shot_list],
        "audio_embedding": array(audio_embedding),
        "class_scores": array(means),
        "class_peaks": array(peaks),
        "top_classes": top,
    })
    uri = write_table(store, episode_key(key, layout.SHOT_AUDIO_FEATURES), df)
    yield dg.MaterializeResult(
        metadata={
            "shots": len(shot_list),
            "dimension": int(audio_embedding.shape[1]),
            "audio_embedding": AUDIO_EMBEDDING_SOURCE,
            "top_classes": dg.MetadataValue.md("\n".join(f"- shot {s.index}: {', '.join(t)}" for s, t in zip(shot_list[:50], top))),
            "uri": uri,
        }
    )
