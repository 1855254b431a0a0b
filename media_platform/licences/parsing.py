"""Reading licences: names and URLs (``podcast:license``, presets, Creative Commons), licence
dicts (sidecars, the operator's catalogue entries, catalogue rows) and sidecar files.

Decisions (conservative by default):

* Creative Commons and public-domain identifiers map to their meaning: every CC licence allows
  analysis and search indexing (both are reproduction/indexing, granted by all CC licences);
  ``ND`` forbids derivatives; ``NC`` also forbids derivatives, because we cannot guarantee that
  previews shown by the platform are non-commercial use.
* "All rights reserved" maps to the no-permission preset, even when the text also mentions a
  Creative Commons URL (a copyright notice that links a CC page is not a CC licence).
* Anything else is not recognised (``None``): unknown never means "allowed".
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from media_platform.errors import InvalidInputError
from media_platform.licences.model import (
    PRESETS,
    USES,
    Licence,
    LicenceSource,
    validate_territories,
)

_CC_URL = re.compile(
    r"creativecommons\.org/(?:licenses|licences)/(?P<terms>[a-z-]+)(?:/(?P<version>[0-9.]+))?",
)
_CC_ZERO_URL = re.compile(r"creativecommons\.org/(?:publicdomain/zero|publicdomain/mark)")
_CC_TERMS = {"by", "sa", "nc", "nd"}
_ALL_RIGHTS_RESERVED = re.compile(r"all[\W_]+rights[\W_]+reserved|\bproprietary\b")


def parse_date(value: Any, where: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` date (or a date object, or None); errors name ``where`` and the value."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidInputError(
                f"{where}: {value!r} is not a valid YYYY-MM-DD date ({exc})"
            ) from None
    raise InvalidInputError(f"{where}: expected a YYYY-MM-DD date or null, got {value!r}")


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

    Recognised: our :data:`~media_platform.licences.model.PRESETS` (``analysis-only``,
    ``full``...), Creative Commons identifiers in SPDX-like or spelled-out form (``cc-by-4.0``,
    ``CC BY-NC-SA 3.0``, ``Creative Commons Attribution-NoDerivatives 4.0``) and their
    ``creativecommons.org/licenses/...`` URLs, ``cc0`` and public-domain marks, and "all rights
    reserved" (the no-permission preset, whatever else the text mentions). Returns ``None`` for
    anything else.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    raw = text.strip().lower()
    if _ALL_RIGHTS_RESERVED.search(raw):
        return replace(PRESETS["all-rights-reserved"], source=source)
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
    terr = validate_territories(territories, f"{where}.territories")
    expires = parse_date(data.get("expires"), f"{where}.expires")
    return Licence(
        analysis=flags["analysis"],
        search_indexing=flags["search_indexing"],
        derivatives=flags["derivatives"],
        territories=terr,
        expires=expires,
        source=source,
        identifier=identifier,
    )


def licence_from_record(
    record: Mapping[str, Any], *, source: LicenceSource = "catalogue", where: str = "licence"
) -> Licence:
    """A licence stored with :func:`~media_platform.licences.model.licence_record` (or
    :meth:`Licence.to_dict`, whose ``identifier: None`` names nothing). An empty record allows
    nothing here; what an empty catalogue row means is decided by
    :func:`media_platform.licences.policy.licence_of`."""
    cleaned = {
        k: v
        for k, v in record.items()
        if not (k in ("identifier", "licence", "license") and v is None)
    }
    if USES <= set(cleaned) and isinstance(cleaned.get("identifier"), str):
        # a complete record: the identifier only names it ("cc-by-4.0", "full+restricted")
        name = cleaned.pop("identifier")
        return replace(licence_from_dict(cleaned, source=source, where=where), identifier=name)
    return licence_from_dict(cleaned or {"uses": []}, source=source, where=where)


def load_sidecar(path: Path | str) -> Licence:
    """Read a sidecar licence JSON file (see :func:`licence_from_dict`)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: too many digits too
        raise InvalidInputError(f"{p}: cannot read licence sidecar: {exc}") from exc
    return licence_from_dict(data, source="sidecar", where=str(p))
