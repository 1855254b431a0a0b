"""Object storage for every output of the platform: a local folder or an S3 bucket, same layout.

Keys are ``/``-separated relative paths such as ``episodes/<partition>/shots.parquet``. Every
key is validated (no ``..``, no absolute paths, no backslashes), so nothing derived from a feed
or an upload can escape the storage root. Writes are atomic: a local write goes to a temporary
file beside the target and is renamed into place; an S3 ``PutObject`` is atomic by itself; a
folder of files (keyframes) is staged under a temporary prefix and swapped in.

Every local output file is written by one helper, :func:`atomic_write`, so every write path
(bytes, a copied file, a table, a staged folder) gives the same mode: ``0666`` less the process
umask (``0644`` under the usual ``022``), never the ``0600`` of a private temporary file.

Tables are Parquet files written with polars.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import polars as pl

from media_platform.errors import InvalidInputError

_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative storage key, else raise InvalidInputError."""
    if not key or len(key) > 1024:
        raise InvalidInputError(f"invalid storage key {key!r}: empty or too long")
    if "\\" in key or "\x00" in key or key.startswith("/"):
        raise InvalidInputError(f"invalid storage key {key!r}: must be a relative '/' path")
    for part in key.split("/"):
        if part in ("", ".", "..") or not _KEY_PART.match(part):
            raise InvalidInputError(f"invalid storage key {key!r}: bad component {part!r}")
    return key


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` atomically: ``write`` fills a new temporary file beside it (created with
    mode ``0666`` less the umask, like any new file), which is flushed, fsync'd and renamed over
    ``path``. On any failure the temporary file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class Store(Protocol):
    """What the platform needs from storage. ``LocalStore`` and ``S3Store`` implement it."""

    def uri(self, key: str) -> str: ...
    def exists(self, key: str) -> bool: ...
    def read_bytes(self, key: str) -> bytes: ...
    def write_bytes(self, key: str, data: bytes) -> str: ...
    def put_file(self, key: str, local_path: Path) -> str: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def local_copy(self, key: str) -> contextlib.AbstractContextManager[Path]: ...
    def replace_folder(self, prefix: str, files: Mapping[str, bytes]) -> list[str]: ...


def write_table(store: Store, key: str, df: pl.DataFrame) -> str:
    """Write ``df`` as Parquet under ``key`` (atomically); returns its URI."""
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd")
    return store.write_bytes(key, buf.getvalue())


def read_table(store: Store, key: str) -> pl.DataFrame:
    """Read the Parquet table stored under ``key``."""
    return pl.read_parquet(io.BytesIO(store.read_bytes(key)))


class LocalStore:
    """Storage in a local folder (the default: ``$MEDIA_PLATFORM_HOME``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The local path of ``key``; guaranteed to lie under the root."""
        path = (self.root / validate_key(key)).resolve()
        if self.root not in path.parents:
            raise InvalidInputError(f"storage key {key!r} escapes the storage root")
        return path

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def read_bytes(self, key: str) -> bytes:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not in storage")
        return path.read_bytes()

    def write_bytes(self, key: str, data: bytes) -> str:
        path = self.path(key)
        atomic_write(path, lambda fh: fh.write(data))
        return path.as_uri()

    def put_file(self, key: str, local_path: Path) -> str:
        path = self.path(key)
        with open(local_path, "rb") as src:
            atomic_write(path, lambda dst: shutil.copyfileobj(src, dst, 1 << 20))
        return path.as_uri()

    def list_keys(self, prefix: str) -> list[str]:
        base = self.path(prefix.rstrip("/"))
        if base.is_file():
            return [prefix.rstrip("/")]
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()

    def delete_prefix(self, prefix: str) -> int:
        base = self.path(prefix.rstrip("/"))
        if base.is_file():
            base.unlink()
            return 1
        if not base.is_dir():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base)
        return count

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not in storage")
        yield path

    def replace_folder(self, prefix: str, files: Mapping[str, bytes]) -> list[str]:
        """Replace everything under ``prefix`` with ``files`` (name -> bytes) in one swap."""
        target = self.path(prefix.rstrip("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.staging"
        staging.mkdir()
        try:
            for name, data in files.items():
                validate_key(name)
                atomic_write(staging / name, lambda fh, data=data: fh.write(data))
            old = target.parent / f".{target.name}.{uuid.uuid4().hex}.old"
            if target.exists():
                os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return [f"{prefix.rstrip('/')}/{name}" for name in files]


class S3Store:
    """Storage in an S3 bucket (or an S3-compatible server) under a key prefix.

    ``client`` is a boto3 S3 client, e.g. from ``dagster_aws.s3.S3Resource.get_client()``.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def read_bytes(self, key: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.uri(key)}: not in storage") from exc
        return obj["Body"].read()

    def write_bytes(self, key: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return self.uri(key)

    def put_file(self, key: str, local_path: Path) -> str:
        self.client.upload_file(str(local_path), self.bucket, self._key(key))
        return self.uri(key)

    def list_keys(self, prefix: str) -> list[str]:
        full = self._key(prefix.rstrip("/"))
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                k = obj["Key"]
                if k == full or k.startswith(full + "/"):
                    keys.append(k[len(self.prefix) + 1 :] if self.prefix else k)
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(k)} for k in chunk], "Quiet": True},
            )
        return len(keys)

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        suffix = Path(key).suffix
        with tempfile.TemporaryDirectory(prefix="media-platform-") as tmp:
            path = Path(tmp) / f"object{suffix}"
            try:
                self.client.download_file(self.bucket, self._key(key), str(path))
            except self.client.exceptions.ClientError as exc:
                raise FileNotFoundError(f"{self.uri(key)}: not in storage") from exc
            yield path

    def replace_folder(self, prefix: str, files: Mapping[str, bytes]) -> list[str]:
        """Write the new files first, then delete the objects that are no longer wanted."""
        prefix = prefix.rstrip("/")
        written = []
        for name, data in files.items():
            validate_key(name)
            self.write_bytes(f"{prefix}/{name}", data)
            written.append(f"{prefix}/{name}")
        keep = set(written)
        for key in self.list_keys(prefix):
            if key not in keep:
                self.delete(key)
        return written


def store_from_uri(root: str, client: Any | None = None) -> Store:
    """A store for ``root``: ``s3://bucket/prefix`` (needs a boto3 ``client``) or a local path."""
    if root.startswith("s3://"):
        bucket, _, prefix = root[len("s3://") :].partition("/")
        if client is None:
            import boto3

            client = boto3.client("s3")
        return S3Store(client, bucket, prefix)
    return LocalStore(root)
