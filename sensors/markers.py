"""``markers_follow_series``: when an episode's fingerprints are (re)materialized, the markers of
every episode of its series are recomputed, so the earlier episodes gain the intro, recap and
credits that the new episode reveals (an episode alone has none); and when an episode's markers
change, its chapters and its preview are redone with them. On by default.

Each tick reads, since its cursor (the last event storage id seen):

- the ``audio_fingerprint`` and ``visual_fingerprint`` materializations: it finds the series of
  each changed partition in the catalogue (:func:`media_platform.markers.series.follow_up_partitions`)
  and requests one ``episode_markers`` run per member that has a fingerprint;
- the ``episode_markers`` materializations: each partition whose stored preview choice was made
  with other markers (:func:`media_platform.markers.usage.uses_stale_markers`) gets one run of
  ``chapters``, ``preview_selection`` and ``preview``, so the preview never stays inside a span
  that became an intro once the series grew. A run that computed markers and preview together
  (an episode's own run) leaves nothing stale, so nothing is requested for it.

Assets are named by key: sensors never import assets.
"""

from __future__ import annotations

import dagster as dg

from media_platform import layout
from media_platform.catalogue import Catalogue
from media_platform.markers.series import follow_up_partitions
from media_platform.markers.usage import uses_stale_markers
from resources import MediaStorage
from resources.partitions import EPISODE_JOB_NAME

FINGERPRINTS = (dg.AssetKey("audio_fingerprint"), dg.AssetKey("visual_fingerprint"))
MARKERS = dg.AssetKey("episode_markers")
MARKER_READERS = [dg.AssetKey("chapters"), dg.AssetKey("preview_selection"), dg.AssetKey("preview")]
_PAGE = 1000


def _changed(context: dg.SensorEvaluationContext, after: int) -> tuple[dict[dg.AssetKey, set[str]], int]:
    """Partitions materialized per watched key after storage id ``after``, and the id to resume
    from (a full page stops the cursor at its last record, so the rest is read next tick)."""
    changed: dict[dg.AssetKey, set[str]] = {}
    newest, cap = after, None
    for key in (*FINGERPRINTS, MARKERS):
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=_PAGE, ascending=True
        ).records
        if len(records) == _PAGE:
            cap = records[-1].storage_id if cap is None else min(cap, records[-1].storage_id)
        for record in records:
            newest = max(newest, record.storage_id)
            if record.partition_key:
                changed.setdefault(key, set()).add(record.partition_key)
    return changed, newest if cap is None else cap


@dg.sensor(
    name="markers_follow_series",
    job_name=EPISODE_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Recomputes the intro/recap/credits markers of every episode of a series when one "
    "of its episodes gets new fingerprints, and redoes the chapters and preview of an episode "
    "whose markers changed.",
)
def markers_sensor(context: dg.SensorEvaluationContext, storage: MediaStorage) -> dg.SensorResult | dg.SkipReason:
    after = int(context.cursor) if context.cursor else 0
    changed, newest = _changed(context, after)
    fingerprinted_now = set().union(*(changed.get(k, set()) for k in FINGERPRINTS))
    marked_now = changed.get(MARKERS, set())
    if not fingerprinted_now and not marked_now:
        return dg.SkipReason("no new fingerprints or markers")
    store = storage.get_store()

    def fingerprinted(partition: str) -> bool:
        return any(store.exists(layout.episode_key(partition, name))
                   for name in (layout.AUDIO_FINGERPRINT, layout.VISUAL_FINGERPRINT))

    members = follow_up_partitions(Catalogue(store).episodes(), fingerprinted_now, fingerprinted)
    requests = [dg.RunRequest(run_key=f"markers:{p}:{newest}", partition_key=p, asset_selection=[MARKERS])
                for p in members]
    requests += [dg.RunRequest(run_key=f"marker-readers:{p}:{newest}", partition_key=p, asset_selection=MARKER_READERS)
                 for p in sorted(marked_now) if uses_stale_markers(store, p)]
    if not requests:
        return dg.SensorResult(run_requests=[], cursor=str(newest), skip_reason="markers changed nothing downstream")
    return dg.SensorResult(run_requests=requests, cursor=str(newest))
