"""The licence of a catalogued episode, at ingest and at run time.

A catalogue row holds the licence resolved at ingest (``licence``) and, in its metadata, what is
needed to resolve it again (:meth:`~media_platform.licences.policy.Resolution.metadata`):
``licence_claims`` (what publishers, uploaders or the CLI's ``--licence`` restricted) and
``licence_keys`` (the operator-file keys looked up beyond the partition key and the title).

At run time (:func:`licence_in_force`) the operator's *current* licence catalogue decides: when
an entry matches the episode, the licence in force is that entry intersected with the recorded
claims, so an edit of ``licences.yaml`` takes effect at once (a withdrawal as well as a grant).
A row from before claims were recorded gets the entry intersected with its stored licence (its
claims cannot be told apart from its ceiling). With no matching entry, the stored licence stands.

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
    intersect,
    licence_record,
    operator_entry,
)
from media_platform.licences.parsing import licence_from_dict, licence_from_record
from media_platform.licences.policy import Resolution, cap, resolve


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


def licence_in_force(episode: Episode, entries: Mapping[str, Licence]) -> Licence:
    """The licence in force for ``episode`` now, given the operator's current catalogue
    ``entries`` (see the module docstring).

    Raises:
        InvalidInputError: the stored licence or a recorded claim is unreadable.
    """
    stored = licence_of(episode)
    entry = operator_entry(entries, licence_keys(episode))
    if entry is None:
        return stored
    claims = recorded_claims(episode)
    if claims is None:
        return intersect(entry, stored)
    return resolve(operator=entry, claims=claims).licence


def cli_licence(
    own: Licence | None,
    title: str,
    episode_id: str | None,
    entries: Mapping[str, Licence],
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The licence record and metadata of a CLI ingest: the operator's ``--licence`` (``own``;
    None: unrestricted) capped by the licence catalogue's entry for the title. With neither, the
    record is None (an empty record: every use, as the CLI always did)."""
    keys = title_keys(title, episode_id)
    entry = operator_entry(entries, keys)
    claims = (own,) if own is not None else ()
    if own is None and entry is None:
        return None, Resolution(PRESETS["full"], PRESETS["full"], ()).metadata() | {
            "licence_source": "cli"
        }
    licence = cap(own, entry)
    source = "catalogue" if entry is not None and licence.terms() == entry.terms() else "cli"
    resolution = Resolution(licence, entry or licence, claims)
    return licence_record(licence), resolution.metadata() | {"licence_source": source}
