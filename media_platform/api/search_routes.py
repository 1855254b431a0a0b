"""``/shots``, ``/episodes`` and ``/titles``: search and browse (owner: search helper).

Every route hides what :mod:`media_platform.api.visibility` hides; the search logic itself is
:mod:`media_platform.search.shot_query` (shots) and :mod:`media_platform.search.title_similarity`
(titles). Invalid parameters answer 422 naming the parameter, unknown or hidden ids 404.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Path, Query

from media_platform.api.app import bad_input, get_context, not_found
from media_platform.api.context import ApiContext
from media_platform.api.visibility import visibility
from media_platform.errors import InvalidInputError
from media_platform.keys import printable, require_text, validate_partition_key
from media_platform.search import shot_query as sq
from media_platform.search.index import VectorIndexError, shot_point_id
from media_platform.search.shot_table import ShotTable
from media_platform.search.shot_vectors import ShotVectorCache
from media_platform.tags.labels import check_label_name, parse_shot_ref

router = APIRouter(tags=["search"])
Ctx = Annotated[ApiContext, Depends(get_context)]
#: Attempts at a page when the live licence hides episodes the database still lists.
_VISIBILITY_ROUNDS = 5


def _param(where: str, name: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except sq.ParameterError as exc:
        raise bad_input(where, exc.parameter, exc.problem) from None
    except InvalidInputError as exc:
        raise bad_input(where, name, str(exc)) from None


def _text(name: str, max_length: int = 1000):
    def check(value: str) -> str:
        require_text(value, name, max_length=max_length)
        if not value.strip():
            raise InvalidInputError(f"{name}: must not be empty")
        return value.strip()

    return check


def _tag(value: str) -> str:
    try:
        return check_label_name(value)
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc).replace("label ", "tag ", 1)) from None


def _filters(tag: list[str], min_duration: str | None, max_duration: str | None,
             title: str | None, partition: str | None, markers: str = "exclude") -> sq.ShotFilters:
    tags = tuple(dict.fromkeys(_param("query", "tag", _tag, t) for t in tag))
    lo = None if min_duration is None else _param("query", "min_duration", lambda v: sq.parse_duration(v, "min_duration"), min_duration)
    hi = None if max_duration is None else _param("query", "max_duration", lambda v: sq.parse_duration(v, "max_duration"), max_duration)
    title = None if title is None else _param("query", "title", _text("title", 500), title)
    parts = None if partition is None else (_param("query", "partition", validate_partition_key, partition),)
    return _param("query", "max_duration", lambda _: sq.ShotFilters(tags, lo, hi, parts, title, markers=markers), None)


def _query(text: str | None, filters: sq.ShotFilters, limit: int, per_episode: int | None) -> sq.ShotQuery:
    if per_episode is None:  # one episode asked for: no cap; else a few per episode
        per_episode = 0 if filters.partitions is not None else sq.DEFAULT_PER_EPISODE
    return _param("query", "limit", lambda _: sq.ShotQuery(text, filters, limit, per_episode), None)


# ---- reading the database ---------------------------------------------------------------------


def _rows(ctx: ApiContext, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    cursor = ctx.metadata()
    try:
        return cursor.execute(sql, params or {}).fetchall()
    finally:
        cursor.close()


_TABLE_LOCK = threading.Lock()


def shot_table(ctx: ApiContext) -> ShotTable:
    """The shots of the current metadata database in memory, reloaded when a build has
    replaced the file (a new inode)."""
    try:
        st = os.stat(ctx.metadata_db)
    except FileNotFoundError:
        ctx.metadata()  # raises the API's "no metadata database yet" (503)
        raise
    ident = (st.st_dev, st.st_ino, st.st_mtime_ns)
    with _TABLE_LOCK:
        cached = ctx.__dict__.get("_shot_table")
        if cached is not None and cached[0] == ident:
            return cached[1]
        cursor = ctx.metadata()
        try:
            table = ShotTable.load(cursor)
        finally:
            cursor.close()
        ctx.__dict__["_shot_table"] = (ident, table)
        return table


_TEXT_CACHE_SIZE = 256


def _text_vector(ctx: ApiContext, text: str) -> np.ndarray:
    """The CLIP text embedding of ``text``; the last few hundred are kept, so the next pages of
    a text search do not run the text tower again."""
    with _TABLE_LOCK:
        cache = ctx.__dict__.setdefault("_text_vectors", OrderedDict())
        if text in cache:
            cache.move_to_end(text)
            return cache[text]
    try:
        vector = ctx.encoder().encode_text([text])[0]
    except (OSError, RuntimeError) as exc:  # no weights, a bad checkpoint: the model cannot load
        raise HTTPException(status_code=503, detail=f"text search is unavailable: {printable(str(exc))[:500]}") from None
    with _TABLE_LOCK:
        cache[text] = vector
        while len(cache) > _TEXT_CACHE_SIZE:
            cache.popitem(last=False)
    return vector


def _title_partitions(ctx: ApiContext, title: str) -> list[str]:
    return sorted(visibility(ctx).visible(shot_table(ctx).partitions_of_title(title)))


# ---- shots ------------------------------------------------------------------------------------


def _browse(ctx: ApiContext, query: sq.ShotQuery, cursor: str | None) -> tuple[list[sq.RankedShot], str | None]:
    fingerprint = query.fingerprint("browse")
    after = _param("query", "cursor", lambda c: sq.browse_position(c, fingerprint), cursor)
    current = query
    table = shot_table(ctx)
    for _ in range(_VISIBILITY_ROUNDS):
        page, next_cursor = sq.browse_page(table.browse(current, after), query, fingerprint)
        hidden = visibility(ctx).hidden({s.partition for s in page})
        if not hidden:
            return page, next_cursor
        current = replace(current, filters=current.filters.with_exclusions(hidden))
    return [s for s in page if s.partition not in hidden], next_cursor


def _vector_cache(ctx: ApiContext) -> ShotVectorCache:
    """The process's copy of the index's vectors (see :mod:`media_platform.search.shot_vectors`)."""
    with _TABLE_LOCK:
        cache = ctx.__dict__.get("_shot_vectors")
        if cache is None:
            cache = ctx.__dict__["_shot_vectors"] = ShotVectorCache(ctx.settings.api_exact_search_max_shots)
    return cache


def _similar(ctx: ApiContext, query: sq.ShotQuery, vector: np.ndarray, cursor: str | None, kind: str,
             skip: tuple[str, int] | None = None) -> tuple[list[sq.RankedShot], str | None, str]:
    """A similarity page, its next cursor and how it was searched: ``exact`` scores over the
    matching rows when the filters leave few and the vectors are in memory, else the vector
    ``index`` (the same order either way, up to the index's approximation)."""
    fingerprint = query.fingerprint(kind)
    offset = _param("query", "cursor", lambda c: sq.offset_position(c, fingerprint), cursor)
    f = query.filters
    table = shot_table(ctx)
    index = ctx.index()
    vis = visibility(ctx)
    hidden: set[str] = set(f.exclude)
    extra = 1 if skip is not None else 0
    cache = _vector_cache(ctx)
    vectors = cache.get(table, index)
    rows = table.matching_rows(f) if vectors is not None else None
    strategy = "exact" if vectors is not None and rows is not None and len(rows) <= cache.exact_max_rows else "index"
    if strategy == "exact":
        assert vectors is not None and rows is not None
        candidates: np.ndarray = rows

        def hits(n: int) -> list[sq.RankedShot]:
            nonlocal candidates
            for _ in range(_VISIBILITY_ROUNDS):
                top, scores = vectors.rank(candidates, vector, n)
                newly = vis.hidden({table.partitions[int(p)] for p in table.part[top]})
                if not newly:
                    break
                hidden.update(newly)
                codes = [i for i, p in enumerate(table.partitions) if p in newly]
                candidates = candidates[~np.isin(table.part[candidates], codes)]
            return [sq.RankedShot(table.partitions[int(table.part[r])], int(table.shot[r]), float(sc))
                    for r, sc in zip(top.tolist(), scores.tolist(), strict=True)
                    if table.partitions[int(table.part[r])] not in hidden]
    else:
        partitions: list[str] | None = list(f.partitions) if f.partitions is not None else None
        if f.title is not None:
            in_title = _title_partitions(ctx, f.title)
            partitions = in_title if partitions is None else [p for p in partitions if p in in_title]

        def hits(n: int) -> list[sq.RankedShot]:
            for _ in range(_VISIBILITY_ROUNDS):
                try:
                    found = index.search(vector, n, tags=list(f.tags) or None, min_duration_s=f.min_duration_s,
                                         max_duration_s=f.max_duration_s, partition_keys=partitions,
                                         exclude_partitions=sorted(hidden) or None)
                except VectorIndexError:  # no collection yet: nothing has been indexed
                    return []
                newly = vis.hidden({str(h.payload.get("partition")) for h in found})
                if not newly:
                    break
                hidden.update(newly)
            return [sq.RankedShot(str(h.payload["partition"]), int(h.payload["shot"]), h.score) for h in found
                    if str(h.payload.get("partition")) not in hidden]

    def search(n: int) -> list[sq.RankedShot]:
        ask = n + extra
        while True:  # the index knows no markers: shots left out by them are asked for again
            found = hits(ask)
            complete = len(found) >= ask
            ranked = [s for s in found if (s.partition, s.shot) != skip and not table.left_out_by_markers(s, f)]
            if len(ranked) >= n or not complete or ask >= sq.MAX_HITS:
                return ranked[:n] if len(ranked) >= n else ranked
            ask = min(ask * 4, sq.MAX_HITS)

    ranked, exhausted = sq.ranked_similar(search, query, offset)
    return (*sq.similarity_page(ranked, offset, query, fingerprint, exhausted), strategy)


@router.get("/shots", summary="find shots by text, tags, duration, title or episode")
def search_shots(
    ctx: Ctx,
    q: Annotated[str | None, Query(description="words, matched through the CLIP text tower")] = None,
    tag: Annotated[list[str], Query(description="a tag every shot must carry (repeatable)")] = [],  # noqa: B006
    min_duration: Annotated[str | None, Query(description="5s, 1m30s or 90 (seconds)")] = None,
    max_duration: Annotated[str | None, Query(description="5s, 1m30s or 90 (seconds)")] = None,
    title: Annotated[str | None, Query(description="only episodes of this title")] = None,
    partition: Annotated[str | None, Query(description="only this episode")] = None,
    limit: Annotated[int, Query(ge=1, le=sq.MAX_LIMIT)] = sq.DEFAULT_LIMIT,
    per_episode: Annotated[int | None, Query(ge=0, le=10_000, description="at most this many shots of one episode "
                                             "(0: no cap; default 3, none when partition is given)")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    markers: Annotated[Literal["exclude", "include"], Query(
        description="exclude (default): leave out shots inside an intro, recap, credits or preview of the next "
                    "episode (each result's `marker` says which); include: keep them")] = "exclude",
) -> dict[str, Any]:
    started = time.perf_counter()
    text = None if q is None else _param("query", "q", _text("q"), q)
    query = _query(text, _filters(tag, min_duration, max_duration, title, partition, markers), limit, per_episode)
    if text is None:
        page, next_cursor = _browse(ctx, query, cursor)
        strategy = "browse"
    else:
        vector = _text_vector(ctx, text)
        page, next_cursor, strategy = _similar(ctx, query, vector, cursor, "text")
    results = shot_table(ctx).results(page)
    return {"results": results, "next_cursor": next_cursor, "search": strategy,
            "took_ms": round((time.perf_counter() - started) * 1000, 2)}


def _visible_shot(ctx: ApiContext, shot_id: str) -> tuple[sq.RankedShot, int]:
    ref = _param("path", "shot_id", parse_shot_ref, shot_id)
    table = shot_table(ctx)
    row = table.row_of(ref.partition, ref.shot)
    if row is not None and table.searchable_row(row) and visibility(ctx).is_visible(ref.partition):
        return sq.RankedShot(ref.partition, ref.shot, 0.0), row
    raise not_found(f"shot {printable(shot_id)}: no such shot")


@router.get("/shots/{shot_id}", summary="one shot")
def get_shot(ctx: Ctx, shot_id: Annotated[str, Path(description="PARTITION:SHOT")]) -> dict[str, Any]:
    _, row = _visible_shot(ctx, shot_id)
    return shot_table(ctx).result(row, None)


@router.get("/shots/{shot_id}/similar", summary="more shots like this one (image to image)")
def similar_shots(
    ctx: Ctx,
    shot_id: Annotated[str, Path(description="PARTITION:SHOT")],
    tag: Annotated[list[str], Query()] = [],  # noqa: B006
    min_duration: str | None = None,
    max_duration: str | None = None,
    title: str | None = None,
    partition: str | None = None,
    limit: Annotated[int, Query(ge=1, le=sq.MAX_LIMIT)] = sq.DEFAULT_LIMIT,
    per_episode: Annotated[int | None, Query(ge=0, le=10_000)] = None,
    cursor: str | None = None,
    markers: Annotated[Literal["exclude", "include"], Query()] = "exclude",
) -> dict[str, Any]:
    started = time.perf_counter()
    ref = _param("path", "shot_id", parse_shot_ref, shot_id)
    query = _query(None, _filters(tag, min_duration, max_duration, title, partition, markers), limit, per_episode)
    shot, _ = _visible_shot(ctx, str(ref))
    point = shot_point_id(shot.partition, shot.shot)
    try:
        vector = ctx.index().vectors([point]).get(point)
    except VectorIndexError:
        vector = None
    if vector is None:
        raise not_found(f"shot {printable(shot_id)}: not in the vector index yet")
    page, next_cursor, strategy = _similar(ctx, query, vector, cursor, f"similar:{shot.shot_id}",
                                           skip=(shot.partition, shot.shot))
    return {"results": shot_table(ctx).results(page), "next_cursor": next_cursor, "search": strategy,
            "took_ms": round((time.perf_counter() - started) * 1000, 2)}


# ---- episodes ---------------------------------------------------------------------------------

_EPISODES_SQL = """
    select partition_key, title, episode_id, kind, duration_s from dim_episodes
    where allows_search_indexing and {where}
    order by partition_key limit $lim
"""


@router.get("/episodes", summary="the episodes that may be searched")
def list_episodes(
    ctx: Ctx,
    title: str | None = None,
    kind: Annotated[str | None, Query(pattern="^(video|audio)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    title = None if title is None else _param("query", "title", _text("title", 500), title)
    fingerprint = sq.ShotQuery(filters=sq.ShotFilters(title=title)).fingerprint(f"episodes:{kind}")
    after = None
    if cursor is not None:
        after = _param("query", "cursor", lambda c: sq.decode_cursor(c, fingerprint), cursor).get("after")
        if not isinstance(after, str):
            raise bad_input("query", "cursor", "malformed (use the next_cursor of a previous page)")
    results: list[dict[str, Any]] = []
    vis = visibility(ctx)
    while True:
        where, params = ["true"], {"lim": limit + 1}
        for name, value, clause in (("t", title, "title = $t"), ("k", kind, "kind = $k"), ("a", after, "partition_key > $a")):
            if value is not None:
                where.append(clause)
                params[name] = value
        rows = _rows(ctx, _EPISODES_SQL.format(where=" and ".join(where)), params)
        shown = vis.visible(r[0] for r in rows)
        for r in rows:
            after = r[0]
            if r[0] in shown:
                results.append({"partition": r[0], "title": r[1], "episode": r[2], "kind": r[3],
                                "duration": r[4], "searchable": True, "dagster_url": ctx.dagster_url(r[0])})
                if len(results) == limit:
                    break
        if len(results) == limit or len(rows) <= limit:
            break
    more = len(results) == limit and after is not None and bool(
        _rows(ctx, "select 1 from dim_episodes where allows_search_indexing and partition_key > $a"
              + (" and title = $t" if title else "") + (" and kind = $k" if kind else "") + " limit 1",
              {"a": after, **({"t": title} if title else {}), **({"k": kind} if kind else {})}))
    counts = dict(_rows(ctx, "select partition_key, count(*) from fct_shots where searchable and "
                        "list_contains($p, partition_key) group by partition_key", {"p": [r["partition"] for r in results]}))
    for r in results:
        r["shots"] = int(counts.get(r["partition"], 0))
    next_cursor = sq.encode_cursor(fingerprint, {"after": results[-1]["partition"]}) if more and results else None
    return {"results": results, "next_cursor": next_cursor}


def _visible_partition(ctx: ApiContext, partition: str) -> str:
    key = _param("path", "partition", validate_partition_key, partition)
    if not visibility(ctx).is_visible(key):
        raise not_found(f"episode {printable(partition)}: no such episode")
    return key


@router.get("/episodes/{partition}", summary="one episode: shots, chapters, markers, transcript, preview, licence")
def get_episode(ctx: Ctx, partition: str) -> dict[str, Any]:
    key = _visible_partition(ctx, partition)
    found = _rows(ctx, """select title, episode_id, kind, duration_s, licence_json, licence_identifier, licence_status,
                          allows_analysis, allows_search_indexing from dim_episodes where partition_key = $p""", {"p": key})
    if not found:
        raise not_found(f"episode {printable(partition)}: no such episode")
    title, episode, kind, duration, licence_json, identifier, status, analysis, indexing = found[0]
    table = shot_table(ctx)
    rows = table.rows_of_partition(key)
    shots = [table.result(int(r), None) for r in rows[np.argsort(table.start[rows], kind="stable")] if table.searchable_row(int(r))]
    transcript = [{"start": s, "end": e, "text": t} for s, e, t in _rows(
        ctx, "select start_s, end_s, text from fct_transcript_segments where partition_key = $p order by start_s, segment", {"p": key})]
    preview = None
    for s, e, text, audio_uri in _rows(
            ctx, "select start_s, end_s, text, audio_uri from fct_previews where partition_key = $p and status = 'ready'", {"p": key}):
        preview = {"start": s, "end": e, "text": text, "audio_url": f"/episodes/{key}/preview" if audio_uri else None}
    try:
        terms = json.loads(licence_json) if licence_json else None
    except ValueError:
        terms = None
    return {
        "partition": key, "title": title, "episode": episode, "kind": kind, "duration": duration,
        "licence": {"identifier": identifier, "status": status, "allows_analysis": bool(analysis),
                    "allows_search_indexing": bool(indexing), "terms": terms},
        "shots": shots,
        "chapters": _chapters(ctx, key),
        "markers": _markers(ctx, key),
        "transcript": transcript,
        "preview": preview,
        "dagster_url": ctx.dagster_url(key),
    }


def _markers(ctx: ApiContext, key: str) -> list[dict[str, Any]]:
    """The episode's intro, recap, credits and preview-of-next spans (``episode_markers``), in
    time order; none before the markers are computed."""
    from media_platform.layout import EPISODE_MARKERS, episode_key
    from media_platform.storage import read_table

    stored = episode_key(key, EPISODE_MARKERS)
    if not ctx.store.exists(stored):
        return []
    table = read_table(ctx.store, stored).sort("start")
    return [{"kind": r["kind"], "start": r["start"], "end": r["end"], "confidence": r["confidence"]}
            for r in table.iter_rows(named=True)]


def _chapters(ctx: ApiContext, key: str) -> list[dict[str, Any]]:
    from media_platform.layout import CHAPTERS, episode_key
    from media_platform.storage import read_table

    stored = episode_key(key, CHAPTERS)
    if not ctx.store.exists(stored):
        return []
    table = read_table(ctx.store, stored)
    return [{"start": r["start"], "end": r["end"], "title": r["title"], "keywords": list(r.get("keywords") or [])}
            for r in table.sort("start").iter_rows(named=True)]


# ---- titles -----------------------------------------------------------------------------------


@router.get("/titles/{title}/similar", summary="more titles like this one")
def similar_titles(
    ctx: Ctx,
    title: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    from media_platform.search.title_similarity import rank_titles, title_profiles

    name = _param("path", "title", _text("title", 500), title)
    rows = _rows(ctx, "select partition_key, title from dim_episodes where allows_search_indexing")
    shown = visibility(ctx).visible(p for p, _ in rows)
    by_title: dict[str, list[str]] = {}
    for p, t in rows:
        if p in shown:
            by_title.setdefault(str(t), []).append(p)
    if name not in by_title:
        raise not_found(f"title {printable(name)}: no such title")
    profiles = title_profiles(ctx.store, by_title, _fingerprints(ctx, shown))
    if name not in profiles:
        raise HTTPException(status_code=409, detail=f"title {printable(name)}: no embeddings yet (run its episodes)")
    ranked = rank_titles(profiles[name], {t: p for t, p in profiles.items() if t != name})[:limit]
    return {"title": name, "results": [r.to_json() for r in ranked]}


def _fingerprints(ctx: ApiContext, partitions: set[str]) -> dict[str, str]:
    """What changes when an episode's outputs change: the fingerprints the metadata build
    recorded for its files (shots, else transcript), with the content hash."""
    rows = _rows(ctx, """
        with f as (
            select partition_key, any_value(source_fingerprint) as fp from fct_shots group by partition_key
            union all
            select partition_key, any_value(source_fingerprint) from fct_transcript_segments group by partition_key
        )
        select e.partition_key, coalesce(e.content_hash, '') || '|' || coalesce(string_agg(distinct f.fp, ',' order by f.fp), '')
        from dim_episodes as e left join f using (partition_key)
        where list_contains($p, e.partition_key)
        group by e.partition_key, e.content_hash""", {"p": sorted(partitions)})
    return {str(p): str(f) for p, f in rows}
