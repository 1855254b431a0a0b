"""The ``--licence`` argument of ``media-platform ingest``, capped by the operator's licence
catalogue (the licence policy's part of the tool)."""

from __future__ import annotations

from typing import Any

from media_platform.cli.inputs import CliError
from media_platform.errors import InvalidInputError


def licence_arg(
    value: str | None, title: str, episode_id: str | None
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """``--licence`` (a licence name such as cc-by-nd-4.0 or analysis-only, or a JSON sidecar
    file: the operator's own word) capped by the operator's licence catalogue entry for the
    title; the licence record and the row's licence metadata. With neither a ``--licence`` nor
    an entry, the record is None: every use (the CLI is the operator's own hand ingest)."""
    from media_platform.licences import (
        load_operator_licences,
        load_sidecar,
        recognise_licence_string,
    )
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

