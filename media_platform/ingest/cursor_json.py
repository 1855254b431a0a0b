"""Sensor cursors are versioned JSON objects; this reads one, or says what is wrong with it
without echoing its text (an old cursor may hold a feed URL with a token)."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from media_platform.errors import InvalidInputError


def parse_cursor_json(text: str, what: str, versions: Collection[int]) -> dict[str, Any]:
    """The JSON object ``text``, whose ``"v"`` is one of ``versions``.

    Raises:
        InvalidInputError: ``<what> is not JSON`` or ``<what> has an unknown format``.
    """
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{what} is not JSON: {exc}") from None
    if not isinstance(payload, dict) or payload.get("v") not in versions:
        raise InvalidInputError(f"{what} has an unknown format or version")
    return payload
