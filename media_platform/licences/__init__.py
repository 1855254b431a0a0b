"""Licences: what may be done with a title, who decides it, and what is allowed.

* :mod:`~media_platform.licences.model`: :class:`Licence`, the presets, how licences combine
  (:func:`intersect`, :func:`operator_entry`).
* :mod:`~media_platform.licences.parsing`: licence names, URLs, dicts and sidecar files.
* :mod:`~media_platform.licences.operator_file`: the operator's ``licences.yaml``, the one
  authority.
* :mod:`~media_platform.licences.policy`: the one policy: which licence is in force (the
  operator's ceiling, restricted by what publishers and uploaders write) and whether it allows
  an asset (:func:`refusal_reason`).
* :mod:`~media_platform.licences.episodes`: the licence of a catalogued episode at ingest and at
  run time (import it by its module path: it needs the catalogue).
* :mod:`~media_platform.licences.retention`: removing what a licence no longer allows (likewise).
"""

from media_platform.licences.model import (
    CONSERVATIVE_LICENCE,
    PRESETS,
    USES,
    Licence,
    LicenceSource,
    Use,
    expired,
    intersect,
    licence_record,
    operator_entry,
)
from media_platform.licences.operator_file import load_catalogue, load_operator_licences
from media_platform.licences.parsing import (
    licence_from_dict,
    licence_from_record,
    load_sidecar,
    recognise_licence_string,
)
from media_platform.licences.policy import (
    Resolution,
    allowed_assets,
    feed_claim,
    licence_status,
    refusal_reason,
    requirement_of,
    resolve,
    resolve_entries,
    resolve_licence,
)

__all__ = [
    "CONSERVATIVE_LICENCE",
    "PRESETS",
    "USES",
    "Licence",
    "LicenceSource",
    "Resolution",
    "Use",
    "allowed_assets",
    "expired",
    "feed_claim",
    "intersect",
    "licence_from_dict",
    "licence_from_record",
    "licence_record",
    "licence_status",
    "load_catalogue",
    "load_operator_licences",
    "load_sidecar",
    "operator_entry",
    "recognise_licence_string",
    "refusal_reason",
    "requirement_of",
    "resolve",
    "resolve_entries",
    "resolve_licence",
]
