"""``media-platform list``, ``show`` and ``search``: read the catalogue, an episode's stored
outputs and the shot index."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from media_platform.catalogue import Catalogue
from media_platform.cli.code_location import load_code_location, open_store
from media_platform.cli.inputs import EXIT_OK, CliError, check_partition, check_text
from media_platform.cli.run import require_known_partition
from media_platform.cli.show import SHOWABLE_ASSETS, show_rows
from media_platform.tags.labels import check_label_name as check_tag_name


def cmd_list(args: argparse.Namespace) -> int:
    rows = [
        {"partition_key": e.partition_key, "title": e.title, "kind": e.kind, "source": e.source,
         "content_hash": e.content_hash[:12], "ingested_at": e.ingested_at}
        for e in Catalogue(open_store()).episodes()
    ]
    print_rows(rows, args.json)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    check_text(args.asset, "asset")
    require_known_partition(args.partition)
    if args.asset not in SHOWABLE_ASSETS:
        raise CliError(f"cannot show {args.asset!r}; showable assets: {', '.join(sorted(SHOWABLE_ASSETS))}")
    try:
        rows = show_rows(open_store(), args.partition, args.asset)
    except FileNotFoundError as exc:
        raise CliError(f"{args.asset} is not materialized for {args.partition!r} "
                       f"(run: media-platform run {args.partition}): {exc}") from exc
    print_rows(rows, args.json)
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    check_text(args.query, "the search text")
    if not args.query.strip():
        raise CliError("the search text is empty")
    if not 1 <= args.limit <= 1000:
        raise CliError("--limit must be between 1 and 1000")
    if args.min_duration is not None and not 0 <= args.min_duration < 86400:
        raise CliError("--min-duration must be between 0 and 86400 seconds")
    if args.partition is not None:
        check_partition(args.partition)
    tags = [check_tag_name(t) for t in args.tag or []]
    code = load_code_location()
    index = code.resource("vector_index").get_index()
    encoder = code.resource("clip").get_encoder()
    vector = encoder.encode_text([args.query])[0]
    started = time.perf_counter()
    hits = index.search(vector, limit=args.limit, partition_key=args.partition,
                        min_duration_s=args.min_duration, tags=tags or None)
    elapsed_ms = (time.perf_counter() - started) * 1000
    rows = [
        {"partition": h.payload.get("partition"), "shot": h.payload.get("shot"),
         "start": round(float(h.payload.get("start_s", 0.0)), 3), "end": round(float(h.payload.get("end_s", 0.0)), 3),
         "score": round(h.score, 4), "title": h.payload.get("title"), "tags": h.payload.get("tags", []),
         "keyframe_uri": h.payload.get("keyframe_uri")}
        for h in hits
    ]
    print_rows(rows, args.json)
    if not args.json:
        print(f"({len(rows)} shots in {elapsed_ms:.1f} ms; model {encoder.spec.label})", file=sys.stderr)
    return EXIT_OK


def print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        json.dump(rows, sys.stdout, indent=None, default=str)
        sys.stdout.write("\n")
        return
    if not rows:
        print("(no rows)")
        return
    import polars as pl

    with pl.Config(tbl_rows=200, tbl_cols=20, fmt_str_lengths=60, tbl_width_chars=200):
        print(pl.DataFrame(rows))
