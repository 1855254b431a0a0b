"""Parsing a feed under a hard deadline: :func:`parse_feed_within` runs
:func:`~media_platform.ingest.feeds.parsing.parse_feed` in a worker process and kills the worker
when the feed's deadline passes.

feedparser cannot be interrupted, and hostile markup within the size cap can cost it tens of
seconds (a million empty elements in one item, escaped HTML nested hundreds of thousands deep).
A thread cannot be stopped and a signal only reaches the main thread, so the only bound that
holds is a process. The worker is one long-lived Python process running
:func:`media_platform.ingest.feeds.worker.main` (started on first use, reused while it behaves,
replaced after a kill), so one parse costs two pipe messages, not a new interpreter; its start-up
(about a second) has its own limit and does not count against the feed's deadline. Requests are serialised; waiting for the worker counts
against the caller's deadline.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.ingest.deadline import Deadline
from media_platform.ingest.feeds.errors import (
    FeedError,
    FeedParseError,
    FeedSecurityError,
    FeedTimeoutError,
)
from media_platform.ingest.feeds.model import ParsedFeed, parsed_feed_from_dict
from media_platform.ingest.feeds.worker import HEADER_BYTES, encode_request

_WORKER_MODULE = "media_platform.ingest.feeds.worker"
_ERRORS: dict[str, type[FeedError]] = {
    "FeedSecurityError": FeedSecurityError,
    "FeedParseError": FeedParseError,
    "FeedTimeoutError": FeedTimeoutError,
}
_HEADER = HEADER_BYTES
_STARTUP_S = 60.0


class _Worker:
    """The parser process and the pipes to it."""

    def __init__(self) -> None:
        # The worker imports this package: started in the folder that holds it (``-c`` puts the
        # working directory first on its path), it finds the same code as the sensor, with the
        # sensor's own environment inherited unchanged.
        package_root = Path(__file__).resolve().parents[3]
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from {_WORKER_MODULE} import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=package_root,
            close_fds=True,
        )
        # Starting the interpreter is not the feed's fault: it has its own limit, and the
        # feed's deadline starts counting only once the worker says it is ready.
        try:
            ready = self._read(_HEADER, Deadline(_STARTUP_S))
        except BaseException as exc:  # it died starting up: reap it and close its pipes
            self.kill()
            if isinstance(exc, Exception):
                raise OSError(f"parser process failed to start: {exc}") from None
            raise
        if ready != bytes(_HEADER):
            self.kill()
            raise OSError(f"parser process did not start within {_STARTUP_S:g} s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def request(self, payload: bytes, deadline: Deadline) -> bytes | None:
        """Send one request and wait for its reply until the deadline (None: no reply in time)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(len(payload).to_bytes(_HEADER, "big") + payload)
        self.process.stdin.flush()
        header = self._read(_HEADER, deadline)
        if header is None:
            return None
        return self._read(int.from_bytes(header, "big"), deadline)

    def _read(self, size: int, deadline: Deadline) -> bytes | None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        chunks: list[bytes] = []
        left = size
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while left:
                if not selector.select(deadline.remaining()):
                    return None
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    raise EOFError("parser process closed its output")
                chunks.append(chunk)
                left -= len(chunk)
        return b"".join(chunks)


_lock = threading.Lock()
_worker: _Worker | None = None


def _stop_worker() -> None:
    global _worker
    if _worker is not None:
        _worker.kill()
        _worker = None


atexit.register(_stop_worker)


def parse_feed_within(body: bytes, base_url: str, deadline: Deadline) -> ParsedFeed:
    """:func:`parse_feed` (same result and errors), stopped when ``deadline`` passes.

    Raises:
        FeedTimeoutError: the deadline passed before the parse finished (the worker is killed).
        FeedSecurityError, FeedParseError, InvalidInputError: as :func:`parse_feed`.
    """
    global _worker
    limit = f"the feed's limit of {deadline.seconds:g} s"
    if not _lock.acquire(timeout=deadline.remaining()):
        raise FeedTimeoutError(base_url, f"no parser free within {limit}")
    try:
        payload = encode_request(body, base_url)
        reply = None
        for _attempt in range(2):  # a worker that died since its last use is replaced once
            try:
                if _worker is None or not _worker.alive():
                    if _worker is not None:
                        _worker.kill()
                        _worker = None
                    _worker = _Worker()
                reply = _worker.request(payload, deadline)
                break
            except (BrokenPipeError, EOFError, OSError) as exc:
                _stop_worker()
                problem = f"parser process failed: {exc}"
        else:
            raise FeedParseError(base_url, problem)
        if reply is None:
            _stop_worker()
            raise FeedTimeoutError(base_url, f"parsing took longer than {limit}")
    finally:
        _lock.release()
    try:
        message: dict[str, Any] = json.loads(reply)
        if message["status"] == "ok":
            return parsed_feed_from_dict(message["feed"])
        if message["status"] == "invalid":
            raise InvalidInputError(str(message["message"]))
        error = _ERRORS.get(str(message["kind"]), FeedParseError)
        problem = str(message["problem"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FeedParseError(base_url, f"parser process gave no usable answer: {exc}") from None
    raise error(base_url, problem)
