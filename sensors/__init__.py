"""Sensors and schedules that start runs (RSS feeds and upload landing zones arrive with the
ingestion work; nothing is defined here yet)."""

from __future__ import annotations

import dagster as dg

ALL_SENSORS: list[dg.SensorDefinition] = []
