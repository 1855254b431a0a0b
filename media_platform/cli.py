"""``media-platform``: ingest masters, run episode pipelines, show outputs, search shots.

Every command prints a clear error and exits with status 2 on bad input (missing file, not a
media file, unknown partition or asset), 1 when a run fails, 0 otherwise.

Runs go through the Dagster code location in ``definitions.py`` (found next to this package in
a source checkout, or at ``$MEDIA_PLATFORM_PROJECT``) against the instance in ``$DAGSTER_HOME``,
so they appear in the Dagster UI.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from tqdm import tqdm

from media_platform.catalogue import Catalogue
from media_platform.config import dagster_home, media_home
from media_platform.errors import InvalidInputError, MediaError, MediaPlatformError
from media_platform.keys import validate_partition_key
from media_platform.outputs import SHOWABLE_ASSETS, show_rows
from media_platform.storage import Store, store_from_uri

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class CliError(Exception):
    """Bad input: printed as ``error: ...`` with exit status 2."""


def _project_root() -> Path:
    env = os.environ.get("MEDIA_PLATFORM_PROJECT")
    root = Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[1]
    if not (root / "definitions.py").is_file():
        raise CliError(
            f"cannot find the code location (definitions.py) in {root}; set MEDIA_PLATFORM_PROJECT "
            "to the repository folder"
        )
    return root


def load_code_location() -> ModuleType:
    """Import ``definitions.py`` of the project (puts the project folder on ``sys.path``)."""
    os.environ.setdefault("DAGSTER_HOME", str(dagster_home()))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # the defaults: SQLite storage in DAGSTER_HOME
        (home / "dagster.yaml").write_text("# Dagster instance of the media platform (SQLite defaults)\n")
    root = str(_project_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("definitions")


def _store() -> Store:
    root = media_home()
    if root.startswith("s3://"):
        from resources import resources_from_env  # type: ignore[import-not-found]

        load_code_location()
        return resources_from_env()["storage"].get_store()
    return store_from_uri(root)


def _require_partition(store: Store, partition: str) -> None:
    try:
        validate_partition_key(partition)
    except InvalidInputError as exc:
        raise CliError(str(exc)) from exc
    if Catalogue(store).get(partition) is None:
        raise CliError(f"unknown partition {partition!r} (see `media-platform list`)")


def cmd_ingest(args: argparse.Namespace) -> int:
    from media_platform.ingest.register import attach_subtitles, register_master

    path = Path(args.path)
    if not path.is_file():
        raise CliError(f"{path}: file not found")
    if args.subtitles and not Path(args.subtitles).is_file():
        raise CliError(f"{args.subtitles}: file not found")
    licence, licence_meta = _licence_arg(args.licence, args.title, args.episode)
    store = _store()
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, desc=f"hashing {path.name}", disable=not args.progress) as bar:
        try:
            reg = register_master(
                store, Catalogue(store), path, title=args.title, episode_id=args.episode,
                source="cli", licence=licence, metadata=licence_meta, progress=bar.update,
            )
        except MediaError as exc:
            raise CliError(str(exc)) from exc
    ep = reg.episode
    if args.subtitles and reg.created:
        try:
            ep = attach_subtitles(store, Catalogue(store), ep, Path(args.subtitles))
        except MediaError as exc:
            raise CliError(str(exc)) from exc
    code = load_code_location()
    added = code.add_episode_partition(code.get_instance(), ep.partition_key)
    if not reg.created:
        print(f"already ingested: {path} has the same content as partition {ep.partition_key!r} "
              f"({ep.title}); nothing to do")
    else:
        print(f"ingested {path} as partition {ep.partition_key!r} ({ep.kind}, "
              f"{reg.probe.duration_s if reg.probe else 0:.1f} s) -> {ep.master_uri}")
    if added and not reg.created:
        print(f"re-added missing Dagster partition {ep.partition_key!r}")
    if args.json:
        print(json.dumps({"partition_key": ep.partition_key, "created": reg.created, "kind": ep.kind}))
    return EXIT_OK


def _licence_arg(
    value: str | None, title: str, episode_id: str | None
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``--licence`` (a licence name such as cc-by-nd-4.0 or analysis-only, or a JSON sidecar
    file: the operator's own word) capped by the operator's licence catalogue entry for the
    title; the licence record and the row's licence metadata. With neither a ``--licence`` nor
    an entry, the record is None: every use (the CLI is the operator's own hand ingest)."""
    from media_platform.licences import load_operator_licences, load_sidecar, recognise_licence_string
    from media_platform.licences.episodes import cli_licence

    own = None
    try:
        if value and value.endswith(".json"):
            own = load_sidecar(value)
        elif value:
            own = recognise_licence_string(value, source="cli")
            if own is None:
                raise CliError(f"unknown licence {value!r} (a name like cc-by-nd-4.0 or analysis-only, or a .json file)")
        return cli_licence(own, title, episode_id, load_operator_licences())
    except InvalidInputError as exc:
        raise CliError(str(exc)) from exc


def cmd_list(args: argparse.Namespace) -> int:
    rows = [
        {"partition_key": e.partition_key, "title": e.title, "kind": e.kind, "source": e.source,
         "content_hash": e.content_hash[:12], "ingested_at": e.ingested_at}
        for e in Catalogue(_store()).episodes()
    ]
    _print_rows(rows, args.json)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    store = _store()
    _require_partition(store, args.partition)
    code = load_code_location()
    instance = code.get_instance()
    code.add_episode_partition(instance, args.partition)
    selection = [s for item in (args.select or []) for s in item.split(",") if s]
    try:
        keys = code.resolve_selection(selection or None)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from exc
    run_id = str(uuid.uuid4())
    total = code.step_count(keys)
    outcome: dict[str, Any] = {}

    def _run() -> None:
        try:
            outcome["result"] = code.materialize_partition(
                instance, args.partition, keys, run_id, log_level="DEBUG" if args.verbose else "WARNING"
            )
        except Exception as exc:  # surfaced below
            outcome["error"] = exc

    thread = threading.Thread(target=_run, daemon=True)
    thread.start()
    seen = 0
    with tqdm(total=total, unit="asset", desc=f"run {args.partition}", disable=not args.progress) as bar:
        while thread.is_alive():
            thread.join(timeout=0.5)
            events = code.run_step_events(instance, run_id)
            if len(events) > seen:
                for step, kind, _ in events[seen:]:
                    bar.set_postfix_str(f"{step}: {kind.removeprefix('STEP_').lower()}")
                bar.update(min(len(events), total) - min(seen, total))
                seen = len(events)
        bar.update(max(0, total - bar.n))
    if "error" in outcome:
        print(f"error: run {run_id} could not execute: {outcome['error']}", file=sys.stderr)
        return EXIT_RUN_FAILED
    events = code.run_step_events(instance, run_id)
    failures = [(step, msg) for step, kind, msg in events if kind == "STEP_FAILURE"]
    for step, kind, _ in events:
        print(f"  {step:<24} {kind.removeprefix('STEP_').lower()}")
    if failures or not outcome["result"].success:
        for step, msg in failures:
            print(f"error: {step} failed for {args.partition}: {msg}", file=sys.stderr)
        print(f"run {run_id} failed", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(f"run {run_id} succeeded for partition {args.partition!r}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    store = _store()
    _require_partition(store, args.partition)
    if args.asset not in SHOWABLE_ASSETS:
        raise CliError(f"cannot show {args.asset!r}; showable assets: {', '.join(sorted(SHOWABLE_ASSETS))}")
    try:
        rows = show_rows(store, args.partition, args.asset)
    except FileNotFoundError as exc:
        raise CliError(f"{args.asset} is not materialized for {args.partition!r} "
                       f"(run: media-platform run {args.partition}): {exc}") from exc
    _print_rows(rows, args.json)
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    if not args.query.strip():
        raise CliError("the search text is empty")
    if not 1 <= args.limit <= 1000:
        raise CliError("--limit must be between 1 and 1000")
    if args.min_duration is not None and not 0 <= args.min_duration < 86400:
        raise CliError("--min-duration must be between 0 and 86400 seconds")
    if args.partition is not None:
        try:
            validate_partition_key(args.partition)
        except InvalidInputError as exc:
            raise CliError(str(exc)) from exc
    load_code_location()
    from resources import resources_from_env  # type: ignore[import-not-found]

    res = resources_from_env()
    index = res["vector_index"].get_index()
    encoder = res["clip"].get_encoder()
    vector = encoder.encode_text([args.query])[0]
    started = time.perf_counter()
    hits = index.search(vector, limit=args.limit, partition_key=args.partition,
                        min_duration_s=args.min_duration)
    elapsed_ms = (time.perf_counter() - started) * 1000
    rows = [
        {"partition": h.payload.get("partition"), "shot": h.payload.get("shot"),
         "start": round(float(h.payload.get("start_s", 0.0)), 3), "end": round(float(h.payload.get("end_s", 0.0)), 3),
         "score": round(h.score, 4), "title": h.payload.get("title"), "keyframe_uri": h.payload.get("keyframe_uri")}
        for h in hits
    ]
    _print_rows(rows, args.json)
    if not args.json:
        print(f"({len(rows)} shots in {elapsed_ms:.1f} ms; model {encoder.spec.label})", file=sys.stderr)
    return EXIT_OK


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="media-platform", description=__doc__.split("\n")[0])
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="store a master file and add its episode partition")
    p.add_argument("path")
    p.add_argument("--title", required=True)
    p.add_argument("--episode", default=None, help="episode id (e.g. s01e02)")
    p.add_argument("--licence", default=None, help="licence name (cc-by-nd-4.0, analysis-only, full...) or JSON file; the operator's "
                   "licences.yaml entry for the title still caps it; default: unrestricted (capped likewise)")
    p.add_argument("--subtitles", default=None, help="SRT/WebVTT/JSON transcript to use instead of Whisper")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("list", help="list the catalogued episodes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="materialize an episode's assets through Dagster")
    p.add_argument("partition")
    p.add_argument("--select", action="append", help="asset names (comma-separated; +name adds upstream)")
    p.add_argument("--verbose", action="store_true", help="print Dagster's event log")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("show", help="print an asset's output for an episode")
    p.add_argument("partition")
    p.add_argument("asset")
    p.add_argument("--json", action="store_true", help="a JSON array of row objects")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("search", help="find the shots nearest a text description")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--partition", default=None)
    p.add_argument("--min-duration", type=float, default=None, help="seconds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not sys.stderr.isatty():
        args.progress = args.progress and os.environ.get("MEDIA_PLATFORM_PROGRESS") == "1"
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MediaPlatformError as exc:  # e.g. searching before anything was indexed
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
