"""The API's file endpoints over a real server: a shot's keyframe is the JPEG of that shot,
the master and the preview audio are served with HTTP range requests (206, Content-Range, the
bytes equal the file's slice, 416 beyond its end), only files the catalogue and the outputs
list are served, and a title whose licence forbids search indexing is never served."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from fastapi import Request
from PIL import Image

from media_platform.api.file_routes import key_of_uri, parse_single_range
from media_platform.catalogue import Catalogue
from media_platform.storage import LocalStore


def _local(uri: str) -> Path:
    parsed = urlparse(uri)
    assert parsed.scheme == "file", uri
    return Path(unquote(parsed.path))


@pytest.fixture(scope="module")
def keyframes(api_home) -> list[dict]:
    rows = api_home.show("bunny", "keyframes")
    assert len(rows) >= 3
    return rows


def test_keyframe_is_the_jpeg_of_that_shot(api_server, api_home, keyframes) -> None:
    bunny = api_home.keys["bunny"]
    images = {}
    for row in keyframes:
        response = api_server.get(f"/shots/{bunny}:{row['shot']}/keyframe")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/jpeg"
        assert response.content[:3] == b"\xff\xd8\xff"  # a JPEG
        assert response.content == _local(row["uri"]).read_bytes()  # that shot's stored keyframe
        images[row["shot"]] = np.asarray(Image.open(io.BytesIO(response.content)).convert("L"), dtype=np.float32)
    first, *others = sorted(images)
    assert images[first].shape[0] > 0
    # different shots are different pictures (the file is not one image for every shot)
    assert all(np.abs(images[first] - images[o]).mean() > 1.0 for o in others if images[o].shape == images[first].shape)


def test_unknown_shots_and_episodes_are_404(api_server, api_home) -> None:
    bunny = api_home.keys["bunny"]
    assert api_server.get(f"/shots/{bunny}:9999/keyframe").status_code == 404
    assert api_server.get("/shots/no-such-episode-00000000:0/keyframe").status_code == 404
    for what in ("media", "preview"):
        assert api_server.get(f"/episodes/no-such-episode-00000000/{what}").status_code == 404
    # an audio episode has no keyframes; a video episode's shot never serves another file
    podcast = api_home.keys["podcast"]
    assert api_server.get(f"/shots/{podcast}:0/keyframe").status_code == 404


@pytest.mark.parametrize("path", ["..%2F..%2Fetc%2Fpasswd", "%2E%2E", "..", "a%2Fb", "%00"])
def test_no_request_path_reaches_the_file_system(api_server, path: str) -> None:
    for url in (f"/episodes/{path}/media", f"/episodes/{path}/preview", f"/shots/{path}:0/keyframe"):
        response = api_server.get(url)
        assert response.status_code in (404, 422), (url, response.status_code)
        assert b"root:" not in response.content


def _master(api_home, name: str) -> Path:
    episode = Catalogue(LocalStore(api_home.home)).get(api_home.keys[name])
    assert episode is not None
    return _local(episode.master_uri)


@pytest.mark.parametrize("name", ["bunny", "podcast"])
def test_media_is_the_master_with_range_requests(api_server, api_home, name: str) -> None:
    key = api_home.keys[name]
    master = _master(api_home, name).read_bytes()
    whole = api_server.get(f"/episodes/{key}/media")
    assert whole.status_code == 200 and whole.content == master
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"].split(";")[0] in ("video/webm", "audio/mpeg")
    size = len(master)
    for header, (start, end) in [("bytes=0-99", (0, 100)), (f"bytes={size // 2}-{size // 2 + 4095}", (size // 2, size // 2 + 4096)),
                                 ("bytes=-500", (size - 500, size)), (f"bytes={size - 10}-", (size - 10, size)),
                                 (f"bytes={size - 10}-{size + 1000}", (size - 10, size))]:
        part = api_server.get(f"/episodes/{key}/media", headers={"Range": header})
        assert part.status_code == 206, (header, part.status_code)
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert int(part.headers["content-length"]) == end - start
        assert part.content == master[start:end]
    beyond = api_server.get(f"/episodes/{key}/media", headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"


def test_preview_audio_with_range_requests(api_server, api_home) -> None:
    key = api_home.keys["podcast"]
    [record] = api_home.show("podcast", "preview")
    audio = _local(record["uri"]).read_bytes()
    whole = api_server.get(f"/episodes/{key}/preview")
    assert whole.status_code == 200 and whole.content == audio
    assert whole.headers["content-type"] == "audio/mpeg"
    part = api_server.get(f"/episodes/{key}/preview", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == audio[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(audio)}"


def test_a_title_hidden_by_its_licence_is_never_served(api_server, api_home) -> None:
    hidden = api_home.keys["hidden"]
    shots = api_home.show("hidden", "keyframes")
    assert shots  # analysis ran: the files exist, yet none is served
    assert _master(api_home, "hidden").is_file()
    for url in (f"/episodes/{hidden}/media", f"/episodes/{hidden}/preview", f"/shots/{hidden}:{shots[0]['shot']}/keyframe"):
        response = api_server.get(url)
        assert response.status_code == 404, url
        assert b"Hidden Title" not in response.content


def test_key_of_uri_only_accepts_files_of_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "home")
    inside = store.uri("episodes/p/keyframes/shot_00001.jpg")
    assert key_of_uri(store, inside) == "episodes/p/keyframes/shot_00001.jpg"
    assert key_of_uri(store, (tmp_path / "elsewhere.jpg").as_uri()) is None
    assert key_of_uri(store, inside.replace("/episodes/", "/episodes/../../")) is None
    assert key_of_uri(store, "s3://bucket/episodes/p/x.jpg") is None
    assert key_of_uri(store, "https://example.org/x.jpg") is None


def test_parse_single_range() -> None:
    assert parse_single_range(None, 100) is None
    assert parse_single_range("bytes=0-9", 100) == (0, 10)
    assert parse_single_range("bytes=90-", 100) == (90, 100)
    assert parse_single_range("bytes=-10", 100) == (90, 100)
    assert parse_single_range("bytes=95-200", 100) == (95, 100)
    assert parse_single_range("bytes=100-", 100) == "unsatisfiable"
    assert parse_single_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole file
    assert parse_single_range("items=0-1", 100) is None
    assert parse_single_range("bytes=x-1", 100) is None
    assert parse_single_range("bytes=5-1", 100) is None


@pytest.fixture(scope="module")
def s3_file_server():
    """stored_file() over an S3 store (moto on 127.0.0.1), behind a real uvicorn on a free port."""
    import threading
    import time as _time

    import boto3
    import httpx
    import uvicorn
    from _moto import start_moto
    from api_harness import free_port
    from fastapi import FastAPI

    from media_platform.api.file_routes import stored_file
    from media_platform.storage import S3Store

    moto, endpoint = start_moto()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket="media")
    store = S3Store(client, "media", "platform")
    data = bytes(range(256)) * 4000  # 1,024,000 bytes, every slice distinct in position
    store.write_bytes("masters/p/master.mp3", data)
    app = FastAPI()

    @app.get("/file")
    def serve(request: Request):
        return stored_file(store, "masters/p/master.mp3", request)

    @app.get("/missing")
    def missing(request: Request):
        return stored_file(store, "masters/p/none.mp3", request)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = _time.monotonic() + 30
    while not server.started and _time.monotonic() < deadline:
        _time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        yield http, data
    server.should_exit = True
    thread.join(timeout=10)
    moto.stop()


def test_an_s3_home_streams_through_the_store_with_ranges(s3_file_server) -> None:
    http, data = s3_file_server
    whole = http.get("/file")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/mpeg" and whole.headers["accept-ranges"] == "bytes"
    size = len(data)
    for header, (start, end) in [("bytes=0-99", (0, 100)), ("bytes=500000-700000", (500000, 700001)),
                                 ("bytes=-10", (size - 10, size)), (f"bytes={size - 5}-", (size - 5, size))]:
        part = http.get("/file", headers={"Range": header})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
        assert part.content == data[start:end]
    assert http.get("/file", headers={"Range": f"bytes={size}-"}).status_code == 416
    assert http.get("/missing").status_code == 404
