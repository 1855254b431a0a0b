"""What every command checks at the door: exit codes, the error type printed as
``error: <input>: <problem>``, text that must be valid Unicode, known partitions."""

from __future__ import annotations

from pathlib import Path

from media_platform.errors import InvalidInputError
from media_platform.keys import printable, require_text, validate_partition_key

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class CliError(Exception):
    """Bad input: printed as ``error: ...`` with exit status 2."""


def check_text(value: str | None, where: str) -> str | None:
    """``value`` if it is valid text (no lone surrogates from bytes that are not UTF-8, no control
    characters); else CliError ``<where>: <problem>``."""
    if value is None:
        return None
    try:
        return require_text(value, where)
    except InvalidInputError as exc:
        raise CliError(str(exc)) from None


def check_path(value: str, *, must_exist: bool = True) -> Path:
    """A file argument: its name must be valid text (a file name whose bytes are not UTF-8 is
    refused, named with ``\\xNN`` escapes) and, by default, the file must exist."""
    where = printable(value)
    check_text(value, where)
    path = Path(value)
    if must_exist and not path.is_file():
        raise CliError(f"{where}: file not found")
    return path


def check_partition(partition: str) -> str:
    """A partition key argument: valid text and a valid key (never a path)."""
    check_text(partition, "partition")
    try:
        return validate_partition_key(partition)
    except InvalidInputError as exc:
        raise CliError(str(exc)) from exc
