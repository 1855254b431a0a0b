"""The declarative-automation sensors: keep tags, the shot index and the metadata database up
to date.

When an editor trains a label (a new ``tag_classifier`` version), every episode that already
has ``shot_tags`` is re-tagged, and its ``shot_index`` payload follows, through the assets'
``automation_condition`` (``FOLLOW_UPSTREAM`` in ``assets/common.py``). This sensor evaluates
those conditions; it is on by default, so a running ``dagster dev`` or ``dagster-daemon`` applies
a new classifier without anyone launching a run. Assets are named by key, so sensors never
import the asset modules.
"""

from __future__ import annotations

import dagster as dg

tags_automation_sensor = dg.AutomationConditionSensorDefinition(
    "tags_follow_classifiers",
    target=dg.AssetSelection.assets("shot_tags", "shot_index"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Re-tags the tagged episodes and refreshes their index payload when a classifier changes.",
)

metadata_automation_sensor = dg.AutomationConditionSensorDefinition(
    "metadata_follows_outputs",
    target=dg.AssetSelection.groups("metadata"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Rebuilds the metadata database's dbt models when an episode's outputs change.",
)
