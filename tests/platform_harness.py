"""A temporary platform for asset tests: resources on a temp folder (tiny CLIP from a
checkpoint written here, embedded vector index, bundled Whisper), a temporary Dagster
instance, and helpers to ingest media and materialize partitions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint

from assets.common import episodes_partitions
from media_platform.catalogue import Catalogue
from media_platform.ingest.register import register_master
from media_platform.storage import Store
from resources import ClipEncoderResource, MediaStorage, TranscriberResource, VectorIndexResource


@dataclass
class Platform:
    root: Path
    media: Path
    instance: dg.DagsterInstance
    resources: dict[str, Any]
    definitions: list

    @property
    def store(self) -> Store:
        return self.resources["storage"].get_store()

    def ingest(self, path: Path, title: str, licence: dict | None = None, **metadata: Any) -> str:
        """Register a master like the CLI does and add its partition; returns the key."""
        reg = register_master(self.store, Catalogue(self.store), path, title=title, licence=licence,
                              metadata=metadata or None)
        self.instance.add_dynamic_partitions(episodes_partitions.name, [reg.episode.partition_key])
        return reg.episode.partition_key

    def run(self, key: str | None = None, selection: Any = None) -> dg.ExecuteInProcessResult:
        return dg.materialize(self.definitions, instance=self.instance, resources=self.resources,
                              partition_key=key, selection=selection, raise_on_error=False)


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """check name -> passed, for every asset check evaluated in the run."""
    return {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


@contextmanager
def platform_for_test(root: Path, media: Path, modules: list[ModuleType]) -> Iterator[Platform]:
    checkpoint, config = write_tiny_clip_checkpoint(root / "clip")
    resources = {
        "storage": MediaStorage(root=str(root / "home")),
        "clip": ClipEncoderResource(model_name=TINY_CLIP_NAME, checkpoint_path=str(checkpoint),
                                    model_config_path=str(config)),
        "vector_index": VectorIndexResource(embedded_path=str(root / "index")),
        "transcriber": TranscriberResource(),
    }
    definitions = [*dg.load_assets_from_modules(modules), *dg.load_asset_checks_from_modules(modules)]
    with dg.instance_for_test() as instance:
        yield Platform(root, media, instance, resources, definitions)
