"""The licence-expiry sensor: outputs a licence no longer allows are removed.

Every hour (``minimum_interval_seconds=3600``; on by default) it reads the catalogue and, for
every episode whose licence now forbids assets that still have stored outputs (the licence
expired, lost its territories, or an operator narrowed it in the catalogue), calls
:func:`media_platform.licences.retention.remove_forbidden_outputs`: the forbidden assets' files under
``episodes/<partition>/`` are deleted, the episode's vector index points too when
``shot_index`` is forbidden, and the catalogue row records ``removed_assets`` and
``licence_status``. Masters and probes are kept (they need no licence). What was removed is
logged (``context.log.info``), and the tick requests a run of the metadata database's job, so
those episodes' rows leave the database too; a tick with nothing to do returns a ``SkipReason``. An episode
whose stored licence cannot be read is logged and left alone (deleting data on a parse error
would be worse; the catalogue's compliance check reports it).

The operator's licence catalogue (``get_settings().licences_path``) is re-read on every tick: an
episode whose licence in force (:func:`~media_platform.licences.episodes.licence_in_force`, the
run-time gate's resolution: the entry under its operator keys, else its recorded default,
restricted by the entries under its title keys and by its claims) differs from the one in its catalogue row gets it written into the row
(``licence_source: "catalogue"``) before the check above, so a withdrawal in the file takes effect
in the catalogue too (the assets' run-time gate applies it at once). An unreadable catalogue file
is logged and the rows' licences are used as they are. A row from before the operator keys were
recorded whose stored licence is unreadable is left alone and reported (never widened).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import dagster as dg

from media_platform.catalogue import Catalogue, Episode
from media_platform.errors import InvalidInputError
from media_platform.licences import Licence, licence_record, refusal_reason
from media_platform.licences.episodes import licence_in_force, licence_of
from media_platform.licences.retention import (
    SHOT_INDEX,
    forbidden_outputs,
    remove_forbidden_outputs,
)
from resources import MediaStorage, VectorIndexResource
from resources.partitions import METADATA_JOB_NAME
from sensors.common import load_licence_catalogue

INTERVAL_S = 3600


def build_licence_expiry_sensor(
    *, name: str = "licence_expiry", today: Callable[[], dt.date] = dt.date.today
) -> dg.SensorDefinition:
    """The licence-expiry sensor; ``today`` is injectable for tests."""

    @dg.sensor(
        name=name,
        job_name=METADATA_JOB_NAME,
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Removes the stored outputs (and index points) that an episode's licence "
        "no longer allows, e.g. after it expired, then rebuilds the metadata database without them.",
    )
    def _licence_expiry(
        context: dg.SensorEvaluationContext,
        storage: MediaStorage,
        vector_index: VectorIndexResource,
    ) -> dg.SkipReason | dg.RunRequest:
        return evaluate_licence_expiry(context, storage, vector_index, today())

    return _licence_expiry


def evaluate_licence_expiry(
    context: dg.SensorEvaluationContext,
    storage: MediaStorage,
    vector_index: VectorIndexResource,
    today: dt.date,
) -> dg.SkipReason | dg.RunRequest:
    """One tick: remove forbidden outputs everywhere; when something was removed or a licence
    changed, request a build of the metadata database (its rows of those episodes go too);
    otherwise a SkipReason."""
    store = storage.get_store()
    catalogue = storage.get_catalogue()
    index = None
    removed_any = False
    operator_licences: dict[str, Licence] | None
    try:
        operator_licences = load_licence_catalogue(context)
    except InvalidInputError as exc:
        context.log.warning(f"licence catalogue not applied this tick: {exc}")
        operator_licences = None
    try:
        for episode in catalogue.episodes():
            if operator_licences is not None:  # an empty file withdraws every entry
                updated = _apply_operator_licence(context, catalogue, episode, operator_licences)
                if updated is not None:
                    episode = updated
                    removed_any = True  # the row changed: not a tick with nothing to do
            try:
                licence = licence_of(episode)
            except InvalidInputError as exc:
                context.log.warning(f"{exc}; its outputs are left alone")
                continue
            # the index is opened only when some episode's shot_index is forbidden
            needs_index = _shot_index_forbidden(licence, today)
            if needs_index and index is None:
                index = vector_index.get_index()
            episode_index = index if needs_index else None
            found = forbidden_outputs(store, episode_index, episode.partition_key, licence, today)
            if found.empty:
                continue
            result = remove_forbidden_outputs(
                store, episode_index, episode.partition_key, licence, today, catalogue=catalogue
            )
            if result.changed:
                removed_any = True
                context.log.info(result.summary())
    finally:
        close = getattr(index, "close", None)
        if callable(close):
            close()
    if removed_any:
        return dg.RunRequest(tags={"media_platform/reason": "licence_expiry"})
    return dg.SkipReason("no episode holds outputs its licence forbids")


def _apply_operator_licence(
    context: dg.SensorEvaluationContext,
    catalogue: Catalogue,
    episode: Episode,
    licences: dict[str, Licence],
) -> Episode | None:
    """Write the licence in force under the operator's catalogue into ``episode``'s row when it
    differs from the row's; returns the updated row, or None when nothing changed."""
    try:
        current: dict | None = licence_record(licence_of(episode))
    except InvalidInputError as exc:
        if "licence_operator_keys" not in episode.metadata:
            # a row from before: nothing recorded bounds what an entry would grant, so nothing
            # is widened here; it stays unreadable (the compliance check reports it)
            context.log.warning(f"{exc}; its licence is left as it is")
            return None
        current = None  # the recorded keys, default and claims resolve without it
    try:
        in_force = licence_in_force(episode, licences)
    except InvalidInputError as exc:
        context.log.warning(f"{exc}; its licence is left as it is")
        return None
    wanted = licence_record(in_force)
    if current == wanted:
        return None
    updated = catalogue.update_licence(
        episode.partition_key, wanted, licence_source="catalogue"
    )
    context.log.info(
        f"{episode.partition_key}: licence updated from the operator's licence catalogue "
        f"({(current or {}).get('identifier', 'custom')} -> {wanted.get('identifier', 'custom')})"
    )
    return updated


def _shot_index_forbidden(licence: Licence, today: dt.date) -> bool:
    return refusal_reason(licence, SHOT_INDEX, today) is not None


licence_expiry_sensor = build_licence_expiry_sensor()
