"""Exact similarity over the shots a filter leaves: the index's vectors held in memory, row for
row beside the :class:`~media_platform.search.shot_table.ShotTable`.

A vector index answers a broad query fast, but a selective filter (one tag of twenty, a
duration, a title) makes its graph search walk past many points that do not match. When the
filter leaves few rows, scoring exactly those rows (``V[rows] @ q``) is both faster and exact.
:class:`ShotVectorCache` decides which way a query goes: exact when the vectors are in memory
and at most ``exact_max_rows`` rows match, the index otherwise. The vectors are copied out of
the index once per shot table and index generation, in a background thread, so the first
queries after a change use the index instead of waiting; a catalogue larger than
``max_shots`` is never copied (memory: ``4 * dim`` bytes per shot, 2 KiB at 512-d).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from media_platform.search.index import shot_point_id
from media_platform.search.shot_table import ShotTable

logger = logging.getLogger(__name__)

#: Rows scored exactly at most (more: the index); ~8 ms at 512-d on one core.
EXACT_MAX_ROWS = 20_000
_BATCH = 4096


@dataclass(frozen=True)
class ShotVectors:
    """Unit vectors per shot-table row (zeros where the index has no point for the row)."""

    matrix: np.ndarray  # (rows, dim) float32
    present: np.ndarray  # bool per row

    @classmethod
    def load(cls, table: ShotTable, fetch: Callable[[list[str]], dict[str, np.ndarray]]) -> ShotVectors:
        """Copy every row's vector through ``fetch`` (the index's ``vectors(ids)``)."""
        n = len(table)
        matrix: np.ndarray | None = None
        present = np.zeros(n, bool)
        for lo in range(0, n, _BATCH):
            rows = range(lo, min(n, lo + _BATCH))
            ids = [shot_point_id(table.partitions[int(table.part[r])], int(table.shot[r])) for r in rows]
            found = fetch(ids)
            for r, point_id in zip(rows, ids, strict=True):
                vector = found.get(point_id)
                if vector is None:
                    continue
                if matrix is None:
                    matrix = np.zeros((n, len(vector)), np.float32)
                if len(vector) != matrix.shape[1]:
                    continue  # a point of another dimension cannot be scored with the others
                matrix[r] = vector
                present[r] = True
        if matrix is None:
            matrix = np.zeros((n, 0), np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return cls(matrix, present)

    def rank(self, rows: np.ndarray, vector: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best of ``rows`` by cosine with ``vector``, best first (ties by row), and
        their scores. Rows without a vector are left out."""
        rows = rows[self.present[rows]]
        if n <= 0 or not len(rows) or vector.shape[-1] != self.matrix.shape[1]:
            return rows[:0], np.zeros(0, np.float32)
        q = np.asarray(vector, np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        scores = self.matrix[rows] @ q
        if n < len(rows):
            top = np.argpartition(-scores, n - 1)[:n]
            rows, scores = rows[top], scores[top]
        order = np.lexsort((rows, -scores))
        return rows[order], scores[order]


class ShotVectorCache:
    """The :class:`ShotVectors` of the current shot table and index generation, loaded in the
    background; :meth:`get` returns None until they are ready (the caller uses the index)."""

    def __init__(self, max_shots: int, exact_max_rows: int = EXACT_MAX_ROWS) -> None:
        self.max_shots = max_shots
        self.exact_max_rows = exact_max_rows
        self._lock = threading.Lock()
        self._key: tuple[int, str] | None = None
        self._vectors: ShotVectors | None = None
        self._loading: tuple[int, str] | None = None
        self._table: ShotTable | None = None  # keeps id(table) of the key meaningful

    def get(self, table: ShotTable, index: Any, *, wait: bool = False) -> ShotVectors | None:
        """The vectors for ``table`` and ``index``'s current generation, or None while they load
        (started here), when the index cannot tell its generation (a server index: no copy can
        be known fresh), or when the table is larger than ``max_shots``."""
        generation_of = getattr(index, "generation", None)
        if generation_of is None or not 0 < len(table) <= self.max_shots:
            return None
        key = (id(table), str(generation_of()))
        with self._lock:
            if self._key == key:
                return self._vectors
            start = self._loading != key
            if start:
                self._loading = key
        if start:
            thread = threading.Thread(target=self._load, args=(table, index, key), name="shot-vectors", daemon=True)
            thread.start()
            if wait:
                thread.join()
                return self.get(table, index)
        return None

    def _load(self, table: ShotTable, index: Any, key: tuple[int, str]) -> None:
        try:
            vectors = ShotVectors.load(table, index.vectors)
        except Exception as exc:  # noqa: BLE001 - the index keeps answering; retried on the next change
            logger.warning("shot vectors not loaded (searches use the index): %s", exc)
            return
        with self._lock:
            if self._loading == key:
                self._key, self._vectors, self._table, self._loading = key, vectors, table, None
