"""Benchmark: real-time factor and WER of word-timed transcription on real speech.

Assembles a few minutes of real recordings with ground-truth text from ``../shared/media``
(the assembled podcast as FLAC, JFK, a LibriSpeech sentence, the podcast again as MP3, with
2 s of silence between them) into one 16 kHz WAV with ffmpeg in a temporary folder, then runs
faster-whisper ``tiny.en`` (bundled; int8 on CPU, float16 on CUDA), all in one process so that
the figures are side by side under the same load:

1. the three ways to decode, each with its WER: the whole file (sequential, Silero VAD), the
   speech regions packed into one sequential call, and the speech regions packed into 30 s
   windows decoded in batches (``BatchedInferencePipeline``); plus one sequential call per
   region, batched decoding of the whole file (Silero VAD finds the speech), and batched
   decoding over the regions YAMNet found (``detect_events``, as the pipeline does).
   Each sequential row runs with two thread plans on the same cores: one CTranslate2 decoder
   of ``--threads`` threads ("1x2"), and ``--threads`` decoders of one thread each on
   different groups of regions at once ("2x1", the CPU default). The "before" rows use
   faster-whisper's own feature extractor, the others the chunked one (bit-identical output);
2. the cost of word timestamps: the packed regions through faster-whisper directly, with and
   without ``word_timestamps``;
3. beam size x batch size over the speech regions: RTF and WER.

The speech regions come from the ground truth by construction (as the audio-events asset would
provide them) unless noted. RTF = wall / audio seconds (lower is faster); WER with Whisper's
English normaliser (jiwer). The load average (``/proc/loadavg``) is printed before and after:
the development machine is shared, so compare rows of one run, not runs.

openai-whisper has no weights offline; pass ``--openai-model NAME_OR_CHECKPOINT`` to include it
when a real checkpoint is available.

Run: ``python benchmarks/transcription.py [--threads 2] [--quick] [--json out.json]``
(``--quick``: a smaller beam x batch grid; ``--no-grid``: none).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from media_platform.audio.transcribe import transcribe
from media_platform.audio.transcriber import SAMPLE_RATE, Transcriber
from media_platform.audio.wer import normalize_text
from media_platform.audio.whisper_backends import FasterWhisperTranscriber, OpenAIWhisperTranscriber

SHARED = Path(os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO.parent / "shared" / "media"))
GAP_S = 2.0


def _decode(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", "16000"]
        + ["-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32)


def _podcast_parts(offset: float) -> tuple[list[str], list[tuple[float, float]]]:
    gt = json.loads((SHARED / "podcast/podcast_assembled.gt.json").read_text())
    texts, regions = [], []
    for seg in gt["segments"]:
        if "utterances" in seg:
            for u in seg["utterances"]:
                texts.append(u["text"])
                regions.append((offset + u["start"], offset + u["end"]))
        elif seg.get("text"):
            texts.append(seg["text"])
            regions.append((offset + seg["start"], offset + seg["end"]))
    return texts, regions


def assemble(workdir: Path) -> tuple[np.ndarray, str, list[tuple[float, float]]]:
    """Concatenate the recordings with ffmpeg; return audio, reference text, speech regions."""
    pico = json.loads((SHARED / "audio/picovoice/test.gt.json").read_text())["tests"][0]
    parts = [
        (SHARED / "podcast/podcast_assembled.flac", "podcast", None),
        (
            SHARED / "audio/whisper_jfk/jfk.flac",
            (SHARED / "audio/whisper_jfk/jfk.txt").read_text(),
            (0.0, 11.0),
        ),
        (
            SHARED / "audio/picovoice/test.wav",
            pico["transcript"],
            (pico["words"][0]["start_sec"], pico["words"][-1]["end_sec"]),
        ),
        (SHARED / "podcast/podcast_assembled.mp3", "podcast", None),
    ]
    inputs: list[str] = []
    filters: list[str] = []
    texts: list[str] = []
    regions: list[tuple[float, float]] = []
    offset = 0.0
    for i, (path, text, region) in enumerate(parts):
        n = _decode(path).size  # exact length after resampling, for the offsets
        inputs += ["-i", str(path)]
        filters.append(
            f"[{i}:a]aresample=16000,aformat=channel_layouts=mono,apad=pad_dur={GAP_S}[a{i}]"
        )
        if text == "podcast":
            # the MP3 adds ~25 ms of encoder delay; well inside the region margins
            t, r = _podcast_parts(offset)
            texts += t
            regions += r
        else:
            texts.append(text)
            regions.append((offset + region[0], offset + region[1]))
        offset += n / SAMPLE_RATE + GAP_S
    concat = "".join(f"[a{i}]" for i in range(len(parts)))
    filters.append(f"{concat}concat=n={len(parts)}:v=0:a=1[out]")
    out = workdir / "assembled.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-filter_complex", ";".join(filters)]
        + ["-map", "[out]", "-ar", "16000", "-ac", "1", str(out)],
        check=True,
    )
    return _decode(out), " ".join(texts), regions


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def run(label: str, audio: np.ndarray, reference: str, transcriber: Transcriber, **kwargs) -> dict:
    import jiwer

    t, report = transcribe(audio, transcriber, **kwargs)
    row = {
        "run": label,
        "mode": report["mode"],
        "beam": getattr(transcriber, "beam_size", None),
        "batch": report["batch_size"],
        "audio_s": report["audio_s"],
        "transcribed_s": report["transcribed_s"],
        "clips": report["clips"],
        "groups": report["groups"],
        "workers": report["workers"],
        "wall_s": report["wall_s"],
        "cpu_s": report["cpu_s"],
        "rtf": report["rtf"],
        "wer": round(jiwer.wer(normalize_text(reference), normalize_text(t.text)), 4),
        "words": report["words"],
        "dropped": report["dropped_segments"],
        "load": load(),
    }
    print(
        f"{label:<52} sent {row['transcribed_s']:6.1f} s  wall {row['wall_s']:6.2f} s  cpu {row['cpu_s']:6.2f} s  "
        f"RTF {row['rtf']:.4f}  WER {row['wer']:.3f}  words {row['words']:4d}  load {row['load']}",
        flush=True,
    )
    return row


def yamnet_regions(audio: np.ndarray) -> list[tuple[float, float]]:
    from media_platform.audio.events import detect_events

    speech = ("speech", "speech_over_music")
    return [(s.start, s.end) for s in detect_events(audio).segments if s.label in speech]


def word_timestamp_cost(audio: np.ndarray, regions, threads: int, beam: int) -> list[dict]:
    """The speech regions laid end to end (1 s apart), decoded by faster-whisper with and
    without word timestamps, twice each in alternating order; the faster of each pair."""
    import time

    from faster_whisper import WhisperModel

    from media_platform.audio.whisper_backends import bundled_model_path

    gap = np.zeros(SAMPLE_RATE, np.float32)
    packed = np.concatenate([p for a, b in regions for p in (audio[round(a * SAMPLE_RATE) : round(b * SAMPLE_RATE)], gap)])
    model = WhisperModel(str(bundled_model_path()), device="cpu", compute_type="int8", cpu_threads=threads)
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for words in (True, False, False, True):
        t, c = time.perf_counter(), time.process_time()
        segs, _ = model.transcribe(packed, language="en", beam_size=beam, word_timestamps=words,
                                   condition_on_previous_text=False, vad_filter=True)  # fmt: skip
        list(segs)
        times[words].append((time.perf_counter() - t, time.process_time() - c))
    rows = []
    for words, label in ((False, "without"), (True, "with")):
        wall, cpu = min(w for w, _ in times[words]), min(c for _, c in times[words])
        print(f"  {label} word timestamps: wall {wall:.2f} s, cpu {cpu:.2f} s (best of 2)  load {load()}")
        rows.append({"run": f"word timestamps: {label}", "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)})
    extra = rows[1]["cpu_s"] / rows[0]["cpu_s"] - 1 if rows[0]["cpu_s"] else float("nan")
    print(f"  word timestamps cost {100 * extra:+.0f}% CPU")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=2, help="CPU threads (0: up to 4, the cores available)"
    )
    parser.add_argument("--model", default="tiny.en", help="faster-whisper model name or folder")
    parser.add_argument("--openai-model", default=None, help="openai-whisper name or checkpoint")
    parser.add_argument("--beam", type=int, default=None, help="beam of part 1 (default: settings)")
    parser.add_argument("--batch", type=int, default=8, help="batch size of part 1's batched rows")
    parser.add_argument("--quick", action="store_true", help="a smaller beam x batch grid")
    parser.add_argument("--no-grid", action="store_true", help="skip the beam x batch grid")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        audio, reference, regions = assemble(Path(tmp))
    speech_s = sum(b - a for a, b in regions)
    print(
        f"assembled {audio.size / SAMPLE_RATE:.1f} s of real recordings, {speech_s:.1f} s of it "
        f"speech ({len(regions)} regions), {len(normalize_text(reference).split())} reference words"
    )
    threads = args.threads or 2
    fw = FasterWhisperTranscriber(args.model, cpu_threads=threads, workers=1, batch_size=args.batch)
    before = FasterWhisperTranscriber(args.model, cpu_threads=threads, workers=1, batch_size=0,
                                      chunked_features=False)  # fmt: skip
    par = FasterWhisperTranscriber(args.model, cpu_threads=1, workers=threads, batch_size=0)
    if args.beam:
        fw, before, par = (t.with_options(beam_size=args.beam) for t in (fw, before, par))
    print(
        f"backend {fw.source} on {fw.device}/{fw.compute_type}, 1x{threads} = one decoder of "
        f"{threads} threads, {threads}x1 = {threads} decoders of 1 thread, beam {fw.beam_size}, "
        f"batch {fw.batch_size}; load average {load()} (cores: {os.cpu_count()})"
    )
    for t in (fw, before, par):
        transcribe(audio[: 5 * SAMPLE_RATE], t.with_options(batch_size=0))  # warm-up
    found = yamnet_regions(audio)
    print(f"YAMNet speech regions: {len(found)}, {sum(b - a for a, b in found):.1f} s")

    rows = []
    seq = fw.with_options(batch_size=0)
    p1, pn = f"1x{threads}", f"{threads}x1"
    print("\n-- 1. side by side (same beam) --")
    rows.append(run(f"before: whole file, sequential (Silero VAD), {p1}", audio, reference, before))
    rows.append(run(f"before: regions packed, one call, {p1}", audio, reference, before,
                    speech_regions=regions, pack_regions=True))
    rows.append(run(f"whole file, sequential (Silero VAD), {p1}", audio, reference, seq))
    rows.append(run(f"whole file, sequential (Silero VAD), {pn}", audio, reference, par))
    rows.append(run(f"regions packed, sequential, {p1}", audio, reference, seq,
                    speech_regions=regions, pack_regions=True))
    rows.append(run(f"regions packed, sequential, {pn}", audio, reference, par,
                    speech_regions=regions, pack_regions=True))
    rows.append(run(f"regions batched (30 s windows), {p1}", audio, reference, fw,
                    speech_regions=regions))
    rows.append(run(f"regions, one call per region, {p1}", audio, reference, seq,
                    speech_regions=regions))
    rows.append(run(f"regions, one call per region, {pn}", audio, reference, par,
                    speech_regions=regions))
    rows.append(run(f"whole file, batched (Silero VAD), {p1}", audio, reference, fw))
    rows.append(run(f"YAMNet regions batched, {p1}", audio, reference, fw, speech_regions=found))
    rows.append(run(f"YAMNet regions packed, sequential, {p1}", audio, reference, seq,
                    speech_regions=found, pack_regions=True))
    rows.append(run(f"YAMNet regions packed, sequential, {pn}", audio, reference, par,
                    speech_regions=found, pack_regions=True))

    print("\n-- 2. the cost of word timestamps (faster-whisper directly, packed regions, 1x2) --")
    rows += word_timestamp_cost(audio, regions, threads, fw.beam_size)

    print("\n-- 3. beam x batch over the speech regions (batched) --")
    beams, batches = ((1, 5), (1, 8)) if args.quick else ((1, 2, 5), (1, 4, 8, 16))
    if args.no_grid:
        beams = ()
    for beam in beams:
        for batch in batches:
            tr = fw.with_options(beam_size=beam, batch_size=batch)
            rows.append(run(f"beam {beam} batch {batch}", audio, reference, tr,
                            speech_regions=regions))
    if args.openai_model:
        ow = OpenAIWhisperTranscriber(args.openai_model)
        rows.append(run(f"{ow.source} whole file", audio, reference, ow))
        rows.append(
            run(f"{ow.source} speech regions", audio, reference, ow, speech_regions=regions)
        )
    else:
        print("openai-whisper: skipped (no weights offline; pass --openai-model to include it)")
    print(f"load average at the end: {load()}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
