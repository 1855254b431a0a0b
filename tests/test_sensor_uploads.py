"""The upload sensor with real media: a local landing folder and an S3 landing prefix on an
S3-compatible server (moto in server mode on 127.0.0.1), driven with ``dg.build_sensor_context``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from media_platform.catalogue import Catalogue
from media_platform.ingest.upload_cursor import UploadCursor
from media_platform.storage import LocalStore
from resources import MediaStorage
from sensors.uploads import build_upload_sensor
from tests._sensor_stubs import CollectLogs, stub_definitions

STUB_DEFS = stub_definitions()


def _names(request: dg.RunRequest) -> set[str]:
    return {k.path[-1] for k in request.asset_selection or []}


def _new_keys(result: dg.SensorResult) -> list[str]:
    return [k for r in result.dynamic_partitions_requests or [] for k in r.partition_keys]


COUNTER = "video/pyscenedetect/counter.mp4"
JFK = "audio/whisper_jfk/jfk.flac"
JFK_SRT = "audio/whisper_jfk/jfk.srt"


@dataclass
class Harness:
    instance: dg.DagsterInstance
    home: Path
    storage: MediaStorage
    cursor: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)

    def tick(self) -> dg.SensorResult:
        ctx = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"storage": self.storage},
            definitions=STUB_DEFS,
        )
        handler = CollectLogs()
        ctx.log.addHandler(handler)
        result = build_upload_sensor()(ctx)
        self.logs.extend(handler.records)
        assert isinstance(result, dg.SensorResult)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        return result

    def warnings(self) -> list[str]:
        return [m for level, m in self.logs if level == "WARNING"]

    def infos(self) -> list[str]:
        return [m for level, m in self.logs if level == "INFO"]

    def catalogue(self) -> Catalogue:
        return Catalogue(LocalStore(self.home))


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harness, Path]]:
    home, landing = tmp_path / "home", tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(home))
    monkeypatch.setenv("MEDIA_PLATFORM_LANDING", str(landing))
    monkeypatch.delenv("MEDIA_PLATFORM_LICENCES", raising=False)
    monkeypatch.delenv("MEDIA_PLATFORM_UPLOAD_LICENCE", raising=False)
    with dg.instance_for_test() as instance:
        yield Harness(instance, home, MediaStorage(root=str(home))), landing


def test_stable_size_then_registered_once(local, shared_media: Path) -> None:
    h, landing = local
    shutil.copyfile(shared_media / COUNTER, landing / "counter.mp4")
    first = h.tick()
    assert first.run_requests == [] and "no new complete uploads" in str(first.skip_reason)
    assert "counter.mp4" in UploadCursor.decode(first.cursor).pending  # size recorded, not taken

    second = h.tick()
    (request,) = second.run_requests
    key = request.partition_key
    assert _new_keys(second) == [key] and key == "counter"
    assert _names(request) == {"master", "media_probe"}  # no licence given: conservative
    row = h.catalogue().get(key)
    assert row.source == "upload" and row.kind == "video" and row.title == "counter"
    assert row.master_key == "masters/counter/master.mp4"
    assert (h.home / row.master_key).read_bytes() == (shared_media / COUNTER).read_bytes()
    assert row.licence["identifier"] == "none" and row.metadata["licence_source"] == "default"
    assert row.metadata["landing_name"] == "counter.mp4"
    assert UploadCursor.decode(second.cursor).done_partitions == {"counter.mp4": "counter"}

    assert h.tick().run_requests == []  # done: not looked at again

    # the same content under another name, marked done: recognised, not registered again
    shutil.copyfile(shared_media / COUNTER, landing / "counter_copy.mp4")
    (landing / "counter_copy.mp4.done").touch()
    dup = h.tick()
    assert dup.run_requests == [] and len(h.catalogue().episodes()) == 1
    assert any("counter_copy.mp4: same content already ingested as partition counter" in m for m in h.infos())


def test_sidecar_complete_taken_at_once_with_licence_and_subtitle(local, shared_media: Path, monkeypatch) -> None:
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "full")  # the sidecar narrows the zone's
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    shutil.copyfile(shared_media / JFK_SRT, landing / "jfk.srt")
    (landing / "jfk.flac.json").write_text(json.dumps({
        "title": "JFK inaugural address", "episode": 1, "licence": "analysis-only",
        "subtitle": "jfk.srt", "complete": True,
    }))
    result = h.tick()
    (request,) = result.run_requests
    assert request.partition_key == "jfk-inaugural-address-e01"
    assert "shots" in _names(request) and "shot_index" not in _names(request)
    assert "preview" not in _names(request)
    row = h.catalogue().get(request.partition_key)
    assert row.kind == "audio" and row.episode_id == "1"
    assert row.licence["identifier"] == "analysis-only" and row.metadata["licence_source"] == "sidecar"
    assert row.metadata["subtitle_key"] == "masters/jfk-inaugural-address-e01/subtitle.srt"
    assert (h.home / row.metadata["subtitle_key"]).read_bytes() == (shared_media / JFK_SRT).read_bytes()


def test_zone_default_licence(local, shared_media: Path, monkeypatch) -> None:
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "full")
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.flac.done").touch()
    (request,) = h.tick().run_requests
    assert _names(request) == {k.path[-1] for k in STUB_DEFS.resolve_asset_graph().get_all_asset_keys()}


def test_bad_setting_skips_the_tick_with_its_name(local, shared_media: Path, monkeypatch) -> None:
    h, landing = local
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.flac.done").touch()
    for variable, value in (("MEDIA_PLATFORM_UPLOAD_MAX_PER_TICK", "many"),
                            ("MEDIA_PLATFORM_UPLOAD_LICENCE", "whatever-licence")):
        with monkeypatch.context() as patched:
            patched.setenv(variable, value)
            result = h.tick()
        assert result.run_requests == [] and variable in str(result.skip_reason)
        assert variable in h.warnings()[-1]
    assert h.catalogue().episodes() == []
    (request,) = h.tick().run_requests  # fixed: taken
    assert request.partition_key == "jfk"


def test_bad_files_logged_remembered_and_retried_when_changed(local, shared_media: Path) -> None:
    h, landing = local
    (landing / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    (landing / "notes.mp4.done").touch()
    (landing / "empty.wav").write_bytes(b"")
    (landing / "empty.wav.done").touch()
    shutil.copyfile(shared_media / COUNTER, landing / "evil.mp4")
    (landing / "evil.mp4.json").write_text(json.dumps({"subtitle": "../../etc/passwd", "complete": True}))
    shutil.copyfile(shared_media / JFK, landing / "nosub.flac")
    (landing / "nosub.flac.json").write_text(json.dumps({"subtitle": "missing.srt", "complete": True}))
    (landing / ".partial.mp4").write_bytes(b"x")
    (landing / "upload.mp4.part").write_bytes(b"x")
    os.symlink(shared_media / COUNTER, landing / "link.mp4")
    (landing / "link.mp4.done").touch()

    result = h.tick()
    assert result.run_requests == [] and h.catalogue().episodes() == []
    warnings = "\n".join(h.warnings())
    assert "notes.mp4: not registered: not a readable media file" in warnings
    assert "empty.wav: not registered:" in warnings and "empty" in warnings
    assert "evil.mp4: not registered:" in warnings and "not a plain sibling file name" in warnings
    assert "nosub.flac: not registered: subtitle file 'missing.srt'" in warnings
    assert "partial" not in warnings and "link.mp4" not in warnings
    bad = UploadCursor.decode(result.cursor).bad
    assert set(bad) == {"notes.mp4", "empty.wav", "evil.mp4", "nosub.flac"}

    count = len(h.warnings())
    assert h.tick().run_requests == [] and len(h.warnings()) == count  # not retried

    # fixing the sidecar retries that file only
    (landing / "evil.mp4.json").write_text(json.dumps({"title": "Counter", "complete": True}))
    (request,) = h.tick().run_requests
    assert request.partition_key == "counter" and len(h.warnings()) == count
    assert not (h.home / "etc").exists()



def test_bad_subtitle_after_registration_then_fixed(local, shared_media: Path) -> None:
    """The master is catalogued before its subtitle is attached: a bad subtitle must not leave
    the episode without a partition and a run for ever; fixing the subtitle file finishes it."""
    h, landing = local
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.srt").write_bytes(b"\x00\x01 not a subtitle file \xff\xfe" * 8)
    (landing / "jfk.flac.json").write_text(json.dumps({"title": "JFK", "subtitle": "jfk.srt", "complete": True}))

    first = h.tick()
    assert first.run_requests == [] and not first.dynamic_partitions_requests
    row = h.catalogue().get("jfk")
    assert row is not None and "subtitle_key" not in row.metadata  # catalogued, no subtitle
    assert any("jfk.flac: catalogued as partition jfk, but its subtitle was not attached" in m
               for m in h.warnings())
    assert "jfk.flac" in UploadCursor.decode(first.cursor).bad

    count = len(h.warnings())
    assert h.tick().run_requests == [] and len(h.warnings()) == count  # unchanged: not retried

    shutil.copyfile(shared_media / JFK_SRT, landing / "jfk.srt")  # the operator fixes it
    fixed = h.tick()
    (request,) = fixed.run_requests
    assert request.partition_key == "jfk" and _new_keys(fixed) == ["jfk"]
    row = h.catalogue().get("jfk")
    assert row.metadata["subtitle_key"] == "masters/jfk/subtitle.srt"
    assert (h.home / row.metadata["subtitle_key"]).read_bytes() == (shared_media / JFK_SRT).read_bytes()
    assert len(h.catalogue().episodes()) == 1
    assert any("already catalogued as partition jfk but its partition was never added" in m
               for m in h.infos())
    assert UploadCursor.decode(fixed.cursor).done_partitions == {"jfk.flac": "jfk"}
    assert h.tick().run_requests == []  # done


def test_tick_failing_after_registration_is_finished_next_tick(local, shared_media: Path, monkeypatch) -> None:
    """A tick that dies after the row is written (a transient error, a timeout): its result,
    cursor and partition request are lost; the next tick finds the hash and still adds the
    partition and requests the run."""
    import sensors.uploads as uploads

    h, landing = local
    shutil.copyfile(shared_media / COUNTER, landing / "counter.mp4")
    (landing / "counter.mp4.done").touch()

    def boom(*args, **kwargs):
        raise TimeoutError("tick timed out")

    with monkeypatch.context() as patched:
        patched.setattr(uploads, "episode_run_request", boom)
        ctx = dg.build_sensor_context(instance=h.instance, cursor=h.cursor,
                                      resources={"storage": h.storage}, definitions=STUB_DEFS)
        with pytest.raises(TimeoutError):
            build_upload_sensor()(ctx)
    assert h.catalogue().get("counter") is not None
    assert h.instance.get_dynamic_partitions("episodes") == []

    result = h.tick()
    (request,) = result.run_requests
    assert request.partition_key == "counter" and _new_keys(result) == ["counter"]
    assert _names(request) == {"master", "media_probe"}
    assert h.tick().run_requests == []


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        client.create_bucket(Bucket="landing")
        home = tmp_path / "home"
        monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(home))
        monkeypatch.setenv("MEDIA_PLATFORM_LANDING", "s3://landing/incoming")
        monkeypatch.delenv("MEDIA_PLATFORM_LICENCES", raising=False)
        monkeypatch.delenv("MEDIA_PLATFORM_UPLOAD_LICENCE", raising=False)
        storage = MediaStorage(
            root=str(home), s3_endpoint_url=endpoint, s3_region="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )
        with dg.instance_for_test() as instance:
            yield Harness(instance, home, storage), client
    finally:
        server.stop()


def test_s3_landing(s3, shared_media: Path, monkeypatch) -> None:
    h, client = s3
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "full")
    client.upload_file(str(shared_media / COUNTER), "landing", "incoming/counter.mp4")
    client.upload_file(str(shared_media / JFK), "landing", "incoming/jfk.flac")
    client.put_object(Bucket="landing", Key="incoming/jfk.flac.json", Body=json.dumps(
        {"title": "JFK", "licence": {"uses": ["analysis", "search_indexing"]}, "complete": True}).encode())
    client.upload_file(str(shared_media / JFK), "landing", "incoming/nested/other.flac")
    client.put_object(Bucket="landing", Key="incoming/bad.mp4", Body=b"not media at all")
    client.put_object(Bucket="landing", Key="incoming/bad.mp4.done", Body=b"")

    first = h.tick()
    (request,) = first.run_requests  # the sidecar-complete one at once; counter.mp4 waits
    assert request.partition_key == "jfk"
    assert "shot_index" in _names(request) and "preview" not in _names(request)
    row = h.catalogue().get("jfk")
    assert row.metadata["landing_uri"] == "s3://landing/incoming/jfk.flac"
    assert (h.home / row.master_key).read_bytes() == (shared_media / JFK).read_bytes()
    assert row.licence["search_indexing"] and not row.licence["derivatives"]  # narrowed by the sidecar
    assert any("s3://landing/incoming/bad.mp4: not registered" in m for m in h.warnings())

    second = h.tick()
    (request,) = second.run_requests
    assert request.partition_key == "counter" and h.catalogue().get("counter").kind == "video"
    assert h.tick().run_requests == []
    assert {e.partition_key for e in h.catalogue().episodes()} == {"jfk", "counter"}  # nested ignored


def test_subtitle_dropped_after_the_sidecar_is_retried(local, shared_media: Path) -> None:
    """The sidecar names a subtitle that is not there yet: refused once; dropping the subtitle
    in later changes the candidate's signature, so the next tick registers it with it."""
    h, landing = local
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.flac.json").write_text(json.dumps({"title": "JFK", "subtitle": "jfk.srt", "complete": True}))
    assert h.tick().run_requests == []
    assert any("subtitle file 'jfk.srt'" in m for m in h.warnings())
    assert h.tick().run_requests == []  # unchanged: not retried
    shutil.copyfile(shared_media / JFK_SRT, landing / "jfk.srt")
    (request,) = h.tick().run_requests
    assert request.partition_key == "jfk"
    assert h.catalogue().get("jfk").metadata["subtitle_key"] == "masters/jfk/subtitle.srt"
