"""Parsing a feed under a hard deadline: :func:`parse_feed_within` runs
:func:`~media_platform.ingest.feeds.parsing.parse_feed` in a short-lived worker process and kills
it when the deadline passes.

feedparser cannot be interrupted, and hostile markup within the size cap can cost it tens of
seconds (a million empty elements in one item, escaped HTML nested a few hundred thousand deep).
A thread cannot be stopped and a signal only reaches the main thread, so the only bound that
holds is a process. The worker is forked from a ``forkserver`` that has the parser imported, so
one parse costs a fork and two small pipe messages (a few milliseconds), not a new interpreter.
Where no child process may be started (inside a daemonic process), the parse runs in-process,
still checking the deadline in its own SAX passes and between steps.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import threading
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.ingest.deadline import Deadline, DeadlineExceeded
from media_platform.ingest.feeds.errors import (
    FeedError,
    FeedParseError,
    FeedSecurityError,
    FeedTimeoutError,
)
from media_platform.ingest.feeds.model import ParsedFeed
from media_platform.ingest.feeds.parsing import parse_feed

_PARSER_MODULE = "media_platform.ingest.feeds.parsing"
_ERRORS: dict[str, type[FeedError]] = {
    "FeedSecurityError": FeedSecurityError,
    "FeedParseError": FeedParseError,
    "FeedTimeoutError": FeedTimeoutError,
}
_lock = threading.Lock()
_context: Any = None


def _get_context() -> Any:
    global _context
    with _lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _context = multiprocessing.get_context("forkserver")
                _context.set_forkserver_preload([_PARSER_MODULE])
            else:
                _context = multiprocessing.get_context("spawn")
        return _context


def _child(conn: multiprocessing.connection.Connection, body: bytes, base_url: str) -> None:
    try:
        message: tuple[Any, ...] = ("ok", parse_feed(body, base_url))
    except FeedError as exc:
        message = ("feed-error", type(exc).__name__, exc.problem)
    except InvalidInputError as exc:
        message = ("invalid", str(exc))
    except Exception as exc:  # noqa: BLE001 - report any parser crash to the parent
        message = ("feed-error", "FeedParseError", f"parser failed: {type(exc).__name__}: {exc}")
    conn.send(message)
    conn.close()


def parse_feed_within(body: bytes, base_url: str, deadline: Deadline) -> ParsedFeed:
    """:func:`parse_feed` (same result and errors), stopped when ``deadline`` passes.

    Raises:
        FeedTimeoutError: the deadline passed before the parse finished (the worker is killed).
        FeedSecurityError, FeedParseError, InvalidInputError: as :func:`parse_feed`.
    """
    if deadline.expired():
        raise FeedTimeoutError(base_url, f"no time left to parse (limit {deadline.seconds:g} s)")
    if multiprocessing.current_process().daemon:
        try:
            return parse_feed(body, base_url, deadline)
        except DeadlineExceeded as exc:
            raise FeedTimeoutError(base_url, str(exc)) from None
    context = _get_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(sender, bytes(body), base_url), name="feed-parser", daemon=True
    )
    try:
        process.start()
        sender.close()
        if not receiver.poll(deadline.remaining()):
            raise FeedTimeoutError(
                base_url, f"parsing took longer than the feed's limit of {deadline.seconds:g} s"
            )
        try:
            message = receiver.recv()
        except EOFError:
            process.join(1)
            raise FeedParseError(
                base_url, f"parser process died (exit code {process.exitcode})"
            ) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
        process.close()
    if message[0] == "ok":
        return message[1]
    if message[0] == "invalid":
        raise InvalidInputError(message[1])
    raise _ERRORS.get(message[1], FeedParseError)(base_url, message[2])
