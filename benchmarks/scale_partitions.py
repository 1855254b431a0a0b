"""Episode partitions at 1,000 / 10,000 / 100,000 on a PostgreSQL and an SQLite Dagster instance:
adding them, listing them, and the GraphQL query behind an asset's partitions page.

    python benchmarks/scale_partitions.py [--sizes 1000,10000,100000] [--backends postgres,sqlite]
                                          [--batch 1000] [--no-graphql] [--materialized 100]

For each backend a fresh instance (PostgreSQL: ``deploy/dagster.yaml`` on a throwaway server of
``tests/_postgres.py`` on a loopback port, fsync off; SQLite: Dagster's default storage in a temp
``DAGSTER_HOME``). The partitions are added to the platform's own definition
(``resources.partitions.episodes_partitions``, name ``episodes``) with
``instance.add_dynamic_partitions`` in batches of ``--batch``, the instance growing from one size
to the next. At each size:

- add: seconds to add the keys since the last size, and per batch (mean, last);
- list: ``get_dynamic_partitions`` (every key), median of 3;
- has: ``has_dynamic_partition`` of a random key, mean over 50 calls;
- graphql: ``PartitionHealthQuery`` for the ``master`` asset, the query the Dagster UI sends for
  an asset's partitions page (copied from dagster-webserver's bundle:
  ``partitionKeysByDimension`` and ``assetPartitionStatuses``), executed by dagster-graphql
  against the real code location (``definitions.py``, loaded in a gRPC code server as the
  webserver does) on the same instance; median of 3 after one warm-up, with the answer's size
  and the counts it returned checked against the instance.

Before the first size, ``--materialized`` partitions of ``master`` get a (runless)
materialization, so the status part of the query has a materialized subset to return.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

PARTITION_HEALTH_QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        __typename
        ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
      }
    }
  }
}
"""


def episode_keys(start: int, stop: int) -> list[str]:
    """Keys shaped like the platform's (a slug and a short hash), valid partition keys."""
    from media_platform.keys import validate_partition_key

    out = []
    for i in range(start, stop):
        digest = hashlib.sha256(str(i).encode()).hexdigest()[:8]
        out.append(validate_partition_key(f"show-{i % 997:03d}-episode-{i:07d}-{digest}"))
    return out


@contextlib.contextmanager
def instance_for(backend: str, root: Path) -> Iterator:
    import dagster as dg

    home = root / f"dagster-{backend}"
    home.mkdir(parents=True)
    if backend == "sqlite":
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
        return
    from _postgres import postgres_server

    with postgres_server() as server:
        database = server.create_database()
        os.environ["DAGSTER_POSTGRES_URL"] = database.replace("postgresql+psycopg", "postgresql+psycopg2")
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance


def _median_of(n: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(n):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def measure(backend: str, sizes: list[int], batch: int, graphql: bool, materialized: int, root: Path) -> list[dict]:
    import dagster as dg

    from resources.partitions import episodes_partitions

    name = episodes_partitions.name
    rows = []
    with instance_for(backend, root) as instance, contextlib.ExitStack() as stack:
        keys0 = episode_keys(0, max(materialized, 1))
        instance.add_dynamic_partitions(name, keys0[:materialized])
        for key in keys0[:materialized]:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="master", partition=key))
        count = materialized
        context = None
        if graphql:
            from dagster_graphql.test.utils import define_out_of_process_context

            t = time.perf_counter()
            context = stack.enter_context(define_out_of_process_context(str(REPO / "definitions.py"), None, instance))
            print(f"[{backend}] code location loaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for size in sizes:
            batch_times = []
            t0 = time.perf_counter()
            while count < size:
                chunk = episode_keys(count, min(size, count + batch))
                t = time.perf_counter()
                instance.add_dynamic_partitions(name, chunk)
                batch_times.append(time.perf_counter() - t)
                count += len(chunk)
            added_s = time.perf_counter() - t0
            list_s, listed = _median_of(3, lambda: instance.get_dynamic_partitions(name))
            assert len(listed) == size, (len(listed), size)
            probes = random.Random(size).sample(listed, 50)
            t = time.perf_counter()
            assert all(instance.has_dynamic_partition(name, k) for k in probes)
            has_ms = (time.perf_counter() - t) / len(probes) * 1000
            row = {
                "backend": backend, "partitions": size, "added": len(batch_times) * batch if batch_times else 0,
                "add_s": round(added_s, 2),
                "batch_mean_ms": round(statistics.mean(batch_times) * 1000, 1) if batch_times else None,
                "batch_last_ms": round(batch_times[-1] * 1000, 1) if batch_times else None,
                "list_ms": round(list_s * 1000, 1), "has_ms": round(has_ms, 2),
            }
            if context is not None:
                row.update(graphql_query(context, size, materialized))
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def graphql_query(context, size: int, materialized: int) -> dict:
    from dagster_graphql.test.utils import execute_dagster_graphql

    variables = {"assetKey": {"path": ["master"]}}

    def run():
        # a fresh request context per query, as the webserver makes one per request
        result = execute_dagster_graphql(context.process_context.create_request_context(), PARTITION_HEALTH_QUERY, variables)
        assert not result.errors, result.errors
        return result.data

    run()  # warm-up
    seconds, data = _median_of(3, run)
    node = data["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    keys = node["partitionKeysByDimension"][0]["partitionKeys"]
    statuses = node["assetPartitionStatuses"]
    assert len(keys) == size, (len(keys), size)
    assert len(statuses["materializedPartitions"]) == materialized, statuses
    return {"graphql_ms": round(seconds * 1000, 1), "graphql_kib": round(len(json.dumps(data)) / 1024)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--materialized", type=int, default=100)
    parser.add_argument("--no-graphql", action="store_true")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs", file=sys.stderr)
    root = Path(tempfile.mkdtemp(prefix="scale-partitions-"))
    os.environ.setdefault("MEDIA_PLATFORM_HOME", str(root / "home"))
    try:
        for backend in args.backends.split(","):
            measure(backend, sizes, args.batch, not args.no_graphql, args.materialized, root)
            print(f"load average after {backend}: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
