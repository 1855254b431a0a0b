"""Benchmark: real-time factor and WER of word-timed transcription on real speech.

Assembles a few minutes of real recordings with ground-truth text from ``../shared/media``
(the assembled podcast as FLAC, JFK, a LibriSpeech sentence, the podcast again as MP3, with
2 s of silence between them) into one 16 kHz WAV with ffmpeg in a temporary folder, then runs
faster-whisper ``tiny.en`` (bundled; int8 on CPU, float16 on CUDA) with

* beam size 5 vs 1, and
* the whole file vs only the speech regions (taken from the ground truth by construction,
  as the audio-events asset would provide them), one backend call per region or packed into
  one call,

and prints, per run, wall time, real-time factor (wall / audio seconds; lower is faster),
audio seconds actually transcribed, and WER (Whisper's English normaliser, jiwer).

openai-whisper has no weights offline; pass ``--openai-model NAME_OR_CHECKPOINT`` to include it
when a real checkpoint is available.

Run: ``python benchmarks/transcription.py [--threads 2] [--openai-model PATH]``
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


def run(label: str, audio: np.ndarray, reference: str, transcriber: Transcriber, **kwargs) -> dict:
    import jiwer

    t, report = transcribe(audio, transcriber, **kwargs)
    row = {
        "run": label,
        "audio_s": report["audio_s"],
        "transcribed_s": report["transcribed_s"],
        "wall_s": report["wall_s"],
        "rtf": report["rtf"],
        "wer": round(jiwer.wer(normalize_text(reference), normalize_text(t.text)), 4),
        "words": report["words"],
        "dropped": report["dropped_segments"],
    }
    print(
        f"{label:<42} audio {row['audio_s']:7.1f} s  transcribed {row['transcribed_s']:7.1f} s  "
        f"wall {row['wall_s']:6.2f} s  RTF {row['rtf']:.4f}  WER {row['wer']:.3f}  "
        f"words {row['words']}",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads (0: CTranslate2 default)"
    )
    parser.add_argument("--model", default="tiny.en", help="faster-whisper model name or folder")
    parser.add_argument("--openai-model", default=None, help="openai-whisper name or checkpoint")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        audio, reference, regions = assemble(Path(tmp))
    speech_s = sum(b - a for a, b in regions)
    print(
        f"assembled {audio.size / SAMPLE_RATE:.1f} s of real recordings, {speech_s:.1f} s of it "
        f"speech ({len(regions)} regions), {len(normalize_text(reference).split())} reference words"
    )
    fw = FasterWhisperTranscriber(args.model, cpu_threads=args.threads)
    print(
        f"backend {fw.source} on {fw.device}/{fw.compute_type}, threads={args.threads or 'default'}"
    )
    transcribe(audio[: 5 * SAMPLE_RATE], fw)  # warm-up (first-call allocations)

    rows = []
    for beam in (5, 1):
        tr = fw.with_options(beam_size=beam)
        rows.append(run(f"faster-whisper beam={beam} whole file", audio, reference, tr))
        rows.append(
            run(
                f"faster-whisper beam={beam} regions, per region",
                audio,
                reference,
                tr,
                speech_regions=regions,
            )
        )
        rows.append(
            run(
                f"faster-whisper beam={beam} regions, packed",
                audio,
                reference,
                tr,
                speech_regions=regions,
                pack_regions=True,
            )
        )
    no_vad = fw.with_options(beam_size=5, vad_filter=False)
    rows.append(run("faster-whisper beam=5 whole file, no VAD", audio, reference, no_vad))
    rows.append(
        run(
            "faster-whisper beam=5 regions packed, no VAD",
            audio,
            reference,
            no_vad,
            speech_regions=regions,
            pack_regions=True,
        )
    )
    if args.openai_model:
        ow = OpenAIWhisperTranscriber(args.openai_model)
        rows.append(run(f"{ow.source} whole file", audio, reference, ow))
        rows.append(
            run(f"{ow.source} speech regions", audio, reference, ow, speech_regions=regions)
        )
    else:
        print("openai-whisper: skipped (no weights offline; pass --openai-model to include it)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
