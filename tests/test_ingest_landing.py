"""Landing-zone adapters in the domain (no Dagster): a local folder and an S3 prefix on an
S3-compatible server (moto in server mode on 127.0.0.1), and where the zone is configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from media_platform.errors import InvalidInputError
from media_platform.ingest.landing import LocalLanding, S3Landing, landing_for, parse_s3_location
from media_platform.ingest.uploads import check_landing_name
from media_platform.keys import printable
from media_platform.settings import get_settings


def test_local_listing_keeps_undecodable_names_for_rejection(tmp_path: Path) -> None:
    (tmp_path / "talk.mp4").write_bytes(b"12345")
    (tmp_path / ".hidden.mp4").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    os.symlink(tmp_path / "talk.mp4", tmp_path / "link.mp4")
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.mp4")  # Latin-1 bytes: not UTF-8
    with open(bad, "wb") as fh:
        fh.write(b"abc")
    files = {f.name: f for f in LocalLanding(tmp_path).list()}
    bad_name = os.fsdecode(b"caf\xe9.mp4")
    assert set(files) == {"talk.mp4", bad_name}
    assert files["talk.mp4"].size == 5 and files[bad_name].size == 3
    with pytest.raises(InvalidInputError, match="file name: not valid UTF-8 text"):
        check_landing_name(bad_name)
    assert printable(bad_name) == "caf\\xe9.mp4"
    assert check_landing_name("talk.mp4") == "talk.mp4"
    landing = LocalLanding(tmp_path)
    assert landing.read_bytes("talk.mp4", 2) == b"123"  # one byte more than the limit
    with pytest.raises(InvalidInputError):
        landing.read_bytes("../etc/passwd", 10)
    with landing.local_file("talk.mp4") as path:
        assert path == (tmp_path / "talk.mp4").resolve()


@pytest.fixture
def moto_client():
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        client.create_bucket(Bucket="zone")
        yield client
    finally:
        server.stop()


def test_s3_listing_pages_and_reads(moto_client) -> None:
    names = [f"f{i}.mp4" for i in range(5)]
    for i, name in enumerate(names):
        moto_client.put_object(Bucket="zone", Key=f"in/{name}", Body=b"x" * (i + 1))
    moto_client.put_object(Bucket="zone", Key="in/nested/deep.mp4", Body=b"x")
    moto_client.put_object(Bucket="zone", Key="in/.hidden", Body=b"x")
    moto_client.put_object(Bucket="zone", Key="other/f9.mp4", Body=b"x")
    calls: list[dict] = []
    real = moto_client.list_objects_v2

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    moto_client.list_objects_v2 = spy  # the paginator calls the client's operation method
    landing = S3Landing(moto_client, "zone", "/in/", page_size=2)
    assert str(landing) == "s3://zone/in"
    files = landing.list()
    assert [f.name for f in files] == names and [f.size for f in files] == [1, 2, 3, 4, 5]
    assert all("@" in f.version for f in files)
    assert len(calls) >= 3  # 7 keys under the prefix, 2 per page: every page was read
    assert landing.read_bytes("f4.mp4", 1) == b"xx"
    with landing.local_file("f2.mp4") as path:
        assert path.read_bytes() == b"xxx" and path.name == "f2.mp4"
    assert not path.exists()  # the temporary copy is gone
    with pytest.raises(InvalidInputError):
        landing.read_bytes("../other/f9.mp4", 10)


def test_landing_for(tmp_path: Path, moto_client) -> None:
    assert isinstance(landing_for(str(tmp_path)), LocalLanding)
    built: list[int] = []

    def factory():
        built.append(1)
        return moto_client

    s3 = landing_for("s3://zone/a/b", factory)
    assert isinstance(s3, S3Landing) and (s3.bucket, s3.prefix) == ("zone", "a/b") and built == [1]
    assert landing_for(str(tmp_path), factory) and built == [1]  # no client for a folder
    with pytest.raises(InvalidInputError, match="no S3 client"):
        landing_for("s3://zone/x")
    with pytest.raises(InvalidInputError, match="no bucket"):
        parse_s3_location("s3:///x")


def test_landing_location_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDIA_PLATFORM_LANDING", raising=False)
    assert get_settings().landing_location == str((tmp_path / "home" / "landing").resolve())
    monkeypatch.setenv("MEDIA_PLATFORM_LANDING", "s3://zone/in")
    assert get_settings().landing_location == "s3://zone/in"
    monkeypatch.setenv("MEDIA_PLATFORM_LANDING", str(tmp_path / "drop" / ".." / "zone"))
    assert get_settings().landing_location == str((tmp_path / "zone").resolve())


def test_landing_module_needs_no_dagster() -> None:
    code = (
        "import sys, media_platform.ingest.landing, media_platform.ingest.upload_cursor\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dagster', 'dagster_aws', 'assets', 'sensors', 'resources', 'definitions'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
