"""The episode partitions and the episode job's name: what assets, sensors and the code location
share. Kept apart from ``assets/`` so that sensors never import assets."""

from __future__ import annotations

import dagster as dg

from media_platform.layout import EPISODES_PARTITIONS_NAME

episodes_partitions = dg.DynamicPartitionsDefinition(name=EPISODES_PARTITIONS_NAME)
"""Every title or podcast episode is one partition of this dynamic partitions definition."""

EPISODE_JOB_NAME = "episode_pipeline"
"""The job every episode run belongs to (defined in ``definitions.py``)."""

LABELS_PARTITIONS_NAME = "labels"
labels_partitions = dg.DynamicPartitionsDefinition(name=LABELS_PARTITIONS_NAME)
"""Every label an editor teaches (a few-shot classifier) is one partition of this definition."""

TRAIN_JOB_NAME = "train_tag_classifier"
"""The job that trains one label's classifier (defined in ``definitions.py``)."""

METADATA_JOB_NAME = "metadata_database"
"""The job that builds the metadata database's dbt models (defined in ``definitions.py``)."""
