"""The editors' page end to end, in a real headless browser: Playwright driving Debian's
Chromium (``/usr/bin/chromium``) against the real ``media-platform serve`` of the shared
``api_server`` fixture (tests/api_harness.py).

The main test searches, plays a shot, labels six shots through the page (three positive with the
``p`` key, three negative with one click each: the classifier needs at least three of each),
trains through the page, sees the evaluation and the next shots to label, and saves a screenshot
(under ``MEDIA_PLATFORM_TEST_ARTIFACTS``, else pytest's temporary folder; the path is printed).
Every answer the page shows is checked against the same request made to the API directly.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from api_harness import TITLES, ApiServer
from playwright.sync_api import Page

from media_platform.api.page_routes import CONTENT_SECURITY_POLICY

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 30_000
TRAIN_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} not found: apt-get install chromium (.ci/run installs it)"
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=[*args, "--autoplay-policy=no-user-gesture-required", "--mute-audio"])
        yield browser
        browser.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MEDIA_PLATFORM_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Watched:
    """A page whose requests and script errors are recorded: the page must reach nothing but
    its own server, and must not throw."""

    def __init__(self, browser: object, base_url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000}, base_url=base_url)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.origin = base_url
        self.elsewhere: list[str] = []
        self.errors: list[str] = []
        self.answers: list[str] = []
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("response", self._answered)
        self.pending: dict[object, str] = {}
        self.refused: list[str] = []  # what the Content-Security-Policy blocked
        self.page.on("console", lambda m: self.refused.append(m.text) if "Content Security Policy" in m.text else None)

    def _request(self, request: object) -> None:
        url = request.url
        self.pending[request] = f"{request.method} {url}"
        parts = urlsplit(url)
        if parts.scheme in {"data", "blob"}:
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.elsewhere.append(url)

    def _answered(self, response: object) -> None:
        request = response.request
        self.pending.pop(request, None)
        self.answers.append(f"{request.method} {request.url} -> {response.status}")

    @contextmanager
    def explained(self, artifacts: Path) -> Iterator[Page]:
        """On a failure: a screenshot beside the artifacts and what the page showed and asked."""
        try:
            yield self.page
        except Exception as exc:
            shot = artifacts / "editors_page_failure.png"
            self.page.screenshot(path=str(shot), full_page=True)
            shown = self.page.evaluate(
                "() => ['#error-text', '#grid-status', '#grid-title', '#progress-text', '#count-positive',"
                " '#count-negative'].map(s => s + ': ' + (document.querySelector(s)?.textContent ?? ''))"
                ".concat(['player: ' + (v => v ? `t=${v.currentTime} paused=${v.paused} ready=${v.readyState}"
                " error=${v.error && v.error.code}` : '')(document.querySelector('#player'))])")
            raise AssertionError("\n".join([f"{exc}", f"screenshot: {shot}", *shown, "last answers:",
                                             *self.answers[-15:], "unanswered:", *self.pending.values()])) from exc

    def close(self) -> None:
        self.context.close()
        assert not self.elsewhere, f"the page reached beyond its server: {self.elsewhere}"
        assert not self.errors, f"the page threw: {self.errors}"
        assert not self.refused, f"the page broke its own Content-Security-Policy: {self.refused}"


def wait_for_ids(page: object, ids: list[str]) -> None:
    page.wait_for_function("ids => JSON.stringify([...document.querySelectorAll('#grid .card')]"
                           ".map(c => c.dataset.id)) === JSON.stringify(ids)", arg=ids)


def test_search_play_label_train_and_evaluate(browser, api_server: ApiServer, artifacts: Path) -> None:
    watched = Watched(browser, api_server.base_url)
    with watched.explained(artifacts) as page:
        search_play_label_train(page, api_server, artifacts)
    watched.close()


def search_play_label_train(page: Page, api_server: ApiServer, artifacts: Path) -> None:
    page.goto("/")
    page.wait_for_selector("#grid .card")

    # Search by duration, every shot of each episode (per episode: 0). The grid shows exactly
    # what the API answers, in its order.
    page.fill("#min_duration", "1s")
    page.fill("#per_episode", "0")
    page.press("#min_duration", "Enter")
    expected = api_server.get("/shots", params={"min_duration": "1s", "per_episode": 0, "limit": 24})
    assert expected.status_code == 200, expected.text
    shots = expected.json()["results"]
    assert len(shots) >= 6, f"the test labels six shots of at least 1 s: {shots}"
    assert all(s["duration"] >= 1 for s in shots)
    wait_for_ids(page, [s["id"] for s in shots])
    assert "shots" in page.inner_text("#grid-status")
    first = page.locator("#grid .card").first
    assert first.locator(".title").inner_text() == shots[0]["title"]
    assert re.fullmatch(r"\d+:\d\d\.\d – \d+:\d\d\.\d", first.locator(".time").inner_text())
    for shot, node in zip(shots, page.locator("#grid .card").all(), strict=True):
        shown = node.locator(".tag").all_inner_texts()
        assert shown == [t["tag"] for t in sorted(shot["tags"], key=lambda t: -t["score"])][:5]
        assert node.locator("img").get_attribute("src") == shot["keyframe_url"]
    assert TITLES["hidden"] not in page.content()

    # Keyframes load (real JPEGs through the file route).
    page.wait_for_function("() => [...document.querySelectorAll('#grid .card img')].slice(0, 6)"
                           ".every(img => img.complete && img.naturalWidth > 0)")

    # The episode links to its Dagster asset page.
    episodes = {e["partition"]: e for e in api_server.get("/episodes").json()["results"]}
    link = first.locator("a.dagster")
    link.wait_for(state="visible")
    assert link.get_attribute("href") == episodes[shots[0]["partition"]]["dagster_url"]

    # Clicking a thumbnail plays that span: seeks to its start, pauses at its end.
    shortest = min(range(len(shots)), key=lambda i: shots[i]["duration"])
    span = shots[shortest]
    page.locator("#grid .card .thumb").nth(shortest).click()
    page.wait_for_selector("#player-panel", state="visible")
    page.wait_for_function(
        "([start, end]) => { const v = document.querySelector('#player');"
        " return v.readyState >= 2 && v.paused && v.currentTime >= end - 0.3 && v.currentTime <= end + 0.3"
        " && v.played.length > 0 && v.played.start(0) >= start - 0.3; }",
        arg=[span["start"], span["end"]], timeout=TIMEOUT_MS + int(span["duration"] * 1000))
    assert page.inner_text("#player-title") == span["title"]

    # A label of its own (the session's server is shared with other tests).
    label = f"page_test_{uuid.uuid4().hex[:8]}"
    page.fill("#label", label)
    page.press("#label", "Enter")
    page.wait_for_function("() => document.querySelector('#count-positive').textContent === '0'")

    # Three positives with the key (the selection moves on after each), three negatives by click.
    page.locator("#grid .card .title").first.click()
    for _ in range(3):
        page.keyboard.press("p")
    for i in range(3, 6):
        page.locator("#grid .card").nth(i).locator("button.neg").click()
    page.wait_for_function("() => document.querySelector('#count-positive').textContent === '3'"
                           " && document.querySelector('#count-negative').textContent === '3'")
    # Arrows move the selection; "u" on a marked shot takes the mark back; "p" puts it back.
    assert page.get_attribute("#shot-5", "aria-current") == "true"  # the last one clicked
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.get_attribute("#shot-3", "aria-current") == "true"
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#shot-4", "aria-current") == "true"
    page.keyboard.press("Home")
    assert page.get_attribute("#shot-0", "aria-current") == "true"
    page.keyboard.press("u")
    page.wait_for_function("() => document.querySelector('#count-positive').textContent === '2'")
    page.keyboard.press("p")
    page.wait_for_function("() => document.querySelector('#count-positive').textContent === '3'")
    stored = api_server.get(f"/labels/{label}").json()
    assert stored["positives"] == 3 and stored["negatives"] == 3
    assert {e["id"] for e in stored["examples"] if e["positive"]} == {s["id"] for s in shots[:3]}
    assert {e["id"] for e in stored["examples"] if not e["positive"]} == {s["id"] for s in shots[3:6]}
    assert page.locator("#grid .card.positive").count() == 3
    assert page.locator("#grid .card.negative").count() == 3

    # Train: progress, then the evaluation, then the next shots to label in the grid.
    page.click("#train")
    page.wait_for_selector("#progress", state="visible")
    page.wait_for_selector("#evaluation", state="visible", timeout=TRAIN_TIMEOUT_MS)
    assert "trained" in page.inner_text("#progress-text")
    classifier = api_server.get(f"/labels/{label}").json()["classifier"]
    assert classifier is not None
    assert page.inner_text("#eval-ap") == f"{classifier['average_precision']:.3f}"
    assert page.inner_text("#eval-positives") == "3" and page.inner_text("#eval-negatives") == "3"
    page.wait_for_function(f"() => document.querySelector('#grid-title').textContent === 'Next to label: {label}'")
    suggested = api_server.get(f"/labels/{label}/suggestions", params={"limit": 24}).json()["suggestions"]
    assert suggested, "unlabelled visible shots remain: the feeds suggest some"
    assert not {s["id"] for s in suggested} & {s["id"] for s in shots[:6]}
    wait_for_ids(page, [s["id"] for s in suggested])
    assert page.locator("#error").is_hidden(), page.inner_text("#error-text")

    screenshot = artifacts / "editors_page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"editors' page screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000


def test_a_bad_parameter_is_shown_by_name(browser, api_server: ApiServer, artifacts: Path) -> None:
    watched = Watched(browser, api_server.base_url)
    with watched.explained(artifacts) as page:
        bad_parameter_shown(page, api_server)
    watched.close()


def bad_parameter_shown(page: Page, api_server: ApiServer) -> None:
    page.goto("/")
    page.wait_for_selector("#grid .card")
    page.fill("#min_duration", "soon")
    page.click("#search-button")
    page.wait_for_selector("#error", state="visible")
    answer = api_server.get("/shots", params={"min_duration": "soon", "limit": 24})
    assert answer.status_code == 422
    msg = next(d["msg"] for d in answer.json()["detail"] if d["loc"][-1] == "min_duration")
    assert page.inner_text("#error-text") == f"Search: min_duration: {msg}"
    # Fixing it clears the message.
    page.fill("#min_duration", "")
    page.press("#q", "Enter")
    page.wait_for_selector("#error", state="hidden")


def test_the_page_asks_for_the_token_once(browser, api_home, artifacts: Path) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    with ApiServer(api_home.env, token=token) as server:
        watched = Watched(browser, server.base_url)
        with watched.explained(artifacts) as page:
            sign_in_once(page, watched, token)
        watched.close()


def sign_in_once(page: Page, watched: Watched, token: str) -> None:
    page.goto("/")
    assert urlsplit(page.url).path == "/login"  # the server's sign-in form
    page.fill("input[name=token]", "not-the-token")
    page.press("input[name=token]", "Enter")
    page.wait_for_selector("text=Wrong token")
    page.fill("input[name=token]", token)
    page.press("input[name=token]", "Enter")
    page.wait_for_selector("#grid .card")
    assert urlsplit(page.url).path == "/"
    page.wait_for_function("() => { const img = document.querySelector('#grid .card img');"
                           " return img.complete && img.naturalWidth > 0; }")
    # Signed out while the page is open: the page asks, once, in its own dialog.
    watched.context.clear_cookies()
    page.fill("#min_duration", "2s")
    page.press("#min_duration", "Enter")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token", "still-not-it")
    page.press("#token", "Enter")
    page.wait_for_selector("#token-error", state="visible")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_selector("#token-dialog", state="hidden")
    page.wait_for_function("() => document.querySelector('#grid-status').textContent.includes('shots')")
    assert page.locator("#error").is_hidden()
    # Asked once: the signed-in browser reloads the page without being asked again.
    page.reload()
    page.wait_for_selector("#grid .card")
    assert urlsplit(page.url).path == "/" and not page.locator("#token-dialog[open]").count()


def test_the_page_and_its_files(api_server: ApiServer) -> None:
    page = api_server.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert '<script type="module" src="/static/app.js">' in page.text
    modules = ["api.js", "app.js", "grid.js", "labels.js", "player.js", "search.js", "state.js", "util.js"]
    for name, kind in [*((m, "text/javascript") for m in modules), ("app.css", "text/css")]:
        answer = api_server.get(f"/static/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
        again = api_server.get(f"/static/{name}", headers={"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304 and not again.content
    # Only the package's files: no path reaches the file system.
    for name in ["../page_routes.py", "..%2Fpage_routes.py", "%2e%2e%2fapp.py", "index.htm", "__init__.py"]:
        assert api_server.get(f"/static/{name}").status_code == 404, name
    # The page is not part of the API's document.
    assert "/" not in api_server.get("/openapi.json").json()["paths"]
