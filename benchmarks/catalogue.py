"""The episode catalogue: the old Parquet file vs the SQL database, at 1,000 to 100,000 episodes.

    python benchmarks/catalogue.py [--sizes 1000,10000,100000] [--postgres]

For each size the catalogue is first filled with synthetic rows (bulk, not timed: realistic
titles, 64-hex hashes, licence and ~300 bytes of metadata JSON), then each operation is timed
one call at a time, the way the platform calls it:

- insert: ``upsert`` of a new episode (the CLI and sensors insert one at a time);
- get: ``get(partition_key)`` of a random existing key;
- find by hash: ``find_by_hash`` of a random existing hash (every registration does one);
- list one page: 100 episodes in key order after a random key (``page``; the old catalogue has
  no paging: it reads the whole table and slices it).

The peer ("old") is the Parquet catalogue as it was before the database (a minimal copy below:
the table read in full on every call and rewritten in full under a lock file on every change).
"new" is :class:`media_platform.catalogue.Catalogue` on its embedded SQLite default (WAL,
synchronous=FULL), and with ``--postgres`` also on a PostgreSQL server started on a loopback
port by ``tests/_postgres.py`` (fsync off there: it measures the catalogue, not the disk).
Figures: median and 95th percentile milliseconds per call.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from filelock import FileLock

from media_platform.catalogue import Catalogue, Episode
from media_platform.catalogue.episode import COLUMNS
from media_platform.catalogue.schema import episodes as EPISODES
from media_platform.storage import LocalStore

LEGACY_KEY = "catalogue/episodes.parquet"
SCHEMA = {name: pl.Utf8 for name in COLUMNS}


class ParquetCatalogue:
    """The old catalogue, reduced to the operations measured (read in full, rewritten in full)."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store
        self._lock = FileLock(str(store.root / ".catalogue.lock"), timeout=60)

    def _read(self) -> pl.DataFrame:
        if not self.store.exists(LEGACY_KEY):
            return pl.DataFrame(schema=SCHEMA)
        return pl.read_parquet(io.BytesIO(self.store.read_bytes(LEGACY_KEY)))

    def _write(self, df: pl.DataFrame) -> None:
        buf = io.BytesIO()
        df.write_parquet(buf, compression="zstd")
        self.store.write_bytes(LEGACY_KEY, buf.getvalue())

    def get(self, key: str) -> Episode | None:
        df = self._read().filter(pl.col("partition_key") == key)
        return _from_legacy(df.row(0, named=True)) if df.height else None

    def find_by_hash(self, digest: str) -> Episode | None:
        df = self._read().filter(pl.col("content_hash") == digest)
        return _from_legacy(df.row(0, named=True)) if df.height else None

    def page(self, after: str | None, limit: int) -> list[Episode]:
        df = self._read().sort("partition_key")
        if after is not None:
            df = df.filter(pl.col("partition_key") > after)
        return [_from_legacy(r) for r in df.head(limit).to_dicts()]

    def upsert(self, episode: Episode) -> Episode:
        with self._lock:
            df = self._read()
            new = pl.DataFrame([_to_legacy(episode)], schema=SCHEMA)
            df = pl.concat([df.filter(pl.col("partition_key") != episode.partition_key), new])
            self._write(df.sort("partition_key"))
        return episode


def _to_legacy(episode: Episode) -> dict:
    row = episode.to_row()
    row["content_hash"] = row["content_hash"] or ""
    return row


def _from_legacy(row: dict) -> Episode:
    return Episode.from_row(row)


def synthetic(i: int, rng: random.Random) -> Episode:
    key = f"show-{rng.randrange(10**6):06d}-episode-{i:07d}"
    digest = hashlib.sha256(f"content-{i}".encode()).hexdigest()
    return Episode(
        partition_key=key, title=f"Show {i % 997} — Episode {i}", kind="audio" if i % 3 else "video",
        master_uri=f"file:///srv/media/masters/{key}/master.mp3", master_key=f"masters/{key}/master.mp3",
        content_hash=digest, source="rss" if i % 2 else "upload", episode_id=str(i % 500),
        licence={"identifier": "cc-by-nd-4.0", "analysis": True, "search_indexing": True, "derivatives": False},
        metadata={"original_name": f"{key}.mp3", "duration_s": 1800.0 + i % 600, "feed_title": "A Feed",
                  "guid": f"urn:uuid:{digest[:32]}", "published": "2026-11-01T08:00:00+00:00",
                  "enclosure_type": "audio/mpeg", "licence_source": "feed"},
        ingested_at="2026-11-01T08:00:00+00:00", updated_at="2026-11-01T08:00:00+00:00",
    )


def fill_old(store: LocalStore, rows: list[Episode]) -> ParquetCatalogue:
    cat = ParquetCatalogue(store)
    cat._write(pl.DataFrame([_to_legacy(e) for e in rows], schema=SCHEMA).sort("partition_key"))
    return cat


def fill_new(cat: Catalogue, rows: list[Episode]) -> Catalogue:
    values = [e.to_row() for e in rows]
    with cat._db.writer.begin() as conn:
        for start in range(0, len(values), 5000):
            conn.execute(sa.insert(EPISODES), values[start:start + 5000])
    return cat


def timed(call: Callable[[int], object], count: int) -> tuple[float, float]:
    samples = []
    for i in range(count):
        start = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def measure(name: str, cat, rows: list[Episode], size: int, calls: int) -> list[tuple]:
    rng = random.Random(1)
    fresh = [synthetic(size + 10**7 + i, rng) for i in range(calls)]
    picks = [rows[rng.randrange(len(rows))] for _ in range(calls)]
    results = []
    results.append((name, size, "insert", *timed(lambda i: cat.upsert(fresh[i]), calls)))
    results.append((name, size, "get", *timed(lambda i: cat.get(picks[i].partition_key), calls)))
    results.append((name, size, "find by hash", *timed(lambda i: cat.find_by_hash(picks[i].content_hash), calls)))
    results.append((name, size, "list one page", *timed(lambda i: cat.page(picks[i].partition_key, 100), calls)))
    assert cat.get(picks[0].partition_key) == picks[0]
    return results


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    path = Path(__file__).resolve().parent.parent / "tests" / "_postgres.py"
    spec = importlib.util.spec_from_file_location("_postgres", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    with module.postgres_server() as server:
        yield server.create_database()


def fsync_latency(folder: Path, count: int = 100) -> tuple[float, float]:
    """The disk's own cost of one durable commit: median and p95 ms of a 4 KiB write + fsync."""
    path = folder / "fsync.probe"
    with open(path, "wb") as fh:
        def one(_: int) -> None:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
        figures = timed(one, count)
    path.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per operation (new)")
    parser.add_argument("--old-calls", type=int, default=20, help="timed calls per operation (old)")
    parser.add_argument("--postgres", action="store_true", help="also measure PostgreSQL")
    args = parser.parse_args()
    results: list[tuple] = []
    with contextlib.ExitStack() as stack:
        pg = stack.enter_context(postgres_url()) if args.postgres else None
        for size in (int(s) for s in args.sizes.split(",")):
            rng = random.Random(0)
            rows = [synthetic(i, rng) for i in range(size)]
            tmp = Path(tempfile.mkdtemp(prefix="catalogue-bench-"))
            try:
                results += measure("old (Parquet)", fill_old(LocalStore(tmp / "old"), rows), rows, size, args.old_calls)
                os.environ.pop("MEDIA_PLATFORM_CATALOGUE_URL", None)
                results += measure("new (SQLite)", fill_new(Catalogue(LocalStore(tmp / "new")), rows), rows, size, args.calls)
                if pg is not None:
                    os.environ["MEDIA_PLATFORM_CATALOGUE_URL"] = pg
                    cat = Catalogue(LocalStore(tmp / "pg"))
                    with cat._db.writer.begin() as conn:
                        conn.execute(sa.delete(EPISODES))
                    results += measure("new (PostgreSQL)", fill_new(cat, rows), rows, size, args.calls)
                    os.environ.pop("MEDIA_PLATFORM_CATALOGUE_URL", None)
                results.append(("disk: 4 KiB write + fsync", size, "(floor of a durable insert)", *fsync_latency(tmp)))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(f"-- {size:,} episodes measured", flush=True)
    print("| catalogue | episodes | operation | median ms | p95 ms |")
    print("|---|---|---|---|---|")
    for name, size, op, median, p95 in results:
        print(f"| {name} | {size:,} | {op} | {median:.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
