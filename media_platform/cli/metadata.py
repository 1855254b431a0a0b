"""``media-platform info`` and ``sql``: where everything lives, and read-only SQL against the
metadata database (the DuckDB file that the dbt models are built into)."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from typing import Any

from media_platform.cli.inputs import EXIT_OK, CliError
from media_platform.cli.read import print_rows
from media_platform.keys import printable
from media_platform.metadata.query import DEFAULT_LIMIT, MAX_LIMIT, run_query
from media_platform.settings import get_settings


def _catalogue_location() -> str:
    """The catalogue's database: its URL without the password, or the SQLite file's path."""
    settings = get_settings()
    if settings.catalogue_url:
        from sqlalchemy.engine import make_url

        return make_url(settings.catalogue_url).render_as_string(hide_password=True)
    from media_platform.catalogue.database import catalogue_url
    from media_platform.storage import store_from_uri

    url = catalogue_url(store_from_uri(settings.media_home))  # names only: nothing is read
    return url.removeprefix("sqlite:///")


def platform_paths() -> dict[str, Any]:
    """Where the platform keeps things, from the settings (nothing is created)."""
    settings = get_settings()
    metadata_db = settings.metadata_db_path
    return {
        "storage_home": settings.media_home,
        "local_home": str(settings.local_home),
        "catalogue": _catalogue_location(),
        "metadata_db": str(metadata_db),
        "metadata_db_exists": metadata_db.is_file(),
        "vector_index": settings.qdrant_url or str(settings.local_home / "vector_index"),
        "dagster_home": str(settings.dagster_home),
    }


def cmd_info(args: argparse.Namespace) -> int:
    paths = platform_paths()
    if args.json:
        json.dump(paths, sys.stdout)
        sys.stdout.write("\n")
        return EXIT_OK
    width = max(len(k) for k in paths)
    for key, value in paths.items():
        print(f"{key.ljust(width)}  {printable(str(value))}")
    return EXIT_OK


def _plain(value: Any) -> Any:
    """DuckDB's DECIMAL values as numbers (JSON has no decimal type), also inside lists and structs."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def cmd_sql(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise CliError(f"--limit must be between 1 and {MAX_LIMIT}")
    result = run_query(get_settings().metadata_db_path, args.sql, limit=args.limit)
    rows = [{k: _plain(v) for k, v in row.items()} for row in result.as_dicts()]
    if not rows and result.columns and not args.json:
        print(f"(no rows; columns: {', '.join(printable(c) for c in result.unique_columns())})")
    else:
        print_rows(rows, args.json)
    if result.truncated:
        print(f"note: only the first {args.limit} rows are shown; more exist (raise --limit, or add LIMIT/WHERE)",
              file=sys.stderr)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print where the platform keeps things (home, catalogue, metadata database...)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("sql", help="run one read-only SELECT against the metadata database (DuckDB)")
    p.add_argument("sql", help='e.g. "SELECT * FROM fct_shots ORDER BY duration_s DESC LIMIT 5"')
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"most rows to print (default {DEFAULT_LIMIT})")
    p.add_argument("--json", action="store_true", help="a JSON array of row objects")
    p.set_defaults(func=cmd_sql)
