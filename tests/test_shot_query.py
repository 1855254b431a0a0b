"""The shot search's pure parts (media_platform.search.shot_query) against a brute-force
reference: durations, cursors, the browse SQL over a synthetic metadata database (the real
marts' columns), diversification and the similarity pages over a real embedded vector index."""

from __future__ import annotations

import itertools
import json
import math

import duckdb
import numpy as np
import pytest

from media_platform.search import shot_query as sq
from media_platform.search.edge import EmbeddedQdrantIndex
from media_platform.search.index import IndexPoint, shot_point_id
from media_platform.search.shot_table import ShotTable

TAGS = ["car", "boat", "night", "face", "crowd"]


# ---- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("1.5", 1.5), ("5s", 5.0), ("1m30s", 90.0), ("2m", 120.0), ("1h", 3600.0),
     ("1h2m3.5s", 3723.5), (" 5S ", 5.0), ("0", 0.0), ("0.25s", 0.25)],
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert sq.parse_duration(text, "min_duration") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "-5", "1m30", "s", "m5", "1e3", "5s5s", "99999999h", "nan", "inf"])
def test_bad_durations_name_the_parameter(text: str) -> None:
    with pytest.raises(sq.ParameterError) as err:
        sq.parse_duration(text, "max_duration")
    assert err.value.parameter == "max_duration"
    assert str(err.value).startswith("max_duration: ")


def test_min_above_max_is_refused() -> None:
    with pytest.raises(sq.ParameterError) as err:
        sq.ShotFilters(min_duration_s=10, max_duration_s=5)
    assert err.value.parameter == "max_duration"


@pytest.mark.parametrize(("limit", "per_episode", "parameter"), [(0, 3, "limit"), (201, 3, "limit"), (10, -1, "per_episode")])
def test_bad_page_parameters(limit: int, per_episode: int, parameter: str) -> None:
    with pytest.raises(sq.ParameterError) as err:
        sq.ShotQuery(limit=limit, per_episode=per_episode)
    assert err.value.parameter == parameter


# ---- cursors -------------------------------------------------------------------------------------


def test_cursor_round_trip_and_refusals() -> None:
    q = sq.ShotQuery(filters=sq.ShotFilters(tags=("car",)))
    fp = q.fingerprint("browse")
    cursor = sq.encode_cursor(fp, {"k": [0.5, 1.25, "p-1", 3]})
    assert sq.browse_position(cursor, fp) == (0.5, 1.25, "p-1", 3)
    assert sq.offset_position(sq.encode_cursor(fp, {"o": 40}), fp) == 40
    # the page size is not part of the query: a cursor survives a new limit
    assert sq.ShotQuery(filters=q.filters, limit=7).fingerprint("browse") == fp
    other = sq.ShotQuery(filters=sq.ShotFilters(tags=("boat",))).fingerprint("browse")
    with pytest.raises(sq.ParameterError, match="another query"):
        sq.browse_position(cursor, other)
    for bad in ("!!!", "e30", "", "x" * 3000, sq.encode_cursor(fp, {"k": [1, 2, 3]}),
                sq.encode_cursor(fp, {"k": [1, 2, 3, "4"]}), sq.encode_cursor(fp, {"o": 1})):
        with pytest.raises(sq.ParameterError, match="malformed") as err:
            sq.browse_position(bad, fp)
        assert err.value.parameter == "cursor"
    for bad in (sq.encode_cursor(fp, {"o": -1}), sq.encode_cursor(fp, {"o": True}), sq.encode_cursor(fp, {"k": [1, 2, "p", 3]})):
        with pytest.raises(sq.ParameterError, match="malformed"):
            sq.offset_position(bad, fp)


# ---- a synthetic metadata database ---------------------------------------------------------------


def make_database(seed: int = 0, episodes: int = 6, shots: int = 40) -> tuple[duckdb.DuckDBPyConnection, list[dict]]:
    """fct_shots, fct_shot_tags and dim_episodes with the real marts' columns; one episode is
    not searchable. Scores are drawn from few values so that ties exercise the order."""
    rng = np.random.default_rng(seed)
    conn = duckdb.connect()
    conn.execute("""create table dim_episodes (partition_key varchar, title varchar, episode_id varchar,
                    allows_search_indexing boolean)""")
    conn.execute("""create table fct_shots (shot_id varchar, partition_key varchar, shot integer,
                    start_s double, end_s double, duration_s double,
                    tags struct(tag varchar, score double)[], tag_names varchar[], searchable boolean)""")
    conn.execute("""create table fct_shot_tags (shot_id varchar, partition_key varchar, shot integer,
                    tag varchar, score double, source varchar, source_kind varchar, above_threshold boolean)""")
    truth = []
    for e in range(episodes):
        part = f"episode-{e:02d}-{e:08x}"
        searchable = e != episodes - 1
        title = f"Title {e % 3}"
        conn.execute("insert into dim_episodes values (?, ?, ?, ?)", [part, title, f"e{e}", searchable])
        t = 0.0
        for n in range(shots):
            d = float(rng.choice([0.5, 1.0, 2.0, 5.0, 8.0, 30.0]))
            chosen = sorted(rng.choice(TAGS, size=int(rng.integers(0, 4)), replace=False))
            scores = {tag: float(rng.choice([0.3, 0.5, 0.75, 0.9])) for tag in chosen}
            tags = sorted(({"tag": k, "score": v} for k, v in scores.items()), key=lambda x: (-x["score"], x["tag"]))
            conn.execute("insert into fct_shots values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [f"{part}/{n}", part, n, t, t + d, d, tags, [x["tag"] for x in tags], searchable])
            for k, v in scores.items():
                conn.execute("insert into fct_shot_tags values (?, ?, ?, ?, ?, ?, ?, ?)",
                             [f"{part}/{n}", part, n, k, v, "fusion", "fusion", True])
                conn.execute("insert into fct_shot_tags values (?, ?, ?, ?, ?, ?, ?, ?)",
                             [f"{part}/{n}", part, n, k, v / 2, "zero-shot", "zero_shot", True])
            truth.append({"partition": part, "shot": n, "start": t, "duration": d, "scores": scores,
                          "searchable": searchable, "title": title})
            t += d
    return conn, truth


def reference_browse(truth: list[dict], q: sq.ShotQuery) -> list[tuple[str, int]]:
    f = q.filters
    rows = []
    for s in truth:
        if not s["searchable"] or not all(t in s["scores"] for t in f.tags):
            continue
        if f.min_duration_s is not None and s["duration"] < f.min_duration_s:
            continue
        if f.max_duration_s is not None and s["duration"] > f.max_duration_s:
            continue
        if f.partitions is not None and s["partition"] not in f.partitions:
            continue
        if f.title is not None and s["title"] != f.title:
            continue
        if s["partition"] in f.exclude:
            continue
        score = min(s["scores"][t] for t in f.tags) if f.tags else max(s["scores"].values(), default=0.0)
        rows.append((-score, s["start"], s["partition"], s["shot"]))
    rows.sort()
    if q.per_episode:
        seen: dict[str, int] = {}
        kept = []
        for r in rows:
            seen[r[2]] = seen.get(r[2], 0) + 1
            if seen[r[2]] <= q.per_episode:
                kept.append(r)
        rows = kept
    return [(r[2], r[3]) for r in rows]


def all_pages(table: ShotTable, q: sq.ShotQuery) -> list[tuple[str, int]]:
    fp = q.fingerprint("browse")
    cursor, out, pages = None, [], 0
    while True:
        page, cursor = sq.browse_page(table.browse(q, sq.browse_position(cursor, fp)), q, fp)
        assert len(page) <= q.limit
        out += [(s.partition, s.shot) for s in page]
        pages += 1
        if cursor is None:
            return out
        assert pages < 500


@pytest.fixture(scope="module")
def database():
    conn, truth = make_database()
    yield ShotTable.load(conn), truth
    conn.close()


FILTERS = [
    sq.ShotFilters(),
    sq.ShotFilters(tags=("car",)),
    sq.ShotFilters(tags=("car", "night")),
    sq.ShotFilters(min_duration_s=5.0),
    sq.ShotFilters(max_duration_s=1.0),
    sq.ShotFilters(tags=("boat",), min_duration_s=2.0, max_duration_s=8.0),
    sq.ShotFilters(partitions=("episode-01-00000001", "episode-05-00000005")),
    sq.ShotFilters(title="Title 1"),
    sq.ShotFilters(exclude=("episode-00-00000000",), tags=("face",)),
    sq.ShotFilters(tags=("no-such-tag",)),
]


@pytest.mark.parametrize(("filters", "per_episode", "limit"),
                         list(itertools.product(FILTERS, [0, 1, 3], [1, 7, 200])))
def test_browse_pages_match_the_reference(database, filters: sq.ShotFilters, per_episode: int, limit: int) -> None:
    table, truth = database
    q = sq.ShotQuery(filters=filters, per_episode=per_episode, limit=limit)
    expected = reference_browse(truth, q)
    assert all_pages(table, q) == expected
    # the hidden (not searchable) episode never appears
    assert not any(p == "episode-05-00000005" for p, _ in expected)


def test_browse_orders_by_tag_score_then_time(database) -> None:
    table, _ = database
    q = sq.ShotQuery(filters=sq.ShotFilters(tags=("car",)), per_episode=0, limit=200)
    page, _ = sq.browse_page(table.browse(q, None), q, q.fingerprint("browse"))
    keys = [(-s.score, s.start) for s in page]
    assert keys == sorted(keys) and len({s.score for s in page}) > 1


def test_a_cursor_past_a_vanished_episode_resumes_in_order(database) -> None:
    """A keyset naming a partition the table no longer has still resumes at the right place."""
    table, truth = database
    q = sq.ShotQuery(per_episode=0, limit=200)
    order = all_pages(table, q)
    first = next(s for s in truth if (s["partition"], s["shot"]) == order[10])
    score = max(first["scores"].values(), default=0.0)
    # just after order[10] in partition order: a name sorting after it, same score and start
    rest = table.browse(sq.ShotQuery(per_episode=0, limit=200), (score, first["start"], first["partition"] + "~", -1))
    assert [(s.partition, s.shot) for s in rest][:5] == order[11:16]


def test_results_carry_best_source_title_and_urls(database) -> None:
    table, truth = database
    for s in truth[:5]:
        row = table.row_of(s["partition"], s["shot"])
        assert row is not None
        result = table.result(row, 0.5)
        assert [t["tag"] for t in result["tags"]] == [k for k, _ in sorted(s["scores"].items(), key=lambda kv: (-kv[1], kv[0]))]
        assert all(t["source"] == "fusion" for t in result["tags"])  # the fusion row outscores zero-shot
        assert result["title"] == s["title"]
        assert result["id"] == f"{s['partition']}:{s['shot']}"
        assert result["keyframe_url"] == f"/shots/{s['partition']}:{s['shot']}/keyframe"
        assert result["media_url"].startswith(f"/episodes/{s['partition']}/media#t=")
        assert math.isclose(result["duration"], s["duration"])
    assert table.row_of("no-such-episode", 0) is None
    assert table.row_of(truth[0]["partition"], 10_000) is None
    hidden = next(s for s in truth if not s["searchable"])
    assert not table.searchable_row(table.row_of(hidden["partition"], hidden["shot"]))


# ---- similarity: diversified pages over a real embedded index ------------------------------------


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((600, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    payloads = [{"partition": f"p{i % 12:02d}", "shot": i // 12, "duration_s": float(1 + i % 7),
                 "tags": [TAGS[i % 5]]} for i in range(600)]
    ix = EmbeddedQdrantIndex(tmp_path_factory.mktemp("ix"))
    ix.ensure_collection(16)
    ix.upsert([IndexPoint(shot_point_id(p["partition"], p["shot"]), v, p) for v, p in zip(vectors, payloads, strict=True)])
    yield ix, vectors, payloads
    ix.close()


@pytest.mark.parametrize(("per_episode", "limit", "min_d", "tag"),
                         [(0, 10, None, None), (1, 5, None, None), (2, 7, 3.0, None), (3, 20, None, "car"), (1, 50, 6.0, "boat")])
def test_similarity_pages_match_brute_force(index, per_episode: int, limit: int, min_d, tag) -> None:
    ix, vectors, payloads = index
    query_vec = vectors[7] + 0.1
    query_vec /= np.linalg.norm(query_vec)
    order = np.argsort(-(vectors @ query_vec), kind="stable")
    expected = []
    seen: dict[str, int] = {}
    for i in order:
        p = payloads[i]
        if (min_d is not None and p["duration_s"] < min_d) or (tag is not None and tag not in p["tags"]):
            continue
        seen[p["partition"]] = seen.get(p["partition"], 0) + 1
        if not per_episode or seen[p["partition"]] <= per_episode:
            expected.append((p["partition"], p["shot"]))
    q = sq.ShotQuery(text="x", filters=sq.ShotFilters(tags=(tag,) if tag else (), min_duration_s=min_d),
                     limit=limit, per_episode=per_episode)
    fp = q.fingerprint("text")
    calls: list[int] = []

    def search(n: int) -> list[sq.RankedShot]:
        calls.append(n)
        hits = ix.search(query_vec, n, min_duration_s=min_d, tags=[tag] if tag else None)
        return [sq.RankedShot(h.payload["partition"], h.payload["shot"], h.score) for h in hits]

    got, cursor = [], None
    for _ in range(200):
        offset = sq.offset_position(cursor, fp)
        ranked, exhausted = sq.ranked_similar(search, q, offset)
        page, cursor = sq.similarity_page(ranked, offset, q, fp, exhausted)
        assert len(page) <= limit
        got += [(s.partition, s.shot) for s in page]
        if cursor is None:
            break
    assert got == expected
    assert max(calls) <= sq.MAX_HITS


def test_diversify_keeps_the_best_of_each_episode() -> None:
    shots = [sq.RankedShot(p, n, 1.0 - k / 10) for k, (p, n) in enumerate([("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2), ("c", 1)])]
    assert [(s.partition, s.shot) for s in sq.diversify(shots, 1)] == [("a", 1), ("b", 1), ("c", 1)]
    assert [(s.partition, s.shot) for s in sq.diversify(shots, 2)] == [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 1)]
    assert sq.diversify(shots, 0) == shots


# ---- title similarity ----------------------------------------------------------------------------

from media_platform.search import title_similarity as ts  # noqa: E402

CLIP = ts.BlockKey("clip", "clip-a", 2)
AUDIO = ts.BlockKey("audio", "yamnet", 2)
TEXT = ts.BlockKey("text", "minilm", 2)


def _profile(**blocks: list[list[float]]) -> ts.Profile:
    p = ts.Profile()
    keys = {"clip": CLIP, "audio": AUDIO, "text": TEXT, "clip_b": ts.BlockKey("clip", "clip-b", 2)}
    for name, rows in blocks.items():
        p.add(keys[name], np.asarray(rows, float))
    return p


@pytest.mark.parametrize(("others", "expected"), [
    ({"same-clip": _profile(clip=[[1, 0]])}, [("same-clip", 1.0, {"clip": 1.0})]),
    ({"half": _profile(clip=[[0, 1]], audio=[[0, 1]])}, [("half", 0.5, {"clip": 0.0, "audio": 1.0})]),
    ({"text-only": _profile(text=[[1, 0]])}, []),  # no block in common: not ranked
    ({"other-model": _profile(clip_b=[[1, 0]])}, []),  # CLIP of another model: never compared
    ({"b": _profile(clip=[[1, 1]]), "a": _profile(clip=[[1, 1]]), "top": _profile(clip=[[1, 0]], audio=[[0, 1]])},
     [("top", 1.0, {"clip": 1.0, "audio": 1.0}), ("a", 2 ** -0.5, {"clip": 2 ** -0.5}), ("b", 2 ** -0.5, {"clip": 2 ** -0.5})]),
])
def test_titles_rank_by_the_mean_cosine_of_shared_blocks(others, expected) -> None:
    target = ts.title_profile([_profile(clip=[[1, 0]], audio=[[0, 1]])])
    ranked = ts.rank_titles(target, {t: ts.title_profile([p]) for t, p in others.items()})
    assert [(m.title, pytest.approx(m.score), {k: pytest.approx(v) for k, v in m.blocks.items()}) for m in ranked] == \
        [(t, pytest.approx(s), {k: pytest.approx(v) for k, v in b.items()}) for t, s, b in expected]


def test_a_title_profile_is_the_mean_direction_of_all_its_rows() -> None:
    rng = np.random.default_rng(3)
    episodes = [rng.standard_normal((n, 2)) for n in (1, 5, 9)]
    episodes[1][2] = 0.0  # an absent row counts for nothing
    profile = ts.title_profile([_profile(clip=e.tolist()) for e in episodes])
    rows = np.vstack(episodes)
    rows = rows[np.linalg.norm(rows, axis=1) > 0]
    mean = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).sum(axis=0)
    assert profile.episodes == 3
    np.testing.assert_allclose(profile.vectors[CLIP], mean / np.linalg.norm(mean), atol=1e-9)


def test_episode_profiles_read_the_stored_features_and_an_audio_only_episodes_embeddings(tmp_path) -> None:
    import polars as pl

    from media_platform.layout import (
        SENTENCE_EMBEDDINGS,
        SHOT_FEATURES,
        SHOT_FEATURES_LAYOUT,
        episode_key,
    )
    from media_platform.storage import LocalStore, write_table
    from media_platform.tags.features import TEXT_SOURCE, build_shot_features, features_to_table

    store = LocalStore(tmp_path)
    rng = np.random.default_rng(0)
    clip = rng.standard_normal((3, 8))
    f = build_shot_features([(0, 1), (1, 2), (2, 3)], [0, 1, 2], clip=clip, clip_source="clip-x", audio=None,
                            sentences=None)
    write_table(store, episode_key("video-ep", SHOT_FEATURES), features_to_table(f))
    store.write_bytes(episode_key("video-ep", SHOT_FEATURES_LAYOUT), json.dumps(f.layout.to_json()).encode())
    sentences = rng.standard_normal((4, 384)).astype(np.float32)
    write_table(store, episode_key("audio-ep", SENTENCE_EMBEDDINGS),
                pl.DataFrame({"text": ["a", "b", "c", "d"], "embedding": pl.Series(sentences, dtype=pl.Array(pl.Float32, 384))}))
    video = ts.partition_profile(store, "video-ep").vectors()
    assert set(video) == {ts.BlockKey("clip", "clip-x", 8)}  # no audio, no speech: only the clip block
    mean = (clip / np.linalg.norm(clip, axis=1, keepdims=True)).sum(axis=0)
    np.testing.assert_allclose(video[ts.BlockKey("clip", "clip-x", 8)], mean / np.linalg.norm(mean), atol=1e-5)
    audio = ts.partition_profile(store, "audio-ep").vectors()
    assert set(audio) == {ts.BlockKey("text", TEXT_SOURCE, 384)}
    profiles = ts.title_profiles(store, {"V": ["video-ep"], "A": ["audio-ep"], "Empty": ["nothing-stored"]}, {})
    assert set(profiles) == {"V", "A"}
