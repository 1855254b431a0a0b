"""All software-defined assets of the platform, by domain."""

from __future__ import annotations

from assets import audio, ingest, video
from assets.common import episodes_partitions

ALL_ASSET_MODULES = [ingest, video, audio]

__all__ = ["ALL_ASSET_MODULES", "episodes_partitions"]
