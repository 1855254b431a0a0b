"""What the sensors share: the episode job's name, the licence-filtered asset selection of a run
request, and where the operator's licence catalogue lives."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import dagster as dg

from media_platform.catalogue import Episode
from media_platform.errors import InvalidInputError
from media_platform.licences import Licence, allowed_assets, load_operator_licences
from media_platform.licences.episodes import licence_in_force, licence_of
from resources.partitions import EPISODE_JOB_NAME

__all__ = ["EPISODE_JOB_NAME", "allowed_selection", "episode_asset_keys", "episode_run_request"]


def episode_asset_keys(context: dg.SensorEvaluationContext) -> list[dg.AssetKey]:
    """Every asset key of the episode job in the code location being evaluated.

    Read from ``context.repository_def``: the sensor daemon sets it, and tests pass
    ``dg.build_sensor_context(definitions=...)``. Sensors never import the asset modules.

    Raises:
        dg.DagsterInvariantViolationError: the context has no code location with the episode
            job (a run request could not be limited to what the licence allows).
    """
    repo = context.repository_def
    if repo is None or not repo.has_job(EPISODE_JOB_NAME):
        raise dg.DagsterInvariantViolationError(
            f"the sensor context has no code location with the job {EPISODE_JOB_NAME!r}; "
            "build it with dg.build_sensor_context(definitions=...)"
        )
    keys = set(repo.get_job(EPISODE_JOB_NAME).asset_layer.executable_asset_keys)
    return sorted(keys, key=lambda k: k.to_user_string())


def allowed_selection(
    keys: list[dg.AssetKey], licence: Licence, today: dt.date
) -> list[dg.AssetKey]:
    """The keys whose asset the licence allows today (by the key's last path component, the
    asset's name in the registry of per-episode outputs; :func:`media_platform.licences.refusal_reason`
    decides)."""
    names = allowed_assets(licence, {k.path[-1] for k in keys}, today)
    return [k for k in keys if k.path[-1] in names]


def episode_run_request(
    context: dg.SensorEvaluationContext,
    episode: Episode,
    run_key: str,
    today: dt.date | None = None,
    tags: dict[str, str] | None = None,
    licences: Mapping[str, Licence] | None = None,
) -> dg.RunRequest:
    """A run of the episode job for ``episode``'s partition, selecting only what its licence
    allows (master and media_probe always): the licence in force under the operator's catalogue
    entries ``licences`` when given, else the row's."""
    today = today or dt.date.today()
    licence = licence_of(episode) if licences is None else licence_in_force(episode, licences)
    selection = allowed_selection(episode_asset_keys(context), licence, today)
    return dg.RunRequest(
        run_key=run_key,
        partition_key=episode.partition_key,
        asset_selection=selection,
        tags={"media_platform/launched_by": _sensor_name(context), **(tags or {})},
    )


def _sensor_name(context: dg.SensorEvaluationContext) -> str:
    try:
        return context.sensor_name or "sensor"
    except Exception:  # noqa: BLE001 - a context built without a sensor name (tests)
        return "sensor"


def load_licence_catalogue(context: dg.SensorEvaluationContext) -> dict[str, Licence]:
    """The operator's licence catalogue entries (``get_settings().licences_path``; empty when
    there is none), read afresh.

    Raises:
        InvalidInputError: the catalogue exists (or ``$MEDIA_PLATFORM_LICENCES`` names it) but
            cannot be read or is invalid (a YAML typo, a duplicate key, an unknown licence...).
            Ignoring it would silently drop the operator's restrictions, so callers skip the tick
            with the reason and keep their last good cursor.
    """
    try:
        return load_operator_licences()
    except InvalidInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything else unreadable: same, never ignored
        raise InvalidInputError(f"licence catalogue: cannot read it: {exc}") from exc
