"""What a request reads: the settings, the store, the metadata database (read-only), the vector
index, the CLIP text encoder and the Dagster code location, each opened once per process.
(owner: server helper; the search helper may add small methods.)"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb

from media_platform.errors import MediaPlatformError
from media_platform.settings import Settings, get_settings
from media_platform.storage import Store


class MetadataUnavailable(MediaPlatformError):
    """The metadata database does not exist yet (no build has run): the API answers 503."""


@dataclass
class ApiContext:
    settings: Settings
    store: Store
    metadata_db: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _conn: Any = field(default=None, repr=False)
    _conn_id: tuple[int, int] | None = field(default=None, repr=False)
    _encoder: Any = field(default=None, repr=False)
    _index: Any = field(default=None, repr=False)

    @classmethod
    def from_settings(cls) -> ApiContext:
        from media_platform.cli.code_location import open_store

        settings = get_settings()
        return cls(settings=settings, store=open_store(), metadata_db=settings.metadata_db_path)

    def metadata(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the metadata database (read-only). The file is replaced atomically by
        each build: a new file (inode) opens a new connection; readers of the old keep it."""
        try:
            st = os.stat(self.metadata_db)
        except FileNotFoundError:
            raise MetadataUnavailable(
                "the metadata database does not exist yet: run an episode (media-platform run PARTITION) "
                "or materialize the metadata assets in Dagster to build it"
            ) from None
        ident = (st.st_dev, st.st_ino)
        with self._lock:
            if self._conn is None or self._conn_id != ident:
                self._conn = duckdb.connect(str(self.metadata_db), read_only=True)
                self._conn_id = ident
            return self._conn.cursor()

    def dagster_url(self, partition: str) -> str:
        """The episode's asset page in the Dagster UI."""
        from urllib.parse import quote

        base = self.settings.dagster_ui_url.rstrip("/")
        return f"{base}/assets/shots?partition={quote(partition, safe='')}"

    def code(self) -> ModuleType:
        from media_platform.cli.code_location import load_code_location

        return load_code_location()

    def index(self) -> Any:
        """The shot vector index (the code location's ``vector_index`` resource)."""
        with self._lock:
            if self._index is None:
                self._index = self.code().resource("vector_index").get_index()
            return self._index

    def encoder(self) -> Any:
        """The CLIP encoder (the code location's ``clip`` resource), loaded on first use."""
        with self._lock:
            if self._encoder is None:
                self._encoder = self.code().resource("clip").get_encoder()
            return self._encoder
