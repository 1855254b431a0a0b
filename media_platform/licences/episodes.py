"""The licence of a catalogued episode, at ingest and at run time.

A catalogue row holds the licence resolved at ingest (``licence``, a snapshot) and, in its
metadata, what is needed to resolve it again
(:meth:`~media_platform.licences.policy.Resolution.metadata`): the operator-controlled keys
(``licence_operator_keys``: the partition key, a feed's title from ``feeds.yaml``, a CLI title),
the operator's configured default (``licence_default``: a feed's ``default_licence``, the zone's
licence), the keys of titles a publisher or uploader wrote (``licence_title_keys``) and what they
claimed (``licence_claims``, read as restrictions once, at ingest). The operator's entries are
never frozen into the row.

At run time (:func:`licence_in_force`) the operator's *current* licence catalogue decides: the
ceiling is the entry under the operator keys, else the recorded default, else the conservative
licence; entries under the title keys and the claims only restrict it. An edit of
``licences.yaml`` therefore takes effect at once, a grant as well as a withdrawal.

A row from before the operator keys were recorded (only ``licence_claims``/``licence_keys``) is
never widened beyond its stored licence unless an entry under an operator-controlled key (its
partition key, its feed's title, a CLI title) matches; then that entry restricted by the claims
decides. Every other matching entry restricts.

An empty stored licence means "every use" only for a row the CLI wrote without ``--licence``
(the operator's own hand ingest; still capped by the file's entry); for any other source it
means the conservative no-use licence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from media_platform.catalogue import Episode
from media_platform.errors import InvalidInputError
from media_platform.keys import partition_key_for
from media_platform.licences.model import (
    CONSERVATIVE_LICENCE,
    PRESETS,
    Licence,
    licence_record,
    operator_entry,
)
from media_platform.licences.parsing import licence_from_dict, licence_from_record
from media_platform.licences.policy import cap, resolve, resolve_entries, restrict


def licence_of(episode: Episode) -> Licence:
    """The licence stored in ``episode``'s row (see the module docstring for an empty one).

    Raises:
        InvalidInputError: the stored record is not a valid licence (naming the partition).
    """
    if not episode.licence:
        return PRESETS["full"] if episode.source == "cli" else CONSERVATIVE_LICENCE
    try:
        return licence_from_record(episode.licence, where="catalogue licence")
    except InvalidInputError as exc:
        raise InvalidInputError(f"{episode.partition_key}: unreadable licence: {exc}") from exc


def title_keys(title: str | None, episode_id: str | None = None) -> list[str]:
    """Operator-file keys of a title: with and without the episode id (none when the title
    cannot make a key)."""
    keys: list[str] = []
    if not isinstance(title, str) or not title.strip():
        return keys
    for eid in ((episode_id, None) if episode_id else (None,)):
        try:
            keys.append(partition_key_for(title, eid))
        except (InvalidInputError, ValueError):
            continue
    return keys


def licence_keys(episode: Episode) -> list[str]:
    """Every key under which the operator's licence catalogue may name ``episode``: its
    partition key, its title (with and without episode id), a feed item's feed title, and the
    keys recorded at ingest (``licence_keys``). All matching entries apply."""
    keys = [episode.partition_key, *title_keys(episode.title, episode.episode_id)]
    if episode.source == "rss":
        keys += title_keys(episode.metadata.get("feed_title"))
    recorded = episode.metadata.get("licence_keys")
    if isinstance(recorded, list):
        keys += [k for k in recorded if isinstance(k, str)]
    return list(dict.fromkeys(keys))


def recorded_claims(episode: Episode) -> list[Licence] | None:
    """The claims recorded at ingest (``licence_claims``, a list of licence records; a single
    ``licence_claim`` record or licence name is read too), or None for a row that recorded none.

    Raises:
        InvalidInputError: a recorded claim is not a valid licence (naming the partition).
    """
    meta = episode.metadata
    if "licence_claims" not in meta and "licence_claim" not in meta:
        return None
    raw: list[Any] = []
    if isinstance(meta.get("licence_claims"), list):
        raw += meta["licence_claims"]
    if meta.get("licence_claim") is not None:
        raw.append(meta["licence_claim"])
    claims: list[Licence] = []
    where = f"{episode.partition_key}: recorded licence claim"
    for item in raw:
        if isinstance(item, str):
            claims.append(licence_from_dict({"identifier": item}, where=where))
        elif isinstance(item, Mapping):
            claims.append(licence_from_record(item, source="sidecar", where=where))
        else:
            raise InvalidInputError(f"{where}: {item!r} is not a licence")
    return claims


def _recorded_default(episode: Episode) -> Licence | None:
    record = episode.metadata.get("licence_default")
    if record is None:
        return None
    if not isinstance(record, Mapping):
        raise InvalidInputError(f"{episode.partition_key}: recorded licence default {record!r} is not a licence")
    where = f"{episode.partition_key}: recorded licence default"
    return licence_from_record(record, source="default", where=where)


def _strings(value: Any) -> list[str]:
    return [k for k in value if isinstance(k, str)] if isinstance(value, list) else []


def legacy_operator_keys(episode: Episode) -> list[str]:
    """The operator-controlled keys of a row written before they were recorded: the partition
    key and a feed item's feed title (an upload's partition key is its uploader's title; a CLI
    title is the operator's own)."""
    if episode.source == "upload":
        return []
    keys = [episode.partition_key]
    if episode.source == "rss":
        keys += title_keys(episode.metadata.get("feed_title"))
    elif episode.source == "cli":
        keys += title_keys(episode.title, episode.episode_id)
    return keys


def licence_in_force(episode: Episode, entries: Mapping[str, Licence]) -> Licence:
    """The licence in force for ``episode`` now, given the operator's current catalogue
    ``entries`` (see the module docstring).

    Raises:
        InvalidInputError: the stored licence (of a row from before the operator keys were
            recorded), the recorded default or a recorded claim is unreadable.
    """
    meta = episode.metadata
    claims = recorded_claims(episode)
    if "licence_operator_keys" in meta:
        return resolve_entries(
            entries,
            operator_keys=[episode.partition_key, *_strings(meta["licence_operator_keys"])],
            title_keys=_strings(meta.get("licence_title_keys")),
            default=_recorded_default(episode),
            claims=claims or (),
        ).licence
    # A row from before: its stored licence froze the ceiling in, so without an entry under an
    # operator-controlled key it is never widened; any matching entry still restricts it.
    stored = licence_of(episode)
    operators = legacy_operator_keys(episode)
    others = [k for k in licence_keys(episode) if k not in operators]
    entry = operator_entry(entries, operators)
    restriction = operator_entry(entries, others)
    if entry is None or claims is None:
        return restrict(restrict(stored, entry), restriction)
    return restrict(resolve(operator=entry, claims=claims).licence, restriction)


def cli_licence(
    own: Licence | None,
    title: str,
    episode_id: str | None,
    entries: Mapping[str, Licence],
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The licence record and metadata of a CLI ingest: the operator's ``--licence`` (``own``;
    None: unrestricted; recorded as it is, so "all rights reserved" allows no use, now and at
    run time) capped by the licence catalogue's entry for the title (the operator's own keys).
    With neither, the record is None (an empty record: every use, as the CLI always did)."""
    keys = title_keys(title, episode_id)
    resolution = resolve_entries(
        entries, operator_keys=keys, default=PRESETS["full"], claims=(own,)
    )
    entry = operator_entry(entries, keys)
    metadata = resolution.metadata()
    if own is None and entry is None:
        return None, metadata | {"licence_source": "cli"}
    licence = cap(own, entry)
    source = "catalogue" if entry is not None and licence.terms() == entry.terms() else "cli"
    return licence_record(licence), metadata | {"licence_source": source}
