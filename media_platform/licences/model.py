"""What a licence is: the uses it allows, where, until when; and how two licences combine.

A :class:`Licence` says which *uses* of a title are allowed:

* ``analysis`` — run ML models over the media (shots, embeddings, transcripts, audio events...),
  results stay internal;
* ``search_indexing`` — put analysis results into a search index that users query;
* ``derivatives`` — produce media derived from the title that users see/hear (previews, clips);

plus the territories it applies to (ISO 3166-1 alpha-2 codes, or ``("*",)`` for everywhere; an
empty tuple allows no derived asset anywhere), the last valid day (inclusive) and where it came
from. :func:`intersect` is how licences combine: what a publisher or uploader writes can only
restrict the operator's licence, never widen it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from media_platform.errors import InvalidInputError

LicenceSource = Literal["sidecar", "feed", "catalogue", "default", "cli"]


class Use(StrEnum):
    """A use of a title that a licence may allow."""

    ANALYSIS = "analysis"
    SEARCH_INDEXING = "search_indexing"
    DERIVATIVES = "derivatives"


USES: frozenset[str] = frozenset(u.value for u in Use)

_TERRITORY = re.compile(r"^[A-Z]{2}$")


def validate_territories(values: Iterable[Any], where: str) -> tuple[str, ...]:
    """ISO 3166-1 alpha-2 codes (upper-cased, de-duplicated) or ``("*",)``."""
    out: list[str] = []
    for v in values:
        if not isinstance(v, str):
            raise InvalidInputError(f"{where}: territory {v!r} is not a string")
        code = v.strip().upper()
        if code != "*" and not _TERRITORY.match(code):
            raise InvalidInputError(f"{where}: {v!r} is not an ISO 3166-1 alpha-2 code or '*'")
        if code not in out:
            out.append(code)
    if "*" in out and len(out) > 1:
        raise InvalidInputError(f"{where}: '*' cannot be combined with codes {out}")
    return tuple(out)


@dataclass(frozen=True)
class Licence:
    """What may be done with one title.

    Attributes:
        analysis: ML analysis allowed.
        search_indexing: analysis results may go into a user-facing search index.
        derivatives: previews/clips may be produced.
        territories: ISO 3166-1 alpha-2 codes (upper case) or ``("*",)`` for everywhere.
        expires: last valid day (inclusive), or ``None`` for no expiry.
        source: where the licence came from.
        identifier: the licence's name when it has one (``"cc-by-nd-4.0"``, ``"analysis-only"``).
    """

    analysis: bool = False
    search_indexing: bool = False
    derivatives: bool = False
    territories: tuple[str, ...] = ("*",)
    expires: dt.date | None = None
    source: LicenceSource = "default"
    identifier: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "territories", validate_territories(self.territories, "territories")
        )
        if self.expires is not None and not isinstance(self.expires, dt.date):
            raise InvalidInputError(f"expires must be a date, got {self.expires!r}")

    @property
    def uses(self) -> frozenset[str]:
        """The allowed uses, as :class:`Use` values."""
        return frozenset(u.value for u in Use if getattr(self, u.value))

    def terms(self) -> tuple[Any, ...]:
        """What the licence allows, without its name and source (for comparisons)."""
        return (self.uses, self.territories, self.expires)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; :func:`media_platform.licences.licence_from_dict` reads it back."""
        return {
            "analysis": self.analysis,
            "search_indexing": self.search_indexing,
            "derivatives": self.derivatives,
            "territories": list(self.territories),
            "expires": self.expires.isoformat() if self.expires else None,
            "identifier": self.identifier,
        }


def licence_record(licence: Licence) -> dict[str, Any]:
    """The catalogue form of ``licence``: :meth:`Licence.to_dict` without a ``None``
    identifier (read back by :func:`media_platform.licences.licence_from_record`)."""
    data = licence.to_dict()
    if data.get("identifier") is None:
        data.pop("identifier", None)
    return data


CONSERVATIVE_LICENCE = Licence(source="default", identifier="none")
"""No uses at all: only master-level assets. Used when nothing better is known."""

UNRESTRICTED = Licence(True, True, True, identifier="full")
"""Every use, everywhere, for ever (what a claim that restricts nothing amounts to)."""

PRESETS: dict[str, Licence] = {
    "none": Licence(identifier="none"),
    "all-rights-reserved": Licence(identifier="all-rights-reserved"),
    "analysis-only": Licence(analysis=True, identifier="analysis-only"),
    "analysis-and-search": Licence(
        analysis=True, search_indexing=True, identifier="analysis-and-search"
    ),
    "full": Licence(analysis=True, search_indexing=True, derivatives=True, identifier="full"),
}
"""Our own named licences, usable as a feed's ``default_licence`` or a catalogue ``identifier``."""


def expired(licence: Licence, today: dt.date) -> bool:
    """True when ``today`` is after the licence's last valid day."""
    return licence.expires is not None and today > licence.expires


def intersect(a: Licence, b: Licence) -> Licence:
    """The licence that allows only what both ``a`` and ``b`` allow: uses, territories and the
    earlier expiry. Named after ``a`` when nothing was taken from it, else after ``b`` when the
    result is exactly ``b``'s terms (a stricter licence chosen by ``b``), else
    ``<a>+restricted``; keeps ``a``'s source."""
    if "*" in a.territories:
        territories = b.territories
    elif "*" in b.territories:
        territories = a.territories
    else:
        territories = tuple(t for t in a.territories if t in b.territories)
    expiries = [e for e in (a.expires, b.expires) if e is not None]
    out = replace(
        a,
        analysis=a.analysis and b.analysis,
        search_indexing=a.search_indexing and b.search_indexing,
        derivatives=a.derivatives and b.derivatives,
        territories=territories,
        expires=min(expiries) if expiries else None,
    )
    if out.terms() == a.terms():
        return out
    if out.terms() == b.terms() and b.identifier:
        return replace(out, identifier=b.identifier)
    return replace(out, identifier=f"{a.identifier or a.source}+restricted")


def operator_entry(entries: Mapping[str, Licence], keys: Iterable[str | None]) -> Licence | None:
    """The operator's licence for a title looked up under several keys (the partition key, the
    feed's or landing zone's own key, a title a publisher or uploader wrote...): every matching
    entry applies, so the result is their :func:`intersect`. A key that a publisher controls can
    therefore only select a stricter entry, never a more permissive one. None when none match."""
    found: Licence | None = None
    seen: set[str] = set()
    for key in keys:
        if not key or key in seen or key not in entries:
            continue
        seen.add(key)
        found = entries[key] if found is None else intersect(found, entries[key])
    return found
