"""The RSS sensor over a backlog: one feed of 10,000 new items served on a loopback port, ticked
until the backlog is drained.

    python benchmarks/scale_sensor.py [--items 10000] [--cap 1000] [--max-ticks 40]

The feed is real RSS 2.0 (title, GUID, pubDate, an audio enclosure on the same loopback server:
the tick never downloads it, the ``master`` asset does), served by ``tests/_http_server.py`` with
an ETag. Each tick is the real sensor (``sensors/rss.py``, ``build_rss_sensor``) evaluated with
``dg.build_sensor_context`` on a SQLite Dagster instance and the real code location's job
(``definitions.py``), the cursor carried from tick to tick and the dynamic-partition requests
applied to the instance between ticks, as the daemon does. The catalogue is the home's SQLite
file. The per-tick cap is the feed's ``max_new_items_per_tick`` (``--cap``; the feeds file allows
1..1000, default 5).

Printed per tick: seconds, runs requested, new partitions; then the ticks needed to drain, the
slowest tick against Dagster's default sensor timeout (60 s) and the sensor's own budget
(``MEDIA_PLATFORM_RSS_TICK_BUDGET_S``, 40 s), and whether any run key was requested twice.
:func:`drain` is also what ``tests/test_sensor_rss_backlog.py`` runs at a smaller scale.
"""

from __future__ import annotations

import argparse
import email.utils
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAGSTER_SENSOR_TIMEOUT_S = 60.0
"""Dagster's default sensor evaluation timeout (``DEFAULT_SENSOR_GRPC_TIMEOUT``)."""


def backlog_guid(i: int, chars: int = 0) -> str:
    """Item ``i``'s GUID, padded to ``chars`` characters (GUIDs are often long URLs)."""
    guid = f"backlog-{i:06d}"
    return guid + "-" + "x" * (chars - len(guid) - 1) if chars > len(guid) + 1 else guid


def backlog_feed(items: int, base_url: str, *, guid_chars: int = 0) -> bytes:
    """RSS 2.0 with ``items`` episodes (newest first, one a day), enclosures under ``base_url``,
    GUIDs of at least ``guid_chars`` characters."""
    epoch = 1_600_000_000
    entries = []
    for i in reversed(range(items)):
        published = email.utils.formatdate(epoch + i * 86_400, usegmt=True)
        entries.append(
            f"<item><title>Backlog episode {i}</title><guid isPermaLink=\"false\">{backlog_guid(i, guid_chars)}</guid>"
            f"<pubDate>{published}</pubDate><enclosure url=\"{escape(base_url)}/media/{i}.mp3\" "
            f"type=\"audio/mpeg\" length=\"160000\"/></item>"
        )
    return (
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>"
        "<title>Backlog Show</title><link>https://example.org/backlog</link>"
        "<description>a long back catalogue</description>\n" + "\n".join(entries) + "\n</channel></rss>\n"
    ).encode()


@dataclass
class Tick:
    seconds: float
    runs: int
    new_partitions: int
    skip_reason: str | None


@dataclass
class Drain:
    ticks: list[Tick] = field(default_factory=list)
    run_keys: list[str] = field(default_factory=list)
    partition_keys: list[str] = field(default_factory=list)
    backlog_left: bool = True

    @property
    def duplicate_run_keys(self) -> int:
        return len(self.run_keys) - len(set(self.run_keys))


def drain(
    instance,
    home: Path,
    feeds_file: Path,
    definitions,
    *,
    max_ticks: int,
    on_tick: Callable[[int, Tick], None] | None = None,
) -> Drain:
    """Tick the RSS sensor like the daemon (cursor carried over, partition requests applied)
    until a tick requests nothing and leaves no backlog, or ``max_ticks`` ticks."""
    import dagster as dg

    from resources import MediaStorage
    from sensors.rss import build_rss_sensor, decode_rss_cursor

    now = [2_000_000_000.0]
    sensor = build_rss_sensor(path=feeds_file, clock=lambda: now[0])
    out = Drain()
    cursor = None
    for number in range(1, max_ticks + 1):
        now[0] += 30  # the daemon's default 30 s between evaluations
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"storage": MediaStorage(root=str(home))},
            definitions=definitions,
        )
        t = time.perf_counter()
        result = sensor(context)
        seconds = time.perf_counter() - t
        new = [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        cursor = result.cursor
        out.run_keys.extend(r.run_key for r in result.run_requests or [])
        out.partition_keys.extend(new)
        tick = Tick(seconds, len(result.run_requests or []), len(new), result.skip_reason)
        out.ticks.append(tick)
        if on_tick:
            on_tick(number, tick)
        out.backlog_left = bool(decode_rss_cursor(cursor).backlog)
        if not tick.runs and not out.backlog_left:
            break
    return out


def write_feeds(path: Path, url: str, cap: int) -> None:
    import yaml

    path.write_text(yaml.safe_dump({"feeds": [{
        "url": url, "title": "Backlog Show", "default_licence": "analysis-only",
        "max_new_items_per_tick": cap, "poll_interval_s": 3600,
    }]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=1000)
    parser.add_argument("--max-ticks", type=int, default=40)
    parser.add_argument("--guid-chars", type=int, default=0, help="pad GUIDs to this length (max 512)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="scale-sensor-"))
    os.environ["MEDIA_PLATFORM_HOME"] = str(root / "home")
    os.environ["MEDIA_PLATFORM_ALLOW_PRIVATE_URLS"] = "1"  # the feed is on 127.0.0.1
    os.environ.pop("MEDIA_PLATFORM_LICENCES", None)
    sys.path.insert(0, str(REPO / "tests"))
    import dagster as dg
    from _http_server import LocalServer, Route

    import definitions

    logging.getLogger("dagster").setLevel(logging.WARNING)  # one INFO line per item otherwise
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    (root / "dagster").mkdir(parents=True)
    with LocalServer() as server, dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        body = backlog_feed(args.items, server.url(""), guid_chars=args.guid_chars)
        server.routes["/backlog.xml"] = Route(body=body, content_type="application/rss+xml", etag='"v1"')
        feeds = root / "feeds.yaml"
        write_feeds(feeds, server.url("/backlog.xml"), args.cap)
        print(f"feed: {args.items} items, {len(body) / 1e6:.2f} MB; cap {args.cap} per tick")

        def show(number: int, tick: Tick) -> None:
            print(f"tick {number:3d}: {tick.seconds:6.2f} s, {tick.runs:5d} runs, {tick.new_partitions:5d} new partitions"
                  + (f" ({tick.skip_reason})" if tick.skip_reason else ""), flush=True)

        result = drain(instance, root / "home", feeds, definitions.defs, max_ticks=args.max_ticks, on_tick=show)
        partitions = set(instance.get_dynamic_partitions("episodes"))
    slowest = max(t.seconds for t in result.ticks)
    working = [t for t in result.ticks if t.runs]
    drained = len(set(result.run_keys)) == args.items and not result.backlog_left
    print(f"requested {len(result.run_keys)} runs ({len(set(result.run_keys))} distinct run keys, "
          f"{result.duplicate_run_keys} duplicates) for {args.items} items; {len(partitions)} partitions")
    print(f"drained: {drained} after {len(working)} ticks with runs ({len(result.ticks)} ticks in all); "
          f"largest batch {max((t.runs for t in result.ticks), default=0)} (cap {args.cap})")
    print(f"slowest tick {slowest:.2f} s (Dagster's sensor timeout {DAGSTER_SENSOR_TIMEOUT_S:.0f} s); "
          f"mean tick with runs {sum(t.seconds for t in working) / max(1, len(working)):.2f} s")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0 if drained and not result.duplicate_run_keys and slowest < DAGSTER_SENSOR_TIMEOUT_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
