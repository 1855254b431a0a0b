"""The search API under load: p50/p95/p99 per endpoint and queries per second over 100,000
synthetic shots on the embedded defaults, beside a plain brute-force numpy search.

    python benchmarks/api_search.py [--shots 100000] [--episodes 1000] [--queries 200]
                                    [--clients 20] [--seconds 20] [--index-cache DIR]

What runs:

* A temporary home: a catalogue of ``--episodes`` episodes (licence: the CLI's full one; 5 % of
  them refuse search indexing in the metadata database), a synthetic metadata database (DuckDB:
  ``dim_episodes``, ``fct_shots``, ``fct_shot_tags``, ``fct_transcript_segments``,
  ``fct_previews`` with the marts' columns), and the embedded vector index (qdrant-edge) holding
  one random 512-d unit vector per shot with the payload ``shot_index`` writes. Building the
  index's HNSW graph takes minutes; ``--index-cache`` keeps it between runs.
* The real server, ``media-platform serve`` on a free 127.0.0.1 port, with CLIP ViT-B-32 at
  random weights (``MEDIA_PLATFORM_CLIP_PRETRAINED=none``: the real text tower's size and cost;
  no weights can be downloaded here). Each text query is a different sentence (no cache helps).
* One client, ``--queries`` requests per endpoint, one after another: p50/p95/p99 of the
  wall time seen by the client (HTTP included).
* ``--clients`` clients at once for ``--seconds`` over a mix of the endpoints: requests per
  second and errors (any status but 200, any transport error).
* The brute-force peer in this process: the same text encoder (the server's precision; the
  encoder alone is also timed in float32), then numpy over all vectors
  (``V @ q``), masks for the filters, the same ordering and per-episode cap; and the text
  encoder alone, the part of a text search that no index can speed up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

TAGS = ["car", "boat", "explosion", "face", "crowd", "night", "beach", "city", "forest", "rain",
        "animal", "dog", "bird", "fire", "snow", "sports", "music", "speech", "indoors", "aircraft"]
WORDS = (["a", "the", "one", "some"],
         ["red", "fast", "old", "small", "bright", "dark", "quiet", "loud", "wet", "distant"],
         ["car", "boat", "dog", "crowd", "plane", "house", "river", "forest", "city", "child"],
         ["chasing", "near", "behind", "under", "beside", "leaving", "crossing", "watching"],
         ["a boat", "the sea", "a bridge", "the road", "a tree", "the rain", "a fire", "the moon"])
DIM = 512


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add(" ".join(rng.choice(w) for w in WORDS) + f" {rng.randrange(1000)}")
    return sorted(out)


# ---- the synthetic catalogue ---------------------------------------------------------------------


class Synthetic:
    """Shots, tags, vectors of ``episodes`` episodes of ``shots // episodes`` shots each."""

    def __init__(self, shots: int, episodes: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        per = shots // episodes
        self.n = per * episodes
        self.partitions = [f"synthetic-title-{e // 5:04d}-e{e:05d}" for e in range(episodes)]
        self.titles = [f"Synthetic Title {e // 5:04d}" for e in range(episodes)]
        self.searchable_episode = rng.random(episodes) >= 0.05
        self.episode = np.repeat(np.arange(episodes), per)
        self.shot = np.tile(np.arange(per), episodes)
        self.duration = rng.lognormal(np.log(4.0), 0.8, self.n).round(3)
        starts = np.zeros(self.n)
        for e in range(episodes):
            d = self.duration[e * per:(e + 1) * per]
            starts[e * per:(e + 1) * per] = np.concatenate([[0.0], np.cumsum(d)[:-1]])
        self.start = starts.round(3)
        self.searchable = self.searchable_episode[self.episode]
        # tag scores: 0-4 tags per shot above threshold, scores in [0.5, 1)
        self.tag_scores = np.zeros((self.n, len(TAGS)), np.float32)
        count = rng.integers(0, 5, self.n)
        for i in range(self.n):
            chosen = rng.choice(len(TAGS), size=count[i], replace=False)
            self.tag_scores[i, chosen] = rng.uniform(0.5, 1.0, count[i]).round(4)
        self.vectors = rng.standard_normal((self.n, DIM)).astype(np.float32)
        self.vectors /= np.linalg.norm(self.vectors, axis=1, keepdims=True)

    def tags_of(self, i: int) -> list[tuple[str, float]]:
        have = np.nonzero(self.tag_scores[i])[0]
        return sorted(((TAGS[t], float(self.tag_scores[i, t])) for t in have), key=lambda x: (-x[1], x[0]))


def write_catalogue(syn: Synthetic) -> None:
    from media_platform.catalogue import Catalogue, Episode
    from media_platform.cli.code_location import open_store

    catalogue = Catalogue(open_store())
    for e, (p, title) in enumerate(zip(syn.partitions, syn.titles, strict=True)):
        catalogue.insert(Episode(partition_key=p, title=title, kind="video", master_uri=f"file:///nowhere/{p}.mp4",
                                 master_key=f"masters/{p}/master.mp4", content_hash=f"{e:064x}", source="cli"))


def write_metadata_db(syn: Synthetic, path: Path) -> None:
    import duckdb
    import polars as pl

    path.parent.mkdir(parents=True, exist_ok=True)
    parts = np.asarray(syn.partitions)[syn.episode]
    tags = [syn.tags_of(i) for i in range(syn.n)]
    shots = pl.DataFrame({
        "shot_id": [f"{p}/{s}" for p, s in zip(parts, syn.shot, strict=True)],
        "partition_key": parts, "shot": syn.shot.astype(np.int32),
        "start_s": syn.start, "end_s": (syn.start + syn.duration).round(3), "duration_s": syn.duration,
        "tags": [[{"tag": t, "score": s} for t, s in ts] for ts in tags],
        "tag_names": [[t for t, _ in ts] for ts in tags],
        "searchable": syn.searchable, "source_fingerprint": [f"fp-{p}" for p in parts],
    }, schema_overrides={"tags": pl.List(pl.Struct({"tag": pl.String, "score": pl.Float64}))})
    idx = [i for i in range(syn.n) for _ in tags[i]]
    shot_tags = pl.DataFrame({
        "shot_id": [f"{parts[i]}/{syn.shot[i]}" for i in idx], "partition_key": [parts[i] for i in idx],
        "shot": [int(syn.shot[i]) for i in idx], "tag": [t for ts in tags for t, _ in ts],
        "score": [s for ts in tags for _, s in ts], "source": "fusion", "source_kind": "fusion",
        "above_threshold": True,
    })
    episodes = pl.DataFrame({
        "partition_key": syn.partitions, "title": syn.titles, "episode_id": [None] * len(syn.partitions),
        "kind": "video", "duration_s": [float(syn.duration[syn.episode == e].sum()) for e in range(len(syn.partitions))],
        "licence_json": "{}", "licence_identifier": None, "licence_status": "active", "allows_analysis": True,
        "allows_search_indexing": syn.searchable_episode, "content_hash": [f"{e:064x}" for e in range(len(syn.partitions))],
    }, schema_overrides={"episode_id": pl.String, "licence_identifier": pl.String})
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    conn = duckdb.connect(str(tmp))
    for name, df in (("fct_shots", shots), ("fct_shot_tags", shot_tags), ("dim_episodes", episodes)):
        conn.register("df", df.to_arrow())
        conn.execute(f"create table {name} as select * from df")
        conn.unregister("df")
    conn.execute("""create table fct_transcript_segments (partition_key varchar, segment integer, start_s double,
                    end_s double, text varchar, source_fingerprint varchar)""")
    conn.execute("""create table fct_previews (partition_key varchar, start_s double, end_s double, text varchar,
                    audio_uri varchar, status varchar)""")
    conn.close()
    os.replace(tmp, path)


def build_index(syn: Synthetic, folder: Path, cache: Path | None) -> None:
    from media_platform.search.edge import EmbeddedQdrantIndex
    from media_platform.search.index import IndexPoint, shot_point_id

    key = f"n{syn.n}-e{len(syn.partitions)}-d{DIM}-v1"
    if cache is not None and (cache / key / "shots").is_dir():
        shutil.copytree(cache / key, folder, dirs_exist_ok=True)
        print(f"index: reused {cache / key}", flush=True)
        return
    started = time.perf_counter()
    index = EmbeddedQdrantIndex(folder, optimize_on_write=False)
    index.ensure_collection(DIM)
    parts = np.asarray(syn.partitions)[syn.episode]
    points = [IndexPoint(shot_point_id(str(parts[i]), int(syn.shot[i])), syn.vectors[i], {
        "partition": str(parts[i]), "title": syn.titles[syn.episode[i]], "shot": int(syn.shot[i]),
        "start_s": float(syn.start[i]), "end_s": float(syn.start[i] + syn.duration[i]),
        "duration_s": float(syn.duration[i]), "keyframe_uri": "", "tags": [t for t, _ in syn.tags_of(i)],
    }) for i in range(syn.n)]
    with index.write_session():
        index.upsert(points)
    print(f"index: {syn.n} points upserted in {time.perf_counter() - started:.0f} s; building HNSW ...", flush=True)
    started = time.perf_counter()
    index.optimize()
    index.close()
    print(f"index: HNSW built in {time.perf_counter() - started:.0f} s", flush=True)
    if cache is not None:
        shutil.copytree(folder, cache / key, ignore=shutil.ignore_patterns(".replicas", "*.lock"), dirs_exist_ok=True)


# ---- measuring -----------------------------------------------------------------------------------


def percentiles(ms: list[float]) -> str:
    a = np.asarray(ms)
    return " / ".join(f"{np.percentile(a, q):.1f}" for q in (50, 95, 99))


def endpoint_requests(syn: Synthetic, n: int, seed: int) -> dict[str, list[str]]:
    from urllib.parse import quote

    rng = random.Random(seed)
    texts = sentences(4 * n, seed)
    visible = [i for i in range(syn.n) if syn.searchable[i]]
    ids = [f"{syn.partitions[syn.episode[i]]}:{syn.shot[i]}" for i in rng.sample(visible, n)]
    parts = [p for p, ok in zip(syn.partitions, syn.searchable_episode, strict=True) if ok]
    return {
        "text (q only)": [f"/shots?q={quote(texts[k])}" for k in range(n)],
        "text + tag + duration": [f"/shots?q={quote(texts[n + k])}&tag={rng.choice(TAGS)}&min_duration=2s" for k in range(n)],
        "text + title": [f"/shots?q={quote(texts[2 * n + k])}&title={quote(syn.titles[rng.randrange(len(syn.titles))])}" for k in range(n)],
        "tag": [f"/shots?tag={rng.choice(TAGS)}" for _ in range(n)],
        "tag + duration": [f"/shots?tag={rng.choice(TAGS)}&min_duration=3s&max_duration=1m" for _ in range(n)],
        "two tags + duration": [f"/shots?tag={a}&tag={b}&min_duration=2s" for a, b in (rng.sample(TAGS, 2) for _ in range(n))],
        "duration only": [f"/shots?min_duration={rng.choice(['5s', '8s', '12s'])}&max_duration=1m" for _ in range(n)],
        "tag, page 2": ["__page2__/shots?tag=" + rng.choice(TAGS) for _ in range(n)],
        "shot by id": [f"/shots/{i}" for i in ids],
        "similar shots": [f"/shots/{i}/similar" for i in ids],
        "episodes list": [f"/episodes?limit=50&title={quote(syn.titles[rng.randrange(len(syn.titles))])}" if k % 2 else "/episodes?limit=50" for k in range(n)],
        "episode detail": [f"/episodes/{rng.choice(parts)}" for _ in range(n)],
    }


def run_sequential(client, requests: dict[str, list[str]]) -> dict[str, list[float]]:
    out = {}
    for name, urls in requests.items():
        for url in urls[:5]:  # warm up (encoder, replica, caches)
            _get(client, url)
        times, how = [], {}
        for url in urls:
            t = time.perf_counter()
            strategy = _get(client, url)
            times.append((time.perf_counter() - t) * 1000)
            how[strategy] = how.get(strategy, 0) + 1
        out[name] = times
        searched = ", ".join(f"{k} {v}" for k, v in sorted(how.items()) if k)
        print(f"  {name:24s} p50/p95/p99 {percentiles(times)} ms" + (f"  ({searched})" if searched else ""), flush=True)
    return out


def _get(client, url: str) -> str | None:
    """GET ``url``; returns how a shot search was searched (exact, index, browse), else None."""
    if url.startswith("__page2__"):
        first = client.get(url.removeprefix("__page2__"))
        first.raise_for_status()
        url = url.removeprefix("__page2__") + "&cursor=" + first.json()["next_cursor"]
    r = client.get(url)
    if r.status_code != 200:
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")
    body = r.json()
    return body.get("search") if isinstance(body, dict) else None


def wait_for_vectors(client, syn: Synthetic, timeout_s: float = 300.0) -> float:
    """Seconds until the server holds the index's vectors (a selective text search says
    ``exact``); they load in the background after the first similarity search."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if _get(client, f"/shots?q=warm&tag={TAGS[0]}&min_duration=2s") == "exact":
            return time.perf_counter() - started
        time.sleep(0.25)
    raise RuntimeError("the server never searched exactly (vectors not loaded)")


def run_concurrent(base_url: str, requests: dict[str, list[str]], clients: int, seconds: float) -> tuple[int, int, float, list[float]]:
    import httpx

    urls = [u for us in requests.values() for u in us if not u.startswith("__page2__")]
    done, errors, lat = [0], [0], []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        rng = random.Random(k)
        with httpx.Client(base_url=base_url, timeout=60) as c:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    ok = c.get(rng.choice(urls)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    done[0] += 1
                    errors[0] += not ok
                    lat.append((time.perf_counter() - t) * 1000)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], errors[0], time.perf_counter() - started, lat


# ---- the brute-force peer ------------------------------------------------------------------------


def brute_force(syn: Synthetic, encode: Callable[[str], np.ndarray], n: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    texts = sentences(n, seed + 1)
    tag_mask = syn.tag_scores > 0
    cap, limit = 3, 20

    def diversified(order: np.ndarray) -> list[int]:
        seen: dict[int, int] = {}
        out = []
        for i in order:
            e = int(syn.episode[i])
            if seen.get(e, 0) < cap:
                seen[e] = seen.get(e, 0) + 1
                out.append(int(i))
                if len(out) == limit:
                    break
        return out

    def text(q: str, tag: str | None, min_d: float | None) -> list[int]:
        vec = encode(q)
        mask = syn.searchable.copy()
        if tag is not None:
            mask &= tag_mask[:, TAGS.index(tag)]
        if min_d is not None:
            mask &= syn.duration >= min_d
        idx = np.nonzero(mask)[0]
        scores = syn.vectors[idx] @ vec
        k = min(len(idx), 400)
        top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, int)
        return diversified(idx[top[np.argsort(-scores[top])]])

    def browse(tag: str, min_d: float, max_d: float) -> list[int]:
        t = TAGS.index(tag)
        mask = syn.searchable & tag_mask[:, t] & (syn.duration >= min_d) & (syn.duration <= max_d)
        idx = np.nonzero(mask)[0]
        order = np.lexsort((syn.shot[idx], syn.episode[idx], syn.start[idx], -syn.tag_scores[idx, t]))
        return diversified(idx[order])

    out: dict[str, list[float]] = {}
    for name, fn in (
        ("text encoder only", lambda k: encode(texts[k])),
        ("text (q only)", lambda k: text(texts[k], None, None)),
        ("text + tag + duration", lambda k: text(texts[k], rng.choice(TAGS), 2.0)),
        ("tag + duration", lambda k: browse(rng.choice(TAGS), 3.0, 60.0)),
    ):
        times = []
        for k in range(n):
            t = time.perf_counter()
            fn(k)
            times.append((time.perf_counter() - t) * 1000)
        out[name] = times
        print(f"  numpy {name:18s} p50/p95/p99 {percentiles(times)} ms", flush=True)
    return out


# ---- main ----------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", type=int, default=100_000)
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--index-cache", type=Path, default=Path(tempfile.gettempdir()) / "api_search_bench_index")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--torch-threads", type=int, default=0,
                    help="torch's intra-op threads in the server and the peer (OMP_NUM_THREADS; 0: torch's default)")
    args = ap.parse_args()

    import httpx

    root = Path(tempfile.mkdtemp(prefix="api-search-bench-"))
    env = dict(os.environ)
    env.update({"MEDIA_PLATFORM_HOME": str(root / "home"), "DAGSTER_HOME": str(root / "dagster"),
                "MEDIA_PLATFORM_CLIP_MODEL": "ViT-B-32", "MEDIA_PLATFORM_CLIP_PRETRAINED": "none"})
    for name in ("MEDIA_PLATFORM_QDRANT_URL", "MEDIA_PLATFORM_METADATA_DB", "MEDIA_PLATFORM_CLIP_CHECKPOINT",
                 "MEDIA_PLATFORM_CLIP_MODEL_CONFIG", "MEDIA_PLATFORM_LICENCES", "MEDIA_PLATFORM_API_TOKEN"):
        env.pop(name, None)
    if args.torch_threads:
        env["OMP_NUM_THREADS"] = str(args.torch_threads)
    os.environ.update({k: env[k] for k in ("MEDIA_PLATFORM_HOME", "DAGSTER_HOME", "MEDIA_PLATFORM_CLIP_MODEL",
                                           "MEDIA_PLATFORM_CLIP_PRETRAINED")})
    server = None
    try:
        from media_platform.settings import get_settings

        started = time.perf_counter()
        syn = Synthetic(args.shots, args.episodes)
        write_catalogue(syn)
        write_metadata_db(syn, get_settings().metadata_db_path)
        print(f"home: {syn.n} shots in {args.episodes} episodes, catalogue + metadata database in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        build_index(syn, get_settings().local_home / "vector_index", args.index_cache)

        port = free_port()
        log = open(root / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen(["media-platform", "--no-progress", "serve", "--port", str(port), "--log-level", "warning"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=base, timeout=120) as client:
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "server.log").read_text()[-3000:])
                time.sleep(0.2)
            print(f"server: the index's vectors in memory after {wait_for_vectors(client, syn):.1f} s", flush=True)
            print(f"server: {base}; {args.queries} requests per endpoint, one client", flush=True)
            requests = endpoint_requests(syn, args.queries, seed=1)
            sequential = run_sequential(client, requests)

        print(f"concurrency: {args.clients} clients for {args.seconds:g} s over all endpoints", flush=True)
        done, errors, elapsed, lat = run_concurrent(base, requests, args.clients, args.seconds)
        print(f"  {done} requests, {errors} errors, {done / elapsed:.1f} requests/s, "
              f"latency under load p50/p95/p99 {percentiles(lat)} ms", flush=True)

        print("brute force (numpy in this process, same text encoder):", flush=True)
        from media_platform.video.clip import ClipEncoder, ClipModelSpec

        if args.torch_threads:
            import torch

            torch.set_num_threads(args.torch_threads)
        encoder = ClipEncoder(ClipModelSpec(model_name="ViT-B-32", pretrained="none"), device="cpu")
        texts = sentences(args.queries, 3)
        for label in ("float32", encoder.set_text_precision(get_settings().api_encoder_precision)):
            times = []
            for q in texts:
                t = time.perf_counter()
                encoder.encode_text([q])
                times.append((time.perf_counter() - t) * 1000)
            print(f"  text encoder alone, {label:8s} p50/p95/p99 {percentiles(times)} ms", flush=True)
        numpy_times = brute_force(syn, lambda q: encoder.encode_text([q])[0], args.queries, seed=2)
        if args.json:
            args.json.write_text(json.dumps({
                "shots": syn.n, "episodes": args.episodes,
                "sequential_ms": {k: [float(np.percentile(v, q)) for q in (50, 95, 99)] for k, v in sequential.items()},
                "numpy_ms": {k: [float(np.percentile(v, q)) for q in (50, 95, 99)] for k, v in numpy_times.items()},
                "concurrent": {"clients": args.clients, "requests": done, "errors": errors, "qps": done / elapsed,
                               "ms": [float(np.percentile(lat, q)) for q in (50, 95, 99)]},
            }, indent=1))
        return 1 if errors else 0
    except Exception:
        if (root / "server.log").is_file():
            print("server log (tail):\n" + (root / "server.log").read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
