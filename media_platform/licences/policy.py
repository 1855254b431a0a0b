"""The licence policy: which licence is in force, and whether it allows an asset.

One rule decides "is this allowed" (:func:`refusal_reason`); everything else (the run-time gate
of every restricted asset, the sensors' run selections, licence retention) calls it.

Which licence is in force (:func:`resolve`): the operator sets the ceiling, what a publisher or
uploader writes can only restrict it further, never widen it.

* Ceiling: the operator's licence catalogue entry for the title when one matches (looked up
  under several keys, every match applying: :func:`~media_platform.licences.model.operator_entry`),
  else the operator's configured default (a feed's ``default_licence``, the landing zone's
  ``MEDIA_PLATFORM_UPLOAD_LICENCE``), else
  :data:`~media_platform.licences.model.CONSERVATIVE_LICENCE` (master and probe only).
* Claims: a ``podcast:license``, a sidecar's licence, the CLI's ``--licence``, and entries found
  under keys a publisher or uploader chose (titles). The licence in force is the ceiling
  intersected with every claim. A publisher's or uploader's "all rights reserved" or
  unrecognised string restricts nothing (it says nothing beyond the operator's default): that
  reading is applied once, at ingest (:func:`feed_claim`, :func:`as_claim`), and a recorded
  claim is never re-read (:func:`resolve` takes claims as they are).

Whether a licence allows an asset (:func:`refusal_reason`): the asset's required uses come from
the registry of per-episode outputs (:data:`media_platform.layout.ASSET_REQUIREMENTS`); an asset
the registry does not list is an error (add it there). Assets that need no use (``master``,
``media_probe``) are always allowed. Otherwise the licence must not have expired (``expires``
is the last valid day, inclusive), must cover the territory asked about (with no territory
asked, any non-empty territory list passes; an empty one allows nothing) and must allow every
required use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.layout import ASSET_REQUIREMENTS
from media_platform.licences.model import (
    CONSERVATIVE_LICENCE,
    UNRESTRICTED,
    Licence,
    expired,
    intersect,
    licence_record,
    operator_entry,
    validate_territories,
)
from media_platform.licences.parsing import recognise_licence_string

# --------------------------------------------------------------------------------------------
# Is this allowed


def requirement_of(asset: str) -> frozenset[str]:
    """The uses ``asset`` needs (from the registry).

    Raises:
        InvalidInputError: ``asset`` is not a registered per-episode asset.
    """
    try:
        return ASSET_REQUIREMENTS[asset]
    except KeyError:
        raise InvalidInputError(
            f"unknown asset {asset!r}: not in the registry of per-episode outputs "
            f"(media_platform.layout.EPISODE_ASSETS); known: {', '.join(sorted(ASSET_REQUIREMENTS))}"
        ) from None


def refusal_reason(
    licence: Licence, asset: str, today: dt.date, territory: str | None = None
) -> str | None:
    """Why ``licence`` forbids ``asset`` today (in ``territory`` when given), or None when it is
    allowed. The one decision (see the module docstring).

    Raises:
        InvalidInputError: unknown asset name or malformed territory.
    """
    required = requirement_of(asset)
    if not required:
        return None
    if expired(licence, today):
        return f"licence expired on {licence.expires.isoformat()}"  # type: ignore[union-attr]
    if territory is not None:
        code = validate_territories([territory], "territory")[0]
        if "*" not in licence.territories and code not in licence.territories:
            return f"territory {code} not in {', '.join(licence.territories) or 'none'}"
    elif not licence.territories:
        return "licence covers no territory"
    missing = sorted(required - licence.uses)
    if missing:
        return (
            f"{asset} needs {', '.join(missing)}, not allowed by licence "
            f"{licence.identifier or licence.source}"
        )
    return None


def allowed_assets(
    licence: Licence, asset_names: Iterable[str], today: dt.date, territory: str | None = None
) -> set[str]:
    """The subset of ``asset_names`` that ``licence`` allows today (:func:`refusal_reason`)."""
    return {name for name in asset_names if refusal_reason(licence, name, today, territory) is None}


def licence_status(licence: Licence, today: dt.date) -> str:
    """``"expired"``, ``"no-territory"`` or ``"active"`` (for the catalogue)."""
    if expired(licence, today):
        return "expired"
    if not licence.territories:
        return "no-territory"
    return "active"


# --------------------------------------------------------------------------------------------
# Which licence is in force


def as_claim(licence: Licence) -> Licence:
    """What a publisher's or uploader's licence restricts: "all rights reserved" restricts no
    use (it says nothing beyond the operator's default) but keeps its territories and expiry."""
    if licence.identifier == "all-rights-reserved":
        return replace(
            licence, analysis=True, search_indexing=True, derivatives=True, identifier=None
        )
    return licence


def feed_claim(text: str | None) -> Licence | None:
    """The claim of a ``podcast:license`` string: None when absent, unrecognised or "all rights
    reserved" (none of which restricts anything)."""
    recognised = recognise_licence_string(text, source="feed") if text else None
    if recognised is None or recognised.identifier == "all-rights-reserved":
        return None
    return recognised


@dataclass(frozen=True)
class Resolution:
    """The licence in force and how it was reached.

    Attributes:
        licence: ceiling intersected with the title-key entries and every claim.
        ceiling: the operator's entry, else the configured default, else the conservative one.
        claims: what publishers/uploaders (or the CLI's ``--licence``) wrote that restricts,
            already read as restrictions at ingest (:func:`as_claim`, :func:`feed_claim`);
            never re-interpreted later.
        default: the operator's configured default (a feed's ``default_licence``, the zone's
            licence, the CLI's "every use"), None when none.
        operator_keys: operator-controlled keys whose entries set the ceiling.
        title_keys: keys of titles a publisher or uploader wrote; their entries only restrict.
    """

    licence: Licence
    ceiling: Licence
    claims: tuple[Licence, ...]
    default: Licence | None = None
    operator_keys: tuple[str, ...] = ()
    title_keys: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        """What a catalogue row records beside the licence, so that the run-time gate can
        re-resolve against the operator's current file: ``licence_source``,
        ``licence_operator_keys``, ``licence_default`` (a record or None),
        ``licence_title_keys`` and ``licence_claims`` (records of the claims). The operator's
        entries are never frozen into the row."""
        return {
            "licence_source": self.licence.source,
            "licence_operator_keys": list(dict.fromkeys(k for k in self.operator_keys if k)),
            "licence_default": licence_record(self.default) if self.default else None,
            "licence_title_keys": list(dict.fromkeys(k for k in self.title_keys if k)),
            "licence_claims": [licence_record(c) for c in self.claims],
        }


def resolve(
    *,
    operator: Licence | None,
    default: Licence | None = None,
    claims: Iterable[Licence | None] = (),
) -> Resolution:
    """The licence in force (see the module docstring). Claims are taken as they are (a
    publisher's string is read as a restriction once, at ingest: :func:`as_claim`). It is named
    and sourced after a claim whose terms it equals (the licence actually granted), unless the
    operator's catalogue entry says the same; else after the ceiling."""
    ceiling = operator if operator is not None else default
    if ceiling is None:
        ceiling = CONSERVATIVE_LICENCE
    kept = tuple(c for c in claims if c is not None)
    effective = ceiling
    for claim in kept:
        effective = intersect(effective, claim)
    for claim in kept:
        # a claim that decided the result names it; an operator's entry it merely equals wins
        if claim.identifier and claim.terms() == effective.terms() and (
            ceiling.terms() != effective.terms() or ceiling.source != "catalogue"
        ):
            effective = replace(effective, identifier=claim.identifier, source=claim.source)
            break
    return Resolution(effective, ceiling, kept, default)


def resolve_entries(
    entries: Mapping[str, Licence],
    *,
    operator_keys: Iterable[str],
    title_keys: Iterable[str] = (),
    default: Licence | None = None,
    claims: Iterable[Licence | None] = (),
) -> Resolution:
    """The licence in force under the operator's ``entries``: the ceiling is every entry found
    under ``operator_keys`` (else ``default``, else the conservative licence); entries found
    under ``title_keys`` (titles a publisher or uploader wrote) and the ``claims`` only restrict.
    A key that is both is a title key."""
    titles = tuple(dict.fromkeys(k for k in title_keys if k))
    operators = tuple(k for k in dict.fromkeys(operator_keys) if k and k not in titles)
    kept = tuple(c for c in claims if c is not None)
    result = resolve(operator=operator_entry(entries, operators), default=default, claims=kept)
    licence = restrict(result.licence, operator_entry(entries, titles))
    return replace(result, licence=licence, operator_keys=operators, title_keys=titles)


def restrict(licence: Licence, entry: Licence | None) -> Licence:
    """``licence`` restricted by an operator's ``entry`` found under a key that only restricts;
    named and sourced after the entry when the result is exactly its terms."""
    if entry is None:
        return licence
    out = intersect(licence, entry)
    if out.terms() == entry.terms() and out.terms() != licence.terms():
        out = replace(out, identifier=entry.identifier, source=entry.source)
    return out


def resolve_licence(
    *,
    catalogue: Licence | None = None,
    sidecar: Licence | None = None,
    feed_string: str | None = None,
    feed_default: Licence | None = None,
) -> Licence:
    """The licence in force: ``catalogue`` (the operator's entry) else ``feed_default`` (the
    operator's configured default) else the conservative licence, intersected with the
    ``sidecar`` and the recognised ``feed_string`` (which can only restrict)."""
    claim = as_claim(sidecar) if sidecar is not None else None
    return resolve(operator=catalogue, default=feed_default, claims=(claim, feed_claim(feed_string))).licence


def cap(licence: Licence | None, operator: Licence | None) -> Licence:
    """The operator's own word (a CLI ``--licence``; None: unrestricted) capped by the
    operator's catalogue entry for the title (None: no entry)."""
    own = licence if licence is not None else UNRESTRICTED
    return own if operator is None else intersect(operator, own)
