"""Sensors that start runs and keep the catalogue compliant: RSS feeds (``rss_feeds``), upload
landing zones (``upload_landing``), licence expiry (``licence_expiry``, removes outputs a
licence no longer allows) and declarative automation (``tags_follow_classifiers``: re-tags
episodes when a classifier changes; ``metadata_follows_outputs``: rebuilds the metadata
database's dbt models when an episode's outputs change)."""

from __future__ import annotations

import dagster as dg

from sensors.automation import metadata_automation_sensor, tags_automation_sensor
from sensors.licence_expiry import licence_expiry_sensor
from sensors.markers import markers_sensor
from sensors.rss import rss_sensor
from sensors.uploads import upload_sensor

ALL_SENSORS: list[dg.SensorDefinition] = [rss_sensor, upload_sensor, licence_expiry_sensor, tags_automation_sensor,
                                       metadata_automation_sensor, markers_sensor]
