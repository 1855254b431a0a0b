"""Intro, recap, credits and preview-of-next markers: a generated season (real Big Buck Bunny
intro, MUSAN music under the credits, generated bodies; benchmarks/markers_media.py) through
the pure decisions and through Dagster."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
from platform_harness import check_results, materialized, platform_for_test

from assets import audio, catalogue, ingest, markers, video
from benchmarks.markers_media import Sizes, build_season, season
from media_platform.catalogue import Episode
from media_platform.cli.show import show_rows
from media_platform.markers.decisions import Marker, MarkerConfig, SeriesEpisode, decide_series
from media_platform.markers.fingerprints import audio_fingerprint, visual_fingerprint
from media_platform.markers.series import (
    episode_order,
    follow_up_partitions,
    series_members,
    series_name,
)
from media_platform.markers.store import avoid_spans, marker_problems, markers_table
from media_platform.previews.candidates import Candidate, CandidateSet
from media_platform.previews.features import FEATURE_NAMES
from media_platform.previews.ranking import choose_preview
from media_platform.video.shots import detect_shots
from sensors.markers import markers_sensor


def _series_episode(path: Path, key: str, order: int, *, with_video: bool = True) -> SeriesEpisode:
    shots = detect_shots(path)
    wav = path.with_suffix(".16k.wav")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-ac", "1", "-ar", "16000", str(wav)], check=True)
    fp = audio_fingerprint(wav, shots.duration_s)
    hashes = shots.frame_hashes
    assert hashes is not None
    times = np.asarray(shots.frame_times)[hashes.frames]
    visual = visual_fingerprint(times, hashes.hashes, hashes.flat, hashes.level, shots.duration_s)
    cuts = np.array([s.start_s for s in shots.shots[1:]])
    if not with_video:
        return SeriesEpisode(key, shots.duration_s, (order,), fp, None, np.empty(0))
    return SeriesEpisode(key, shots.duration_s, (order,), fp, visual, cuts)


# Short episodes (34-47 s at 320x180) keep the season's generation and analysis under a minute.
TEST_SIZES = Sizes(intro=12, short_intro=7, shot=5, shots=2, recap=5, credits=8, preview=5, black_tail=2,
                   width=320, height=180)


@pytest.fixture(scope="session")
def marker_season(shared_media: Path, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("marker_season")
    files = build_season(shared_media, root, season(), sizes=TEST_SIZES)
    eps = [_series_episode(f.path, f"ep{f.number}", f.number) for f in files]
    return files, eps


def _assert_matches_truth(files, decided, tolerance_s: float = 1.0) -> None:
    for f in files:
        found = decided[f"ep{f.number}"].markers
        want = sorted((kind, s, e) for kind, spans in f.truth.items() for s, e in spans)
        got = sorted((m.kind, m.start, m.end) for m in found)
        assert [k for k, _, _ in got] == [k for k, _, _ in want], (f.number, got, want)
        for (kind, s, e), (_, gs, ge) in zip(want, got):
            assert abs(gs - s) <= tolerance_s and abs(ge - e) <= tolerance_s, (f.number, kind, (gs, ge), (s, e))


def test_season_markers_match_the_truth_within_a_second(marker_season) -> None:
    """Cold opens of 0-9 s, a shortened intro, recaps, shared credits, previews, a re-encoded
    episode and an episode without intro: every marker found, every boundary within 1 s."""
    files, eps = marker_season
    decided = decide_series(eps)
    _assert_matches_truth(files, decided)
    special = decided["ep5"]
    assert not any(m.kind == "intro" for m in special.markers)
    assert any(n.startswith("no intro") for n in special.notes)
    for em in decided.values():
        assert marker_problems(markers_table(em.markers), next(e.duration_s for e in eps if e.key == em.key)) == []
    intro = next(m for m in decided["ep4"].markers if m.kind == "intro")  # the re-encoded episode
    assert set(intro.evidence["sources"]) == {"audio", "visual"} and intro.confidence > 0.7


def test_sound_alone_finds_the_intros_and_credits(marker_season) -> None:
    """Audio-only episodes (podcasts) get their intro and credits from Chromaprint alone."""
    files, eps = marker_season
    sound_only = [SeriesEpisode(e.key, e.duration_s, e.order, e.audio, None) for e in eps]
    decided = decide_series(sound_only)
    for f in files:
        for kind in ("intro", "credits"):
            for s, e in f.truth.get(kind, []):
                m = next(m for m in decided[f"ep{f.number}"].markers if m.kind == kind)
                assert abs(m.start - s) <= 1.0 and abs(m.end - e) <= 1.0, (f.number, kind, m, (s, e))
    assert not any(m.kind == "intro" for m in decided["ep5"].markers)


def test_a_single_episode_gets_no_intro_and_the_reason(marker_season) -> None:
    """A season of one episode (the first one alone: it has an intro, but nothing shows it)."""
    _, eps = marker_season
    decided = decide_series([eps[0]])["ep1"]
    assert decided.markers == []
    assert decided.notes == ["no intro: the only episode of its series (nothing to align against)"]


def test_another_version_of_an_episode_is_not_a_long_intro(marker_season) -> None:
    """A second version of an episode (re-encoded) shares all of it: without the version rule
    the whole episode would come out as one long shared span."""
    files, eps = marker_season
    copy = files[0].path.with_name("ep1_version.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(files[0].path), "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", "300k", "-c:a", "aac", "-b:a", "64k", str(copy)], check=True)
    version = _series_episode(copy, "ep1b", 1)
    decided = decide_series([eps[0], version, eps[1]])
    for key in ("ep1", "ep1b"):
        assert any("another version" in n for n in decided[key].notes)
        intro = next(m for m in decided[key].markers if m.kind == "intro")
        assert intro.end - intro.start < 15.0
    assert not any("another version" in n for n in decided["ep2"].notes)


def test_marker_problems_finds_overlaps_bounds_and_outside() -> None:
    cfg = MarkerConfig()
    good = markers_table([Marker("intro", 5.0, 20.0, 0.9, {}), Marker("credits", 40.0, 50.0, 0.8, {})])
    assert marker_problems(good, 50.0, cfg) == []
    bad = markers_table([
        Marker("intro", 5.0, 20.0, 0.9, {}), Marker("recap", 18.0, 25.0, 0.8, {}),
        Marker("credits", 45.0, 52.0, 0.8, {}), Marker("intro", 30.0, 31.0, 0.5, {}),
        Marker("teaser", 32.0, 40.0, 0.5, {}),
    ])
    problems = "\n".join(marker_problems(bad, 50.0, cfg))
    assert "overlaps" in problems and "outside the episode" in problems
    assert "lasts 1.00 s" in problems and "unknown kind" in problems
    assert avoid_spans(good) == [(5.0, 20.0), (40.0, 50.0)]


def _episode(key: str, title: str, **meta) -> Episode:
    return Episode(partition_key=key, title=title, kind="video", master_uri="", master_key="", content_hash="",
                   source="cli", episode_id=meta.pop("episode_id", None), metadata=meta, ingested_at=meta.pop("at", ""))


def test_series_grouping_and_order() -> None:
    eps = [
        _episode("a2", "Show", episode_id="2"), _episode("a1", "show ", episode_id="1"),
        _episode("b1", "Pilot", series="Other Show"), _episode("rss3", "Item 3", feed_title="Show", episode=3),
        _episode("x", "Unrelated"),
    ]
    assert series_name(eps[2]) == "Other Show" and series_name(eps[3]) == "Show"
    assert [e.partition_key for e in series_members(eps, "a2")] == ["a1", "a2", "rss3"]
    assert [e.partition_key for e in series_members(eps, "x")] == ["x"]
    assert series_members(eps, "missing") == []
    assert episode_order(eps[3]) < episode_order(_episode("z", "Show", episode=10))
    assert follow_up_partitions(eps, ["a1"], lambda k: k != "rss3") == ["a1", "a2"]
    assert follow_up_partitions(eps, ["b1", "missing"], lambda k: True) == ["b1"]


def test_markers_in_dagster_update_with_the_series(marker_season, shared_media: Path, tmp_path_factory) -> None:
    """Fingerprints and markers as assets: the first episode alone gets no intro; once the
    second arrives, re-materializing the first finds it; the check passes; show lists rows."""
    files, _ = marker_season
    with platform_for_test(tmp_path_factory.mktemp("markers_platform"), shared_media, [ingest, video, audio, markers, catalogue]) as p:
        selection = ["master", "media_probe", "shots", "audio", "audio_fingerprint", "visual_fingerprint", "episode_markers"]
        k1 = p.ingest(files[0].path, "Marker Show", episode="1")
        r1 = p.run(k1, selection)
        assert r1.success and {"audio_fingerprint", "visual_fingerprint", "episode_markers"} <= materialized(r1)
        assert show_rows(p.store, k1, "episode_markers") == []
        k2 = p.ingest(files[1].path, "Marker Show", episode="2")
        assert p.run(k2, selection).success
        context = dg.build_sensor_context(instance=p.instance, resources={"storage": p.resources["storage"]})
        follow = markers_sensor(context)
        assert sorted(r.partition_key for r in follow.run_requests) == sorted([k1, k2])
        assert all(r.asset_selection == [dg.AssetKey("episode_markers")] for r in follow.run_requests)
        later = dg.build_sensor_context(instance=p.instance, resources={"storage": p.resources["storage"]},
                                        cursor=follow.cursor)
        assert isinstance(markers_sensor(later), dg.SkipReason)  # nothing new since
        again = p.run(k1, ["episode_markers"])  # what the sensor's request runs
        assert again.success and check_results(again) == {"markers_are_consistent": True}
        (event,) = again.get_asset_materialization_events()
        assert event.materialization.metadata["pairs_reused"].value == 1  # aligned by episode 2's run
        rows = show_rows(p.store, k1, "episode_markers")
        assert set(rows[0]) == {"kind", "start", "end", "confidence"}
        intro = next(r for r in rows if r["kind"] == "intro")
        (start, end), = files[0].truth["intro"]
        assert abs(intro["start"] - start) <= 1.0 and abs(intro["end"] - end) <= 1.0
        stored = pl.read_parquet(p.root / "home" / "episodes" / k1 / "episode_markers.parquet")
        assert stored.height == len(rows)
        _metadata_marks_the_shots_inside_markers(p, [k1, k2])


def _metadata_marks_the_shots_inside_markers(p, keys: list[str]) -> None:
    """The metadata database: ``fct_shots.marker_kind`` is the marker holding each shot's
    midpoint; every dbt test passes, the accepted kinds included."""
    import duckdb

    from media_platform.metadata import build_metadata_db

    assert p.run(None, dg.AssetSelection.assets("episode_catalogue")).success
    db = p.root / "metadata.duckdb"
    report = build_metadata_db(home=p.root / "home", db_path=db)
    assert set(report.tests.values()) == {"pass"}, report.tests
    assert any(name.startswith("accepted_values_fct_shots_marker_kind") for name in report.tests), report.tests
    with duckdb.connect(str(db), read_only=True) as con:
        shots = con.execute("select partition_key, shot, start_s, end_s, marker_kind from fct_shots").fetchall()
    marked = 0
    for key in keys:
        spans = [(r["kind"], r["start"], r["end"]) for r in show_rows(p.store, key, "episode_markers")]
        assert any(kind == "intro" for kind, _, _ in spans)
        for _, shot, start, end, kind in (s for s in shots if s[0] == key):
            mid = (start + end) / 2
            assert kind == next((k for k, a, b in spans if a <= mid < b), None), (key, shot, start, end, kind, spans)
            marked += kind is not None
    assert 0 < marked < len(shots)


def _candidate(start: float, end: float) -> Candidate:
    return Candidate(start, end, 0, 1, "words", {name: 0.5 for name in FEATURE_NAMES})


def test_a_preview_never_falls_inside_an_intro_recap_or_credits() -> None:
    cset = CandidateSet((_candidate(0.0, 30.0), _candidate(40.0, 70.0)), 100.0, 80.0, ())
    assert choose_preview(cset).choice.start == 0.0
    assert choose_preview(cset, avoid=[(5.0, 20.0)]).choice.start == 40.0
    none = choose_preview(cset, avoid=[(5.0, 20.0), (60.0, 80.0)])
    assert none.choice is None and "intro, recap or credits" in none.reason


def test_an_upload_sidecar_names_the_series() -> None:
    from media_platform.errors import InvalidInputError
    from media_platform.ingest.uploads import parse_sidecar

    assert parse_sidecar(b'{"title": "Pilot", "series": " The Show "}', "talk.json").series == "The Show"
    assert parse_sidecar(b'{"title": "Pilot"}', "talk.json").series is None
    for bad in (b'{"series": ""}', b'{"series": 3}', b'{"series": "a\\u0000b"}'):
        with pytest.raises(InvalidInputError, match="talk.json.series"):
            parse_sidecar(bad, "talk.json")


def test_overlapping_decisions_are_trimmed_or_dropped_never_left_overlapping() -> None:
    """Of two overlapping markers the later starts at the earlier one's end; one left shorter
    than its kind's minimum is dropped (kept, it would fail the blocking check)."""
    from media_platform.markers.decisions import _without_overlaps

    cfg = MarkerConfig()
    kept = _without_overlaps([Marker("intro", 10.0, 30.0, 0.9, {}), Marker("recap", 2.0, 12.0, 0.8, {}),
                              Marker("credits", 28.0, 60.0, 0.9, {}), Marker("preview_of_next", 58.0, 61.0, 0.8, {})], cfg)
    assert [(m.kind, m.start, m.end) for m in kept] == [("recap", 2.0, 12.0), ("intro", 12.0, 30.0), ("credits", 30.0, 60.0)]
    assert marker_problems(markers_table(kept), 61.0, cfg) == []


def test_the_pair_cache_round_trips_and_ignores_changed_fingerprints() -> None:
    from media_platform.markers.alignment import Match
    from media_platform.markers.store import pair_cache, read_pair_cache

    pairs = {"ep2": ("sig2", [Match(4.0, 16.0, 14.0, 26.0, 0.9, "audio+visual")])}
    data = pair_cache("sig1", pairs)
    assert read_pair_cache(data, "sig1") == pairs
    assert read_pair_cache(data, "changed") == {}
    assert read_pair_cache(b"not json", "sig1") == {}


# Short previews, so that the short generated episodes (bodies of 12-13 s) have clean windows.
SHORT_PREVIEWS = {"target_s": 8.0, "min_s": 4.0}


def _run_with_short_previews(p, key: str) -> dg.ExecuteInProcessResult:
    config = {"config": SHORT_PREVIEWS}
    return dg.materialize(p.definitions, instance=p.instance, resources=p.resources, partition_key=key,
                          selection=AUDIO_EPISODE, raise_on_error=False,
                          run_config={"ops": {"preview_candidates": config, "preview": config, "preview_preview_is_clean": config}})


AUDIO_EPISODE = dg.AssetSelection.all() - dg.AssetSelection.groups("models", "catalogue")


def _record(store, key: str, name: str) -> dict:
    import json

    from media_platform.layout import episode_key
    return json.loads(store.read_bytes(episode_key(key, name)))


def _outside(start: float, end: float, spans) -> bool:
    return all(min(end, b) <= max(start, a) + 0.05 for _, a, b in spans)


def test_an_audio_only_season_gets_markers_chapters_and_previews_outside_them(
    marker_season, shared_media: Path, tmp_path_factory
) -> None:
    """Podcasts (no picture) end to end through Dagster: ``episode_markers`` runs in the
    episode's own run from sound alone (it used to be skipped with the missing picture), the
    first episode gets none and says why, the second gets its intro, recap and credits, which
    become chapters and which its preview stays out of; when the series grows, the sensor redoes
    the first episode's markers, then its chapters and preview."""
    from assets import previews
    from media_platform.layout import PREVIEW_RECORD, PREVIEW_SELECTION

    files, _ = marker_season
    root = tmp_path_factory.mktemp("audio_season")
    flacs = []
    for f in files[:2]:
        out = root / f"podcast{f.number}.flac"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(f.path), "-vn", "-ac", "1", "-c:a", "flac", str(out)], check=True)
        flacs.append(out)
    with platform_for_test(root / "platform", shared_media, [ingest, video, audio, markers, previews]) as p:
        k1 = p.ingest(flacs[0], "Marker Podcast", episode="1")
        r1 = _run_with_short_previews(p, k1)
        assert r1.success
        assert {"audio_fingerprint", "episode_markers", "chapters", "preview_selection"} <= materialized(r1)
        assert "visual_fingerprint" not in materialized(r1)
        first = _record(p.store, k1, PREVIEW_SELECTION)
        assert first["markers"] == [] and "only episode of its series" in first["markers_note"]

        k2 = p.ingest(flacs[1], "Marker Podcast", episode="2")
        r2 = _run_with_short_previews(p, k2)
        assert r2.success and check_results(r2)["markers_are_consistent"]
        rows = {r["kind"]: r for r in show_rows(p.store, k2, "episode_markers")}
        for kind in ("recap", "intro", "credits"):
            (start, end), = files[1].truth[kind]
            assert abs(rows[kind]["start"] - start) <= 1.0 and abs(rows[kind]["end"] - end) <= 1.0, (kind, rows[kind])
        titled = {c["title"]: c for c in show_rows(p.store, k2, "chapters")}
        for kind, title in (("recap", "Recap"), ("intro", "Intro"), ("credits", "Credits")):
            assert abs(titled[title]["start"] - rows[kind]["start"]) <= 1.0 and abs(titled[title]["end"] - rows[kind]["end"]) <= 1.0
        second = _record(p.store, k2, PREVIEW_SELECTION)
        avoided = [m for m in second["markers"] if m[0] in ("intro", "recap", "credits")]
        assert len(avoided) == 3 and second["reason"], second
        if second["choice"] is not None:  # these short generated bodies may have no clean window at all
            assert _outside(second["choice"]["start"], second["choice"]["end"], avoided), second
        assert check_results(r2)["preview_is_clean"]

        # the series grew: episode 1's markers, then its chapters and preview, follow
        context = dg.build_sensor_context(instance=p.instance, resources={"storage": p.resources["storage"]})
        follow = markers_sensor(context)
        assert sorted(r.partition_key for r in follow.run_requests) == sorted([k1, k2])
        for request in follow.run_requests:
            assert p.run(request.partition_key, request.asset_selection).success
        later = dg.build_sensor_context(instance=p.instance, resources={"storage": p.resources["storage"]},
                                        cursor=follow.cursor)
        redo = markers_sensor(later)
        assert [(r.partition_key, r.asset_selection) for r in redo.run_requests] == [
            (k1, [dg.AssetKey("chapters"), dg.AssetKey("preview_selection"), dg.AssetKey("preview")])]
        (request,) = redo.run_requests
        config = {"config": SHORT_PREVIEWS}
        again = dg.materialize(p.definitions, instance=p.instance, resources=p.resources, partition_key=k1,
                               selection=request.asset_selection, raise_on_error=False,
                               run_config={"ops": {"preview": config, "preview_preview_is_clean": config}})
        assert again.success and check_results(again)["preview_is_clean"]
        redone = _record(p.store, k1, PREVIEW_SELECTION)
        intro = next(m for m in redone["markers"] if m[0] == "intro")
        (start, end), = files[0].truth["intro"]
        assert abs(intro[1] - start) <= 1.0 and abs(intro[2] - end) <= 1.0
        if redone["choice"] is not None:
            assert _outside(redone["choice"]["start"], redone["choice"]["end"],
                            [m for m in redone["markers"] if m[0] in ("intro", "recap", "credits")])
            rendered = _record(p.store, k1, PREVIEW_RECORD)
            assert (rendered["start"], rendered["end"]) == (redone["choice"]["start"], redone["choice"]["end"])
        assert "Intro" in {c["title"] for c in show_rows(p.store, k1, "chapters")}
        final = dg.build_sensor_context(instance=p.instance, resources={"storage": p.resources["storage"]},
                                        cursor=redo.cursor)
        assert isinstance(markers_sensor(final), dg.SkipReason)  # nothing stale is left


def test_the_preview_check_and_the_sensor_see_markers_that_moved(tmp_path: Path) -> None:
    """``preview_is_clean`` reports a preview overlapping a current intro, recap or credits
    marker (not a preview_of_next); a preview choice made with other markers is stale."""
    import json

    from media_platform.layout import (
        EPISODE_MARKERS,
        EPISODE_MARKERS_REPORT,
        PREVIEW_SELECTION,
        episode_key,
    )
    from media_platform.markers.usage import marker_overlaps, stored_markers, uses_stale_markers
    from media_platform.storage import LocalStore, write_table

    store = LocalStore(tmp_path)
    assert stored_markers(store, "ep").spans == () and not uses_stale_markers(store, "ep")
    write_table(store, episode_key("ep", EPISODE_MARKERS), markers_table([
        Marker("intro", 5.0, 20.0, 0.9, {}), Marker("preview_of_next", 50.0, 55.0, 0.8, {})]))
    store.write_bytes(episode_key("ep", EPISODE_MARKERS_REPORT), json.dumps({"notes": ["a note"]}).encode())
    current = stored_markers(store, "ep")
    assert current.avoided == [("intro", 5.0, 20.0)] and current.note == "a note"
    assert marker_overlaps(10.0, 30.0, current.avoided) == ["overlaps the intro at 5.00-20.00 s"]
    assert marker_overlaps(20.0, 50.0, current.avoided) == [] and marker_overlaps(45.0, 55.0, current.avoided) == []
    store.write_bytes(episode_key("ep", PREVIEW_SELECTION), json.dumps({"choice": None, "markers": []}).encode())
    assert uses_stale_markers(store, "ep")
    store.write_bytes(episode_key("ep", PREVIEW_SELECTION), json.dumps({"choice": None, "markers": current.to_json()}).encode())
    assert not uses_stale_markers(store, "ep")


def test_search_marks_shots_inside_markers_and_leaves_them_out_by_default() -> None:
    """The same intro in every episode must not fill a search: ``markers=exclude`` (default)
    leaves out shots whose ``fct_shots.marker_kind`` is set, in browsing, in the exact
    similarity candidates and in index hits; ``markers=include`` keeps them, each result saying
    which marker it lies in; a database from before markers reads as no markers."""
    import duckdb

    from media_platform.search.shot_query import ParameterError, RankedShot, ShotFilters, ShotQuery
    from media_platform.search.shot_table import ShotTable

    conn = duckdb.connect()
    conn.execute("create table dim_episodes (partition_key varchar, title varchar, episode_id varchar, allows_search_indexing boolean)")
    conn.execute("""create table fct_shots (shot_id varchar, partition_key varchar, shot integer, start_s double,
                    end_s double, duration_s double, searchable boolean, marker_kind varchar)""")
    conn.execute("""create table fct_shot_tags (shot_id varchar, partition_key varchar, shot integer, tag varchar,
                    score double, source varchar, source_kind varchar, above_threshold boolean)""")
    kinds = ["intro", None, None, "credits"]
    for e in range(3):
        part = f"show-e{e}"
        conn.execute("insert into dim_episodes values (?, 'Show', ?, true)", [part, str(e)])
        for n, kind in enumerate(kinds):
            conn.execute("insert into fct_shots values (?, ?, ?, ?, ?, 5.0, true, ?)", [f"{part}/{n}", part, n, 5.0 * n, 5.0 * n + 5, kind])
            conn.execute("insert into fct_shot_tags values (?, ?, ?, 'castle', ?, 'fusion', 'fusion', true)",
                         [f"{part}/{n}", part, n, 0.9 if kind else 0.5])  # the intro scores best everywhere
    table = ShotTable.load(conn)
    default = table.browse(ShotQuery(filters=ShotFilters(tags=("castle",)), per_episode=0), None)
    assert {(s.partition, s.shot) for s in default} == {(f"show-e{e}", n) for e in range(3) for n in (1, 2)}
    every = ShotQuery(filters=ShotFilters(tags=("castle",), markers="include"), per_episode=0)
    results = table.results(table.browse(every, None))
    assert len(results) == 12 and [r["marker"] for r in results[:6]] == ["intro"] * 3 + ["credits"] * 3
    assert {r["marker"] for r in results[6:]} == {None}
    assert len(table.matching_rows(ShotFilters())) == 6 and len(table.matching_rows(ShotFilters(markers="include"))) == 12
    assert table.left_out_by_markers(RankedShot("show-e1", 0, 1.0), ShotFilters())
    assert not table.left_out_by_markers(RankedShot("show-e1", 0, 1.0), ShotFilters(markers="include"))
    assert ShotQuery().fingerprint("b") != ShotQuery(filters=ShotFilters(markers="include")).fingerprint("b")
    with pytest.raises(ParameterError, match="markers"):
        ShotFilters(markers="only")
    conn.execute("alter table fct_shots drop column marker_kind")
    old = ShotTable.load(conn)
    assert len(old.browse(ShotQuery(per_episode=0, limit=50), None)) == 12
