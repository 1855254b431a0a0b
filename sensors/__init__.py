"""Sensors that start runs and keep the catalogue compliant: RSS feeds (``rss_feeds``), upload
landing zones (``upload_landing``) and licence expiry (``licence_expiry``, removes outputs a
licence no longer allows)."""

from __future__ import annotations

import dagster as dg

from sensors.licence_expiry import licence_expiry_sensor
from sensors.rss import rss_sensor
from sensors.uploads import upload_sensor

ALL_SENSORS: list[dg.SensorDefinition] = [rss_sensor, upload_sensor, licence_expiry_sensor]
