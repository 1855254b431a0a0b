"""The search endpoints over HTTP on a real server (``media-platform serve`` on 127.0.0.1):
/shots (text, tags, durations, title, partition, cursor, per-episode cap), /shots/{id},
/shots/{id}/similar, /episodes, /episodes/{partition}, /titles/{title}/similar; the 422s that
name the parameter; and the licence rule (a title forbidding search indexing never appears,
whether the metadata database or only the live licence file says so)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from api_harness import HIDDEN, TITLES, ApiServer

FPS = 24


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def videos(api_home) -> set[str]:
    """The partitions of the home's video episodes that may be searched (all but the podcast and
    the hidden title)."""
    return {key for name, key in api_home.keys.items() if name not in (HIDDEN, "podcast")}


def bunny_spans(shared_media: Path) -> list[tuple[float, float]]:
    """Big Buck Bunny's shots from its annotated hard cuts (frames at 24 fps); 30 s long."""
    gt = json.loads((shared_media / "video/blender_bbb/big_buck_bunny_0_30.gt.json").read_text())
    bounds = [0.0, *(c / FPS for c in gt["hard_cuts"]), 30.0]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


# ---- a search on the demo's episodes -------------------------------------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    ("min_duration=7s", lambda d: d >= 7),
    ("max_duration=5s", lambda d: d <= 5),
    ("min_duration=10", lambda d: d >= 10),
    ("min_duration=4s&max_duration=0m7.2s", lambda d: 4 <= d <= 7.2),
    ("min_duration=1m30s", lambda d: d >= 90),
])
def test_duration_search_on_big_buck_bunny_returns_the_annotated_shots(api_server, api_home, shared_media, params, expected) -> None:
    bunny = api_home.keys["bunny"]
    spans = bunny_spans(shared_media)
    r = api_server.get(f"/shots?partition={bunny}&{params}&limit=50")
    got = r.json()["results"]
    want = [i for i, (a, b) in enumerate(spans) if expected(b - a)]
    assert sorted(s["shot"] for s in got) == want, (params, got)
    for s in got:  # the spans are the annotated cuts, to a frame
        a, b = spans[s["shot"]]
        assert abs(s["start"] - a) <= 1.01 / FPS and abs(s["end"] - b) <= 1.01 / FPS
        assert s["id"] == f"{bunny}:{s['shot']}" and s["title"] == "Big Buck Bunny"
        assert s["media_url"] == f"/episodes/{bunny}/media#t={s['start']:.3f},{s['end']:.3f}"
        assert s["keyframe_url"] == f"/shots/{s['id']}/keyframe"


def test_tag_search_returns_the_tagged_shots_by_score_then_time(api_server, api_home) -> None:
    bunny = api_home.keys["bunny"]
    rows = [r for r in api_home.show("bunny", "shot_tags")
            if r["above_threshold"] and (r["source"] == "fusion" or str(r["source"]).startswith("classifier"))]
    assert rows, "the demo episode has no search tags"
    best: dict[tuple[int, str], float] = {}
    for r in rows:
        best[(r["shot"], r["tag"])] = max(best.get((r["shot"], r["tag"]), 0.0), r["score"])
    counts: dict[str, int] = {}
    for _, tag in best:
        counts[tag] = counts.get(tag, 0) + 1
    tag = max(sorted(counts), key=lambda t: counts[t])  # the tag on most shots
    starts = {s["shot"]: s["start_s"] for s in api_home.show("bunny", "shots")}
    want = sorted((shot for shot, t in best if t == tag), key=lambda n: (-best[(n, tag)], starts[n]))
    got = api_server.get(f"/shots?tag={tag}&partition={bunny}").json()["results"]
    assert [s["shot"] for s in got] == want
    for s in got:
        assert s["score"] == pytest.approx(best[(s["shot"], tag)], abs=1e-6)
        assert {"tag": tag, "score": pytest.approx(best[(s["shot"], tag)], abs=1e-4), "source": "fusion"} in s["tags"]
    # two tags: only shots carrying both; a tag nobody has: nothing
    other = next((t for t in sorted(counts) if t != tag), None)
    if other is not None:
        both = {n for n, t in best if t == tag} & {n for n, t in best if t == other}
        got2 = api_server.get(f"/shots?tag={tag}&tag={other}&partition={bunny}").json()["results"]
        assert {s["shot"] for s in got2} == both
    assert api_server.get("/shots?tag=no-such-tag-anywhere").json()["results"] == []


def test_browse_without_text_caps_each_episode_and_pages_with_a_cursor(api_server, api_home) -> None:
    every = api_server.get("/shots?per_episode=0&limit=200").json()["results"]
    capped = api_server.get("/shots?per_episode=1&limit=200").json()["results"]
    parts = [s["partition"] for s in capped]
    assert len(parts) == len(set(parts)) and set(parts) == {s["partition"] for s in every}
    # default cap: 3 per episode
    default = api_server.get("/shots?limit=200").json()["results"]
    assert max(sum(1 for s in default if s["partition"] == p) for p in parts) <= 3
    # pages of 1 walk the same list, without repeats
    walked, cursor = [], None
    for _ in range(50):
        r = api_server.get("/shots?per_episode=0&limit=1" + (f"&cursor={cursor}" if cursor else ""))
        walked += ids(r)
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == [s["id"] for s in every]
    keys = [(-s["score"], s["start"]) for s in every if s["partition"] == api_home.keys["bunny"]]
    assert keys == sorted(keys)


def test_text_search_ranks_by_similarity_caps_and_pages(api_server, api_home) -> None:
    r = api_server.get("/shots?q=" + quote("a rabbit in a forest") + "&per_episode=0&limit=50")
    results = r.json()["results"]
    assert results and r.json()["took_ms"] > 0
    scores = [s["score"] for s in results]
    assert scores == sorted(scores, reverse=True)
    assert {s["partition"] for s in results} <= videos(api_home)
    walked, cursor = [], None
    for _ in range(50):
        page = api_server.get("/shots?q=" + quote("a rabbit in a forest") + "&per_episode=0&limit=2"
                              + (f"&cursor={cursor}" if cursor else ""))
        walked += ids(page)
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == [s["id"] for s in results]
    one = api_server.get("/shots?q=" + quote("a rabbit in a forest") + "&per_episode=1").json()["results"]
    assert [s["id"] for s in one] == [s["id"] for s in results if s["id"] == next(
        x["id"] for x in results if x["partition"] == s["partition"])]
    # filters apply to text search too
    bunny = api_home.keys["bunny"]
    long_only = api_server.get(f"/shots?q=rabbit&partition={bunny}&min_duration=7s").json()["results"]
    assert long_only and all(s["duration"] >= 7 and s["partition"] == bunny for s in long_only)
    titled = api_server.get("/shots?q=rabbit&title=" + quote("Counter")).json()["results"]
    assert {s["partition"] for s in titled} == {api_home.keys["counter"]}
    # a cursor is only valid for the query that made it
    first = api_server.get("/shots?q=rabbit&limit=1&per_episode=0").json()
    assert first["next_cursor"]
    r = api_server.get(f"/shots?q=boat&limit=1&cursor={first['next_cursor']}")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "cursor"]


def _until_exact(server, url: str) -> dict:
    """The response to ``url`` once the server holds the index's vectors (they load in the
    background after the first similarity search)."""
    import time

    for _ in range(300):
        body = server.get(url).json()
        if body["search"] == "exact":
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url}: never searched exactly: {body}")


def test_filtered_similarity_is_exact_and_agrees_with_the_index(api_server, api_home) -> None:
    """Selective filters score the matching shots exactly from vectors held in memory; a
    server told to keep none (``MEDIA_PLATFORM_API_EXACT_SEARCH_MAX_SHOTS=0``) asks the vector
    index: the same shots in the same order with the same scores."""
    bunny = api_home.keys["bunny"]
    urls = ["/shots?q=" + quote("a rabbit in a forest") + "&per_episode=0&limit=50",
            "/shots?q=rabbit&min_duration=2s&per_episode=0&limit=50",
            f"/shots?q=a%20bird&partition={bunny}&max_duration=6s&per_episode=1",
            f"/shots/{bunny}:2/similar?per_episode=0&limit=50"]
    exact = [_until_exact(api_server, url) for url in urls]
    with ApiServer(api_home.env, extra_env={"MEDIA_PLATFORM_API_EXACT_SEARCH_MAX_SHOTS": "0"}) as server:
        for url, mine in zip(urls, exact, strict=True):
            theirs = server.get(url).json()
            assert theirs["search"] == "index"
            assert mine["results"], url
            assert [s["id"] for s in mine["results"]] == [s["id"] for s in theirs["results"]], url
            assert [s["score"] for s in mine["results"]] == pytest.approx([s["score"] for s in theirs["results"]], abs=1e-4)
    assert api_server.get("/shots?tag=car").json()["search"] == "browse"


def test_one_shot_and_similar_shots(api_server, api_home) -> None:
    bunny = api_home.keys["bunny"]
    shot = api_server.get(f"/shots/{bunny}:2")
    assert shot.status_code == 200
    body = shot.json()
    assert body["id"] == f"{bunny}:2" and body["shot"] == 2 and body["score"] is None
    assert set(body) >= {"id", "partition", "title", "episode", "shot", "start", "end", "duration", "score",
                         "tags", "keyframe_url", "media_url"}
    similar = api_server.get(f"/shots/{bunny}:2/similar?per_episode=0&limit=50").json()["results"]
    assert similar and f"{bunny}:2" not in [s["id"] for s in similar]
    assert [s["score"] for s in similar] == sorted((s["score"] for s in similar), reverse=True)
    assert {s["partition"] for s in similar} <= videos(api_home)
    assert api_server.get(f"/shots/{bunny}:999").status_code == 404
    assert api_server.get(f"/shots/{bunny}:999/similar").status_code == 404
    assert api_server.get("/shots/no-such-episode:0").status_code == 404


def test_episodes_list_and_detail(api_server, api_home) -> None:
    listed = api_server.get("/episodes").json()
    parts = [e["partition"] for e in listed["results"]]
    shown = {n for n in api_home.keys if n != HIDDEN}
    assert set(parts) >= {api_home.keys[n] for n in shown}
    bunny = next(e for e in listed["results"] if e["partition"] == api_home.keys["bunny"])
    assert bunny["shots"] == 4 and bunny["kind"] == "video" and bunny["title"] == "Big Buck Bunny"
    assert bunny["dagster_url"].endswith(f"/assets/shots?partition={api_home.keys['bunny']}")
    walked, cursor = [], None
    for _ in range(20):
        r = api_server.get("/episodes?limit=1" + (f"&cursor={cursor}" if cursor else ""))
        walked += [e["partition"] for e in r.json()["results"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == parts
    assert [e["partition"] for e in api_server.get("/episodes?kind=audio").json()["results"]] == [api_home.keys["podcast"]]
    podcast = api_server.get(f"/episodes/{api_home.keys['podcast']}").json()
    assert podcast["kind"] == "audio" and podcast["shots"] == []
    assert podcast["transcript"] and all(t["text"] for t in podcast["transcript"])
    assert podcast["chapters"] and podcast["licence"]["allows_search_indexing"] is True
    if podcast["preview"] is not None:
        assert podcast["preview"]["audio_url"] == f"/episodes/{api_home.keys['podcast']}/preview"
    detail = api_server.get(f"/episodes/{api_home.keys['bunny']}").json()
    assert [s["shot"] for s in detail["shots"]] == [0, 1, 2, 3]
    # how each shot begins, as the shots asset stored it (Big Buck Bunny: three hard cuts)
    assert [s["transition"] for s in detail["shots"]] == [None, "cut", "cut", "cut"]
    assert detail["markers"] == []  # the only episode of its series: no intro marker


def test_episode_detail_returns_the_stored_markers(api_server, api_home) -> None:
    from media_platform.layout import EPISODE_MARKERS, episode_key
    from media_platform.markers.decisions import Marker
    from media_platform.markers.store import markers_table
    from media_platform.storage import LocalStore, write_table

    key = api_home.keys["counter"]
    stored = [Marker("credits", 2.0, 3.0, 0.8, {}), Marker("intro", 0.0, 1.5, 0.9, {"episodes": ["x"]})]
    write_table(LocalStore(api_home.home), episode_key(key, EPISODE_MARKERS), markers_table(stored))
    markers = api_server.get(f"/episodes/{key}").json()["markers"]
    assert markers == [{"kind": "intro", "start": 0.0, "end": 1.5, "confidence": 0.9},
                       {"kind": "credits", "start": 2.0, "end": 3.0, "confidence": 0.8}]
    assert api_server.get("/episodes/no-such-episode").status_code == 404


def test_similar_titles(api_server) -> None:
    r = api_server.get("/titles/" + quote("Big Buck Bunny") + "/similar")
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    titles = [t["title"] for t in results]
    assert "Big Buck Bunny" not in titles and TITLES[HIDDEN] not in titles
    assert "Counter" in titles  # another video: shares the CLIP block
    counter = next(t for t in results if t["title"] == "Counter")
    assert "clip" in counter["blocks"] and -1 <= counter["score"] <= 1
    assert [t["score"] for t in results] == sorted((t["score"] for t in results), reverse=True)
    assert api_server.get("/titles/" + quote("No Such Title") + "/similar").status_code == 404


# ---- bad parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "loc"), [
    ("/shots?min_duration=abc", ["query", "min_duration"]),
    ("/shots?max_duration=5x", ["query", "max_duration"]),
    ("/shots?min_duration=10s&max_duration=5s", ["query", "max_duration"]),
    ("/shots?min_duration=-3", ["query", "min_duration"]),
    ("/shots?tag=Not%20A%20Tag", ["query", "tag"]),
    ("/shots?limit=0", ["query", "limit"]),
    ("/shots?limit=abc", ["query", "limit"]),
    ("/shots?limit=100000", ["query", "limit"]),
    ("/shots?per_episode=-1", ["query", "per_episode"]),
    ("/shots?cursor=not-a-cursor", ["query", "cursor"]),
    ("/shots?q=%20%20", ["query", "q"]),
    ("/shots?q=a%00b", ["query", "q"]),
    ("/shots?partition=..%2Fetc", ["query", "partition"]),
    ("/shots?title=", ["query", "title"]),
    ("/shots/not-a-shot-id", ["path", "shot_id"]),
    ("/shots/episode:-1/similar", ["path", "shot_id"]),
    ("/shots/episode:1/similar?min_duration=soon", ["query", "min_duration"]),
    ("/episodes/Not%20A%20Key", ["path", "partition"]),
    ("/episodes?kind=film", ["query", "kind"]),
    ("/episodes?cursor=zzz", ["query", "cursor"]),
    ("/titles/%20/similar", ["path", "title"]),
])
def test_bad_parameters_get_a_422_naming_them(api_server, url: str, loc: list[str]) -> None:
    r = api_server.get(url)
    assert r.status_code == 422, (url, r.status_code, r.text)
    detail = r.json()["detail"]
    assert detail[0]["loc"] == loc, detail
    assert detail[0]["msg"]
    assert "\x00" not in r.text


# ---- the licence rule ----------------------------------------------------------------------------


def _everything(server: ApiServer, keys: dict[str, str]) -> str:
    """The text of a response of every search endpoint, for every visible and hidden id."""
    texts = []
    for k in keys.values():
        for url in (f"/shots?partition={k}", f"/shots/{k}:0", f"/shots/{k}:0/similar?per_episode=0&limit=200",
                    f"/episodes/{k}"):
            texts.append(server.get(url).text)
    for url in ("/shots?per_episode=0&limit=200", "/shots?q=a%20video&per_episode=0&limit=200", "/episodes?limit=500",
                "/shots?title=" + quote(TITLES[HIDDEN])):
        texts.append(server.get(url).text)
    for title in TITLES.values():
        texts.append(server.get("/titles/" + quote(title) + "/similar").text)
    return "\n".join(texts)


def test_a_title_forbidding_search_indexing_never_appears(api_server, api_home) -> None:
    hidden = api_home.keys[HIDDEN]
    everything = _everything(api_server, api_home.keys)
    assert hidden not in everything.replace(f"shot {hidden}:0: no such shot", "").replace(
        f"episode {hidden}: no such episode", "")
    assert TITLES[HIDDEN] not in everything.replace(f"title {TITLES[HIDDEN]}: no such title", "")
    assert api_server.get(f"/shots/{hidden}:0").status_code == 404
    assert api_server.get(f"/episodes/{hidden}").status_code == 404
    assert api_server.get("/titles/" + quote(TITLES[HIDDEN]) + "/similar").status_code == 404


def test_a_licence_withdrawn_in_the_operator_file_hides_the_title_before_any_rebuild(api_home, tmp_path) -> None:
    """The database still says "searchable"; the live licence file says no: nothing of it shows."""
    counter = api_home.keys["counter"]
    licences = tmp_path / "licences.yaml"
    licences.write_text(json.dumps({"licences": {counter: {"identifier": "analysis-only"}}}))
    with ApiServer(api_home.env, extra_env={"MEDIA_PLATFORM_LICENCES": str(licences)}) as server:
        keys = dict(api_home.keys)
        everything = _everything(server, keys)
        for text in (f"shot {counter}:0: no such shot", f"episode {counter}: no such episode", "title Counter: no such title"):
            everything = everything.replace(text, "")
        assert counter not in everything and '"Counter"' not in everything
        assert server.get(f"/shots/{counter}:0").status_code == 404
        assert server.get(f"/episodes/{counter}").status_code == 404
        # the others still show
        assert api_home.keys["bunny"] in server.get("/shots?q=rabbit&per_episode=0").text


# ---- the visibility rule, unit by unit ---------------------------------------------------------


def test_visibility_needs_the_database_and_the_live_licence_and_caches_a_few_seconds() -> None:
    import duckdb

    from media_platform.api.visibility import Visibility
    from media_platform.catalogue import Episode
    from media_platform.errors import InvalidInputError
    from media_platform.licences import PRESETS

    db = duckdb.connect()
    db.execute("create table dim_episodes (partition_key varchar, allows_search_indexing boolean)")
    db.execute("insert into dim_episodes values ('open', true), ('closed-in-db', false), ('not-catalogued', true)")
    episodes = {p: Episode(partition_key=p, title=p, kind="video", master_uri="", master_key="", content_hash="",
                           source="cli") for p in ("open", "closed-in-db")}

    def catalogue(keys):
        return {k: episodes[k] for k in keys if k in episodes}

    now = [100.0]
    entries: list[object] = [{}]

    def operator_entries():
        if isinstance(entries[0], Exception):
            raise entries[0]
        return entries[0]

    vis = Visibility(db.cursor, catalogue, operator_entries, ttl_s=5.0, clock=lambda: now[0])
    everyone = ["open", "closed-in-db", "not-catalogued", "not-in-db"]
    assert vis.visible(everyone) == {"open"}
    entries[0] = {"open": PRESETS["analysis-only"]}  # withdrawn in the operator file
    now[0] += 4.9
    assert vis.visible(everyone) == {"open"}  # still the cached answer
    now[0] += 0.2
    assert vis.visible(everyone) == set() and vis.hidden(["open"]) == {"open"}
    entries[0] = {}
    now[0] += 5.1
    assert vis.is_visible("open")
    entries[0] = InvalidInputError("licences.yaml: unreadable")  # an unreadable file allows nothing
    now[0] += 5.1
    assert not vis.is_visible("open")
