"""``media-platform run``: materialize an episode's assets through Dagster, in this process,
recorded in the instance of ``$DAGSTER_HOME`` so the run shows in the UI.

``--select`` is parsed by Dagster's own parser, as ``dagster asset materialize --select`` does,
so a string means the same here, there and in the UI.
"""

from __future__ import annotations

import argparse
import sys
import threading
import uuid
from typing import Any

from tqdm import tqdm

from media_platform.catalogue import Catalogue
from media_platform.cli.code_location import load_code_location, open_instance, open_store
from media_platform.cli.inputs import (
    EXIT_OK,
    EXIT_RUN_FAILED,
    CliError,
    check_partition,
    check_text,
)
from media_platform.settings import get_settings


def require_known_partition(partition: str) -> None:
    check_partition(partition)
    if Catalogue(open_store()).get(partition) is None:
        raise CliError(f"unknown partition {partition!r} (see `media-platform list`)")


def cmd_run(args: argparse.Namespace) -> int:
    """Run each partition in turn (one failing never stops the next), then bring the metadata
    database up to date once."""
    for value in args.select or []:
        check_text(value, "--select")
    for partition in args.partitions:
        require_known_partition(partition)
    code = load_code_location()
    try:
        keys, left_out = code.resolve_selection(args.select)
    except code.SelectionError as exc:
        raise CliError(f"--select: {exc}") from exc
    if left_out:
        names = ", ".join(k.to_user_string() for k in left_out)
        print(f"note: --select: not part of an episode run, left out: {names}", file=sys.stderr)
    instance = open_instance()
    failed = [p for p in dict.fromkeys(args.partitions) if not _run_partition(code, instance, p, keys, args)]
    if len(failed) == len(set(args.partitions)):
        return EXIT_RUN_FAILED
    status = refresh_metadata(code, instance)
    if failed:
        print(f"error: {len(failed)} of {len(set(args.partitions))} runs failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return status


def _run_partition(code: Any, instance: Any, partition: str, keys: Any, args: argparse.Namespace) -> bool:
    """Materialize ``keys`` of ``partition`` with a progress bar; print its steps; succeeded?"""
    code.add_episode_partition(instance, partition)
    run_id = str(uuid.uuid4())
    total = code.step_count(keys)
    outcome: dict[str, Any] = {}

    def _run() -> None:
        try:
            outcome["result"] = code.materialize_partition(
                instance, partition, keys, run_id, log_level="DEBUG" if args.verbose else "WARNING"
            )
        except Exception as exc:  # surfaced below
            outcome["error"] = exc

    thread = threading.Thread(target=_run, daemon=True)
    thread.start()
    seen = 0
    with tqdm(total=total, unit="asset", desc=f"run {partition}", disable=not args.progress) as bar:
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
        return False
    events = code.run_step_events(instance, run_id)
    failures = [(step, msg) for step, kind, msg in events if kind == "STEP_FAILURE"]
    for step, kind, _ in events:
        print(f"  {step:<24} {kind.removeprefix('STEP_').lower()}")
    if failures or not outcome["result"].success:
        for step, msg in failures:
            print(f"error: {step} failed for {partition}: {msg}", file=sys.stderr)
        print(f"run {run_id} failed", file=sys.stderr)
        return False
    print(f"run {run_id} succeeded for partition {partition!r}")
    return True


def refresh_metadata(code: Any, instance: Any) -> int:
    """Bring the metadata database up to date after a run (a daemon's automation would do it
    too), so that `media-platform sql` sees the episode at once."""
    settings = get_settings()
    if not settings.run_builds_metadata:
        print("note: the metadata database is not rebuilt by runs here (MEDIA_PLATFORM_RUN_BUILDS_METADATA=0)",
              file=sys.stderr)
        return EXIT_OK
    if settings.home_is_s3:
        print("note: the metadata database reads a local home only; not rebuilt for an S3 home", file=sys.stderr)
        return EXIT_OK
    run_id = str(uuid.uuid4())
    result = code.build_metadata(instance, run_id)
    if not result.success:
        for step, kind, message in code.run_step_events(instance, run_id):
            if kind == "STEP_FAILURE":
                print(f"error: metadata database not updated ({step}): {message}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(f"metadata database updated: {settings.metadata_db_path}")
    return EXIT_OK
