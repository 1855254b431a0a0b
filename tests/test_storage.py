"""Storage: key validation, atomic writes, folder swaps; the S3 store against a real
S3-compatible server (moto in server mode on 127.0.0.1)."""

from __future__ import annotations

import os
import stat

import polars as pl
import pytest

from media_platform.errors import InvalidInputError
from media_platform.storage import LocalStore, S3Store, read_table, validate_key, write_table


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "episodes/../../x", "/abs/path", "a\\b", "a//b", "", ".", "a/./b", "a/\x00b", "x/.hidden"],
)
def test_hostile_keys_are_rejected(key: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_key(key)


@pytest.mark.parametrize("key", ["episodes/bbb/shots.parquet", "masters/ep-1/master.mp4", "a/b_c=d+e.jpg"])
def test_good_keys_pass(key: str) -> None:
    assert validate_key(key) == key


@pytest.fixture(scope="module")
def s3_store():
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    client.create_bucket(Bucket="media")
    yield S3Store(client, "media", "platform")
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "root")
    return request.getfixturevalue("s3_store")


def test_bytes_roundtrip_and_listing(store) -> None:
    store.delete_prefix("t1")
    store.write_bytes("t1/a.bin", b"one")
    store.write_bytes("t1/sub/b.bin", b"two")
    assert store.read_bytes("t1/a.bin") == b"one"
    assert store.exists("t1/sub/b.bin") and not store.exists("t1/nope")
    assert store.list_keys("t1") == ["t1/a.bin", "t1/sub/b.bin"]
    with store.local_copy("t1/sub/b.bin") as path:
        assert path.read_bytes() == b"two"
    assert store.delete_prefix("t1") == 2
    assert store.list_keys("t1") == []
    with pytest.raises(FileNotFoundError):
        store.read_bytes("t1/a.bin")


def test_tables_roundtrip(store) -> None:
    df = pl.DataFrame({"shot": [0, 1], "start_s": [0.0, 1.5]})
    write_table(store, "t2/shots.parquet", df)
    assert read_table(store, "t2/shots.parquet").equals(df)


def test_replace_folder_swaps_contents(store) -> None:
    store.replace_folder("t3/keyframes", {"a.jpg": b"1", "b.jpg": b"2"})
    store.replace_folder("t3/keyframes", {"b.jpg": b"3", "c.jpg": b"4"})
    assert store.list_keys("t3/keyframes") == ["t3/keyframes/b.jpg", "t3/keyframes/c.jpg"]
    assert store.read_bytes("t3/keyframes/b.jpg") == b"3"


def test_s3_uri_layout(s3_store) -> None:
    assert s3_store.uri("episodes/x/shots.parquet") == "s3://media/platform/episodes/x/shots.parquet"


def test_local_write_is_atomic_and_leaves_no_temp_files(tmp_path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("x/data.bin", b"old")

    # A refused write never touches the existing file, and no temporary file is left behind.
    with pytest.raises(InvalidInputError):
        store.write_bytes("x/../data.bin", b"new")
    assert store.read_bytes("x/data.bin") == b"old"
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["data.bin"]


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask022", "umask077"])
def test_every_write_path_gives_the_same_mode(tmp_path, umask: int) -> None:
    """Bytes, a copied file, a table and a staged folder swap all give 0666 less the umask
    (the byte writes used to be 0600 while copied files were 0644)."""
    store = LocalStore(tmp_path / "root")
    source = tmp_path / "source.bin"
    source.write_bytes(b"master")
    previous = os.umask(umask)
    try:
        store.write_bytes("episodes/e/probe.json", b"{}")
        store.put_file("masters/e/master.mp4", source)
        write_table(store, "episodes/e/shots.parquet", pl.DataFrame({"shot": [0]}))
        store.replace_folder("episodes/e/keyframes", {"shot_00000.jpg": b"a", "sub/shot_00001.jpg": b"b"})
        store.replace_folder("episodes/e/keyframes", {"shot_00000.jpg": b"c"})  # the swap of an old folder
    finally:
        os.umask(previous)
    files = [p for p in (tmp_path / "root").rglob("*") if p.is_file()]
    assert len(files) == 4
    assert {p.relative_to(tmp_path / "root").as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files} == {
        "episodes/e/probe.json": 0o666 & ~umask,
        "masters/e/master.mp4": 0o666 & ~umask,
        "episodes/e/shots.parquet": 0o666 & ~umask,
        "episodes/e/keyframes/shot_00000.jpg": 0o666 & ~umask,
    }


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("x/data.bin", b"old")
    source = tmp_path / "missing.bin"
    with pytest.raises(FileNotFoundError):
        store.put_file("x/data.bin", source)
    assert store.read_bytes("x/data.bin") == b"old"
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["data.bin"]
