"""The metadata database (dbt-duckdb): full build, no-change rebuild and the rebuild after ONE new
episode, at 100 / 1,000 / 10,000 episodes.

    python benchmarks/metadata_build.py [--sizes 100,1000,10000] [--home DIR] [--postgres]

With ``--postgres`` the same steps build into PostgreSQL (dbt-postgres; the raw tables loaded
from the home first, each step's time including that load), on a throwaway server.

The home is synthetic but has the platform's real layout and schemas, written with the
platform's own writers (``media_platform.storage.write_table`` / ``LocalStore.write_bytes`` for
``episodes/<partition>/*``; the catalogue filled in bulk, then exported with
``Catalogue.export_parquet``). Per episode: ~30 shots tiling the episode, one keyframe per
shot, shot_tags (zero-shot, audio, fusion, classifier:* rows for 4 tags per shot), a transcript
of ~20 segments with their words, audio events, chapters and preview.json. Every tenth title
forbids search indexing. Generation is not timed; with ``--home`` a generated home is kept and
reused (the sizes grow it in place).

For each size N, each step is one ``build_metadata_db`` call (dbt build: every model and every
dbt test, the copy of the database and the atomic swap included):

- full: a build into an empty database (N episodes);
- no change: the rebuild with nothing changed;
- one new: the rebuild after one new episode arrived (its outputs written, the catalogue
  exported again): N + 1 episodes;
- peer: the same N + 1 episodes rebuilt with ``full_refresh=True`` (everything from scratch).

Also printed: the seconds dbt spent in the incremental fact models during "one new" and the
rows they (re)loaded (rows whose ``loaded_at`` is newer than before that build); on stderr,
where the rest of "one new" went (partition state, other models, dbt tests, dbt's start-up with
the copy and swap of the file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
import sqlalchemy as sa

from media_platform.catalogue import Catalogue, Episode
from media_platform.catalogue.schema import episodes as EPISODES
from media_platform.layout import episode_key
from media_platform.metadata import build_metadata_db
from media_platform.storage import LocalStore, write_table

FULL = {"identifier": "cc-by-4.0", "analysis": True, "search_indexing": True, "derivatives": True, "territories": ["*"]}
NO_INDEXING = {**FULL, "identifier": "cc-by-nd-4.0", "search_indexing": False}
TAGS = ("music", "dialogue", "crowd", "vehicle", "animal", "nature", "city", "night", "sport", "news")
WORDS = ("the", "and", "river", "city", "music", "tonight", "we", "ask", "country", "light", "ready", "again")
LABELS = ("speech", "music", "speech_over_music", "noise", "silence")
FPS = 24.0
INCREMENTAL = ("fct_shots", "fct_shot_tags", "fct_transcript_segments", "fct_audio_events", "fct_previews")


def partition(i: int) -> str:
    return f"ep-{i:06d}"


def _episode_row(i: int) -> Episode:
    key = partition(i)
    digest = hashlib.sha256(key.encode()).hexdigest()
    return Episode(
        partition_key=key, title=f"Show {i % 97}", kind="video", source="upload", episode_id=str(i),
        master_uri=f"file:///srv/media/masters/{key}/master.mp4", master_key=f"masters/{key}/master.mp4",
        content_hash=digest, licence=NO_INDEXING if (i % 97) % 10 == 0 else FULL,
        metadata={"original_name": f"{key}.mp4", "duration_s": _duration(i)},
    )


def _duration(i: int) -> float:
    return 1200.0 + (i % 600)


def _outputs(i: int) -> dict[str, pl.DataFrame | bytes]:
    """One episode's outputs in the assets' schemas (seeded by the episode number)."""
    rng = random.Random(i)
    key = partition(i)
    frames = int(_duration(i) * FPS)
    shots = 25 + rng.randrange(11)
    cuts = sorted(rng.sample(range(1, frames - 1), shots - 1))
    starts, ends = [0, *cuts], [c - 1 for c in cuts] + [frames - 1]
    shot_rows = {"shot": list(range(shots)), "start_frame": starts, "end_frame": ends,
                 "start_s": [s / FPS for s in starts], "end_s": [s / FPS for s in cuts] + [frames / FPS],
                 "confidence": [1.0] + [round(rng.uniform(0.5, 1.0), 4) for _ in cuts]}
    # How each shot begins (not drawn from rng, so the other outputs stay as they were): every
    # seventh boundary a 12-frame dissolve around the cut, the others cuts.
    gradual = [n % 7 == 6 for n in range(len(cuts))]
    t0 = [max(c - 6, 1) if g else None for c, g in zip(cuts, gradual, strict=True)]
    t1 = [c + 6 if g else None for c, g in zip(cuts, gradual, strict=True)]
    shot_rows |= {"transition": [None] + ["dissolve" if g else "cut" for g in gradual],
                  "transition_start_frame": [None, *t0], "transition_end_frame": [None, *t1],
                  "transition_start_s": [None] + [None if f is None else f / FPS for f in t0],
                  "transition_end_s": [None] + [None if f is None else f / FPS for f in t1]}
    keyframes = pl.DataFrame({
        "shot": list(range(shots)), "frame": [(a + b) // 2 for a, b in zip(starts, ends, strict=True)],
        "time_s": [(a + b) / 2 / FPS for a, b in zip(starts, ends, strict=True)],
        "sharpness": [rng.uniform(10, 500) for _ in range(shots)],
        "uri": [f"file:///srv/media/episodes/{key}/keyframes/{s:05d}.jpg" for s in range(shots)],
    })
    tag_rows = []
    for shot in range(shots):
        for tag in rng.sample(TAGS, 4):
            zero, audio = rng.random(), rng.random()
            fused = 0.6 * zero + 0.4 * audio
            tag_rows += [(shot, tag, zero, "zero-shot", zero > 0.5, 0.6), (shot, tag, audio, "audio", audio > 0.5, 0.4),
                         (shot, tag, fused, "fusion", fused > 0.5, 1.0)]
        tag_rows.append((shot, TAGS[shot % len(TAGS)], rng.random(), "classifier:logreg", rng.random() > 0.5, 1.0))
    shot_tags = pl.DataFrame(tag_rows, schema={"shot": pl.Int64, "tag": pl.Utf8, "score": pl.Float64, "source": pl.Utf8,
                                               "above_threshold": pl.Boolean, "weight": pl.Float64}, orient="row")
    duration = frames / FPS
    segments, t = [], 0.0
    step = duration / 20
    for _ in range(20):
        words, w = [], t
        for _ in range(12):
            words.append({"word": " " + rng.choice(WORDS), "start": w, "end": w + 0.3, "probability": rng.random()})
            w += step / 13
        segments.append({"start": t, "end": w, "text": "".join(x["word"] for x in words).strip(), "words": words,
                         "language": "en", "source": "faster-whisper:tiny.en", "duration_s": duration})
        t += step
    transcript = pl.DataFrame(segments, schema={
        "start": pl.Float64, "end": pl.Float64, "text": pl.Utf8,
        "words": pl.List(pl.Struct({"word": pl.Utf8, "start": pl.Float64, "end": pl.Float64, "probability": pl.Float64})),
        "language": pl.Utf8, "source": pl.Utf8, "duration_s": pl.Float64})
    bounds = [0.0, *sorted(rng.uniform(0, duration) for _ in range(7)), duration]
    events = pl.DataFrame({"label": [rng.choice(LABELS) for _ in bounds[1:]], "start": bounds[:-1], "end": bounds[1:],
                           "confidence": [rng.uniform(0.5, 1) for _ in bounds[1:]]})
    chapters = pl.DataFrame({"start": [0.0, duration / 3, 2 * duration / 3],
                             "end": [duration / 3, 2 * duration / 3, duration],
                             "title": ["Opening", "Middle", "Close"],
                             "keywords": [["river"], ["city", "night"], ["music"]]})
    preview = {"start": 60.0, "end": 90.0, "duration": 30.0, "text": segments[1]["text"], "score": 5.0,
               "contributions": {"length_fit": 0.7}, "reasons": ["whole sentences"], "ranker": "default",
               "uri": f"file:///srv/media/episodes/{key}/preview.mp3", "video_uri": None,
               "reason": "chose 60.00-90.00 s (30.0 s) of 1 clean / 1 windows"}
    return {"shots.parquet": pl.DataFrame(shot_rows), "keyframes.parquet": keyframes, "shot_tags.parquet": shot_tags,
            "transcript.parquet": transcript, "audio_events.parquet": events, "chapters.parquet": chapters,
            "preview.json": json.dumps(preview).encode()}


def add_episodes(home: Path, start: int, stop: int) -> None:
    """Write episodes ``start``..``stop - 1`` (outputs and catalogue rows), then export."""
    store = LocalStore(home)
    for i in range(start, stop):
        for name, value in _outputs(i).items():
            key = episode_key(partition(i), name)
            if isinstance(value, bytes):
                store.write_bytes(key, value)
            else:
                write_table(store, key, value)
    catalogue = Catalogue(store)
    rows = [_episode_row(i).to_row() for i in range(start, stop)]
    now = "2026-11-01T08:00:00+00:00"
    with catalogue._db.writer.begin() as conn:  # bulk, like benchmarks/catalogue.py (not timed)
        for at in range(0, len(rows), 5000):
            conn.execute(sa.insert(EPISODES), [{**r, "ingested_at": now, "updated_at": now} for r in rows[at:at + 5000]])
    catalogue.export_parquet()


def episodes_in(home: Path) -> int:
    folder = home / "episodes"
    return sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0


class Target:
    """Where the models are built: the DuckDB file ``db`` or, with ``url``, PostgreSQL (raw
    tables loaded from the home first; see media_platform.metadata.postgres_build)."""

    def __init__(self, db: Path, url: str | None = None) -> None:
        self.db, self.url = db, url

    def reset(self) -> None:
        self.db.unlink(missing_ok=True)
        if self.url:
            import psycopg

            with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute("drop schema if exists media_raw cascade")
                conn.execute("drop schema if exists media_metadata cascade")

    def build(self, home: Path, *, full_refresh: bool = False) -> tuple[float, dict[str, tuple[float, str]]]:
        start = time.perf_counter()
        if self.url:
            from media_platform.metadata.postgres_build import build_metadata_postgres

            report, _ = build_metadata_postgres(store=LocalStore(home), url=self.url, full_refresh=full_refresh)
        else:
            report = build_metadata_db(home=home, db_path=self.db, full_refresh=full_refresh)
        seconds = time.perf_counter() - start
        bad = {n.name: n.status for n in report.nodes if n.status not in ("success", "pass")}
        if bad:
            raise SystemExit(f"error: {self.url or self.db}: build not clean: {bad}")
        return seconds, {n.name: (n.seconds, n.kind) for n in report.nodes}

    def query(self, sql: str, *params) -> list[tuple]:
        if self.url:
            import psycopg

            with psycopg.connect(self.url.replace("+psycopg", "")) as conn:
                conn.execute("set search_path to media_metadata")
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        return _query(self.db, sql, *params)


def measure(home: Path, work: Path, size: int, url: str | None = None) -> dict:
    have = episodes_in(home)
    if have < size:
        t = time.perf_counter()
        add_episodes(home, have, size)
        print(f"  generated episodes {have}..{size - 1} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    elif have > size + 1:
        raise SystemExit(f"error: {home}: holds {have} episodes, more than {size}; use another --home")
    target = Target(work / f"metadata-{size}.duckdb", url)
    target.reset()
    if have == size + 1:  # a reused home already holds the "new" episode: measure on it anyway
        (home / "episodes" / partition(size)).rename(work / "held")
        _export(home, exclude=partition(size))
    full, _ = target.build(home)
    unchanged, _ = target.build(home)
    if (work / "held").exists():
        (work / "held").rename(home / "episodes" / partition(size))
        Catalogue(LocalStore(home)).export_parquet()
    else:
        add_episodes(home, size, size + 1)
    before = {m: target.query(f"select max(loaded_at) from {m}")[0][0] for m in INCREMENTAL}
    one_new, models = target.build(home)
    rebuilt = {m: target.query(f"select count(*) from {m} where loaded_at > ?", before[m])[0][0] for m in INCREMENTAL}
    peer, _ = target.build(home, full_refresh=True)
    target.reset()
    facts = {m: models[m] for m in INCREMENTAL if m in models}
    state = models.get("stg_partition_state", (0.0, "model"))[0]
    others = sum(s for name, (s, kind) in models.items() if kind == "model" and name not in facts) - state
    tests = sum(s for s, kind in models.values() if kind == "test")
    print(f"  one new at {size:,}: partition state {state:.2f} s, incremental facts "
          f"{sum(s for s, _ in facts.values()):.2f} s, other models {others:.2f} s, dbt tests {tests:.2f} s, "
          f"dbt start, copy and swap {one_new - state - others - tests - sum(s for s, _ in facts.values()):.2f} s; "
          f"slowest: {', '.join(f'{n} {s:.2f}' for n, (s, _) in sorted(models.items(), key=lambda kv: -kv[1][0])[:4])}",
          file=sys.stderr)
    return {"size": size, "full": full, "unchanged": unchanged, "one_new": one_new, "peer": peer,
            "facts_s": sum(s for s, _ in facts.values()), "facts_rows": rebuilt}


def _query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _export(home: Path, exclude: str) -> None:
    """The export without ``exclude`` (as it was before that episode arrived)."""
    Catalogue(LocalStore(home)).export_parquet()
    path = home / "exports" / "episodes.parquet"
    pl.read_parquet(path).filter(pl.col("partition_key") != exclude).write_parquet(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--home", type=Path, help="a home to generate into and reuse (default: a temp folder)")
    parser.add_argument("--postgres", action="store_true",
                        help="build into PostgreSQL instead (a throwaway server of tests/_postgres.py on a loopback port)")
    args = parser.parse_args(argv)
    if args.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from _postgres import postgres_server

        with postgres_server() as server:
            return _run(args, server.create_database())
    return _run(args, None)


def _run(args: argparse.Namespace, url: str | None) -> int:
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="metadata-bench-") as tmp:
        home = (args.home or Path(tmp) / "home").resolve()
        home.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("DAGSTER_HOME", str(Path(tmp) / "dagster"))
        print("| episodes | full build (s) | no change (s) | one new episode (s) | peer: full refresh (s) "
              "| fact models in 'one new' (s) | rows (re)loaded in 'one new' (shots/tags/segments/events/previews) |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        for size in sizes:
            r = measure(home, Path(tmp), size, url)
            rows = "/".join(str(r["facts_rows"].get(m)) for m in INCREMENTAL)
            print(f"| {r['size']:,} | {r['full']:.1f} | {r['unchanged']:.1f} | {r['one_new']:.1f} | {r['peer']:.1f} "
                  f"| {r['facts_s']:.2f} | {rows} |", flush=True)
            # the next size continues from this home (N + 1 episodes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
