"""Landing zones: where uploaders drop masters, listed and read without Dagster.

A zone is a local folder (:class:`LocalLanding`) or a key prefix in an S3 bucket
(:class:`S3Landing`, listed with boto3's ``list_objects_v2`` paginator through a client the
caller builds, e.g. from the ``storage`` resource's endpoint and credentials). Only the top level
of a zone is considered; symlinks, folders and names that are not a single visible path
component are skipped (:func:`media_platform.ingest.uploads.is_plain_name`).

Names are untrusted. A local file name that is not valid UTF-8 comes back from the listing as
text holding lone surrogates (``os.fsdecode``), so that the caller can reject it with a reason
(:func:`media_platform.keys.require_text`) and remember it; it must be printed with
:func:`media_platform.keys.printable`. Reading a file by name checks the name again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from media_platform.errors import InvalidInputError
from media_platform.ingest.uploads import LandingFile, is_plain_name
from media_platform.keys import printable, safe_filename, safe_join

S3_PAGE_SIZE = 1000
"""Keys per ``list_objects_v2`` page (S3's own maximum)."""


class Landing(Protocol):
    """What the upload sensor needs from a landing zone."""

    def exists(self) -> bool: ...

    def list(self) -> list[LandingFile]: ...

    def read_bytes(self, name: str, limit: int) -> bytes: ...

    def local_file(self, name: str) -> contextlib.AbstractContextManager[Path]: ...


def _checked(name: str) -> str:
    if not is_plain_name(name):
        raise InvalidInputError(f"{printable(name)!r} is not a plain landing file name")
    return name


class LocalLanding:
    """A landing folder on local disk (top level only; symlinks and non-files ignored)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().resolve()

    def __str__(self) -> str:
        return str(self.folder)

    def exists(self) -> bool:
        return self.folder.is_dir()

    def list(self) -> list[LandingFile]:
        out = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False) or not is_plain_name(entry.name):
                    continue
                st = entry.stat(follow_symlinks=False)
                out.append(LandingFile(entry.name, st.st_size, str(st.st_mtime_ns)))
        return sorted(out, key=lambda f: f.name)

    def _path(self, name: str) -> Path:
        return safe_join(self.folder, _checked(name))

    def read_bytes(self, name: str, limit: int) -> bytes:
        """At most ``limit + 1`` bytes of ``name`` (one more than allowed, so that the caller
        can tell a file that is too large)."""
        with open(self._path(name), "rb") as fh:
            return fh.read(limit + 1)

    @contextlib.contextmanager
    def local_file(self, name: str) -> Iterator[Path]:
        yield self._path(name)


class S3Landing:
    """A landing prefix in an S3 bucket (``client``: a boto3 S3 client)."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, page_size: int = S3_PAGE_SIZE):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.page_size = page_size

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def exists(self) -> bool:
        return True

    def _key(self, name: str) -> str:
        _checked(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def list(self) -> list[LandingFile]:
        # Everything under the prefix, every tick: sizes are compared across ticks, so a
        # StartAfter/modified-since filter would lose files still being uploaded.
        prefix = f"{self.prefix}/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.page_size}
        )
        out = []
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                if "/" in name or not is_plain_name(name):
                    continue
                modified = obj.get("LastModified")
                etag = str(obj.get("ETag", "")).strip('"')
                version = f"{etag}@{modified.isoformat() if modified else ''}"
                out.append(LandingFile(name, int(obj.get("Size", 0)), version))
        return sorted(out, key=lambda f: f.name)

    def read_bytes(self, name: str, limit: int) -> bytes:
        """At most ``limit + 1`` bytes of ``name``."""
        obj = self.client.get_object(
            Bucket=self.bucket, Key=self._key(name), Range=f"bytes=0-{limit}"
        )
        return obj["Body"].read()

    @contextlib.contextmanager
    def local_file(self, name: str) -> Iterator[Path]:
        """``name`` downloaded to a temporary file (named with ``safe_filename``, never the raw
        key), removed afterwards."""
        key = self._key(name)
        with tempfile.TemporaryDirectory(prefix="media-platform-upload-") as tmp:
            path = Path(tmp) / safe_filename(name, default="upload")
            self.client.download_file(self.bucket, key, str(path))
            yield path


def parse_s3_location(location: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``("bucket", "prefix")``.

    Raises:
        InvalidInputError: not an ``s3://`` location, or no bucket.
    """
    if not location.startswith("s3://"):
        raise InvalidInputError(f"{printable(location)}: not an s3:// location")
    bucket, _, prefix = location[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidInputError(f"{printable(location)}: no bucket")
    return bucket, prefix


def landing_for(location: str, s3_client: Any = None) -> LocalLanding | S3Landing:
    """The landing zone at ``location`` (a folder, or ``s3://bucket/prefix`` read through
    ``s3_client``, a boto3 S3 client or a callable returning one, called only for S3).

    Raises:
        InvalidInputError: an ``s3://`` location without a bucket or without a client.
    """
    if location.startswith("s3://"):
        bucket, prefix = parse_s3_location(location)
        client = s3_client() if callable(s3_client) else s3_client
        if client is None:
            raise InvalidInputError(f"{printable(location)}: no S3 client to read it with")
        return S3Landing(client, bucket, prefix)
    return LocalLanding(location)


__all__ = ["Landing", "LocalLanding", "S3Landing", "landing_for", "parse_s3_location"]
