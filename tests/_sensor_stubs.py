"""What the sensor tests share: a stub code location with one asset per registered
per-episode output (run selections can be checked against licences without running anything),
and a log handler that collects what a sensor logged."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import dagster as dg

from media_platform.layout import EPISODE_ASSETS
from resources.partitions import EPISODE_JOB_NAME, episodes_partitions


def stub_definitions(names: Iterable[str] = EPISODE_ASSETS) -> dg.Definitions:
    """A code location with a do-nothing partitioned asset per name and the episode job."""

    def make(name: str) -> dg.AssetsDefinition:
        @dg.asset(name=name, partitions_def=episodes_partitions)
        def _asset() -> None:
            return None

        return _asset

    return dg.Definitions(
        assets=[make(n) for n in names], jobs=[dg.define_asset_job(EPISODE_JOB_NAME)]
    )


class CollectLogs(logging.Handler):
    """Keeps ``(level name, message)`` of every record it gets."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname, record.getMessage()))
