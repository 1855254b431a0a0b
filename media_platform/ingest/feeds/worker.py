"""The feed parser process (see :mod:`media_platform.ingest.feeds.isolation`).

Messages on stdin and stdout are an 8-byte big-endian length and that many bytes. First the
worker sends an empty message (ready). A request is the base URL (UTF-8) and the feed body,
separated by the first NUL byte; a reply is a JSON object: ``{"status": "ok", "feed": ...}``
(:func:`dataclasses.asdict` of the :class:`ParsedFeed`), ``{"status": "feed-error", "kind":
<error class name>, "problem": ...}`` or ``{"status": "invalid", "message": ...}``. Only data
crosses the boundary, never code (no pickle), so a parser subverted by a hostile feed cannot
reach into the sensor's process. Exits at end of input.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any, BinaryIO

from media_platform.errors import InvalidInputError
from media_platform.ingest.feeds.errors import FeedError
from media_platform.ingest.feeds.parsing import parse_feed

HEADER_BYTES = 8


def encode_request(body: bytes, base_url: str) -> bytes:
    return base_url.encode("utf-8", "surrogatepass") + b"\x00" + bytes(body)


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def handle(request: bytes) -> dict[str, Any]:
    """One parse, as a reply object."""
    url_bytes, _, body = request.partition(b"\x00")
    base_url = url_bytes.decode("utf-8", "surrogatepass")
    try:
        return {"status": "ok", "feed": dataclasses.asdict(parse_feed(body, base_url))}
    except FeedError as exc:
        return {"status": "feed-error", "kind": type(exc).__name__, "problem": exc.problem}
    except InvalidInputError as exc:
        return {"status": "invalid", "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any parser crash is reported, the worker goes on
        problem = f"parser failed: {type(exc).__name__}: {exc}"
        return {"status": "feed-error", "kind": "FeedParseError", "problem": problem}


def main() -> None:
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by a library goes to stderr, never into the replies
    replies.write(bytes(HEADER_BYTES))  # ready
    replies.flush()
    while True:
        header = _read_exact(requests, HEADER_BYTES)
        if header is None:
            return
        request = _read_exact(requests, int.from_bytes(header, "big"))
        if request is None:
            return
        reply = json.dumps(handle(request), ensure_ascii=True).encode("ascii")
        replies.write(len(reply).to_bytes(HEADER_BYTES, "big") + reply)
        replies.flush()


if __name__ == "__main__":
    main()
