"""Editors' labels in the catalogue's database: parsing shot references, adding (atomic,
idempotent, contradictions refused), removing, digests, writers in several processes at once,
and the upgrade of a catalogue made before the labels table. Each store test runs on the
embedded SQLite default and on a real PostgreSQL server started on a loopback port."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from test_catalogue_database import _episode

from media_platform.catalogue import Catalogue
from media_platform.catalogue.database import MIGRATIONS, SQLITE_KEY
from media_platform.catalogue.schema import VERSION_TABLE
from media_platform.errors import InvalidInputError
from media_platform.storage import LocalStore
from media_platform.tags.labels import (
    MAX_SHOT,
    ContradictoryLabels,
    LabelStore,
    ShotRef,
    check_label_name,
    parse_shot_ref,
)


def _labels(root: Path | str) -> LabelStore:
    return LabelStore(Catalogue(LocalStore(root)))


def refs(*texts: str) -> list[ShotRef]:
    return [parse_shot_ref(t) for t in texts]


# ---- parsing ----------------------------------------------------------------------------------


def test_shot_references_are_parsed_and_checked() -> None:
    assert parse_shot_ref("ep-1a2b:12") == ShotRef("ep-1a2b", 12)
    assert parse_shot_ref("a:0") == ShotRef("a", 0)
    assert parse_shot_ref(f"a:{MAX_SHOT}").shot == MAX_SHOT
    assert str(ShotRef("ep", 3)) == "ep:3"
    bad = {
        "ep": "a shot is PARTITION:SHOT",
        ":3": "a shot is PARTITION:SHOT",
        "ep:": "whole number",
        "ep:-1": "whole number",
        "ep:+1": "whole number",
        "ep: 1": "whole number",
        "ep:1_0": "whole number",
        "ep:\u0661": "whole number",  # an Arabic-Indic digit: int() would take it
        f"ep:{MAX_SHOT + 1}": "whole number",
        "ep:99999999999": "whole number",
        "Ep:1": "lowercase letters",
        "a:b:1": "lowercase letters",  # the shot is after the last ':'; partitions hold none
        "../x:1": "lowercase letters",
    }
    for text, problem in bad.items():
        with pytest.raises(InvalidInputError, match=problem) as info:
            parse_shot_ref(text)
        assert str(info.value).startswith(text), str(info.value)
    with pytest.raises(InvalidInputError, match="control characters"):
        parse_shot_ref("ep\x1b:1")
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        parse_shot_ref("ep\udcff:1")
    assert ShotRef("ep", np.int64(4)) == ShotRef("ep", 4) and type(ShotRef("ep", np.int64(4)).shot) is int
    for value in (-1, True, 1.0, "1", np.int64(-1), MAX_SHOT + 1):
        with pytest.raises(InvalidInputError):
            ShotRef("ep", value)


def test_label_names_are_slugs() -> None:
    for good in ("explosion", "car-chase", "night_2", "0", "a" * 64):
        assert check_label_name(good) == good
    for bad in ("", "Explosion", "-x", "_x", "a b", "a/b", "a" * 65, "é", "x\n"):
        with pytest.raises(InvalidInputError):
            check_label_name(bad)


# ---- the store --------------------------------------------------------------------------------


def test_add_is_idempotent_and_reads_back(backend: str, tmp_path: Path) -> None:
    labels = _labels(tmp_path)
    result = labels.add("explosion", refs("ep-a:1", "ep-a:2", "ep-b:7"), refs("ep-a:3"), editor="ann")
    assert (result.added, result.unchanged, result.positives, result.negatives) == (4, 0, 3, 1)
    again = labels.add("explosion", ["ep-a:1", "ep-a:1", "ep-b:8"], [("ep-a", 3)], editor="bob")
    assert (again.added, again.unchanged, again.positives, again.negatives) == (1, 2, 4, 1)
    examples = labels.examples("explosion")
    assert [(e.partition, e.shot, e.positive) for e in examples] == [
        ("ep-a", 1, True), ("ep-a", 2, True), ("ep-a", 3, False), ("ep-b", 7, True), ("ep-b", 8, True)]
    # re-adding kept the first editor; the new one is bob's
    assert [e.editor for e in examples] == ["ann", "ann", "ann", "ann", "bob"]
    assert all(e.labelled_at.endswith("+00:00") for e in examples)
    assert labels.counts("explosion") == (4, 1) and labels.counts("unknown") == (0, 0)
    labels.add("applause", [], refs("ep-a:1"))
    assert labels.labels() == ["applause", "explosion"]
    assert labels.labelled("applause") == {ShotRef("ep-a", 1): False}
    # a label is per label: the same shot may be positive for one and negative for another
    assert labels.labelled("explosion")[ShotRef("ep-a", 1)] is True
    # a second LabelStore (another editor's session) sees the same rows
    assert _labels(tmp_path).examples("explosion") == examples


def test_contradictions_are_refused_and_nothing_is_stored(backend: str, tmp_path: Path) -> None:
    labels = _labels(tmp_path)
    with pytest.raises(ContradictoryLabels, match=r"ep-a:2 given as both positive and negative") as info:
        labels.add("crowd", refs("ep-a:1", "ep-a:2"), refs("ep-a:2"))
    assert isinstance(info.value, InvalidInputError) and info.value.shots == [ShotRef("ep-a", 2)]
    assert labels.examples("crowd") == []
    labels.add("crowd", refs("ep-a:1", "ep-a:5"), refs("ep-b:1"))
    # one call that adds new shots and contradicts a stored one stores none of them
    with pytest.raises(ContradictoryLabels) as info:
        labels.add("crowd", refs("ep-c:1", "ep-b:1"), refs("ep-c:2", "ep-a:1", "ep-a:5"))
    message = str(info.value)
    assert message.startswith("label 'crowd': ")
    assert "ep-a:1, ep-a:5 already labelled positive" in message
    assert "ep-b:1 already labelled negative" in message
    assert "media-platform label crowd --remove ep-a:1" in message
    assert sorted(info.value.shots) == refs("ep-a:1", "ep-a:5", "ep-b:1")
    assert labels.counts("crowd") == (2, 1)
    # removing is how a label changes
    assert labels.remove("crowd", refs("ep-a:1", "ep-z:9")) == 1
    assert labels.remove("crowd", refs("ep-a:1")) == 0
    assert labels.add("crowd", [], refs("ep-a:1")).added == 1
    assert labels.labelled("crowd") == {ShotRef("ep-a", 1): False, ShotRef("ep-a", 5): True, ShotRef("ep-b", 1): False}


def test_bad_input_is_refused_before_anything_is_written(backend: str, tmp_path: Path) -> None:
    labels = _labels(tmp_path)
    with pytest.raises(InvalidInputError, match="label 'Bad'"):
        labels.add("Bad", refs("ep:1"))
    with pytest.raises(InvalidInputError, match="ep:x: the shot"):
        labels.add("good", ["ep:1", "ep:x"])
    with pytest.raises(InvalidInputError, match="one string"):
        labels.add("good", "ep:1")
    with pytest.raises(InvalidInputError, match="editor: contains control characters"):
        labels.add("good", ["ep:1"], editor="a\x07")
    assert labels.labels() == []


def test_the_digest_follows_the_examples_not_who_or_when(backend: str, tmp_path: Path) -> None:
    first, second = _labels(tmp_path / "one"), _labels(tmp_path / "two")
    if backend == "postgresql":  # both stores share the database: use two labels
        second_label = "night-copy"
    else:
        second_label = "night"
    first.add("night", refs("ep-a:1", "ep-b:2"), refs("ep-a:3"), editor="ann")
    second.add(second_label, refs("ep-b:2"), [], editor="bob")
    second.add(second_label, refs("ep-a:1"), refs("ep-a:3"), editor="cy")
    assert first.digest("night") == second.digest(second_label)
    assert len(first.digest("night")) == 64
    before = first.digest("night")
    first.remove("night", refs("ep-a:3"))
    first.add("night", refs("ep-a:3"))  # the same shot, now positive
    assert first.digest("night") != before
    assert first.digest("empty") == _labels(tmp_path / "three").digest("empty")


# ---- writers in several processes -------------------------------------------------------------


def _add_in_process(root: str, label: str, positives: list[str], negatives: list[str], barrier, queue) -> None:
    labels = _labels(root)
    barrier.wait(60)
    try:
        result = labels.add(label, positives, negatives, editor=label)
        queue.put(("ok", result.added, result.unchanged))
    except ContradictoryLabels as exc:
        queue.put(("contradiction", str(exc), 0))


def _race(root: Path, calls: list[tuple[str, list[str], list[str]]]) -> list[tuple]:
    _labels(root)  # created and migrated before the race
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(calls)), ctx.Queue()
    procs = [ctx.Process(target=_add_in_process, args=(str(root), *call, barrier, queue)) for call in calls]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    return [queue.get(timeout=10) for _ in procs]


def test_editors_adding_at_once_lose_nothing_and_store_each_shot_once(backend: str, tmp_path: Path) -> None:
    # four processes: two add overlapping sets to one label, two add to their own labels
    shared = [f"ep-a:{i}" for i in range(40)]
    calls = [
        ("vehicle", shared[:30], []),
        ("vehicle", shared[10:], []),
        ("music", shared, []),
        ("speech", [], shared),
    ]
    results = _race(tmp_path, calls)
    assert all(kind == "ok" for kind, _, _ in results)
    # the overlap (shots 10..29) is added by exactly one of the two vehicle writers
    vehicle = sorted((added, unchanged) for kind, added, unchanged in results if added + unchanged == 30)
    assert sum(a for a, _ in vehicle) == 40 and sum(u for _, u in vehicle) == 20
    labels = _labels(tmp_path)
    assert labels.counts("vehicle") == (40, 0)
    assert labels.counts("music") == (40, 0) and labels.counts("speech") == (0, 40)
    assert labels.labels() == ["music", "speech", "vehicle"]


def test_opposite_labels_of_one_shot_at_once_one_wins(backend: str, tmp_path: Path) -> None:
    calls = [("gunshot", ["ep-a:1", "ep-a:2"], []), ("gunshot", ["ep-a:3"], ["ep-a:2"])]
    results = _race(tmp_path, calls)
    kinds = sorted(kind for kind, _, _ in results)
    assert kinds == ["contradiction", "ok"]
    message = next(text for kind, text, _ in results if kind == "contradiction")
    assert "ep-a:2 already labelled" in message
    stored = _labels(tmp_path).labelled("gunshot")
    # the loser stored nothing: either {1+, 2+} or {3+, 2-}
    assert stored in ({ShotRef("ep-a", 1): True, ShotRef("ep-a", 2): True},
                      {ShotRef("ep-a", 3): True, ShotRef("ep-a", 2): False})


# ---- upgrade of a catalogue made before labels ------------------------------------------------


def _make_0001_catalogue(url: str) -> None:
    """A database exactly as the release before labels left it: schema 0001, one episode."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        row = _episode("old-episode").to_row()
        conn.execute(sa.text(f"INSERT INTO catalogue_episodes ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() == "0001"
        assert "catalogue_shot_labels" not in sa.inspect(conn).get_table_names()
    engine.dispose()


def test_a_catalogue_from_before_labels_is_upgraded_on_open(backend: str, monkeypatch, tmp_path: Path) -> None:
    if backend == "postgresql":
        import os

        url = os.environ["MEDIA_PLATFORM_CATALOGUE_URL"]
    else:
        (tmp_path / "catalogue").mkdir()
        url = f"sqlite:///{tmp_path / SQLITE_KEY}"
    _make_0001_catalogue(url)
    catalogue = Catalogue(LocalStore(tmp_path))
    assert [e.partition_key for e in catalogue.episodes()] == ["old-episode"]
    labels = LabelStore(catalogue)
    assert labels.add("laughter", refs("old-episode:4")).added == 1
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all() == ["0002"]
        assert conn.execute(sa.text("SELECT label, partition_key, shot FROM catalogue_shot_labels")).all() == [
            ("laughter", "old-episode", 4)]
    engine.dispose()


def _reserve_in_process(root: str, barrier, queue) -> None:
    labels = _labels(root)
    barrier.wait(60)
    queue.put([labels.reserve_classifier_version("explosion", 1) for _ in range(3)])


def test_trainers_at_once_never_get_the_same_classifier_version(backend: str, tmp_path: Path) -> None:
    _labels(tmp_path)
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_reserve_in_process, args=(str(tmp_path), barrier, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    versions = [v for _ in procs for v in queue.get(timeout=10)]
    assert sorted(versions) == list(range(1, 10))  # nine reservations, nine distinct versions
    assert _labels(tmp_path).reserve_classifier_version("explosion", 4) == 10
    assert _labels(tmp_path).reserve_classifier_version("other", 1) == 1
