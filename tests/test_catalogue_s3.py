"""The catalogue of an S3 storage root (moto in server mode on 127.0.0.1): its SQLite file beside
the Dagster instance, the old Parquet layout imported from the bucket once and kept, a torn one
named by its S3 URI, and registration storing the master in the bucket after the row."""

from __future__ import annotations

import hashlib

import pytest
from test_catalogue_database import _episode, _legacy_file
from test_register import _tone

from media_platform.catalogue import Catalogue, CatalogueError
from media_platform.catalogue.legacy import LEGACY_KEY
from media_platform.ingest.register import register_master
from media_platform.storage import S3Store
from tests._moto import start_moto


@pytest.fixture
def s3(tmp_path, monkeypatch):
    import boto3

    monkeypatch.delenv("MEDIA_PLATFORM_CATALOGUE_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    server, endpoint = start_moto()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket="media")
    yield client
    server.stop()


def test_the_old_layout_in_a_bucket_is_imported_once_and_kept(s3, tmp_path) -> None:
    store = S3Store(s3, "media", "platform")
    data = _legacy_file(store, [_episode("a"), _episode("b")])
    catalogue = Catalogue(store)
    assert [e.partition_key for e in catalogue.episodes()] == ["a", "b"]
    assert catalogue.where.startswith(str(tmp_path / "dagster" / "catalogue" / "s3-"))
    assert store.read_bytes(LEGACY_KEY) == data


def test_a_torn_legacy_object_is_named_by_its_uri(s3) -> None:
    store = S3Store(s3, "media", "torn")
    data = _legacy_file(store, [_episode("a")])
    store.write_bytes(LEGACY_KEY, data[:-100])
    with pytest.raises(CatalogueError, match=r"^s3://media/torn/catalogue/episodes\.parquet: not a readable"):
        Catalogue(store)
    assert store.read_bytes(LEGACY_KEY) == data[:-100]


def test_registration_into_a_bucket(s3, tmp_path) -> None:
    store = S3Store(s3, "media", "platform")
    tone = _tone(tmp_path / "a.mp3", 440)
    reg = register_master(store, Catalogue(store), tone, title="On S3")
    again = register_master(store, Catalogue(store), tone, title="On S3")
    assert reg.created and not again.created
    assert reg.episode.master_uri == f"s3://media/platform/{reg.episode.master_key}"
    assert hashlib.sha256(store.read_bytes(reg.episode.master_key)).hexdigest() == reg.episode.content_hash
