"""Intro, recap, credits and preview markers on a generated season (benchmarks/markers_media.py:
real Big Buck Bunny intro, MUSAN music credits, generated bodies; cold opens of 0-9 s, a
shortened intro, recaps, shared credits, previews, one episode re-encoded at 150 kb/s and
320x180, one episode without intro, and a one-episode season), against the truth.

Side by side in the same run: ours (sound + picture), ours with sound only, and the
intro-skipper method (sound only, its parameters; intros only). Then the time per minute of
episode of decoding (the shot detector's pass, the audio decode) against fingerprinting
(Chromaprint on the decoded 16 kHz audio; the frame hashes inside the shot pass), and of the
series alignment, extrapolated to 20 hour-long episodes.

    python benchmarks/markers.py [--work DIR] [--scale long|short]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markers_media import Sizes, build_season, season, solo_season  # noqa: E402
from media_platform.markers.baseline import intro_skipper_intros  # noqa: E402
from media_platform.markers.decisions import SeriesEpisode, decide_series  # noqa: E402
from media_platform.markers.fingerprints import audio_fingerprint, visual_fingerprint  # noqa: E402
from media_platform.video.frame_hashes import frame_hash  # noqa: E402
from media_platform.video.shots import detect_shots  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "media"
LONG = Sizes(intro=25, short_intro=15, shot=20, shots=6, recap=8, credits=20, preview=6, black_tail=2)


def prepare(path: Path, key: str, order: int, timing: dict[str, float]) -> SeriesEpisode:
    t = time.perf_counter()
    shots = detect_shots(path)
    timing["shot_pass"] += time.perf_counter() - t
    wav = path.with_suffix(".16k.wav")
    t = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-ac", "1", "-ar", "16000", str(wav)], check=True)
    timing["audio_decode"] += time.perf_counter() - t
    t = time.perf_counter()
    fp = audio_fingerprint(wav, shots.duration_s)
    timing["chromaprint"] += time.perf_counter() - t
    h = shots.frame_hashes
    assert h is not None
    thumb = np.random.default_rng(0).integers(0, 255, (36, 64)).astype(np.float32)
    t = time.perf_counter()
    for _ in range(len(h.frames)):
        frame_hash(thumb)
    timing["frame_hashes"] += time.perf_counter() - t
    timing["seconds"] += shots.duration_s
    visual = visual_fingerprint(np.asarray(shots.frame_times)[h.frames], h.hashes, h.flat, h.level, shots.duration_s)
    cuts = np.array([s.start_s for s in shots.shots[1:]])
    return SeriesEpisode(key, shots.duration_s, (order,), fp, visual, cuts)


def score(truth: dict[str, dict[str, list[tuple[float, float]]]], found: dict[str, list[tuple[str, float, float]]],
          kinds: tuple[str, ...]) -> dict[str, object]:
    tp = fp = fn = 0
    errors: list[float] = []
    for key, spans in truth.items():
        want = [(k, s, e) for k, ss in spans.items() if k in kinds for s, e in ss]
        got = [g for g in found.get(key, []) if g[0] in kinds]
        used: set[int] = set()
        for k, s, e in want:
            best = None
            for i, (gk, gs, ge) in enumerate(got):
                overlap = min(e, ge) - max(s, gs)
                if gk == k and i not in used and overlap > 0.5 * min(e - s, ge - gs):
                    best = i
                    break
            if best is None:
                fn += 1
                continue
            used.add(best)
            tp += 1
            errors += [abs(got[best][1] - s), abs(got[best][2] - e)]
        fp += len(got) - len(used)
    return {
        "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
        "median_error_s": statistics.median(errors) if errors else float("nan"),
        "max_error_s": max(errors) if errors else float("nan"),
        "within_1s": sum(e <= 1.0 for e in errors) / len(errors) if errors else float("nan"),
        "markers": tp + fn, "false": fp,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--scale", choices=["long", "short"], default="long")
    ap.add_argument("--reuse", action="store_true", help="keep the episode files already under --work")
    args = ap.parse_args()
    sizes = LONG if args.scale == "long" else Sizes()
    work = args.work or Path(tempfile.mkdtemp(prefix="markers_bench_"))
    t = time.perf_counter()
    files = build_season(SHARED, work, season(), sizes=sizes, reuse=args.reuse)
    solo = build_season(SHARED, work / "solo", solo_season(), sizes=sizes, series_seed=7, name="solo", reuse=args.reuse)
    print(f"built {len(files) + len(solo)} episodes in {time.perf_counter() - t:.0f} s under {work}")
    timing = dict.fromkeys(("shot_pass", "audio_decode", "chromaprint", "frame_hashes", "seconds"), 0.0)
    eps = [prepare(f.path, f"ep{f.number}", f.number, timing) for f in files]
    solo_ep = prepare(solo[0].path, "solo1", 1, timing)
    truth = {f"ep{f.number}": f.truth for f in files} | {"solo1": {"credits": []}}

    t = time.perf_counter()
    ours = decide_series(eps)
    align_s = time.perf_counter() - t
    ours_solo = decide_series([solo_ep])
    sound = decide_series([SeriesEpisode(e.key, e.duration_s, e.order, e.audio, None) for e in eps])
    found = {k: [(m.kind, m.start, m.end) for m in v.markers] for k, v in (ours | ours_solo).items()}
    found_sound = {k: [(m.kind, m.start, m.end) for m in v.markers] for k, v in sound.items()} | {
        "solo1": [(m.kind, m.start, m.end) for m in ours_solo["solo1"].markers]}
    skipper = intro_skipper_intros({e.key: e.audio.hashes for e in eps}, {e.key: e.duration_s for e in eps})
    found_skipper = {k: ([("intro", *v)] if v else []) for k, v in skipper.items()} | {"solo1": []}

    print("\n| method | markers | precision | recall | median error (s) | max error (s) | within 1 s | false |")
    print("|---|---|---|---|---|---|---|---|")
    rows = [("ours, sound + picture", found, ("intro", "recap", "credits", "preview_of_next")),
            ("ours, sound + picture: intros", found, ("intro",)),
            ("ours, sound only", found_sound, ("intro", "recap", "credits", "preview_of_next")),
            ("ours, sound only: intros", found_sound, ("intro",)),
            ("intro-skipper method (sound only): intros", found_skipper, ("intro",))]
    for name, f, kinds in rows:
        s = score(truth, f, kinds)
        print(f"| {name} | {s['markers']} | {s['precision']:.3f} | {s['recall']:.3f} | {s['median_error_s']:.2f} | "
              f"{s['max_error_s']:.2f} | {s['within_1s']:.0%} | {s['false']} |")
    print("\nper episode (truth | ours, sound + picture):")
    for key in sorted(truth):
        want = sorted((k, s, e) for k, ss in truth[key].items() for s, e in ss)
        print(f"  {key}: " + ", ".join(f"{k} {s:.1f}-{e:.1f}" for k, s, e in want) + " | "
              + ", ".join(f"{k} {s:.2f}-{e:.2f}" for k, s, e in found.get(key, [])))
    print("\nsolo season notes:", ours_solo["solo1"].notes)
    print("episode without intro (ep5):", [n for n in ours["ep5"].notes if n.startswith("no intro")],
          "| intro-skipper:", skipper.get("ep5"))
    minutes = timing["seconds"] / 60.0
    per_min = {k: v / minutes for k, v in timing.items() if k != "seconds"}
    print(f"\nper minute of episode ({minutes:.1f} min, {len(eps) + 1} episodes):")
    for k, v in per_min.items():
        print(f"  {k}: {v * 1000:.1f} ms")
    fingerprint = per_min["chromaprint"] + per_min["frame_hashes"]
    decode = per_min["shot_pass"] + per_min["audio_decode"]
    print(f"  fingerprinting / decoding: {fingerprint / decode:.1%}")
    hd = SHARED / "video/blender_bbb/big_buck_bunny_0_30.webm"  # a real 1280x720 clip: what decoding costs at HD
    t = time.perf_counter()
    hd_shots = detect_shots(hd)
    hd_decode = (time.perf_counter() - t) / (hd_shots.duration_s / 60.0)
    print(f"  shot pass on a real 1280x720 clip: {hd_decode * 1000:.0f} ms per minute; "
          f"fingerprinting / (that + audio decode): {fingerprint / (hd_decode + per_min['audio_decode']):.1%}")
    pairs = len(eps) * (len(eps) - 1) / 2
    mean_len = timing["seconds"] / (len(eps) + 1)
    pair_s = align_s / pairs
    est = pair_s * (3600.0 / mean_len) * 190
    print(f"series decisions: {align_s:.2f} s for {int(pairs)} pairs of {mean_len:.0f}-s episodes; "
          f"20 hour-long episodes (190 pairs, cost linear in length) ~ {est:.0f} s, {est / 20:.1f} s per episode; "
          f"fingerprinting an hour ~ {fingerprint * 60:.1f} s vs decoding ~ {decode * 60:.1f} s")


if __name__ == "__main__":
    main()
