"""The writer lease of an embedded vector index: one host writes it, others are refused.

The embedded index (:mod:`media_platform.search.edge`) serializes its writers with a lock
file, which holds between the processes of one machine only: ``flock`` is unreliable on network
filesystems, and with an S3 home every host keeps its own local index folder, so writers on two
hosts would corrupt one store or silently split it in two. Writers on several hosts must use the
Qdrant server (``MEDIA_PLATFORM_QDRANT_URL``).

A writer therefore holds a *lease*, a small JSON record in a :class:`~media_platform.storage.Store`
(the index folder for a local home, the home's bucket for an S3 home), written atomically with
``write_bytes``::

    {"host": "gpu-1", "pid": 4242, "token": "<random>", "since": 1733220000.0,
     "heartbeat": 1733220120.0}

* No lease, our own, or one of a writer that is gone -> we take it (write ours, read it back
  after ``settle_s`` to lose a simultaneous take-over gracefully).
* Another host's lease whose heartbeat is younger than ``stale_after_s`` -> refused with
  :class:`IndexWriterBusy`, naming that host, its pid and since when.
* The same host: a dead pid is taken over at once; a live pid is another writer process of this
  machine, which the lock file already serializes, so the lease is shared (both renew it).
* A holder renews the heartbeat every ``heartbeat_s`` from a daemon thread for as long as the
  process lives, and deletes its record on :meth:`WriterLease.release` (a killed holder's lease
  goes stale after ``stale_after_s``).

Readers never take the lease. Heartbeats compare wall clocks of different hosts: keep them in
sync (NTP) to well under ``stale_after_s``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from media_platform.errors import MediaPlatformError
from media_platform.search.replicas import pid_alive
from media_platform.storage import Store

DEFAULT_STALE_AFTER_S = 120.0
DEFAULT_HEARTBEAT_S = 20.0
QDRANT_SETTING = "MEDIA_PLATFORM_QDRANT_URL"


class IndexWriterBusy(MediaPlatformError):
    """Another host holds a live writer lease on the embedded index."""


@dataclass(frozen=True)
class LeaseRecord:
    host: str
    pid: int
    token: str
    since: float
    heartbeat: float

    @classmethod
    def parse(cls, data: bytes) -> LeaseRecord | None:
        """The record, or None when it is unreadable (a torn or foreign file counts as no lease)."""
        try:
            raw = json.loads(data)
            return cls(str(raw["host"]), int(raw["pid"]), str(raw["token"]), float(raw["since"]),
                       float(raw["heartbeat"]))
        except (ValueError, KeyError, TypeError):
            return None

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WriterLease:
    """The lease ``key`` in ``store``, held by this host and process once :meth:`hold` succeeds."""

    def __init__(
        self,
        store: Store,
        key: str,
        *,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        settle_s: float = 0.2,
        host: str | None = None,
    ) -> None:
        if not 0 < heartbeat_s < stale_after_s:
            raise ValueError(f"heartbeat_s ({heartbeat_s}) must be positive and below stale_after_s ({stale_after_s})")
        self.store = store
        self.key = key
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self.settle_s = settle_s
        self.host = host or socket.gethostname()
        self.token = uuid.uuid4().hex
        self._since = 0.0
        self._held_pid: int | None = None  # the pid that holds it (a forked child must re-take it)
        self._mutex = threading.Lock()
        self._stop: threading.Event | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def held(self) -> bool:
        return self._held_pid == os.getpid()

    def read(self) -> LeaseRecord | None:
        """The record in the store, or None."""
        try:
            return LeaseRecord.parse(self.store.read_bytes(self.key))
        except FileNotFoundError:
            return None

    def where(self) -> str:
        """The lease's location: a path for a local store, else its URI."""
        path = getattr(self.store, "path", None)
        return str(path(self.key)) if callable(path) else self.store.uri(self.key)

    def _refusal(self, record: LeaseRecord) -> IndexWriterBusy:
        return IndexWriterBusy(
            f"{self.where()}: the vector index is being written by host {record.host} "
            f"(pid {record.pid}) since {_utc(record.since)}, last seen {_utc(record.heartbeat)}; "
            f"the embedded index takes writers on one host only: use the Qdrant server "
            f"({QDRANT_SETTING}) for writers on several hosts"
        )

    def _may_take(self, record: LeaseRecord | None, now: float) -> bool:
        if record is None or record.token == self.token:
            return True
        if now - record.heartbeat > self.stale_after_s:
            return True
        return record.host == self.host  # a dead pid is taken over, a live one shares the lease

    def _write(self, now: float) -> None:
        record = LeaseRecord(self.host, os.getpid(), self.token, self._since or now, now)
        self.store.write_bytes(self.key, record.to_bytes())

    def hold(self) -> None:
        """Take the lease (or check that we still hold it); raise :class:`IndexWriterBusy` when
        another host is writing. Cheap once held: no store access until the next heartbeat."""
        with self._mutex:
            if self.held:
                return
            now = time.time()
            record = self.read()
            if not self._may_take(record, now):
                raise self._refusal(record)
            if record is not None and record.host == self.host and record.token != self.token \
                    and pid_alive(record.pid) and now - record.heartbeat <= self.stale_after_s:
                self._since = record.since  # shared with another writer process of this host
            else:
                self._since = now
            self._write(now)
            if self.settle_s:
                time.sleep(self.settle_s)
            mine = self.read()
            if mine is None or (mine.token != self.token and mine.host != self.host):
                raise self._refusal(mine) if mine is not None else IndexWriterBusy(
                    f"{self.where()}: the writer lease vanished while it was being taken"
                )
            self._held_pid = os.getpid()
            self._start_heartbeat()

    def _start_heartbeat(self) -> None:
        stop = threading.Event()
        self._stop = stop
        thread = threading.Thread(target=_heartbeat, args=(weakref.ref(self), stop, self.heartbeat_s),
                                  name=f"writer-lease-{self.key}", daemon=True)
        thread.start()
        self._finalizer = weakref.finalize(self, _release_record, self.store, self.key, self.token, stop)

    def renew(self) -> None:
        """Write a fresh heartbeat (the heartbeat thread calls this)."""
        with self._mutex:
            if not self.held:
                return
            record = self.read()
            if record is not None and record.token != self.token and record.host != self.host \
                    and time.time() - record.heartbeat <= self.stale_after_s:
                # Another host took it over (we were stale): stop claiming; the next write refuses.
                self._held_pid = None
                if self._stop is not None:
                    self._stop.set()
                return
            self._write(time.time())

    def release(self) -> None:
        """Stop the heartbeat and delete our record (another process's record is left alone)."""
        with self._mutex:
            was_held, self._held_pid = self.held, None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
            if self._stop is not None:
                self._stop.set()
                self._stop = None
            if was_held:
                _release_record(self.store, self.key, self.token, None)


def _release_record(store: Store, key: str, token: str, stop: threading.Event | None) -> None:
    if stop is not None:
        stop.set()
    try:
        record = LeaseRecord.parse(store.read_bytes(key))
        if record is not None and record.token == token:
            store.delete(key)
    except Exception:  # noqa: BLE001 - best effort at exit; a left record goes stale
        pass


def _heartbeat(ref: weakref.ref, stop: threading.Event, every_s: float) -> None:
    while not stop.wait(every_s):
        lease = ref()
        if lease is None:
            return
        try:
            lease.renew()
        except Exception:  # noqa: BLE001 - a failed heartbeat is retried at the next tick
            pass
        del lease
