"""Exact similarity over the rows a filter leaves (media_platform.search.shot_vectors and
ShotTable.matching_rows) against brute force, over the synthetic metadata database of
test_shot_query and a real embedded vector index holding the same shots."""

from __future__ import annotations

import numpy as np
import pytest

from media_platform.search import shot_query as sq
from media_platform.search.edge import EmbeddedQdrantIndex
from media_platform.search.index import IndexPoint, shot_point_id
from media_platform.search.shot_table import ShotTable
from media_platform.search.shot_vectors import ShotVectorCache, ShotVectors
from tests.test_shot_query import FILTERS, make_database

DIM = 16


def _matches(s: dict, f: sq.ShotFilters) -> bool:
    return bool(
        s["searchable"] and all(t in s["scores"] for t in f.tags)
        and (f.min_duration_s is None or s["duration"] >= f.min_duration_s)
        and (f.max_duration_s is None or s["duration"] <= f.max_duration_s)
        and (f.partitions is None or s["partition"] in f.partitions)
        and (f.title is None or s["title"] == f.title)
        and s["partition"] not in f.exclude
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    conn, truth = make_database(seed=4)
    table = ShotTable.load(conn)
    conn.close()
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((len(truth), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ix = EmbeddedQdrantIndex(tmp_path_factory.mktemp("ix"))
    ix.ensure_collection(DIM)
    # every shot but the first three is indexed (not yet embedded: never a result)
    ix.upsert([IndexPoint(shot_point_id(s["partition"], s["shot"]), v, {"partition": s["partition"], "shot": s["shot"]})
               for s, v in list(zip(truth, vectors, strict=True))[3:]])
    yield table, truth, vectors, ix
    ix.close()


@pytest.mark.parametrize("filters", FILTERS)
def test_matching_rows_are_exactly_the_shots_the_filters_allow(world, filters: sq.ShotFilters) -> None:
    table, truth, _, _ = world
    rows = table.matching_rows(filters)
    got = {(table.partitions[int(table.part[r])], int(table.shot[r])) for r in rows}
    assert got == {(s["partition"], s["shot"]) for s in truth if _matches(s, filters)}
    assert list(rows) == sorted(rows)


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("n", [1, 5, 500])
def test_exact_ranking_equals_brute_force_over_the_filtered_shots(world, filters: sq.ShotFilters, n: int) -> None:
    table, truth, vectors, ix = world
    loaded = ShotVectors.load(table, ix.vectors)
    query = vectors[10] + 0.3 * vectors[11]
    top, scores = loaded.rank(table.matching_rows(filters), query, n)
    q = query / np.linalg.norm(query)
    expected = sorted(((-float(vectors[i] @ q), s["partition"], s["shot"]) for i, s in enumerate(truth)
                       if i >= 3 and _matches(s, filters)))[:n]
    got = [(table.partitions[int(table.part[r])], int(table.shot[r])) for r in top]
    assert got == [(p, k) for _, p, k in expected]
    assert np.allclose(scores, [-x for x, _, _ in expected], atol=1e-5)


def test_the_cache_loads_in_the_background_and_follows_the_index(world, tmp_path) -> None:
    table, truth, vectors, _ = world
    ix = EmbeddedQdrantIndex(tmp_path / "ix")
    ix.ensure_collection(DIM)
    first = truth[0]
    point = shot_point_id(first["partition"], first["shot"])
    ix.upsert([IndexPoint(point, vectors[0], {"partition": first["partition"], "shot": first["shot"]})])
    cache = ShotVectorCache(max_shots=10_000)
    assert cache.get(table, ix, wait=True) is not None
    row = table.row_of(first["partition"], first["shot"])
    assert cache.get(table, ix).present.sum() == 1 and cache.get(table, ix).present[row]
    # a write changes the generation: the old copy is never served again
    ix.upsert([IndexPoint(point, -vectors[0], {"partition": first["partition"], "shot": first["shot"]})])
    fresh = cache.get(table, ix, wait=True)
    assert fresh is not None and np.allclose(fresh.matrix[row], -vectors[0], atol=1e-6)
    # too many shots to copy, or an index that cannot tell its generation: the index is used
    assert ShotVectorCache(max_shots=len(table) - 1).get(table, ix, wait=True) is None
    assert ShotVectorCache(max_shots=0).get(table, ix, wait=True) is None

    class ServerLike:
        vectors = ix.vectors

    assert ShotVectorCache(max_shots=10_000).get(table, ServerLike(), wait=True) is None
    ix.close()
