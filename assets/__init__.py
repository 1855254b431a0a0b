"""All software-defined assets of the platform, by domain."""

from __future__ import annotations

from assets import audio, catalogue, ingest, markers, metadata, previews, tags, video
from resources.partitions import episodes_partitions

ALL_ASSET_MODULES = [ingest, video, audio, previews, tags, markers, catalogue, metadata]

__all__ = ["ALL_ASSET_MODULES", "episodes_partitions"]
