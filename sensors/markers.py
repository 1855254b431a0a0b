"""``markers_follow_series``: when an episode's fingerprints are (re)materialized, the markers of
every episode of its series are recomputed, so the earlier episodes gain the intro, recap and
credits that the new episode reveals (an episode alone has none). On by default.

Each tick reads the ``audio_fingerprint`` and ``visual_fingerprint`` materializations since its
cursor (the last event storage id seen), finds the series of each changed partition in the
catalogue (:func:`media_platform.markers.series.follow_up_partitions`) and requests one
``episode_markers`` run per member that has a fingerprint. Assets are named by key: sensors
never import assets.
"""

from __future__ import annotations

import dagster as dg

from media_platform import layout
from media_platform.catalogue import Catalogue
from media_platform.markers.series import follow_up_partitions
from resources import MediaStorage
from resources.partitions import EPISODE_JOB_NAME

FINGERPRINTS = (dg.AssetKey("audio_fingerprint"), dg.AssetKey("visual_fingerprint"))
MARKERS = dg.AssetKey("episode_markers")


@dg.sensor(
    name="markers_follow_series",
    job_name=EPISODE_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Recomputes the intro/recap/credits markers of every episode of a series when one "
    "of its episodes gets new fingerprints.",
)
def markers_sensor(context: dg.SensorEvaluationContext, storage: MediaStorage) -> dg.SensorResult | dg.SkipReason:
    after = int(context.cursor) if context.cursor else 0
    changed: set[str] = set()
    newest = after
    for key in FINGERPRINTS:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1000, ascending=True
        ).records
        for record in records:
            newest = max(newest, record.storage_id)
            if record.partition_key:
                changed.add(record.partition_key)
    if not changed:
        return dg.SkipReason("no new fingerprints")
    store = storage.get_store()

    def fingerprinted(partition: str) -> bool:
        return any(store.exists(layout.episode_key(partition, name))
                   for name in (layout.AUDIO_FINGERPRINT, layout.VISUAL_FINGERPRINT))

    members = follow_up_partitions(Catalogue(store).episodes(), changed, fingerprinted)
    requests = [dg.RunRequest(run_key=f"markers:{p}:{newest}", partition_key=p, asset_selection=[MARKERS])
                for p in members]
    return dg.SensorResult(run_requests=requests, cursor=str(newest))
