"""A monotonic deadline shared by the steps of one bounded job (fetch a feed, then parse it)."""

from __future__ import annotations

import time
from collections.abc import Callable

from media_platform.errors import MediaPlatformError


class DeadlineExceeded(MediaPlatformError):
    """The time allowed for ``what`` ran out."""

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(f"{what}: took longer than its limit of {seconds:g} s")


class Deadline:
    """A point in monotonic time; ``remaining()`` seconds are left until it (never negative).

    ``Deadline(5)`` ends five seconds from now; :meth:`check` raises :class:`DeadlineExceeded`
    once it has passed. ``clock`` is ``time.monotonic`` (tests may pass another).
    """

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not seconds > 0:
            raise ValueError(f"a deadline needs a positive number of seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self._clock = clock
        self._end = clock() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._end

    def check(self, what: str) -> None:
        """Raise :class:`DeadlineExceeded` naming ``what`` when the deadline has passed."""
        if self.expired():
            raise DeadlineExceeded(what, self.seconds)
