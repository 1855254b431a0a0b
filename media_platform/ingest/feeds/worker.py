"""The feed parser process (see :mod:`media_platform.ingest.feeds.isolation`).

Reads requests from stdin and writes replies to stdout, each an 8-byte big-endian length and a
pickle (first, a zero length alone says the worker is ready): a request is ``(body, base_url)``, a reply ``("ok", ParsedFeed)``,
``("feed-error", error class name, problem)`` or ``("invalid", message)``. Exits at end of input.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any, BinaryIO

from media_platform.errors import InvalidInputError
from media_platform.ingest.feeds.errors import FeedError
from media_platform.ingest.feeds.parsing import parse_feed

_HEADER = 8


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def handle(body: bytes, base_url: str) -> tuple[Any, ...]:
    """One parse, as a reply message."""
    try:
        return ("ok", parse_feed(body, base_url))
    except FeedError as exc:
        return ("feed-error", type(exc).__name__, exc.problem)
    except InvalidInputError as exc:
        return ("invalid", str(exc))
    except Exception as exc:  # noqa: BLE001 - any parser crash is reported, the worker goes on
        return ("feed-error", "FeedParseError", f"parser failed: {type(exc).__name__}: {exc}")


def main() -> None:
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by a library goes to stderr, never into the replies
    replies.write(bytes(_HEADER))  # ready
    replies.flush()
    while True:
        header = _read_exact(requests, _HEADER)
        if header is None:
            return
        payload = _read_exact(requests, int.from_bytes(header, "big"))
        if payload is None:
            return
        body, base_url = pickle.loads(payload)  # from the parent process only
        reply = pickle.dumps(handle(body, base_url))
        replies.write(len(reply).to_bytes(_HEADER, "big") + reply)
        replies.flush()


if __name__ == "__main__":
    main()
