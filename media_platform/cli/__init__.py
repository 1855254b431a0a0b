"""``media-platform``: ingest masters, run episode pipelines, show outputs, search shots.

Every command prints a clear error and exits with status 2 on bad input (missing file, not a
media file, text that is not valid Unicode, unknown partition or asset, an invalid selection),
1 when a run or the platform fails, 0 otherwise.

Runs go through the Dagster code location ``definitions.py`` (found next to this package in a
source checkout, or at ``$MEDIA_PLATFORM_PROJECT``), loaded by Dagster's own loader, against
the instance in ``$DAGSTER_HOME`` (prepared once, under a lock), so they appear in the UI.

Modules: ``inputs`` (checks at the door), ``code_location`` (instance and definitions),
``ingest``, ``licence`` (the ``--licence`` argument), ``run``, ``read`` (list, show, search),
``show`` (stored outputs as rows), ``tags`` (label, train, suggest) and ``metadata`` (info, sql).
"""

from __future__ import annotations

import argparse
import sys

from media_platform.cli.code_location import prepare_instance
from media_platform.cli.ingest import cmd_ingest
from media_platform.cli.inputs import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED, CliError
from media_platform.cli.metadata import add_parsers as add_metadata_parsers
from media_platform.cli.read import cmd_list, cmd_search, cmd_show
from media_platform.cli.run import cmd_run
from media_platform.cli.serve import add_parsers as add_serve_parsers
from media_platform.cli.tags import add_parsers as add_tag_parsers
from media_platform.cli.worker import add_parsers as add_worker_parsers
from media_platform.errors import InvalidInputError, MediaPlatformError
from media_platform.keys import printable
from media_platform.settings import get_settings

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_RUN_FAILED", "CliError", "build_parser", "main"]


def cmd_init(args: argparse.Namespace) -> int:
    home = prepare_instance()
    print(f"Dagster instance ready in {printable(home)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="media-platform", description=__doc__.split("\n")[0])
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="prepare the Dagster instance in $DAGSTER_HOME (every command does it)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("ingest", help="store a master file and add its episode partition")
    p.add_argument("path")
    p.add_argument("--title", required=True)
    p.add_argument("--episode", default=None, help="episode id (e.g. s01e02)")
    p.add_argument("--series", default=None, help="series the episode belongs to (for intro/recap/credits markers; default: its title)")
    p.add_argument("--licence", default=None, help="licence name (cc-by-nd-4.0, analysis-only, full...) or JSON file; the operator's "
                   "licences.yaml entry for the title still caps it; default: unrestricted (capped likewise)")
    p.add_argument("--subtitles", default=None, help="SRT/WebVTT/JSON transcript to use instead of Whisper "
                   "(checked before ingesting; attached to an already ingested episode that has none)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("list", help="list the catalogued episodes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="materialize episodes' assets through Dagster (one after another, then the "
                       "metadata database once)")
    p.add_argument("partitions", nargs="+", metavar="partition")
    p.add_argument("--select", action="append",
                   help="Dagster asset selection, as in the UI and `dagster asset materialize --select` "
                   "(comma-separated clauses: shots,keyframes  *preview  +key:preview  shots+  group:video)")
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
    p.add_argument("--tag", action="append", default=None, help="only shots carrying this tag (repeatable: all of them)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    add_tag_parsers(sub)
    add_metadata_parsers(sub)
    add_serve_parsers(sub)
    add_worker_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not sys.stderr.isatty():
            args.progress = args.progress and get_settings().progress
        return int(args.func(args))
    except (CliError, InvalidInputError) as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MediaPlatformError as exc:  # e.g. a corrupt catalogue, searching before indexing
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except Exception as exc:  # noqa: BLE001 - the platform failed (storage, instance...): one line, exit 1
        print(f"error: {args.command}: {type(exc).__name__}: {printable(str(exc))}", file=sys.stderr)
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(main())
