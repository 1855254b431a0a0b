"""Licence retention: remove what an episode's licence no longer allows (no Dagster).

When a licence expires or is withdrawn, outputs that were legitimately produced earlier become
outputs the platform may no longer hold. :func:`remove_forbidden_outputs` deletes them:

* the stored files of every asset in :data:`media_platform.layout.ASSET_OUTPUTS` that the
  licence now forbids (``episodes/<partition>/<name>``; names ending in ``/`` are folders);
* the episode's points in the vector index when ``shot_index`` is forbidden;

and records what it did in the catalogue row's metadata (``removed_assets``, ``licence_status``,
``retention_checked``). It never touches the outputs of allowed assets (a key owned by an allowed
asset is kept even when a forbidden asset's folder contains it), never touches the master
(``masters/<partition>/``: the master needs no licence), and is idempotent: a second call finds
nothing to remove and leaves the catalogue alone.

:func:`compliance_violations` reports, without changing anything, every partition that holds an
output its licence forbids (the catalogue-level asset check).

Which assets a licence allows is decided by the one policy,
:func:`media_platform.licences.policy.refusal_reason`; which files each asset stores comes from
the registry of per-episode outputs (:mod:`media_platform.layout`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from media_platform.catalogue import Catalogue, Episode
from media_platform.errors import InvalidInputError, MediaPlatformError
from media_platform.layout import ASSET_OUTPUTS, EPISODE_ASSETS, episode_key
from media_platform.licences.episodes import licence_in_force, licence_of
from media_platform.licences.model import Licence
from media_platform.licences.policy import licence_status, refusal_reason
from media_platform.storage import Store

SHOT_INDEX = next(a.name for a in EPISODE_ASSETS.values() if a.index_points)
"""The asset that owns the episode's points in the vector index (from the registry)."""


# --------------------------------------------------------------------------------------------
# Finding stored outputs


def _output_keys(store: Store, partition_key: str, names: Sequence[str]) -> list[str]:
    keys: list[str] = []
    for name in names:
        prefix = episode_key(partition_key, name.rstrip("/"))
        keys.extend(store.list_keys(prefix))
    return sorted(set(keys))


def _index_count(index: Any, partition_key: str) -> int:
    if index is None:
        return 0
    try:
        return int(index.count(partition_key))
    except MediaPlatformError:  # e.g. the collection does not exist yet: nothing indexed
        return 0


@dataclass(frozen=True)
class ForbiddenOutputs:
    """What a partition holds that its licence forbids: stored keys per asset, the number of
    index points (when ``shot_index`` is forbidden) and the refusal reason per asset."""

    partition_key: str
    keys: dict[str, list[str]] = field(default_factory=dict)
    index_points: int = 0
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.keys.values()) and not self.index_points


def forbidden_outputs(
    store: Store,
    index: Any,
    partition_key: str,
    licence: Licence,
    today: dt.date,
) -> ForbiddenOutputs:
    """The stored outputs (and index points) of ``partition_key`` that ``licence`` forbids today.

    Keys also owned by an allowed asset are not listed. ``index`` may be None (no index).
    """
    outputs = ASSET_OUTPUTS
    reasons = {name: r for name in outputs if (r := refusal_reason(licence, name, today))}
    allowed_keys: set[str] = set()
    for name, names in outputs.items():
        if name not in reasons:
            allowed_keys.update(_output_keys(store, partition_key, names))
    keys: dict[str, list[str]] = {}
    for name in sorted(reasons):
        found = [
            k for k in _output_keys(store, partition_key, outputs[name]) if k not in allowed_keys
        ]
        if found:
            keys[name] = found
    points = _index_count(index, partition_key) if SHOT_INDEX in reasons else 0
    return ForbiddenOutputs(partition_key, keys, points, reasons)


# --------------------------------------------------------------------------------------------
# Removing them


@dataclass(frozen=True)
class RetentionResult:
    """What :func:`remove_forbidden_outputs` did.

    Attributes:
        partition_key: the episode.
        removed: stored keys deleted, per asset.
        index_points_removed: vector index points deleted.
        reasons: why each removed asset is forbidden.
        licence_status: ``expired``, ``no-territory`` or ``active``.
    """

    partition_key: str
    removed: dict[str, list[str]] = field(default_factory=dict)
    index_points_removed: int = 0
    reasons: dict[str, str] = field(default_factory=dict)
    licence_status: str = "active"

    @property
    def removed_assets(self) -> list[str]:
        names = {a for a, keys in self.removed.items() if keys}
        if self.index_points_removed:
            names.add(SHOT_INDEX)
        return sorted(names)

    @property
    def changed(self) -> bool:
        return bool(self.removed_assets)

    def summary(self) -> str:
        if not self.changed:
            return f"{self.partition_key}: nothing to remove"
        parts = [
            f"{asset} ({len(self.removed.get(asset, []))} file(s)"
            + (f", {self.index_points_removed} index point(s)" if asset == SHOT_INDEX else "")
            + f": {self.reasons.get(asset, 'forbidden')})"
            for asset in self.removed_assets
        ]
        return f"{self.partition_key}: removed " + "; ".join(parts)


def remove_forbidden_outputs(
    store: Store,
    index: Any,
    partition_key: str,
    licence: Licence,
    today: dt.date,
    *,
    catalogue: Catalogue | None = None,
) -> RetentionResult:
    """Delete the outputs of ``partition_key`` that ``licence`` forbids today (see the module
    docstring) and record it in the catalogue (``catalogue`` defaults to the store's).

    Catalogue metadata written when something was removed or the recorded status changed:
    ``removed_assets`` (sorted union with earlier removals), ``licence_status``,
    ``retention_checked`` (ISO date). Idempotent.
    """
    found = forbidden_outputs(store, index, partition_key, licence, today)
    removed: dict[str, list[str]] = {}
    for asset, keys in found.keys.items():
        folders = [n for n in ASSET_OUTPUTS[asset] if n.endswith("/")]
        doomed = set(keys)
        for folder in folders:
            prefix = episode_key(partition_key, folder.rstrip("/"))
            inside = {k for k in doomed if k.startswith(prefix + "/")}
            if inside and inside == set(store.list_keys(prefix)):
                store.delete_prefix(prefix)  # the whole folder is forbidden: one call
                doomed -= inside
        for key in sorted(doomed):
            store.delete(key)
        removed[asset] = keys
    points = 0
    if found.index_points and index is not None:
        points = int(index.delete_partition(partition_key))
    status = licence_status(licence, today)
    result = RetentionResult(
        partition_key,
        removed,
        points,
        {
            a: found.reasons[a]
            for a in found.reasons
            if a in removed or (a == SHOT_INDEX and points)
        },
        status,
    )
    cat = catalogue if catalogue is not None else Catalogue(store)
    episode = cat.get(partition_key)
    if episode is not None and (
        result.changed or episode.metadata.get("licence_status", "active") != status
    ):
        previous = episode.metadata.get("removed_assets") or []
        merged = sorted(set(previous) | set(result.removed_assets))
        cat.update_metadata(
            partition_key,
            removed_assets=merged,
            licence_status=status,
            retention_checked=today.isoformat(),
        )
    return result


# --------------------------------------------------------------------------------------------
# Compliance


def compliance_violations(
    store: Store,
    index: Any,
    episodes: Iterable[Episode],
    today: dt.date,
    entries: Mapping[str, Licence] | None = None,
) -> list[str]:
    """One message per (partition, asset) holding an output its licence forbids today; an
    unreadable licence is a violation too. Changes nothing.

    ``entries``: the operator's current licence catalogue; given, each episode's licence is the
    one the run-time gate resolves (:func:`~media_platform.licences.episodes.licence_in_force`),
    so a withdrawal in the file is a violation while the forbidden outputs remain. None: the
    stored licences (for a caller that could not read the file, which reports that itself)."""
    problems: list[str] = []
    for episode in episodes:
        try:
            licence = licence_of(episode) if entries is None else licence_in_force(episode, entries)
        except InvalidInputError as exc:
            problems.append(str(exc))
            continue
        found = forbidden_outputs(store, index, episode.partition_key, licence, today)
        for asset, keys in found.keys.items():
            sample = ", ".join(keys[:3]) + (" ..." if len(keys) > 3 else "")
            problems.append(
                f"{episode.partition_key}: {asset} holds {len(keys)} stored output(s) "
                f"({sample}) but {found.reasons[asset]}"
            )
        if found.index_points:
            problems.append(
                f"{episode.partition_key}: {SHOT_INDEX} holds {found.index_points} index point(s) "
                f"but {found.reasons[SHOT_INDEX]}"
            )
    return problems


__all__ = [
    "SHOT_INDEX",
    "ForbiddenOutputs",
    "RetentionResult",
    "compliance_violations",
    "forbidden_outputs",
    "remove_forbidden_outputs",
]
