"""Benchmark: shot detection per class, ours vs PySceneDetect's detectors, on the class fixtures.

Usage::

    python benchmarks/shot_classes.py [--size 320x180] [--skip-scenedetect] [--cache DIR]

The fixtures (``benchmarks/shot_fixtures.py``) are edits of the real clips in
``shared/media/video`` built with ffmpeg, so their ground truth is exact: hard cuts under a
broadcast overlay (ticker, lower third, logo, subtitles), the 2-5-frame shots of a fast montage,
flashes and one-frame inserts that are not cuts (scored as the cuts of a clip full of them),
cross-dissolves, fades through black or white and wipes of known length.

For every class it prints:

- **boundary F1**: a cut must be found within ±1 frame; a gradual transition by any boundary
  inside its span (±1). The kind is not compared, so every detector is scored the same way.
- **class F1** (ours only, the peers report no kind): the detection must also carry the right
  ``transition`` kind; and the mean absolute error of the transition's start and end, in frames.

Peers: PySceneDetect's ContentDetector, AdaptiveDetector, HashDetector, HistogramDetector and
ThresholdDetector (fades to black), defaults, OpenCV backend. TransNetV2 is not run (no weights
here): its published F1 is printed as a reference (see ``TRANSNETV2``).

The CPU may be shared: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from shot_fixtures import Fixture, build_all, detections, match  # noqa: E402

from media_platform.video.shots import detect_shots  # noqa: E402

#: The class each fixture measures, and the kind its boundaries carry.
CLASSES = [("overlay cuts", "overlay", "cut"), ("montage cuts", "montage", "cut"),
           ("flashes not cuts", "flashes", "cut"), ("dissolves", "dissolves", "dissolve"),
           ("fades", "fades", "fade"), ("wipes", "wipes", "wipe")]
PEERS = ["ContentDetector", "AdaptiveDetector", "HashDetector", "HistogramDetector", "ThresholdDetector"]
#: TransNetV2's published F1 (Souček & Lokoč, "TransNet V2: An effective deep network
#: architecture for fast shot transition detection", 2020, Table 2): all transitions, one
#: boundary each, no kind. Not run here.
TRANSNETV2 = {"ClipShots": 0.779, "BBC Planet Earth": 0.962, "RAI": 0.939}


def run_ours(fx: Fixture) -> tuple[list[tuple[str, int, int, int]], float]:
    t = time.perf_counter()
    result = detect_shots(fx.path)
    return detections(result.shots), time.perf_counter() - t


def run_peer(fx: Fixture, name: str) -> tuple[list[tuple[str, int, int, int]], float]:
    import scenedetect

    detector = getattr(scenedetect, name)()
    t = time.perf_counter()
    scenes = scenedetect.detect(str(fx.path), detector)
    dt = time.perf_counter() - t
    cuts = [int(s[0].get_frames()) for s in scenes[1:]]
    return [("cut", c, c, c) for c in cuts], dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="320x180", help="fixture size WxH")
    ap.add_argument("--skip-scenedetect", action="store_true")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "media_platform_shot_classes")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    fixtures = build_all(args.cache / args.size, size=(w, h))
    methods = ["ours"] + ([] if args.skip_scenedetect else PEERS)
    print("load average (1, 5, 15 min) at the start: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(f"{'class':18s} {'method':18s} {'boundary F1':>11s} {'class F1':>9s} {'start/end err':>13s}")
    totals: dict[str, list[float]] = {m: [0.0, 0.0] for m in methods}
    for label, name, kind in CLASSES:
        fx = fixtures[name]
        for m in methods:
            found, dt = run_ours(fx) if m == "ours" else run_peer(fx, m)
            totals[m][0] += dt
            totals[m][1] += fx.frames
            _, _, f1_any, _ = match(found, fx, None)
            cls, err = "", ""
            if m == "ours":
                _, _, f1_kind, errors = match(found, fx, kind)
                cls = f"{f1_kind:.3f}"
                if errors:
                    err = f"{sum(abs(a) for a, _ in errors) / len(errors):.1f}/{sum(abs(b) for _, b in errors) / len(errors):.1f}"
            print(f"{label:18s} {m:18s} {f1_any:11.3f} {cls:>9s} {err:>13s}", flush=True)
    print()
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    for m, (dt, n) in totals.items():
        print(f"{m:18s} {n / dt:8.0f} frames/s over all fixtures ({int(n)} frames, {args.size})")
    print("TransNetV2 (published, not run here; all transitions, no kind): "
          + ", ".join(f"{k} F1 {v:.3f}" for k, v in TRANSNETV2.items()))


if __name__ == "__main__":
    main()
