"""Benchmark: the whole video pipeline (shots, keyframes, CLIP shot embeddings, vector index)
against ffmpeg decoding the same file, in the same run.

Usage::

    python benchmarks/video_pipeline.py [--minutes 10] [--repeats 3] [--two-pass-rounds 1] [--cli]

What it does:

1. Builds (or reuses, cached in ``$TMPDIR/media_platform_bench``) the 10-minute 1280x720 H.264
   file of ``benchmarks/shot_detection.py`` (real footage, 162 cuts).
2. Runs, interleaved, ``--repeats`` rounds of:
   - **peer**: ``ffmpeg -i master -an -f null -`` (every frame decoded, threads auto);
   - **ours, one decode**: what the ``shots``, ``keyframes``, ``shot_embeddings`` and
     ``shot_index`` assets do, in-process: :func:`detect_shots` (its pass keeps the keyframe
     candidates), the candidates stored and read back as Parquet, :func:`select_keyframes`
     (targeted seeks only for shots without a candidate), the keyframe JPEGs decoded as
     ``shot_embeddings`` reads them, CLIP image embeddings (batched by device), and the
     points upserted into the embedded Qdrant index;
   - in the first ``--two-pass-rounds`` rounds, **ours, two passes** (the previous keyframes
     step: a seek per shot into the master, :func:`extract_keyframes`) for comparison.
   It prints each stage's time, the medians, ours / ffmpeg, and the ratio of model invocations
   (CLIP images encoded) to the frames of the video.
3. ``--cli`` also times ``media-platform run --select shots,keyframes,shot_embeddings,shot_index``
   in a fresh home (process start, Dagster, storage writes included) once, after the rounds.

CLIP is ViT-B-32 with untrained weights (``pretrained=none``): no weights can be downloaded
here, and the compute is the same as the trained model's. ``--image-precision`` (default
``auto``: bfloat16 on a CPU with native bfloat16) sets its image tower; ``--cli`` runs with the
settings' precision. The CPU may be shared: the load
(``os.getloadavg``) is printed beside each round; compare ratios within a run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from shot_detection import build_long_file  # noqa: E402

from media_platform.search.edge import EmbeddedQdrantIndex  # noqa: E402
from media_platform.search.index import IndexPoint, replace_partition_points, shot_point_id  # noqa: E402
from media_platform.video.clip import ClipEncoder, ClipModelSpec  # noqa: E402
from media_platform.video.keyframe_samples import candidates_from_table, candidates_table  # noqa: E402
from media_platform.video.keyframes import encode_jpeg, extract_keyframes, select_keyframes  # noqa: E402
from media_platform.video.shots import detect_shots  # noqa: E402


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_s() -> float:
    """CPU seconds of this process so far, all threads (less distorted by a shared CPU than the
    wall clock)."""
    return time.process_time()


def run_ffmpeg(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ffmpeg decoding every frame."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-an", "-f", "null", "-"], check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _embed_and_index(jpegs: list[bytes], shots, encoder: ClipEncoder, index_dir: Path, stages: dict) -> int:
    t = time.perf_counter()
    images = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1] for j in jpegs]
    vectors = encoder.encode_images(images)
    stages["embeddings"] = time.perf_counter() - t
    t = time.perf_counter()
    index = EmbeddedQdrantIndex(index_dir, collection="bench")
    index.ensure_collection(vectors.shape[1])
    points = [
        IndexPoint(id=shot_point_id("bench", s.index), vector=vectors[i],
                   payload={"partition": "bench", "shot": s.index, "start_s": s.start_s, "end_s": s.end_s})
        for i, s in enumerate(shots)
    ]
    with index.write_session():
        replace_partition_points(index, "bench", points)
    stages["index"] = time.perf_counter() - t
    return len(images)


def run_ours(path: Path, encoder: ClipEncoder, work: Path, *, two_pass: bool) -> dict:
    """One pipeline run; returns the stage times, total, shots, seeks and images encoded."""
    stages: dict = {}
    t0, c0 = time.perf_counter(), cpu_s()
    result = detect_shots(path)
    stages["shots"] = time.perf_counter() - t0
    t = time.perf_counter()
    if two_pass:
        frames = extract_keyframes(path, result.shots, result.frame_times)
        jpegs = [encode_jpeg(kf.image) for kf in frames]
        seeks = len(result.shots)
    else:
        buf = io.BytesIO()  # the shots step stores the candidates, the keyframes step reads them
        candidates_table(result.keyframe_samples, result.shots).write_parquet(buf)
        candidates = candidates_from_table(pl.read_parquet(io.BytesIO(buf.getvalue())))
        frames, seeks = select_keyframes(result.shots, result.frame_times, candidates, lambda: contextlib.nullcontext(path))
        jpegs = [kf.jpeg or encode_jpeg(kf.image) for kf in frames]
    stages["keyframes"] = time.perf_counter() - t
    index_dir = Path(tempfile.mkdtemp(dir=work))
    images = _embed_and_index(jpegs, result.shots, encoder, index_dir, stages)
    total = time.perf_counter() - t0
    samples = result.keyframe_samples
    return {
        "total": total, "cpu": cpu_s() - c0, "stages": stages, "shots": len(result.shots), "seeks": seeks, "images": images,
        "frames": result.frame_count, "coarse_decoded": result.stats["coarse_decoded_frames"],
        "refined": result.stats["refined_frames"], "kept_samples": len(samples.samples) if samples else 0,
        "kept_bytes": samples.peak_bytes if samples else 0, "sampling_s": samples.seconds if samples else 0.0,
    }


def run_cli(path: Path, work: Path) -> float:
    """``media-platform run`` of the four video assets in a fresh home (untrained CLIP)."""
    home = work / "cli_home"
    env = {**os.environ, "MEDIA_PLATFORM_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "MEDIA_PLATFORM_CLIP_PRETRAINED": "none"}
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["media-platform", "--no-progress", "ingest", str(path), "--title", "Bench", "--json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    partition = json.loads(out.strip().splitlines()[-1])["partition_key"]
    subprocess.run(["media-platform", "--no-progress", "run", "--select", "media_probe", partition],
                   env=env, check=True, capture_output=True)
    t = time.perf_counter()
    subprocess.run(["media-platform", "--no-progress", "run", "--select", "shots,keyframes,shot_embeddings,shot_index",
                    partition], env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--two-pass-rounds", type=int, default=1)
    ap.add_argument("--cli", action="store_true")
    ap.add_argument("--image-precision", choices=["auto", "float32", "bfloat16"], default="auto",
                    help="CLIP image tower (auto: bfloat16 on a CPU with native bfloat16)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "media_platform_bench")
    args = ap.parse_args()
    path, _ = build_long_file(args.minutes, args.cache)
    encoder = ClipEncoder(ClipModelSpec("ViT-B-32", "none"))
    precision = encoder.set_image_precision(args.image_precision)
    encoder.encode_images([np.zeros((360, 640, 3), np.uint8)])  # warm up
    print(f"file {path.name}; CLIP {encoder.spec.model_name} on {encoder.device}, batch {encoder.batch_size}, "
          f"image tower {precision}; "
          f"{os.cpu_count()} CPUs", flush=True)
    peer: list[float] = []
    ours: list[dict] = []
    two: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for r in range(args.repeats):
            before = load()
            f, f_cpu = run_ffmpeg(path)
            peer.append(f)
            o = run_ours(path, encoder, work, two_pass=False)
            ours.append(o)
            line = (f"round {r + 1}: load {before} | ffmpeg {f:.1f} s (CPU {f_cpu:.1f} s) | ours {o['total']:.1f} s = "
                    f"{o['total'] / f:.2f}x (process CPU {o['cpu']:.1f} s) "
                    f"({', '.join(f'{k} {v:.1f}' for k, v in o['stages'].items())}; of the shots pass, "
                    f"keeping candidates {o['sampling_s']:.1f}; {o['seeks']} shots seeked)")
            if r < args.two_pass_rounds:
                w = run_ours(path, encoder, work, two_pass=True)
                two.append(w)
                line += f" | two passes {w['total']:.1f} s (keyframes {w['stages']['keyframes']:.1f})"
            print(line + f" | load after {load()}", flush=True)
        cli = run_cli(path, work) if args.cli else None
    o = ours[-1]
    med_f, med_o = statistics.median(peer), statistics.median(x["total"] for x in ours)
    print(f"\nframes {o['frames']}, shots {o['shots']}; coarse pass decoded {o['coarse_decoded']} frames, "
          f"refinement {o['refined']}; kept candidates {o['kept_samples']} ({o['kept_bytes'] / 2**20:.1f} MiB peak)")
    print(f"model invocations: {o['images']} CLIP images for {o['frames']} frames = "
          f"{o['images'] / o['frames']:.4f} (1 per {o['frames'] / max(o['images'], 1):.0f} frames; every frame: 1.0)")
    print(f"median ffmpeg decode {med_f:.1f} s; median ours (one decode) {med_o:.1f} s = {med_o / med_f:.2f}x ffmpeg "
          f"(target <= 1.5x)")
    if two:
        med_t = statistics.median(x["total"] for x in two)
        print(f"ours, two passes (before): {med_t:.1f} s = {med_t / statistics.median(peer[: len(two)]):.2f}x ffmpeg "
              f"of the same rounds")
    if cli is not None:
        print(f"media-platform run (4 video assets, process + Dagster): {cli:.1f} s = {cli / med_f:.2f}x ffmpeg")


if __name__ == "__main__":
    main()
