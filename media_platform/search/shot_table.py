"""The shots of the metadata database in memory, as columns, for searches in milliseconds.

Loaded once per database file (each metadata build writes a new file, so a new file means a new
table) from ``dim_episodes``, ``fct_shots`` and ``fct_shot_tags``: one row per shot, sorted by
(partition, shot), with its span, whether it may be searched, and its search tags (the rows of
``fct_shot_tags`` above threshold from fusion or a classifier, best score per tag, with the
source of that score: exactly what ``fct_shots.tags`` holds, plus the source).

Per tag, the rows carrying it are kept pre-sorted in browse order (score, then time), and so
are all rows by their best tag score, so a browse page is a masked scan of one sorted list
rather than a sort. :meth:`ShotTable.browse` implements the order, the per-episode cap and the
keyset cursor of :mod:`media_platform.search.shot_query`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from media_platform.search.shot_query import RankedShot, ShotFilters, ShotQuery

_FIRST_CHUNK = 2048
_EPISODES_SQL = """
    select partition_key, title, episode_id, coalesce(allows_search_indexing, false)
    from dim_episodes order by partition_key
"""
_SHOTS_SQL = """
    select partition_key, shot, start_s, end_s, duration_s, coalesce(searchable, false) as searchable,
           {marker} as marker_kind, {transition} as transition
    from fct_shots order by partition_key, shot
"""
_TAGS_SQL = """
    select partition_key, shot, tag, max(score) as score, arg_max(source, score) as source
    from fct_shot_tags
    where above_threshold and source_kind in ('fusion', 'classifier')
    group by partition_key, shot, tag
    order by partition_key, shot, score desc, tag
"""


def _browse_order(scores: np.ndarray, start: np.ndarray, part: np.ndarray, shot: np.ndarray) -> np.ndarray:
    """Indices sorting by score descending, then start, partition, shot ascending."""
    return np.lexsort((shot, part, start, -scores.astype(np.float64)))


@dataclass
class ShotTable:
    """Columns of every shot (see the module docstring); build with :meth:`load`."""

    partitions: list[str]  # sorted: a partition's code is its index, so codes sort like names
    titles: list[str]
    episodes: list[str | None]
    partition_searchable: np.ndarray  # bool per partition code (dim_episodes.allows_search_indexing)
    part: np.ndarray  # int32 code per row; rows sorted by (part, shot)
    shot: np.ndarray
    start: np.ndarray
    end: np.ndarray
    duration: np.ndarray
    searchable: np.ndarray
    tag_names: list[str]
    sources: list[str]
    tag_ptr: np.ndarray  # row i's tags are [tag_ptr[i], tag_ptr[i+1]), best first
    tag_ids: np.ndarray
    tag_scores: np.ndarray
    tag_sources: np.ndarray
    marker: np.ndarray | None = None  # per row: the marker kind holding the shot ('' outside markers)
    transition: np.ndarray | None = None  # per row: how the shot begins (cut, dissolve, fade, wipe; '' unknown)

    def __post_init__(self) -> None:
        if self.marker is None:
            self.marker = np.full(len(self.shot), "", dtype=object)
        if self.transition is None:
            self.transition = np.full(len(self.shot), "", dtype=object)
        self.marked = self.marker != ""
        self._code = {p: i for i, p in enumerate(self.partitions)}
        self._tag_code = {t: i for i, t in enumerate(self.tag_names)}
        self._by_title: dict[str, list[str]] = {}
        for p, t in zip(self.partitions, self.titles, strict=True):
            self._by_title.setdefault(t, []).append(p)
        self._key = (self.part.astype(np.int64) << 32) | self.shot.astype(np.int64)
        n = len(self.shot)
        counts = np.diff(self.tag_ptr)
        row_of_tag = np.repeat(np.arange(n), counts)
        best = np.zeros(n, np.float64)
        has = counts > 0
        best[has] = self.tag_scores[self.tag_ptr[:-1][has]]  # best first within a row
        self.best = best
        self._all = _browse_order(best, self.start, self.part, self.shot)
        self._all_scores = best[self._all]
        self._postings: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._tag_rows: dict[int, np.ndarray] = {}  # the rows carrying each tag, ascending
        order = np.argsort(self.tag_ids, kind="stable")
        bounds = np.searchsorted(self.tag_ids[order], np.arange(len(self.tag_names) + 1))
        for t in range(len(self.tag_names)):
            sel = order[bounds[t]:bounds[t + 1]]
            rows, scores = row_of_tag[sel], self.tag_scores[sel].astype(np.float64)
            o = _browse_order(scores, self.start[rows], self.part[rows], self.shot[rows])
            self._postings[t] = (rows[o], scores[o])
            self._tag_rows[t] = np.sort(rows)

    def __len__(self) -> int:
        return int(self.shot.shape[0])

    # ---- loading --------------------------------------------------------------------------

    @classmethod
    def load(cls, conn: Any) -> ShotTable:
        """Read the three marts through ``conn`` (a DuckDB connection or cursor)."""
        episodes = conn.execute(_EPISODES_SQL).fetchall()
        partitions = [str(r[0]) for r in episodes]
        code = {p: i for i, p in enumerate(partitions)}
        columns = {d[0] for d in conn.execute("select * from fct_shots limit 0").description}
        marker = "coalesce(marker_kind, '')" if "marker_kind" in columns else "''"  # a database from before markers
        transition = "coalesce(transition, '')" if "transition" in columns else "''"  # from before transitions
        shots = conn.execute(_SHOTS_SQL.format(marker=marker, transition=transition)).fetchnumpy()
        known = np.array([p in code for p in shots["partition_key"]], dtype=bool)
        part = np.array([code.get(p, -1) for p in shots["partition_key"]], dtype=np.int32)[known]
        shot = np.asarray(shots["shot"], dtype=np.int32)[known]
        tags = conn.execute(_TAGS_SQL).fetchnumpy()
        tag_names = sorted({str(t) for t in tags["tag"]})
        sources = sorted({str(s) for s in tags["source"]})
        tag_code = {t: i for i, t in enumerate(tag_names)}
        source_code = {s: i for i, s in enumerate(sources)}
        key = (part.astype(np.int64) << 32) | shot.astype(np.int64)
        t_part = np.array([code.get(p, -1) for p in tags["partition_key"]], dtype=np.int64)
        t_key = (t_part << 32) | np.asarray(tags["shot"], dtype=np.int64)
        t_row = np.searchsorted(key, t_key)
        t_row_clipped = np.minimum(t_row, max(len(key) - 1, 0))
        ok = (t_part >= 0) & (t_row < len(key)) & (key[t_row_clipped] == t_key) if len(key) else np.zeros(len(t_key), bool)
        t_row = t_row[ok]
        tag_ids = np.array([tag_code[str(t)] for t in tags["tag"]], dtype=np.int32)[ok]
        tag_scores = np.asarray(tags["score"], dtype=np.float64)[ok]
        tag_sources = np.array([source_code[str(s)] for s in tags["source"]], dtype=np.int16)[ok]
        # tags of a row are contiguous and best first (the query's order)
        tag_ptr = np.concatenate([[0], np.cumsum(np.bincount(t_row, minlength=len(key)))]).astype(np.int64)
        return cls(
            partitions=partitions,
            titles=[str(r[1]) for r in episodes],
            episodes=[None if r[2] is None else str(r[2]) for r in episodes],
            partition_searchable=np.array([bool(r[3]) for r in episodes], dtype=bool),
            part=part, shot=shot,
            start=np.asarray(shots["start_s"], dtype=np.float64)[known],
            end=np.asarray(shots["end_s"], dtype=np.float64)[known],
            duration=np.asarray(shots["duration_s"], dtype=np.float64)[known],
            searchable=np.asarray(shots["searchable"], dtype=bool)[known],
            tag_names=tag_names, sources=sources, tag_ptr=tag_ptr, tag_ids=tag_ids,
            tag_scores=tag_scores, tag_sources=tag_sources,
            marker=np.asarray(shots["marker_kind"], dtype=object)[known],
            transition=np.asarray(shots["transition"], dtype=object)[known],
        )

    # ---- lookups --------------------------------------------------------------------------

    def row_of(self, partition: str, shot: int) -> int | None:
        """The row of shot ``shot`` of ``partition`` (None if unknown)."""
        code = self._code.get(partition)
        if code is None:
            return None
        key = (code << 32) | int(shot)
        i = int(np.searchsorted(self._key, key))
        return i if i < len(self._key) and self._key[i] == key else None

    def rows_of_partition(self, partition: str) -> np.ndarray:
        code = self._code.get(partition)
        if code is None:
            return np.zeros(0, np.int64)
        lo, hi = np.searchsorted(self._key, [code << 32, (code + 1) << 32])
        return np.arange(lo, hi)

    def searchable_row(self, row: int) -> bool:
        return bool(self.searchable[row] and self.partition_searchable[self.part[row]])

    def result(self, row: int, score: float | None) -> dict[str, Any]:
        """The API's shot result for ``row`` (see the shared design: ids ``PARTITION:SHOT``)."""
        code = int(self.part[row])
        partition = self.partitions[code]
        shot = int(self.shot[row])
        start, end = float(self.start[row]), float(self.end[row])
        sid = f"{partition}:{shot}"
        lo, hi = int(self.tag_ptr[row]), int(self.tag_ptr[row + 1])
        return {
            "id": sid, "partition": partition, "title": self.titles[code], "episode": self.episodes[code],
            "shot": shot, "start": round(start, 3), "end": round(end, 3),
            "duration": round(float(self.duration[row]), 3),
            "score": None if score is None else round(float(score), 6),
            "tags": [{"tag": self.tag_names[self.tag_ids[k]], "score": round(float(self.tag_scores[k]), 4),
                      "source": self.sources[self.tag_sources[k]]} for k in range(lo, hi)],
            "marker": self.marker[row] or None,
            "transition": self.transition[row] or None,
            "keyframe_url": f"/shots/{sid}/keyframe",
            "media_url": f"/episodes/{partition}/media#t={start:.3f},{end:.3f}",
        }

    def results(self, shots: Sequence[RankedShot], scored: bool = True) -> list[dict[str, Any]]:
        """Results for ``shots`` that exist and may be searched, in their order."""
        out = []
        for s in shots:
            row = self.row_of(s.partition, s.shot)
            if row is not None and self.searchable_row(row):
                out.append(self.result(row, s.score if scored else None))
        return out

    def partitions_of_title(self, title: str) -> list[str]:
        return list(self._by_title.get(title, ()))

    # ---- browsing -------------------------------------------------------------------------

    def _matches(self, f: ShotFilters) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Rows matching ``f`` and their scores in browse order, in growing chunks (a page
        usually needs only the first)."""
        if f.tags:
            codes = [self._tag_code.get(t) for t in f.tags]
            if any(c is None for c in codes):
                return
            rows, scores = self._postings[codes[0]]  # type: ignore[index]
            if len(codes) > 1:
                for c in codes[1:]:
                    other_rows, other_scores = self._postings[c]  # type: ignore[index]
                    rows, i, j = np.intersect1d(rows, other_rows, assume_unique=True, return_indices=True)
                    scores = np.minimum(scores[i], other_scores[j])
                o = _browse_order(scores, self.start[rows], self.part[rows], self.shot[rows])
                rows, scores = rows[o], scores[o]
        else:
            rows, scores = self._all, self._all_scores
        keep = self._partitions_kept(f)
        size, lo = _FIRST_CHUNK, 0
        while lo < len(rows):
            chunk, chunk_scores = rows[lo:lo + size], scores[lo:lo + size]
            lo += size
            size *= 4
            mask = self._row_mask(chunk, keep, f)
            if mask.any():
                yield chunk[mask], chunk_scores[mask]

    def _partitions_kept(self, f: ShotFilters) -> np.ndarray:
        """Per partition code: may its shots match ``f`` (searchable, in the partitions and
        title asked for, not excluded)?"""
        allowed = None
        if f.partitions is not None:
            allowed = {self._code[p] for p in f.partitions if p in self._code}
        if f.title is not None:
            in_title = {self._code[p] for p in self.partitions_of_title(f.title)}
            allowed = in_title if allowed is None else allowed & in_title
        keep = self.partition_searchable.copy()
        if allowed is not None:
            only = np.zeros(len(self.partitions), bool)
            only[list(allowed)] = True
            keep &= only
        for p in f.exclude:
            if p in self._code:
                keep[self._code[p]] = False
        return keep

    def _row_mask(self, rows: np.ndarray, keep: np.ndarray, f: ShotFilters) -> np.ndarray:
        """Which of ``rows`` (all carrying ``f``'s tags) match the rest of ``f``."""
        mask = self.searchable[rows] & keep[self.part[rows]]
        if f.min_duration_s is not None:
            mask &= self.duration[rows] >= f.min_duration_s
        if f.max_duration_s is not None:
            mask &= self.duration[rows] <= f.max_duration_s
        if f.markers == "exclude":
            mask &= ~self.marked[rows]
        return mask

    def left_out_by_markers(self, shot: RankedShot, f: ShotFilters) -> bool:
        """Whether ``f`` leaves ``shot`` out for lying inside a marker (intro, recap...)."""
        row = self.row_of(shot.partition, shot.shot)
        return f.markers == "exclude" and row is not None and bool(self.marked[row])

    def matching_rows(self, f: ShotFilters) -> np.ndarray:
        """Every row matching ``f``, ascending (the candidates of an exact similarity search)."""
        if f.tags:
            codes = [self._tag_code.get(t) for t in f.tags]
            if any(c is None for c in codes):
                return np.zeros(0, np.int64)
            rows = self._tag_rows[codes[0]]  # type: ignore[index]
            for c in codes[1:]:
                rows = np.intersect1d(rows, self._tag_rows[c], assume_unique=True)  # type: ignore[index]
        else:
            rows = np.arange(len(self.shot))
        return rows[self._row_mask(rows, self._partitions_kept(f), f)]

    def _after(self, rows: np.ndarray, scores: np.ndarray, after: tuple[float, float, str, int]) -> int:
        """How many of the sorted candidates come at or before the keyset ``after``."""
        ks, kt, kp, kn = after
        pos = bisect.bisect_left(self.partitions, kp)
        exact = pos < len(self.partitions) and self.partitions[pos] == kp
        kpc = float(pos) if exact else pos - 0.5  # a vanished partition sorts between its neighbours
        part = self.part[rows].astype(np.float64)
        start = self.start[rows]
        shot = self.shot[rows]
        later = (scores < ks) | ((scores == ks) & ((start > kt) | ((start == kt) & (
            (part > kpc) | ((part == kpc) & (shot > kn))))))
        return int(np.argmax(later)) if later.any() else len(rows)

    def browse(self, query: ShotQuery, after: tuple[float, float, str, int] | None) -> list[RankedShot]:
        """Up to ``limit + 1`` shots in browse order after ``after``, at most ``per_episode``
        of each partition over the whole order (see :mod:`media_platform.search.shot_query`)."""
        want = query.limit + 1
        cap = query.per_episode
        seen = np.zeros(len(self.partitions), np.int64)
        picked: list[RankedShot] = []
        started = after is None
        for rows, scores in self._matches(query.filters):
            if not started:
                assert after is not None
                k = self._after(rows, scores, after)
                if cap and k:
                    seen += np.bincount(self.part[rows[:k]], minlength=len(self.partitions))
                if k == len(rows):
                    continue
                rows, scores, started = rows[k:], scores[k:], True
            for r, score in zip(rows.tolist(), scores.tolist(), strict=True):
                p = int(self.part[r])
                if cap:
                    seen[p] += 1
                    if seen[p] > cap:
                        continue
                picked.append(RankedShot(self.partitions[p], int(self.shot[r]), score, float(self.start[r])))
                if len(picked) == want:
                    return picked
        return picked
