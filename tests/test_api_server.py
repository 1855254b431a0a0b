"""The API server as a real ``media-platform serve`` subprocess on a free 127.0.0.1 port:
health, Prometheus metrics per route template, the OpenAPI document, error shapes, 503 before
the metadata database exists, and the token rule (loopback by default; a token, once
configured, on every request; the command refuses another address without one)."""

from __future__ import annotations

import subprocess

import pytest
from api_harness import ApiServer
from cli_harness import cli, make_cli_env

from media_platform.api.auth import COOKIE, cookie_value, presented_token, token_matches
from media_platform.cli.inputs import CliError
from media_platform.cli.serve import check_bind, is_loopback

TOKEN = "tok-3f9a1c7e d;\"quoted\""  # not cookie-safe on purpose: the cookie holds a digest


def test_healthz_and_openapi(api_server) -> None:
    health = api_server.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "metadata_db": True}
    doc = api_server.get("/openapi.json").json()
    paths = set(doc["paths"])
    assert {"/healthz", "/metrics", "/shots/{shot_id}/keyframe", "/episodes/{partition}/media",
            "/episodes/{partition}/preview", "/labels/{label}", "/labels/{label}/train",
            "/labels/{label}/suggestions", "/runs/{run_id}"} <= paths
    assert doc["paths"]["/labels/{label}/train"]["post"]["responses"].get("202")
    docs = api_server.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def _series(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            out[labels[len(name):]] = float(value)
    return out


def test_metrics_count_requests_per_route_template(api_server, api_home) -> None:
    bunny = api_home.keys["bunny"]
    before = _series(api_server.get("/metrics").text, "media_platform_api_requests_total")
    for shot in (0, 1):
        assert api_server.get(f"/shots/{bunny}:{shot}/keyframe").status_code == 200
    assert api_server.get("/no/such/path").status_code == 404
    response = api_server.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = _series(response.text, "media_platform_api_requests_total")
    keyframe = '{method="GET",route="/shots/{shot_id}/keyframe",status="200"}'
    assert after[keyframe] - before.get(keyframe, 0.0) == 2.0  # one series for every shot id
    assert not any(bunny in labels for labels in after)  # never the concrete path
    unmatched = '{method="GET",route="<unmatched>",status="404"}'
    assert after[unmatched] - before.get(unmatched, 0.0) == 1.0
    latency = _series(response.text, "media_platform_api_request_duration_seconds_count")
    assert latency['{method="GET",route="/shots/{shot_id}/keyframe"}'] >= 2.0


def test_invalid_parameters_get_422_naming_them(api_server, api_home) -> None:
    cases = [
        ("/shots/not-a-shot-id/keyframe", ["path", "shot_id"], "PARTITION:SHOT"),
        (f"/shots/{api_home.keys['bunny']}:x/keyframe", ["path", "shot_id"], "whole number"),
        ("/labels/Bad%20Label!", ["path", "label"], "label"),
        ("/labels/cartoon/suggestions?limit=0", ["query", "limit"], "greater than or equal to 1"),
        ("/labels/cartoon/suggestions?limit=many", ["query", "limit"], "integer"),
        ("/runs/not-a-uuid", ["path", "run_id"], "UUID"),
    ]
    for path, loc, reason in cases:
        response = api_server.get(path)
        assert response.status_code == 422, (path, response.text)
        [problem] = response.json()["detail"]
        assert problem["loc"] == loc and reason in problem["msg"], (path, problem)
        assert "input" not in problem  # untrusted input is never sent back raw


def test_untrusted_text_is_not_echoed_raw(api_server) -> None:
    response = api_server.get("/shots/%1b%5b31mred%0a:1/keyframe")
    assert response.status_code == 422
    assert "\x1b" not in response.text and "\n" not in response.json()["detail"][0]["msg"]


@pytest.fixture(scope="module")
def empty_home(tmp_path_factory) -> dict[str, str]:
    return make_cli_env(tmp_path_factory.mktemp("api-empty"))


def test_no_metadata_database_yet_is_503_not_a_crash(empty_home) -> None:
    with ApiServer(empty_home) as server:
        health = server.get("/healthz")
        assert health.status_code == 200 and health.json()["metadata_db"] is False
        response = server.get("/shots", params={"tag": "music"})
        assert response.status_code == 503, response.text
        assert "metadata database does not exist yet" in response.json()["detail"]
        assert response.headers.get("retry-after")
        for path in ("/episodes/some-episode/media", "/shots/some-episode:0/keyframe"):
            unavailable = server.get(path)
            assert unavailable.status_code == 503, (path, unavailable.text)
            assert "media-platform run" in unavailable.json()["detail"]
        assert server.get("/healthz").status_code == 200  # still serving


def test_a_configured_token_is_required_on_every_request(empty_home) -> None:
    with ApiServer(empty_home, token=TOKEN) as server:
        assert server.get("/healthz").status_code == 200  # the harness client sends the bearer token
        import httpx

        with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
            for path in ("/healthz", "/metrics", "/openapi.json", "/labels/cartoon", "/runs/x", "/nope"):
                refused = anonymous.get(path)
                assert refused.status_code == 401, path
                assert refused.headers["www-authenticate"] == "Bearer"
                assert "missing token" in refused.json()["detail"]
            assert anonymous.post("/labels/cartoon/train").status_code == 401
            wrong = anonymous.get("/healthz", headers={"Authorization": "Bearer " + TOKEN[:-1]})
            assert wrong.status_code == 401 and "wrong token" in wrong.json()["detail"]
            assert anonymous.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
            # a browser: the page redirects to the sign-in form, which sets the cookie
            page = anonymous.get("/", headers={"Accept": "text/html"})
            assert page.status_code == 303 and page.headers["location"] == "/login"
            form = anonymous.get("/login")
            assert form.status_code == 200 and 'name="token"' in form.text
            bad = anonymous.post("/login", data={"token": "guess"})
            assert bad.status_code == 401 and COOKIE not in anonymous.cookies
            signed_in = anonymous.post("/login", data={"token": TOKEN})
            assert signed_in.status_code == 303
            set_cookie = signed_in.headers["set-cookie"]
            assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and TOKEN not in set_cookie
            assert anonymous.cookies[COOKIE] == cookie_value(TOKEN)
            assert anonymous.get("/healthz").status_code == 200  # the cookie now carries it
        with httpx.Client(base_url=server.base_url, timeout=30, cookies={COOKIE: "0" * 64}) as forged:
            assert forged.get("/healthz").status_code == 401


def test_serve_refuses_a_non_loopback_host_without_a_token(empty_home) -> None:
    env = {k: v for k, v in empty_home.items() if k != "MEDIA_PLATFORM_API_TOKEN"}
    for host in ("0.0.0.0", "192.0.2.10"):  # more addresses in test_bind_rule
        result = cli(env, "serve", "--host", host, "--port", "8000")
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith(f"error: --host: {host} is not a loopback address")
        assert "MEDIA_PLATFORM_API_TOKEN" in result.stderr
    bad_port = cli(env, "serve", "--port", "70000")
    assert bad_port.returncode == 2 and bad_port.stderr.startswith("error: --port: 70000")


def test_bind_rule() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
        check_bind(host, 8000, token_configured=False)
    for host in ("0.0.0.0", "::", "10.0.0.1", "192.0.2.10", "example.invalid"):
        assert not is_loopback(host), host
        with pytest.raises(CliError, match="--host"):
            check_bind(host, 8000, token_configured=False)
        check_bind(host, 8000, token_configured=True)


def test_token_comparison() -> None:
    assert token_matches("abc", "abc") and not token_matches("abd", "abc") and not token_matches(None, "abc")
    assert not token_matches("ab\udcff", "abc")  # a lone surrogate from undecodable bytes: no crash
    headers = [(b"authorization", b"Bearer  abc "), (b"cookie", f"x=1; {COOKIE}=def".encode())]
    assert presented_token(headers) == ("abc", "def")
    assert presented_token([(b"authorization", b"Basic abc")]) == (None, None)


def test_serve_help_names_the_defaults() -> None:
    result = subprocess.run(["media-platform", "serve", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "127.0.0.1" in result.stdout and "MEDIA_PLATFORM_API_TOKEN" in result.stdout


def test_a_rebuilt_metadata_database_is_read_at_once(tmp_path) -> None:
    """Regression: ``duckdb.connect(path)`` returns the process's cached database for a path
    already open, so a build that replaced the file stayed invisible while any reader held the
    old one (a newly built episode was 'unknown' to the server until it restarted)."""
    import os

    import duckdb

    from media_platform.api.context import ApiContext
    from media_platform.settings import get_settings

    path = tmp_path / "metadata.duckdb"

    def build(n: int) -> None:
        conn = duckdb.connect(str(tmp_path / "new.duckdb"))
        conn.execute(f"create table dim_episodes as select 'episode-{n}' as partition_key")
        conn.close()
        os.replace(tmp_path / "new.duckdb", path)  # as the metadata build swaps its file in

    build(1)
    ctx = ApiContext(settings=get_settings(), store=None, metadata_db=path)  # type: ignore[arg-type]
    reader = ctx.metadata()
    assert reader.execute("select * from dim_episodes").fetchall() == [("episode-1",)]
    build(2)
    assert ctx.metadata().execute("select * from dim_episodes").fetchall() == [("episode-2",)]
    assert reader.execute("select * from dim_episodes").fetchall() == [("episode-1",)]  # the old reader keeps its file


def test_a_page_elsewhere_cannot_post_to_the_server(api_server) -> None:
    """No token on loopback: a web page on another site must not label or train through the
    editor's browser (its Origin names the other site)."""
    for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
        refused = api_server.post("/labels/csrf-test/train", headers={"Origin": origin})
        assert refused.status_code == 403, origin
        assert api_server.post("/labels/csrf-test", json={"positive": ["a:1"]}, headers={"Origin": origin}).status_code == 403
    same = api_server.post("/labels/csrf-test/train", headers={"Origin": api_server.base_url})
    assert same.status_code == 422  # reaches the route: too few examples
    assert api_server.post("/labels/csrf-test/train").status_code == 422  # programs send no Origin
    assert api_server.get("/healthz", headers={"Origin": "http://evil.example"}).status_code == 200  # reads: CORS applies


def test_without_a_token_only_loopback_names_are_served(api_server) -> None:
    """DNS rebinding: a site re-pointed at 127.0.0.1 sends its own name as Host."""
    for host in ("evil.example", f"evil.example:{api_server.port}", "10.0.0.1"):
        refused = api_server.get("/healthz", headers={"Host": host})
        assert refused.status_code == 421, host
    for host in (f"127.0.0.1:{api_server.port}", f"localhost:{api_server.port}", "localhost", f"[::1]:{api_server.port}"):
        assert api_server.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_host_name() -> None:
    from media_platform.api.auth import host_name

    assert host_name("127.0.0.1:8000") == "127.0.0.1" and host_name("localhost") == "localhost"
    assert host_name("[::1]:8000") == "::1" and host_name("[::1]") == "::1" and host_name("") == ""
