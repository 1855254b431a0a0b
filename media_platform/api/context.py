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

from media_platform.api.training import TrainingLauncher
from media_platform.catalogue import Catalogue
from media_platform.errors import MediaPlatformError
from media_platform.settings import Settings, get_settings
from media_platform.storage import Store
from media_platform.tags.labels import LabelStore

_ENCODER_LOCK = threading.Lock()
_CODE_LOCK = threading.Lock()


class MetadataUnavailable(MediaPlatformError):
    """The metadata database does not exist yet (no build has run): the API answers 503."""


@dataclass
class ApiContext:
    settings: Settings
    store: Store
    metadata_db: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _conn: Any = field(default=None, repr=False)
    _conn_id: tuple[int, ...] | None = field(default=None, repr=False)
    _encoder: Any = field(default=None, repr=False)
    _index: Any = field(default=None, repr=False)
    _catalogue: Any = field(default=None, repr=False)
    _launcher: Any = field(default=None, repr=False)

    @classmethod
    def from_settings(cls) -> ApiContext:
        from media_platform.cli.code_location import open_store

        settings = get_settings()
        return cls(settings=settings, store=open_store(), metadata_db=settings.metadata_db_path)

    def metadata(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the metadata database (read-only). The file is replaced atomically by
        each build: a new file (inode) opens a new connection; readers of the old keep it.

        The file is ATTACHed to a private in-memory database rather than opened with
        ``duckdb.connect(path)``: DuckDB caches databases by path within a process, so a second
        ``connect`` of the same path would return the old, replaced file while any reader holds it.
        """
        try:
            st = os.stat(self.metadata_db)
        except FileNotFoundError:
            raise MetadataUnavailable(
                "the metadata database does not exist yet: run an episode (media-platform run PARTITION) "
                "or materialize the metadata assets in Dagster to build it"
            ) from None
        ident = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._conn is None or self._conn_id != ident:
                conn = duckdb.connect(":memory:")
                conn.execute("ATTACH ? AS metadata (READ_ONLY)", [str(self.metadata_db)])
                self._conn, self._conn_id = conn, ident
            cursor = self._conn.cursor()
        cursor.execute("USE metadata")
        return cursor

    def dagster_url(self, partition: str) -> str:
        """The episode's asset page in the Dagster UI."""
        from urllib.parse import quote

        base = self.settings.dagster_ui_url.rstrip("/")
        return f"{base}/assets/shots?partition={quote(partition, safe='')}"

    def catalogue(self) -> Catalogue:
        """The episode catalogue (its database), opened once."""
        with self._lock:
            if self._catalogue is None:
                self._catalogue = Catalogue(self.store)
            return self._catalogue

    def labels(self) -> LabelStore:
        return LabelStore(self.catalogue())

    def launcher(self) -> TrainingLauncher:
        """The background launcher of training runs (one worker thread per process)."""
        from media_platform.cli.code_location import open_instance

        with self._lock:
            if self._launcher is None:
                self._launcher = TrainingLauncher(self.code, open_instance)
            return self._launcher

    def code(self) -> ModuleType:
        """The code location, loaded once under a lock: two threads loading it together (a
        training run and a request) would see a half-executed ``definitions`` module."""
        from media_platform.cli.code_location import load_code_location

        with _CODE_LOCK:
            return load_code_location()

    def index(self) -> Any:
        """The shot vector index (the code location's ``vector_index`` resource)."""
        with self._lock:
            if self._index is None:
                self._index = self.code().resource("vector_index").get_index()
            return self._index

    def encoder(self) -> Any:
        """The CLIP encoder (the code location's ``clip`` resource), loaded on first use (under
        its own lock: loading takes seconds and must not hold up the other readers), its text
        tower in the precision of ``api_encoder_precision``."""
        with _ENCODER_LOCK:
            if self._encoder is None:
                from media_platform.video.clip import ClipEncoder

                clip = self.code().resource("clip")
                # Its own copy, not the process's shared one: training runs in this process too
                # and must embed as the Dagster runs do.
                encoder = ClipEncoder(clip.spec(), clip.device, clip.batch_size)
                encoder.set_text_precision(self.settings.api_encoder_precision)
                self._encoder = encoder
            return self._encoder
