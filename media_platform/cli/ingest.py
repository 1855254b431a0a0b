"""``media-platform ingest``: store a master, record it in the catalogue, add its partition.

Every step that can fail comes before the row is visible or is undone: the arguments (text,
files, the subtitle sidecar, the licence) are checked and the Dagster instance is prepared
before anything is registered, and when adding the episode's partition fails after a new row
was written, the row and the stored master are removed again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from media_platform.catalogue import Catalogue, Episode
from media_platform.cli.code_location import load_code_location, open_instance, open_store
from media_platform.cli.inputs import EXIT_OK, CliError, check_path, check_text
from media_platform.cli.licence import licence_arg
from media_platform.errors import MediaError
from media_platform.keys import printable


def check_subtitles(path: Path) -> None:
    """Parse the subtitle sidecar before anything is registered: a bad one is refused with
    ``<file>: <problem>`` and leaves nothing behind."""
    from media_platform.audio.subtitles import parse_subtitles
    from media_platform.ingest.register import SUBTITLE_SUFFIXES

    if path.suffix.lower() not in SUBTITLE_SUFFIXES:
        raise CliError(f"{printable(path)}: subtitles must be one of {', '.join(SUBTITLE_SUFFIXES)}")
    try:
        parse_subtitles(path)
    except MediaError as exc:
        raise CliError(str(exc)) from exc


def cmd_ingest(args: argparse.Namespace) -> int:
    from media_platform.ingest.register import (
        attach_subtitles,
        keep_original_error,
        register_master,
        undo_registration,
    )

    path = check_path(args.path)
    title = check_text(args.title, "--title")
    episode_id = check_text(args.episode, "--episode")
    series = check_text(getattr(args, "series", None), "--series")
    subtitles = check_path(args.subtitles) if args.subtitles is not None else None
    check_text(args.licence, "--licence")
    if subtitles is not None:
        check_subtitles(subtitles)
    licence, licence_meta = licence_arg(args.licence, title, episode_id)
    store = open_store()
    code = load_code_location()
    instance = open_instance()  # before the row exists: a broken instance leaves nothing behind
    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"hashing {printable(path.name)}",
              disable=not args.progress) as bar:
        try:
            reg = register_master(
                store, Catalogue(store), path, title=title, episode_id=episode_id,
                source="cli", licence=licence, progress=bar.update,
                metadata={**(licence_meta or {}), **({"series": series} if series else {})},
            )
        except MediaError as exc:
            raise CliError(str(exc)) from exc
    ep = reg.episode
    attached = False
    try:
        if subtitles is not None and (reg.created or not ep.metadata.get("subtitle_key")):
            ep = attach_subtitles(store, Catalogue(store), ep, subtitles)
            attached = True
        added = code.add_episode_partition(instance, ep.partition_key)
    except BaseException as exc:
        keep_original_error(exc, "undoing the registration", lambda: undo_registration(store, Catalogue(store), reg))
        raise
    _report(path, reg.created, ep, reg.probe.duration_s if reg.probe else 0.0, added, attached, args.json)
    return EXIT_OK


def _report(path: Path, created: bool, ep: Episode, duration_s: float, added: bool, attached: bool,
            as_json: bool) -> None:
    shown = printable(path)
    if created:
        print(f"ingested {shown} as partition {ep.partition_key!r} ({ep.kind}, {duration_s:.1f} s) -> {ep.master_uri}")
    elif attached:
        print(f"already ingested: {shown} has the same content as partition {ep.partition_key!r} "
              f"({ep.title}); attached the subtitles it did not have")
    else:
        print(f"already ingested: {shown} has the same content as partition {ep.partition_key!r} "
              f"({ep.title}); nothing to do")
    if added and not created:
        print(f"re-added missing Dagster partition {ep.partition_key!r}")
    if as_json:
        result: dict[str, Any] = {"partition_key": ep.partition_key, "created": created, "kind": ep.kind,
                                  "subtitles_attached": attached}
        print(json.dumps(result))
