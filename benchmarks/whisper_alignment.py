"""Benchmark: WER of one decoder against several one-thread decoders over shuffled 60-minute
episodes, so that where Whisper's 30 s windows happen to fall is averaged out.

Each seed builds the preview benchmark's episode (``preview.assemble``: the shared recordings in
a new order with 0.4-2.0 s gaps on every loop), finds its speech with YAMNet, and transcribes the
speech regions in the middle 80 % twice, as the preview benchmark does: one decoder of
``--threads`` threads, then ``--threads`` one-thread decoders on groups of regions. WER is
scored on the placed clips with a reference that lie in the middle 80 % (``preview.clip_wer``).

Usage::

    python benchmarks/whisper_alignment.py --seeds 1 2 3 4 5

Writes ``benchmarks/results/whisper_alignment.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import preview  # noqa: E402  (the sibling benchmark: episode, references, WER)

from media_platform.audio.events import detect_events  # noqa: E402
from media_platform.audio.transcribe import transcribe  # noqa: E402
from media_platform.audio.whisper_backends import FasterWhisperTranscriber  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args(argv)
    plans = {
        f"1 decoder x {args.threads} threads": FasterWhisperTranscriber(
            cpu_threads=args.threads, workers=1, batch_size=0, beam_size=1, language="en"),
        f"{args.threads} decoders x 1 thread": FasterWhisperTranscriber(
            cpu_threads=1, workers=args.threads, batch_size=0, beam_size=1, language="en"),
    }  # fmt: skip
    rows: dict[str, dict[int, dict]] = {name: {} for name in plans}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as td:
            ep = Path(td) / "episode.wav"
            duration, placed = preview.assemble(args.shared, args.minutes, ep, seed)
            x = preview.decode_audio(ep, preview.SR)
        w0, w1 = (1 - preview.MIDDLE) * duration / 2, duration - (1 - preview.MIDDLE) * duration / 2
        clips = [c for c in placed if w0 <= c[0] and c[1] <= w1]
        events = detect_events(x, preview.SR).segments
        speech = [(s.start, s.end) for s in events if s.label in preview.SPEECH]
        for name, tr in plans.items():
            t, report = transcribe(x, tr, speech_regions=speech, pack_regions=True,
                                   middle_fraction=preview.MIDDLE)  # fmt: skip
            rows[name][seed] = {
                "wer": preview.clip_wer(t, clips),
                "wall_s": report["wall_s"],
                "cpu_s": report["cpu_s"],
                "redone": report["clips_redone"],
            }
            print(f"seed {seed} {name}: WER {rows[name][seed]['wer']} wall {report['wall_s']:.1f} s "
                  f"cpu {report['cpu_s']:.1f} s, {report['clips_redone']} stretches decoded again", flush=True)  # fmt: skip
    print("\nWER        " + "".join(f"{f'seed {s}':>10}" for s in args.seeds) + f"{'mean':>10}")
    for name, per in rows.items():
        wers = [per[s]["wer"] for s in args.seeds]
        print(f"{name:<22}" + "".join(f"{w:>10.3f}" for w in wers) + f"{sum(wers) / len(wers):>10.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "whisper_alignment.json").write_text(json.dumps(
        {"minutes": args.minutes, "seeds": args.seeds, "plans": rows}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
