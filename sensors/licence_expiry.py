"""The licence-expiry sensor: outputs a licence no longer allows are removed.

Every hour (``minimum_interval_seconds=3600``; on by default) it reads the catalogue and, for
every episode whose licence now forbids assets that still have stored outputs (the licence
expired, lost its territories, or an operator narrowed it in the catalogue), calls
:func:`media_platform.retention.remove_forbidden_outputs`: the forbidden assets' files under
``episodes/<partition>/`` are deleted, the episode's vector index points too when
``shot_index`` is forbidden, and the catalogue row records ``removed_assets`` and
``licence_status``. Masters and probes are kept (they need no licence). What was removed is
logged (``context.log.info``); a tick with nothing to do returns a ``SkipReason``. An episode
whose stored licence cannot be read is logged and left alone (deleting data on a parse error
would be worse; the catalogue's compliance check reports it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import dagster as dg

from media_platform.errors import InvalidInputError
from media_platform.retention import forbidden_outputs, licence_of, remove_forbidden_outputs
from resources import MediaStorage, VectorIndexResource

INTERVAL_S = 3600


def build_licence_expiry_sensor(
    *, name: str = "licence_expiry", today: Callable[[], dt.date] = dt.date.today
) -> dg.SensorDefinition:
    """The licence-expiry sensor; ``today`` is injectable for tests."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Removes the stored outputs (and index points) that an episode's licence "
        "no longer allows, e.g. after it expired.",
    )
    def _licence_expiry(
        context: dg.SensorEvaluationContext,
        storage: MediaStorage,
        vector_index: VectorIndexResource,
    ) -> dg.SkipReason | None:
        return evaluate_licence_expiry(context, storage, vector_index, today())

    return _licence_expiry


def evaluate_licence_expiry(
    context: dg.SensorEvaluationContext,
    storage: MediaStorage,
    vector_index: VectorIndexResource,
    today: dt.date,
) -> dg.SkipReason | None:
    """One tick: remove forbidden outputs everywhere; returns a SkipReason when nothing was
    removed (the sensor starts no runs)."""
    store = storage.get_store()
    catalogue = storage.get_catalogue()
    index = None
    removed_any = False
    try:
        for episode in catalogue.episodes():
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
        return None
    return dg.SkipReason("no episode holds outputs its licence forbids")


def _shot_index_forbidden(licence, today: dt.date) -> bool:
    from media_platform.retention import SHOT_INDEX, asset_refusal

    return asset_refusal(licence, SHOT_INDEX, today) is not None


licence_expiry_sensor = build_licence_expiry_sensor()
