"""Licences per title and which assets they allow.

A :class:`Licence` says which *uses* of a title are allowed:

* ``analysis`` — run ML models over the media (shots, embeddings, transcripts, audio events...),
  results stay internal;
* ``search_indexing`` — put analysis results into a search index that users query;
* ``derivatives`` — produce media derived from the title that users see/hear (previews, clips).

plus the territories it applies to, an expiry date and where it came from.

Sources and precedence (see :func:`resolve_licence`): an operator-edited catalogue entry beats a
sidecar file next to the media, which beats a recognised ``podcast:license`` string in the feed,
which beats the feed's configured default licence, which beats :data:`CONSERVATIVE_LICENCE`.

Decisions (conservative by default):

* Creative Commons and public-domain identifiers map to their meaning: every CC licence allows
  analysis and search indexing (both are reproduction/indexing, granted by all CC licences); ``ND``
  forbids derivatives; ``NC`` also forbids derivatives, because we cannot guarantee that previews
  shown by the platform are non-commercial use.
* "All rights reserved", an unknown string or no string at all carry **no** permissions by
  themselves: they fall back to the operator's configured default for the feed, and without one
  to :data:`CONSERVATIVE_LICENCE`, which allows nothing but master-level assets (download and
  probe). Operators opt feeds in (e.g. ``default_licence: analysis-only``) after checking terms.
* ``expires`` is the last day on which the licence is valid (inclusive). An expired licence allows
  no derived asset.
* ``territories`` is a list of ISO 3166-1 alpha-2 codes or ``["*"]``. With ``territory=None`` in
  a check, any non-empty territory list passes (the caller did not ask about a territory); an empty
  list allows no derived asset anywhere.
* Assets with no requirements (``master``, ``media_probe``) are always allowed: they are needed to hold
  and identify the file. Retention of masters for expired titles is a separate policy.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml

from media_platform.errors import InvalidInputError

LicenceSource = Literal["sidecar", "feed", "catalogue", "default"]


class Use(StrEnum):
    """A use of a title that a licence may allow."""

    ANALYSIS = "analysis"
    SEARCH_INDEXING = "search_indexing"
    DERIVATIVES = "derivatives"


USES: frozenset[str] = frozenset(u.value for u in Use)

_TERRITORY = re.compile(r"^[A-Z]{2}$")


def _validate_territories(values: Iterable[Any], where: str) -> tuple[str, ...]:
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


def _parse_date(value: Any, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInputError(f"{where}: expected a YYYY-MM-DD date or null, got {value!r}")


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
            self, "territories", _validate_territories(self.territories, "territories")
        )
        if self.expires is not None and not isinstance(self.expires, dt.date):
            raise InvalidInputError(f"expires must be a date, got {self.expires!r}")

    @property
    def uses(self) -> frozenset[str]:
        """The allowed uses, as :class:`Use` values."""
        return frozenset(u.value for u in Use if getattr(self, u.value))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; :func:`licence_from_dict` reads it back."""
        return {
            "analysis": self.analysis,
            "search_indexing": self.search_indexing,
            "derivatives": self.derivatives,
            "territories": list(self.territories),
            "expires": self.expires.isoformat() if self.expires else None,
            "identifier": self.identifier,
        }


CONSERVATIVE_LICENCE = Licence(source="default", identifier="none")
"""No uses at all: only master-level assets. Used when nothing better is known."""

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

ASSET_REQUIREMENTS: dict[str, frozenset[str]] = {
    "master": frozenset(),
    "media_probe": frozenset(),
    **{
        name: frozenset({Use.ANALYSIS.value})
        for name in (
            "shots",
            "keyframes",
            "shot_embeddings",
            "audio",
            "audio_events",
            "transcript",
            "shot_audio_features",
            "chapters",
            "preview_candidates",
            "preview_selection",
        )
    },
    "shot_index": frozenset({Use.ANALYSIS.value, Use.SEARCH_INDEXING.value}),
    "preview": frozenset({Use.ANALYSIS.value, Use.DERIVATIVES.value}),
}
"""Asset name -> the uses its licence must allow."""


# --------------------------------------------------------------------------------------------
# Checks


def expired(licence: Licence, today: dt.date) -> bool:
    """True when ``today`` is after the licence's last valid day."""
    return licence.expires is not None and today > licence.expires


def is_allowed(
    licence: Licence, asset: str, today: dt.date, territory: str | None = None
) -> tuple[bool, str]:
    """Whether ``asset`` may be materialised for a title under ``licence``; with the reason.

    Raises:
        InvalidInputError: unknown asset name or malformed territory.
    """
    try:
        required = ASSET_REQUIREMENTS[asset]
    except KeyError:
        raise InvalidInputError(
            f"unknown asset {asset!r}; known: {', '.join(sorted(ASSET_REQUIREMENTS))}"
        ) from None
    if not required:
        return True, f"{asset} needs no licence"
    if expired(licence, today):
        return False, f"licence expired on {licence.expires.isoformat()}"  # type: ignore[union-attr]
    if territory is not None:
        code = _validate_territories([territory], "territory")[0]
        if "*" not in licence.territories and code not in licence.territories:
            return False, f"territory {code} not in {', '.join(licence.territories) or 'none'}"
    elif not licence.territories:
        return False, "licence covers no territory"
    missing = sorted(required - licence.uses)
    if missing:
        return (
            False,
            f"{asset} needs {', '.join(missing)}, not allowed by licence {licence.identifier or licence.source}",
        )
    return True, f"{asset} allowed ({', '.join(sorted(required))})"


def allowed_assets(
    licence: Licence,
    asset_names: Iterable[str],
    today: dt.date,
    territory: str | None = None,
) -> set[str]:
    """The subset of ``asset_names`` that ``licence`` allows today (see :func:`is_allowed`)."""
    return {name for name in asset_names if is_allowed(licence, name, today, territory)[0]}


# --------------------------------------------------------------------------------------------
# Parsing


_CC_URL = re.compile(
    r"creativecommons\.org/(?:licenses|licences)/(?P<terms>[a-z-]+)(?:/(?P<version>[0-9.]+))?",
)
_CC_ZERO_URL = re.compile(r"creativecommons\.org/(?:publicdomain/zero|publicdomain/mark)")
_CC_TERMS = {"by", "sa", "nc", "nd"}


def _normalise_identifier(text: str) -> str:
    t = text.strip().lower()
    t = re.sub(r"^creative\s*commons\s*", "cc ", t)
    t = re.sub(r"attribution", "by", t)
    t = re.sub(r"non-?commercial", "nc", t)
    t = re.sub(r"no-?deriv(?:ative)?s?", "nd", t)
    t = re.sub(r"share-?alike", "sa", t)
    t = re.sub(r"[\s_/,]+", "-", t)
    return re.sub(r"-+", "-", t).strip("-")


def _cc_licence(terms: set[str], identifier: str, source: LicenceSource) -> Licence:
    return Licence(
        analysis=True,
        search_indexing=True,
        derivatives=not ({"nd", "nc"} & terms),
        source=source,
        identifier=identifier,
    )


def recognise_licence_string(text: str, *, source: LicenceSource = "feed") -> Licence | None:
    """Map a licence string (``podcast:license`` text or URL, a preset name) to a licence.

    Recognised: our :data:`PRESETS` (``analysis-only``, ``full``...), Creative Commons identifiers
    in SPDX-like or spelled-out form (``cc-by-4.0``, ``CC BY-NC-SA 3.0``, ``Creative Commons
    Attribution-NoDerivatives 4.0``) and their ``creativecommons.org/licenses/...`` URLs, ``cc0``
    and public-domain marks. Returns ``None`` for anything else (unknown means "not recognised",
    never "allowed"). "All rights reserved" maps to the no-permission preset.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    raw = text.strip().lower()
    if m := _CC_URL.search(raw):
        terms = set(m.group("terms").split("-"))
        if terms <= _CC_TERMS and "by" in terms:
            ident = (
                "cc-" + m.group("terms") + (f"-{m.group('version')}" if m.group("version") else "")
            )
            return _cc_licence(terms, ident, source)
        return None
    if _CC_ZERO_URL.search(raw):
        return Licence(True, True, True, source=source, identifier="cc0-1.0")
    norm = _normalise_identifier(raw)
    if norm in PRESETS:
        return replace(PRESETS[norm], source=source)
    if norm in {"all-rights-reserved", "copyright-all-rights-reserved", "proprietary"} or (
        "all-rights-reserved" in norm
    ):
        return replace(PRESETS["all-rights-reserved"], source=source)
    if norm in {"cc0", "cc-0", "cc0-1.0", "cc-zero", "public-domain", "pd", "pdm", "cc-pdm-1.0"}:
        return Licence(
            True,
            True,
            True,
            source=source,
            identifier="cc0-1.0" if "cc" in norm else "public-domain",
        )
    if m2 := re.fullmatch(
        r"cc-(?P<terms>(?:by|nc|nd|sa)(?:-(?:by|nc|nd|sa))*)(?:-(?P<v>[0-9.]+))?(?:-[a-z]{2,})?",
        norm,
    ):
        terms = set(m2.group("terms").split("-"))
        if "by" in terms and not {"nd", "sa"} <= terms:
            ident = "cc-" + m2.group("terms") + (f"-{m2.group('v')}" if m2.group("v") else "")
            return _cc_licence(terms, ident, source)
    return None


def licence_from_feed_string(text: str | None, *, default: Licence | None = None) -> Licence:
    """Licence for a feed item's ``podcast:license`` value (may be ``None``).

    A recognised string (see :func:`recognise_licence_string`) wins, except "all rights reserved"
    which, like an unknown or missing string, falls back to ``default`` (the operator's configured
    default for the feed, who may have an agreement with the publisher), else to
    :data:`CONSERVATIVE_LICENCE`.
    """
    recognised = recognise_licence_string(text, source="feed") if text else None
    if recognised is not None and recognised.identifier != "all-rights-reserved":
        return recognised
    if default is not None:
        return default
    return recognised or CONSERVATIVE_LICENCE


_DICT_KEYS = {
    "analysis",
    "search_indexing",
    "derivatives",
    "uses",
    "territories",
    "expires",
    "identifier",
    "licence",
    "license",
}


def licence_from_dict(
    data: Mapping[str, Any], *, source: LicenceSource = "sidecar", where: str = "licence"
) -> Licence:
    """Parse a licence from a sidecar/catalogue dict; strict, with errors naming ``where``.

    Accepted keys: ``identifier`` (or ``licence``/``license``: a string understood by
    :func:`recognise_licence_string`; it sets the starting uses), ``analysis``,
    ``search_indexing``, ``derivatives`` (booleans overriding the identifier), or ``uses`` (a list
    of use names; exclusive with the booleans), ``territories`` (list of ISO codes or ``["*"]``,
    default ``["*"]``), ``expires`` (``YYYY-MM-DD`` or null). Unknown keys are errors (a typo must
    not silently drop a restriction). Uses not mentioned at all are not allowed.
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = set(data) - _DICT_KEYS
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(_DICT_KEYS)}"
        )
    ident_keys = [k for k in ("identifier", "licence", "license") if k in data]
    if len(ident_keys) > 1:
        raise InvalidInputError(f"{where}: give only one of {ident_keys}")
    identifier: str | None = None
    base = Licence(source=source)
    if ident_keys:
        identifier = data[ident_keys[0]]
        if not isinstance(identifier, str) or not identifier.strip():
            raise InvalidInputError(f"{where}.{ident_keys[0]}: expected a non-empty string")
        recognised = recognise_licence_string(identifier, source=source)
        if recognised is None:
            raise InvalidInputError(f"{where}.{ident_keys[0]}: unknown licence {identifier!r}")
        base = recognised
        identifier = recognised.identifier
    flags = {u: getattr(base, u) for u in USES}
    if "uses" in data:
        if any(u in data for u in USES):
            raise InvalidInputError(f"{where}: give either 'uses' or the booleans, not both")
        uses = data["uses"]
        if not isinstance(uses, list) or not all(isinstance(u, str) for u in uses):
            raise InvalidInputError(f"{where}.uses: expected a list of strings")
        bad = set(uses) - USES
        if bad:
            raise InvalidInputError(
                f"{where}.uses: unknown uses {sorted(bad)}; known {sorted(USES)}"
            )
        flags = {u: u in uses for u in USES}
    for use in USES:
        if use in data:
            if not isinstance(data[use], bool):
                raise InvalidInputError(f"{where}.{use}: expected true/false, got {data[use]!r}")
            flags[use] = data[use]
    territories = data.get("territories", ["*"])
    if not isinstance(territories, list):
        raise InvalidInputError(f"{where}.territories: expected a list, got {territories!r}")
    terr = _validate_territories(territories, f"{where}.territories")
    expires = _parse_date(data.get("expires"), f"{where}.expires")
    return Licence(
        analysis=flags["analysis"],
        search_indexing=flags["search_indexing"],
        derivatives=flags["derivatives"],
        territories=terr,
        expires=expires,
        source=source,
        identifier=identifier,
    )


def load_sidecar(path: Path | str) -> Licence:
    """Read a sidecar licence JSON file (see :func:`licence_from_dict`)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{p}: cannot read licence sidecar: {exc}") from exc
    return licence_from_dict(data, source="sidecar", where=str(p))


def load_catalogue(path: Path | str) -> dict[str, Licence]:
    """Read an operator-edited licence catalogue (YAML or JSON; JSON is valid YAML).

    Format: a mapping ``{"licences": {KEY: LICENCE_DICT, ...}}`` (or the inner mapping at top
    level). ``KEY`` is a partition key or a title; titles are turned into partition keys with
    :func:`media_platform.keys.partition_key_for`, so lookups are by partition key. Two entries
    mapping to the same key are an error.
    """
    from media_platform.keys import MAX_KEY_LENGTH, PARTITION_KEY_PATTERN, partition_key_for

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"{p}: cannot read licence catalogue: {exc}") from exc
    if data is None:
        return {}
    if isinstance(data, Mapping) and "licences" in data:
        if set(data) != {"licences"}:
            raise InvalidInputError(
                f"{p}: unexpected top-level keys {sorted(set(data) - {'licences'})}"
            )
        data = data["licences"] or {}
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{p}: expected a mapping of title/partition key to licence")
    out: dict[str, Licence] = {}
    for raw_key, entry in data.items():
        if not isinstance(raw_key, str) or not raw_key.strip():
            raise InvalidInputError(f"{p}: catalogue key {raw_key!r} is not a non-empty string")
        key = (
            raw_key
            if (len(raw_key) <= MAX_KEY_LENGTH and PARTITION_KEY_PATTERN.match(raw_key))
            else partition_key_for(raw_key)
        )
        if key in out:
            raise InvalidInputError(f"{p}: {raw_key!r} maps to partition key {key!r} given twice")
        out[key] = licence_from_dict(entry, source="catalogue", where=f"{p}: {raw_key}")
    return out


def intersect(a: Licence, b: Licence) -> Licence:
    """The licence that allows only what both ``a`` and ``b`` allow: uses, territories and the
    earlier expiry. Keeps ``a``'s source and, when nothing was taken away, its identifier."""
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
    if out.to_dict() | {"identifier": None} != a.to_dict() | {"identifier": None}:
        out = replace(out, identifier=f"{a.identifier or a.source}+restricted")
    return out


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


def resolve_licence(
    *,
    catalogue: Licence | None = None,
    sidecar: Licence | None = None,
    feed_string: str | None = None,
    feed_default: Licence | None = None,
) -> Licence:
    """Pick the licence in force: catalogue > sidecar > recognised feed string > feed default >
    :data:`CONSERVATIVE_LICENCE` (see the module docstring)."""
    if catalogue is not None:
        return catalogue
    if sidecar is not None:
        return sidecar
    return licence_from_feed_string(feed_string, default=feed_default)


# --------------------------------------------------------------------------------------------
# Licences of catalogued episodes


def licence_from_record(record: Mapping[str, Any] | None) -> Licence:
    """The licence stored in a catalogue row. An empty record means the operator ingested the
    title by hand without restrictions (the CLI): every use is allowed."""
    if not record:
        return PRESETS["full"]
    # Licence.to_dict() writes ``identifier: None`` for an unnamed licence: that names nothing.
    cleaned = {k: v for k, v in record.items() if not (k in ("identifier", "licence", "license") and v is None)}
    return licence_from_dict(cleaned or {"uses": []}, source="catalogue", where="catalogue licence")


def requirement_of(asset: str) -> frozenset[str]:
    """Uses an asset needs; assets the table does not name need ``analysis`` (any model output)."""
    return ASSET_REQUIREMENTS.get(asset, frozenset({Use.ANALYSIS.value}))


def refusal_reason(licence: Licence, asset: str, today: dt.date) -> str | None:
    """Why ``licence`` forbids ``asset`` today, or None when it is allowed (see
    :func:`is_allowed`; assets the requirement table does not name need ``analysis``)."""
    required = requirement_of(asset)
    if not required:
        return None
    if expired(licence, today):
        return f"licence expired on {licence.expires.isoformat()}"  # type: ignore[union-attr]
    if not licence.territories:
        return "licence covers no territory"
    missing = sorted(required - licence.uses)
    if missing:
        return f"{asset} needs {', '.join(missing)}, not allowed by licence {licence.identifier or licence.source}"
    return None
