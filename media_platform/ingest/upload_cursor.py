"""The upload sensor's memory (pure): which landing files were seen, taken or refused.

:class:`UploadCursor` (JSON) keeps, per landing name: ``pending`` signatures seen once, ``done``
signatures (registered, or recognised as already ingested) and ``bad`` signatures with the
reason. A ``done``/``bad`` entry is ignored while the file (and its sidecar/marker) keep that
signature, and retried when they change. Entries of files that disappeared are dropped, so the
cursor stays as small as the landing zone's listing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from media_platform.errors import InvalidInputError
from media_platform.ingest.uploads import Candidate

CURSOR_VERSION = 1


@dataclass
class UploadCursor:
    """The upload sensor's memory (see the module docstring).

    ``pending``: name -> signature seen once (not yet stable). ``done``: name -> signature of a
    master already handled (``partition`` remembered in ``done_partitions``). ``bad``: name ->
    ``(signature, reason)``.
    """

    pending: dict[str, str] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)
    done_partitions: dict[str, str] = field(default_factory=dict)
    bad: dict[str, tuple[str, str]] = field(default_factory=dict)

    def status(self, candidate: Candidate, *, marked_complete: bool = False) -> str:
        """``done``, ``bad``, ``ready`` (complete, to process) or ``waiting``.

        ``marked_complete``: the sidecar says ``"complete": true``.
        """
        name, sig = candidate.master.name, candidate.signature
        if self.done.get(name) == sig:
            return "done"
        if name in self.bad and self.bad[name][0] == sig:
            return "bad"
        if candidate.done_marker is not None or marked_complete:
            return "ready"
        if self.pending.get(name) == candidate.master.signature:
            return "ready"
        return "waiting"

    def wait(self, candidate: Candidate) -> None:
        """Remember the master's signature to compare with on the next tick."""
        self.pending[candidate.master.name] = candidate.master.signature

    def mark_done(self, candidate: Candidate, partition_key: str) -> None:
        name = candidate.master.name
        self.pending.pop(name, None)
        self.bad.pop(name, None)
        self.done[name] = candidate.signature
        self.done_partitions[name] = partition_key

    def mark_bad(self, candidate: Candidate, reason: str) -> None:
        name = candidate.master.name
        self.pending.pop(name, None)
        self.done.pop(name, None)
        self.done_partitions.pop(name, None)
        self.bad[name] = (candidate.signature, reason[:500])

    def prune(self, present: Iterable[str]) -> None:
        """Forget names no longer in the landing zone."""
        keep = set(present)
        for table in (self.pending, self.done, self.done_partitions, self.bad):
            for name in [n for n in table if n not in keep]:
                del table[name]

    def encode(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "pending": dict(sorted(self.pending.items())),
                "done": {
                    n: [s, self.done_partitions.get(n, "")] for n, s in sorted(self.done.items())
                },
                "bad": {n: list(v) for n, v in sorted(self.bad.items())},
            },
            separators=(",", ":"),
            ensure_ascii=True,
        )

    @classmethod
    def decode(cls, text: str | None) -> UploadCursor:
        """Parse :meth:`encode` output; None/empty gives an empty cursor.

        Raises:
            InvalidInputError: not an upload cursor.
        """
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"upload cursor is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise InvalidInputError(f"upload cursor has unknown format: {text[:100]!r}")
        try:
            pending = {str(k): str(v) for k, v in (data.get("pending") or {}).items()}
            done = {str(k): str(v[0]) for k, v in (data.get("done") or {}).items()}
            parts = {str(k): str(v[1]) for k, v in (data.get("done") or {}).items()}
            bad = {str(k): (str(v[0]), str(v[1])) for k, v in (data.get("bad") or {}).items()}
        except (AttributeError, IndexError, TypeError) as exc:
            raise InvalidInputError(f"upload cursor malformed: {exc}") from exc
        return cls(pending, done, parts, bad)


__all__ = ["UploadCursor"]
