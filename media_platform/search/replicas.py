"""Readers' private copies of an edge shard (see :mod:`media_platform.search.edge`).

A copy keeps the holes of edge's sparse files, lives under the index's ``.replicas`` folder
named ``<collection>-<pid>-<random>``, and is deleted when it is closed, garbage collected, or
found by a later reader after its process has died.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import weakref
from pathlib import Path
from typing import Any


def sparse_copy(src: str, dst: str) -> str:
    """Copy one file, keeping holes: edge preallocates 32 MiB sparse files (WAL, vector chunks,
    payload pages) that are mostly holes, and a plain copy would write every zero."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        in_fd, out_fd = fin.fileno(), fout.fileno()
        pos = 0
        while pos < size:
            try:
                start = os.lseek(in_fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            except AttributeError:  # pragma: no cover - no SEEK_DATA on this platform
                start = pos
            try:
                end = os.lseek(in_fd, start, os.SEEK_HOLE)
            except (OSError, AttributeError):  # pragma: no cover
                end = size
            os.lseek(in_fd, start, os.SEEK_SET)
            os.lseek(out_fd, start, os.SEEK_SET)
            remaining = end - start
            while remaining > 0:
                chunk = os.read(in_fd, min(remaining, 1 << 22))
                if not chunk:
                    break
                os.write(out_fd, chunk)
                remaining -= len(chunk)
            pos = end
        fout.truncate(size)
    shutil.copystat(src, dst)
    return dst


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Replica:
    """A private, read-only-by-convention copy of the primary shard, open for reading."""

    def __init__(self, directory: Path, shard: Any, generation: str) -> None:
        self.directory = directory
        self.shard = shard
        self.generation = generation
        self._finalizer = weakref.finalize(self, Replica._dispose, shard, directory)

    @staticmethod
    def _dispose(shard: Any, directory: Path) -> None:
        with contextlib.suppress(Exception):
            shard.close()
        remove_tree(directory)

    def close(self) -> None:
        self._finalizer()
