"""Errors raised by the domain code. Every error names the file (or input) and the problem."""

from __future__ import annotations

from pathlib import Path


class MediaPlatformError(Exception):
    """Base class for the platform's own errors."""


class MediaError(MediaPlatformError):
    """A media file could not be used: missing, empty, truncated, not media, no stream."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class InvalidInputError(MediaPlatformError):
    """Untrusted input (a key, a URL, a parameter) failed validation."""
