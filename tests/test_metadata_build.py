"""The metadata database built by dbt over real outputs: episodes materialized with the real
assets (Big Buck Bunny, the GoldenEye excerpt, JFK, a LibriSpeech sentence), the catalogue
exported, then ``build_metadata_db`` into a DuckDB file, checked against the stored outputs
(the ground truth the assets wrote): one row per shot, durations tiling the episode, the tags
that count for search, the words spoken in each shot's span, licences honoured, every dbt test
passing, incremental rebuilds touching only the new episode, an empty home building."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from platform_harness import check_results, platform_for_test

from assets import audio, catalogue, ingest, previews, tags, video
from media_platform.catalogue import Catalogue
from media_platform.errors import InvalidInputError
from media_platform.layout import SHOT_TAGS, SHOTS, TRANSCRIPT, episode_key
from media_platform.metadata import build_metadata_db
from media_platform.storage import LocalStore, read_table
from media_platform.tags.tagging import searchable_tags

FULL = {"analysis": True, "search_indexing": True, "derivatives": True, "territories": ["*"]}
NO_INDEXING = {"analysis": True, "search_indexing": False, "derivatives": True, "territories": ["*"]}
EPISODE_RUN = dg.AssetSelection.all() - dg.AssetSelection.groups("models") - dg.AssetSelection.assets("episode_catalogue")
TRANSITION_COLUMNS = ("transition", "transition_start_s", "transition_end_s")
FACTS = ("fct_shots", "fct_shot_tags", "fct_transcript_segments", "fct_audio_events", "fct_previews")


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    modules = [ingest, video, audio, previews, tags, catalogue]
    with platform_for_test(tmp_path_factory.mktemp("metadata"), shared_media, modules) as p:
        p.episodes = {
            "bunny": p.ingest(shared_media / "video/blender_bbb/big_buck_bunny_0_30.webm", "Big Buck Bunny", licence=FULL),
            "goldeneye": p.ingest(shared_media / "video/pyscenedetect/issue-134-rotate.mp4", "GoldenEye", licence=FULL),
            "jfk": p.ingest(shared_media / "audio/whisper_jfk/jfk.flac", "JFK", licence=NO_INDEXING),
            "late": p.ingest(shared_media / "audio/picovoice/test.wav", "LibriSpeech", licence=FULL),
        }
        p.checks = {name: check_results(p.run(key, selection=EPISODE_RUN)) for name, key in p.episodes.items()}
        assert p.run(None, selection=dg.AssetSelection.assets("episode_catalogue")).success
        for name in ("bunny", "goldeneye"):
            assert p.store.exists(episode_key(p.episodes[name], SHOT_TAGS)), name
        for name in ("goldeneye", "jfk", "late"):
            assert p.store.exists(episode_key(p.episodes[name], TRANSCRIPT)), name
        yield p


@pytest.fixture(scope="module")
def built(platform, tmp_path_factory):
    """The database built from the whole home once (read-only by the tests that use it)."""
    db = tmp_path_factory.mktemp("db") / "metadata.duckdb"
    report = build_metadata_db(home=platform.root / "home", db_path=db)
    return db, report


def _query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _home_copy(platform, tmp_path: Path, leave_out: tuple[str, ...] = ()) -> Path:
    home = tmp_path / "home"
    shutil.copytree(platform.root / "home", home, ignore=shutil.ignore_patterns("*.wav", "*.flac", "*.mp3", "*.mp4", "*.webm", "keyframes"))
    for key in leave_out:
        shutil.rmtree(home / "episodes" / key)
    return home


def test_every_asset_check_passes_on_the_real_episodes(platform) -> None:
    """The episodes' own checks (shots tile, keyframes, embeddings, words, loudness, a clean
    preview measured on the stored file: the stereo GoldenEye preview once read 3 dB low)."""
    for name, checks in platform.checks.items():
        assert checks and all(checks.values()), (name, {k: v for k, v in checks.items() if not v})
    assert platform.checks["goldeneye"]["preview_is_clean"] and "preview_is_clean" in platform.checks["late"]


def test_every_model_builds_and_every_dbt_test_passes(built) -> None:
    _, report = built
    assert set(report.models) >= {"dim_titles", "dim_episodes", *FACTS, "title_summary"}
    assert set(report.models.values()) == {"success"}, report.models
    assert len(report.tests) >= 30 and set(report.tests.values()) == {"pass"}, report.tests
    assert {"shots_tile_episode_duration", "no_searchable_rows_without_indexing_licence"} <= set(report.tests)


def test_one_row_per_shot_with_the_stored_spans(platform, built) -> None:
    db, _ = built
    for name in ("bunny", "goldeneye"):
        key = platform.episodes[name]
        truth = read_table(platform.store, episode_key(key, SHOTS)).sort("shot")
        rows = _query(db, "select shot, start_frame, end_frame, start_s, end_s, duration_s from fct_shots "
                          "where partition_key = ? order by shot", key)
        assert [r[:5] for r in rows] == list(truth.select("shot", "start_frame", "end_frame", "start_s", "end_s").iter_rows())
        typed = _query(db, "select transition, transition_start_s, transition_end_s from fct_shots "
                           "where partition_key = ? order by shot", key)
        assert typed == list(truth.select(*TRANSITION_COLUMNS).iter_rows())
        assert typed[0][0] is None and {t for t, _, _ in typed[1:]} <= {"cut", "dissolve", "fade", "wipe"}
        assert all(abs(r[5] - (r[4] - r[3])) < 1e-9 for r in rows)
        # durations tile the episode: contiguous from 0 to the last shot's end
        assert rows[0][3] == 0.0 and all(a[4] == b[3] for a, b in zip(rows, rows[1:], strict=False))
        assert sum(r[5] for r in rows) == pytest.approx(rows[-1][4])
    bunny_cuts = [r[0] for r in _query(db, "select start_frame from fct_shots where partition_key = ? order by shot",
                                       platform.episodes["bunny"])]
    assert bunny_cuts[1:] == [283, 376, 551]  # the ground truth's hard cuts


def test_tags_are_those_that_count_for_search(platform, built) -> None:
    db, _ = built
    tagged = 0
    for name in ("bunny", "goldeneye"):
        key = platform.episodes[name]
        truth = searchable_tags(read_table(platform.store, episode_key(key, SHOT_TAGS)))
        rows = {shot: {t["tag"]: t["score"] for t in tag_list}
                for shot, tag_list in _query(db, "select shot, tags from fct_shots where partition_key = ?", key)}
        for shot, expected in truth.items():
            assert rows[shot] == pytest.approx(expected)
            tagged += bool(expected)
        assert all(not rows[s] for s in rows if s not in truth)
    assert tagged > 0
    all_sources = _query(db, "select count(*) from fct_shot_tags where partition_key = ?", platform.episodes["bunny"])[0][0]
    assert all_sources == read_table(platform.store, episode_key(platform.episodes["bunny"], SHOT_TAGS)).height


def test_words_spoken_during_a_shot_are_the_transcript_words_in_its_span(platform, built) -> None:
    db, _ = built
    spoken = 0
    for name in ("bunny", "goldeneye"):
        key = platform.episodes[name]
        words = (read_table(platform.store, episode_key(key, TRANSCRIPT)).select("words").explode("words")
                 .drop_nulls().unnest("words").sort("start"))
        for shot, start, end, got in _query(db, "select shot, start_s, end_s, words from fct_shots where partition_key = ?", key):
            expected = words.filter((pl.col("start") >= start) & (pl.col("start") < end))["word"].str.strip_chars().to_list()
            assert got == expected, (name, shot)
            spoken += len(got)
    assert spoken > 0  # the GoldenEye excerpt has dialogue


def test_segments_events_and_previews_match_the_outputs(platform, built) -> None:
    db, _ = built
    jfk = platform.episodes["jfk"]
    text = " ".join(t for (t,) in _query(db, "select text from fct_transcript_segments where partition_key = ? order by segment", jfk))
    assert "ask not what your country can do for you" in text.lower()
    events = read_table(platform.store, episode_key(jfk, "audio_events.parquet"))
    assert _query(db, "select count(*) from fct_audio_events where partition_key = ?", jfk)[0][0] == events.height
    summary = dict(_query(db, "select title, episodes from title_summary"))
    assert summary == {"Big Buck Bunny": 1, "GoldenEye": 1, "JFK": 1, "LibriSpeech": 1}


def test_rows_of_an_episode_that_forbids_indexing_are_not_searchable(platform, built) -> None:
    db, _ = built
    jfk = platform.episodes["jfk"]
    for fact in FACTS:
        flags = {s for (s,) in _query(db, f"select distinct searchable from {fact} where partition_key = ?", jfk)}
        assert flags <= {False}, fact
    assert {s for (s,) in _query(db, "select distinct searchable from fct_transcript_segments where partition_key = ?", jfk)} == {False}
    assert {s for (s,) in _query(db, "select distinct searchable from fct_shots where partition_key = ?",
                                 platform.episodes["bunny"])} == {True}


def test_an_episode_whose_licence_forbids_analysis_has_no_rows(platform, tmp_path, monkeypatch) -> None:
    """The operator withdraws GoldenEye's analysis: its outputs are still on disk, but after the
    catalogue is exported again its rows leave every mart (the incremental models included)."""
    home = _home_copy(platform, tmp_path)
    db = tmp_path / "metadata.duckdb"
    build_metadata_db(home=home, db_path=db)
    golden = platform.episodes["goldeneye"]
    assert _query(db, "select count(*) from fct_shots where partition_key = ?", golden)[0][0] > 0
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences:\n  GoldenEye:\n    uses: []\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    Catalogue(LocalStore(home)).export_parquet()
    report = build_metadata_db(home=home, db_path=db)
    assert set(report.tests.values()) == {"pass"}
    for fact in FACTS:
        assert _query(db, f"select count(*) from {fact} where partition_key = ?", golden)[0][0] == 0, fact
    assert _query(db, "select allows_analysis from dim_episodes where partition_key = ?", golden) == [(False,)]
    assert "GoldenEye" not in {t for (t,) in _query(db, "select title from title_summary")}
    assert _query(db, "select count(*) from fct_shots where partition_key = ?", platform.episodes["bunny"])[0][0] == 4


def test_a_second_build_only_inserts_the_new_episode(platform, tmp_path) -> None:
    late = platform.episodes["late"]
    home = _home_copy(platform, tmp_path)
    held = tmp_path / "held"
    shutil.move(home / "episodes" / late, held)
    db = tmp_path / "metadata.duckdb"
    build_metadata_db(home=home, db_path=db)
    assert _query(db, "select count(*) from fct_transcript_segments where partition_key = ?", late)[0][0] == 0
    before = dict(_query(db, "select partition_key, max(loaded_at) from fct_transcript_segments group by 1"))
    before_shots = _query(db, "select shot_id, loaded_at from fct_shots order by 1")
    shutil.move(held, home / "episodes" / late)  # the new episode's outputs arrive
    build_metadata_db(home=home, db_path=db)
    after = dict(_query(db, "select partition_key, max(loaded_at) from fct_transcript_segments group by 1"))
    assert late in after and after[late] > max(before.values())
    assert {k: v for k, v in after.items() if k != late} == before  # untouched rows kept
    assert _query(db, "select shot_id, loaded_at from fct_shots order by 1") == before_shots
    # a removed episode's rows leave with its files
    shutil.rmtree(home / "episodes" / late)
    build_metadata_db(home=home, db_path=db)
    assert _query(db, "select count(*) from fct_transcript_segments where partition_key = ?", late)[0][0] == 0


def test_shots_written_before_transitions_were_typed_read_as_null(platform, tmp_path) -> None:
    """Shots files from before the ``transition`` columns: a home where no file has them builds
    (the columns are null), and when one episode is detected again with them, the incremental
    rebuild reads both kinds of file side by side."""
    home = _home_copy(platform, tmp_path)
    bunny, golden = platform.episodes["bunny"], platform.episodes["goldeneye"]
    new_files = {}
    for key in (bunny, golden):
        path = home / "episodes" / key / "shots.parquet"
        new_files[key] = pl.read_parquet(path)
        assert set(TRANSITION_COLUMNS) <= set(new_files[key].columns)
        new_files[key].drop("transition", "transition_start_frame", "transition_end_frame",
                            "transition_start_s", "transition_end_s").write_parquet(path)
    db = tmp_path / "metadata.duckdb"
    report = build_metadata_db(home=home, db_path=db)
    assert set(report.tests.values()) == {"pass"}, report.tests
    assert _query(db, "select count(*), count(transition), count(transition_end_s) from fct_shots") == [(4 + len(new_files[golden]), 0, 0)]
    new_files[bunny].write_parquet(home / "episodes" / bunny / "shots.parquet")  # bunny detected again
    Catalogue(LocalStore(home)).export_parquet()
    report = build_metadata_db(home=home, db_path=db)
    assert set(report.tests.values()) == {"pass"}, report.tests
    rows = _query(db, "select transition, transition_start_s, transition_end_s from fct_shots where partition_key = ? order by shot", bunny)
    assert rows == list(new_files[bunny].sort("shot").select(*TRANSITION_COLUMNS).iter_rows())
    assert [t for t, _, _ in rows[1:]] == ["cut", "cut", "cut"]
    assert _query(db, "select count(transition) from fct_shots where partition_key = ?", golden) == [(0,)]


def test_an_empty_home_builds(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = tmp_path / "metadata" / "metadata.duckdb"
    report = build_metadata_db(home=home, db_path=db)
    assert set(report.models.values()) == {"success"} and set(report.tests.values()) == {"pass"}
    for table in ("dim_episodes", *FACTS, "title_summary"):
        assert _query(db, f"select count(*) from {table}") == [(0,)]
    assert sorted(p.name for p in db.parent.iterdir()) == ["metadata.duckdb", "metadata.duckdb.lock"]


def test_a_failing_build_leaves_the_database_as_it_was(platform, tmp_path) -> None:
    home = _home_copy(platform, tmp_path)
    db = tmp_path / "metadata.duckdb"
    build_metadata_db(home=home, db_path=db)
    before = db.read_bytes()
    # an export from before the licence decisions existed is refused, naming the file
    export = home / "exports" / "episodes.parquet"
    pl.read_parquet(export).drop("allows_analysis", "allows_search_indexing", "licence_status").write_parquet(export)
    with pytest.raises(InvalidInputError, match="episodes.parquet: the catalogue export lacks"):
        build_metadata_db(home=home, db_path=db)
    assert db.read_bytes() == before


def test_an_s3_home_is_refused_clearly(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="S3 home is not supported"):
        build_metadata_db(home="s3://bucket/prefix", db_path=tmp_path / "m.duckdb")


def test_the_database_path_setting(tmp_path, monkeypatch) -> None:
    from media_platform.settings import get_settings

    monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MEDIA_PLATFORM_METADATA_DB", raising=False)
    assert get_settings().metadata_db_path == (tmp_path / "home").resolve() / "metadata" / "metadata.duckdb"
    monkeypatch.setenv("MEDIA_PLATFORM_METADATA_DB", str(tmp_path / "elsewhere.duckdb"))
    assert get_settings().metadata_db_path == (tmp_path / "elsewhere.duckdb").resolve()
