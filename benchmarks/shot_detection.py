"""Benchmark: shot boundary detection accuracy and speed, ours vs PySceneDetect vs decode-only.

Usage::

    python benchmarks/shot_detection.py [--minutes N] [--skip-scenedetect] [--no-fixtures]

What it does, in one run:

1. Builds (once; cached in ``$TMPDIR/media_platform_bench``) an N-minute (default 10)
   1280x720 24 fps H.264 file (libx264 veryfast, CRF 23, default GOP/B-frames) by concatenating
   real footage: the shots of the shared fixtures (Big Buck Bunny, GoldenEye), each cut at a
   random offset and length and shown through one of several variants (mirrored, zoomed,
   colour-shifted, brighter). Because the file is assembled from known parts, every hard cut is
   known exactly. It also contains non-cuts that must not be reported: fades in from black at
   some shot starts (the cut into the black frame *is* a cut), two-frame flashes, and 12-frame
   dissolves (scored as "don't care" zones: a detection inside is neither a hit nor a false
   alarm, the dissolve is not a missed cut).
2. On the fixtures (with their ``.gt.json``) and on the long file it runs our detector and
   PySceneDetect's ContentDetector, AdaptiveDetector and HistogramDetector (defaults, OpenCV
   backend), and prints F1 (±1 frame), frames/s, and the ratio of our throughput to each.
   On the long file it also scores **all transitions** against the annotations: every hard cut
   (±1 frame) and every dissolve (any boundary inside its span) must be found once ("all F1",
   the kind not compared, so the peers are scored alike), and for ours the dissolves reported
   as ``transition == "dissolve"`` ("dissolve F1").
3. Measures decode-only throughput: ``ffmpeg -f null -`` (threads auto) and a PyAV decode loop
   (threads auto, no conversion).

The CPU may be shared with other jobs: compare ratios within one run, not absolute numbers
across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from media_platform.video.shots import detect_shots

sys.path.insert(0, str(REPO / "benchmarks"))
from shot_fixtures import Fixture, detections, match  # noqa: E402

MEDIA = Path(os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO.parent / "shared" / "media")) / "video"
W, H, FPS = 1280, 720, 24
BBB = MEDIA / "blender_bbb" / "big_buck_bunny_0_30.webm"
GOLDENEYE = MEDIA / "pyscenedetect" / "issue-134-rotate.mp4"
# Source shots (file, first frame, end frame exclusive), inside which there is no cut or fade.
SOURCE_SHOTS = [(BBB, 49, 283), (BBB, 283, 376), (BBB, 376, 551), (BBB, 551, 720),
                (GOLDENEYE, 0, 90), (GOLDENEYE, 90, 210), (GOLDENEYE, 210, 240)]


@dataclass
class Truth:
    """Ground truth of a file: hard cuts and zones where any detection is ignored."""

    cuts: list[int]
    ignore: list[tuple[int, int]]


# ---------------------------------------------------------------------------------------------
# Building the long test file


def _load_pool() -> list[list[np.ndarray]]:
    """Decode every source shot at 1280x720 as yuv420p frames (I420 arrays of shape (H*3/2, W))."""
    cache: dict[Path, list[np.ndarray]] = {}
    for path in {p for p, _, _ in SOURCE_SHOTS}:
        with av.open(str(path)) as c:
            cache[path] = [f.to_ndarray(format="yuv420p", width=W, height=H) for f in c.decode(video=0)]
    return [cache[p][a:b] for p, a, b in SOURCE_SHOTS]


def _variant(frame: np.ndarray, kind: int) -> np.ndarray:
    """Apply one of six looks to an I420 frame (planes handled separately)."""
    y = frame[:H].astype(np.float32)
    u = frame[H : H + H // 4].reshape(H // 2, W // 2).astype(np.float32)
    v = frame[H + H // 4 :].reshape(H // 2, W // 2).astype(np.float32)
    if kind in (1, 5):
        y, u, v = y[:, ::-1], u[:, ::-1], v[:, ::-1]
    if kind in (2, 5):
        z = 1.3 if kind == 2 else 1.15
        def zoom(p: np.ndarray) -> np.ndarray:
            h, w = p.shape
            ch, cw = int(h / z), int(w / z)
            y0, x0 = (h - ch) // 2 if kind == 2 else 0, (w - cw) // 2 if kind == 2 else 0
            return cv2.resize(np.ascontiguousarray(p[y0 : y0 + ch, x0 : x0 + cw]), (w, h), interpolation=cv2.INTER_LINEAR)
        y, u, v = zoom(y), zoom(u), zoom(v)
    if kind == 3:
        y, u, v = y * 0.95, u - 12, v + 14
    if kind == 4:
        y, u, v = y * 1.08 + 5, u + 14, v - 10
    out = np.concatenate([y.ravel(), u.ravel(), v.ravel()])
    return np.clip(out, 0, 255).astype(np.uint8).reshape(H * 3 // 2, W)


def build_long_file(minutes: float, out_dir: Path, seed: int = 7) -> tuple[Path, Truth]:
    """Assemble the long benchmark file (cached) and return it with its ground truth."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"assembled_{minutes:g}min_seed{seed}"
    video, gt_file = out_dir / f"{stem}.mp4", out_dir / f"{stem}.gt.json"
    if video.exists() and gt_file.exists():
        gt = json.loads(gt_file.read_text())
        return video, Truth(gt["cuts"], [tuple(z) for z in gt["ignore"]])
    print(f"building {video} ...", flush=True)
    pool = _load_pool()
    rng = random.Random(seed)
    total = int(minutes * 60 * FPS)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{W}x{H}",
           "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
           "-pix_fmt", "yuv420p", str(video)]
    enc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert enc.stdin is not None
    cuts: list[int] = []
    ignore: list[tuple[int, int]] = []
    written = 0
    prev_shot, prev_tail = -1, None
    while written < total:
        shot = rng.choice([i for i in range(len(pool)) if i != prev_shot])
        kind = rng.randrange(6)
        frames = pool[shot]
        length = min(len(frames), rng.randint(30, 150))
        start = rng.randint(0, len(frames) - length)
        seg = [_variant(f, kind) for f in frames[start : start + length]]
        effect = rng.random()
        if written and effect < 0.12 and prev_tail is not None and length > 30:
            # Dissolve from the previous segment's last frames: ignore zone, not a hard cut.
            n = 12
            for k in range(n):
                a = (k + 1) / (n + 1)
                seg[k] = (prev_tail[k - n].astype(np.float32) * (1 - a) + seg[k].astype(np.float32) * a).astype(np.uint8)
            ignore.append((written - 2, written + n + 2))
        else:
            if written:
                cuts.append(written)
            if effect > 0.88 and length > 30:  # fade in from black over 12 frames
                for k in range(12):
                    g = k / 12
                    f = seg[k].astype(np.float32)
                    f[:H] = 16 + (f[:H] - 16) * g
                    f[H:] = 128 + (f[H:] - 128) * g
                    seg[k] = f.astype(np.uint8)
            elif 0.5 < effect < 0.56 and length > 40:  # a two-frame flash mid-shot
                m = length // 2
                for k in (m, m + 1):
                    f = seg[k].astype(np.float32)
                    f[:H] = f[:H] * 1.6 + 40
                    seg[k] = np.clip(f, 0, 255).astype(np.uint8)
        for f in seg:
            enc.stdin.write(f.tobytes())
        written += len(seg)
        prev_shot, prev_tail = shot, seg[-12:]
    enc.stdin.close()
    if enc.wait() != 0:
        raise SystemExit("ffmpeg encoding failed")
    gt_file.write_text(json.dumps({"frames": written, "cuts": cuts, "ignore": ignore}))
    return video, Truth(cuts, ignore)


# ---------------------------------------------------------------------------------------------
# Scoring and runners


def f1_score(detected: list[int], truth: Truth, tolerance: int = 1) -> tuple[float, float, float]:
    """Precision, recall, F1 of detected cut frames against truth (±tolerance, one-to-one)."""
    det = [d for d in sorted(detected) if not any(a <= d <= b for a, b in truth.ignore)]
    gt = sorted(truth.cuts)
    used: set[int] = set()
    tp = 0
    for g in gt:
        best = None
        for i, d in enumerate(det):
            if i not in used and abs(d - g) <= tolerance and (best is None or abs(d - g) < abs(det[best] - g)):
                best = i
        if best is not None:
            used.add(best)
            tp += 1
    precision = tp / len(det) if det else 1.0
    recall = tp / len(gt) if gt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(video=0) if p.size)


LAST_OURS: list[tuple[str, int, int, int]] = []


def run_ours(path: Path) -> tuple[list[int], float]:
    t = time.perf_counter()
    result = detect_shots(path)
    dt = time.perf_counter() - t
    LAST_OURS[:] = detections(result.shots)
    return result.cut_frames, dt


def annotated(path: Path, truth: Truth) -> Fixture:
    """The long file's transitions: its hard cuts and its 12-frame dissolves (the ignore zones
    are the dissolve's frames widened by 2 on each side)."""
    items = [(c, "cut", (c, c)) for c in truth.cuts] + [
        ((a + b) // 2, "dissolve", (a + 2, b - 2)) for a, b in truth.ignore]
    items.sort()
    return Fixture(path.stem, path, 0, [b for b, _, _ in items], [k for _, k, _ in items], [t for _, _, t in items])


def run_scenedetect(path: Path, name: str) -> tuple[list[int], float]:
    import scenedetect

    detector = getattr(scenedetect, name)()
    t = time.perf_counter()
    scenes = scenedetect.detect(str(path), detector)
    dt = time.perf_counter() - t
    cuts = [int(getattr(s[0], "frame_num", None) or s[0].get_frames()) for s in scenes[1:]]
    return cuts, dt


def decode_ffmpeg(path: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-an", "-f", "null", "-"], check=True)
    return time.perf_counter() - t


def decode_pyav(path: Path) -> float:
    t = time.perf_counter()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_type = "AUTO"
        for _ in c.decode(s):
            pass
    return time.perf_counter() - t


def fixtures() -> list[tuple[Path, Truth]]:
    """The shared fixtures with their hard cuts (fade-in of BBB as an ignore zone is not needed:
    it must not produce a detection, so it is scored normally)."""
    out = []
    for gt_path in sorted(MEDIA.glob("*/*.gt.json")):
        gt = json.loads(gt_path.read_text())
        cuts = gt.get("hard_cuts_decoded_frame_index", gt.get("hard_cuts", []))
        out.append((gt_path.parent / gt["video"], Truth(list(cuts), [])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the assembled file")
    ap.add_argument("--skip-scenedetect", action="store_true", help="only ours and decode-only")
    ap.add_argument("--no-fixtures", action="store_true", help="skip the small fixtures")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "media_platform_bench")
    args = ap.parse_args()

    files = [] if args.no_fixtures else fixtures()
    long_path, long_truth = build_long_file(args.minutes, args.cache)
    files.append((long_path, long_truth))
    methods = ["ours"] + ([] if args.skip_scenedetect else ["ContentDetector", "AdaptiveDetector", "HistogramDetector"])

    print(f"{'file':38s} {'method':18s} {'P':>6s} {'R':>6s} {'F1':>6s} {'frames/s':>9s} {'ours x':>7s}")
    for path, truth in files:
        n = frame_count(path)
        ours_fps = None
        for m in methods:
            cuts, dt = run_ours(path) if m == "ours" else run_scenedetect(path, m)
            p, r, f1 = f1_score(cuts, truth)
            fps = n / dt
            if m == "ours":
                ours_fps = fps
            ratio = f"{ours_fps / fps:6.2f}x" if ours_fps else ""
            extra = ""
            if path == long_path:  # all transitions (cuts and dissolves), and dissolves by kind
                fx = annotated(path, truth)
                found = LAST_OURS if m == "ours" else [("cut", c, c, c) for c in cuts]
                extra = f"  all F1 {match(found, fx, None)[2]:.3f}"
                if m == "ours":
                    extra += f"  dissolve F1 {match(found, fx, 'dissolve')[2]:.3f}"
            print(f"{path.name[:38]:38s} {m:18s} {p:6.3f} {r:6.3f} {f1:6.3f} {fps:9.0f} {ratio:>7s}{extra}", flush=True)
        if path == long_path:
            ff = n / decode_ffmpeg(path)
            pa = n / decode_pyav(path)
            print(f"{path.name[:38]:38s} {'decode ffmpeg':18s} {'':20s} {ff:9.0f} {ours_fps / ff:6.2f}x")
            print(f"{path.name[:38]:38s} {'decode PyAV':18s} {'':20s} {pa:9.0f} {ours_fps / pa:6.2f}x")
            print(f"  ({n} frames, {len(truth.cuts)} cuts, {len(truth.ignore)} dissolves)")


if __name__ == "__main__":
    main()
