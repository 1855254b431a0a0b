"""Licence retention: forbidden outputs removed (files and index points), allowed ones kept,
idempotent, compliance violations found before and gone after; the licence-expiry sensor."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from media_platform.catalogue import Catalogue, Episode
from media_platform.errors import InvalidInputError
from media_platform.layout import ASSET_OUTPUTS
from media_platform.licences import (
    CONSERVATIVE_LICENCE,
    PRESETS,
    Licence,
    licence_record,
    recognise_licence_string,
    resolve,
    resolve_entries,
)
from media_platform.licences.episodes import licence_in_force, licence_of
from media_platform.licences.retention import compliance_violations, remove_forbidden_outputs
from media_platform.search.edge import EmbeddedQdrantIndex
from media_platform.search.index import IndexPoint, shot_point_id
from media_platform.storage import LocalStore

TODAY = dt.date(2026, 3, 1)
OUTPUTS = ASSET_OUTPUTS


def _episode(key: str, licence: dict, source: str = "upload", **metadata) -> Episode:
    return Episode(
        partition_key=key, title=key, kind="video", master_uri=f"file:///{key}",
        master_key=f"masters/{key}/master.mp4", content_hash=hashlib.sha256(key.encode()).hexdigest(),
        source=source,
        licence=licence, metadata=metadata,
    )


def _populate(store: LocalStore, key: str) -> dict[str, list[str]]:
    """Write one fake file per declared output of every asset; returns asset -> keys."""
    store.write_bytes(f"masters/{key}/master.mp4", b"master")
    written: dict[str, list[str]] = {}
    for asset, names in OUTPUTS.items():
        for name in names:
            k = f"episodes/{key}/{name}shot_00000.jpg" if name.endswith("/") else f"episodes/{key}/{name}"
            store.write_bytes(k, b"x")
            written.setdefault(asset, []).append(k)
    return written


def _index(tmp_path: Path, keys: list[str]) -> EmbeddedQdrantIndex:
    index = EmbeddedQdrantIndex(tmp_path / "index", optimize_on_write=False)
    index.ensure_collection(4)
    rng = np.random.default_rng(0)
    index.upsert([
        IndexPoint(shot_point_id(k, i), rng.normal(size=4).astype(np.float32), {"partition": k, "shot": i})
        for k in keys for i in range(3)
    ])
    return index


@pytest.fixture
def world(tmp_path: Path):
    store = LocalStore(tmp_path / "root")
    catalogue = Catalogue(store)
    expired = Licence(True, True, True, expires=dt.date(2026, 1, 31), identifier="full")
    catalogue.upsert(_episode("expired-title", licence_record(expired)))
    catalogue.upsert(_episode("nd-title", licence_record(recognise_licence_string("cc-by-nd-4.0"))))
    catalogue.upsert(_episode("cli-title", {}, source="cli"))
    files = {k: _populate(store, k) for k in ("expired-title", "nd-title", "cli-title")}
    index = _index(tmp_path, ["expired-title", "nd-title", "cli-title"])
    yield store, catalogue, index, files
    index.close()


def _sensor_resources(store, tmp_path: Path) -> dict:
    """The expiry sensor's resources over the test's store and index folder."""
    from resources import MediaStorage, VectorIndexResource

    return {
        "storage": MediaStorage(root=str(store.root)),
        "vector_index": VectorIndexResource(embedded_path=str(tmp_path / "index")),
    }


def test_licence_of() -> None:
    # an empty record is "every use" only for the operator's own hand ingest (the CLI)
    assert licence_of(_episode("a", {}, source="cli")) == PRESETS["full"]
    assert licence_of(_episode("a", {}, source="upload")) == CONSERVATIVE_LICENCE
    assert licence_of(_episode("a", {}, source="rss")) == CONSERVATIVE_LICENCE
    unnamed = Licence(analysis=True)
    assert unnamed.to_dict()["identifier"] is None
    assert licence_of(_episode("a", unnamed.to_dict())).uses == {"analysis"}
    assert licence_of(_episode("a", licence_record(unnamed))).uses == {"analysis"}
    nd = licence_of(_episode("a", licence_record(recognise_licence_string("cc-by-nd-4.0"))))
    assert nd.uses == {"analysis", "search_indexing"} and nd.identifier == "cc-by-nd-4.0"
    with pytest.raises(InvalidInputError, match="a: unreadable licence"):
        licence_of(_episode("a", {"analyse": True}))


def test_licence_in_force_follows_the_operator_file_and_keeps_the_claims() -> None:
    """At run time the operator's current entry (under an operator key) is the ceiling, else the
    recorded default; entries under title keys and the claims recorded at ingest restrict."""
    nd = recognise_licence_string("cc-by-nd-4.0", source="sidecar")
    row = resolve_entries({}, operator_keys=["the-feed"], title_keys=["a-title"],
                          default=PRESETS["analysis-only"], claims=[nd])
    episode = _episode("some-show-e01", licence_record(row.licence), **row.metadata())
    assert licence_in_force(episode, {}).uses == {"analysis"}  # no entry: the default
    assert licence_in_force(episode, {"some-show-e01": PRESETS["full"]}).identifier == "cc-by-nd-4.0"
    assert licence_in_force(episode, {"the-feed": PRESETS["full"]}).uses == {"analysis", "search_indexing"}
    both = {"the-feed": PRESETS["full"], "some-show-e01": PRESETS["none"]}
    assert licence_in_force(episode, both).uses == frozenset()  # every matching entry applies
    assert licence_in_force(episode, {"a-title": PRESETS["full"]}).uses == {"analysis"}  # never lifts
    assert licence_in_force(episode, {"a-title": PRESETS["none"]}).uses == frozenset()  # restricts
    # a row from before the operator keys were recorded: never wider than its stored licence
    # unless an entry under an operator key (its partition key) matches
    legacy = _episode("legacy", licence_record(PRESETS["analysis-only"]), "rss", licence_claims=[],
                      licence_keys=["some-title"])
    assert licence_in_force(legacy, {"some-title": PRESETS["full"]}).uses == {"analysis"}
    assert licence_in_force(legacy, {"some-title": PRESETS["none"]}).uses == frozenset()
    assert licence_in_force(legacy, {"legacy": PRESETS["full"]}).uses == PRESETS["full"].uses
    bare = _episode("bare", licence_record(PRESETS["analysis-only"]), "rss")
    assert licence_in_force(bare, {"bare": PRESETS["full"]}).uses == {"analysis"}
    # the CLI's hand ingest ({}: every use) is capped by the entry
    assert licence_in_force(_episode("hand", {}, source="cli"), {"hand": PRESETS["none"]}).uses == frozenset()
    with pytest.raises(InvalidInputError, match="legacy: recorded licence claim"):
        licence_in_force(_episode("legacy", {}, licence_claims=[{"uses": ["fun"]}]), {"legacy": PRESETS["full"]})


def test_expired_licence_outputs_removed_allowed_kept(world) -> None:
    store, catalogue, index, files = world
    before = compliance_violations(store, index, catalogue.episodes(), TODAY)
    assert any(v.startswith("expired-title: shots holds") for v in before)
    assert any(v.startswith("expired-title: shot_index holds 3 index point") for v in before)
    assert any(v.startswith("nd-title: preview holds") for v in before)
    assert not any(v.startswith("cli-title") for v in before)
    assert not any(v.startswith("nd-title: shots") for v in before)

    licence = licence_of(catalogue.get("expired-title"))
    result = remove_forbidden_outputs(
        store, index, "expired-title", licence, TODAY, catalogue=catalogue
    )
    forbidden = {a for a in OUTPUTS if a not in ("master", "media_probe")}
    assert set(result.removed_assets) == forbidden
    assert result.index_points_removed == 3 and result.licence_status == "expired"
    assert "licence expired on 2026-01-31" in result.summary()
    for asset, keys in files["expired-title"].items():
        for key in keys:
            assert store.exists(key) == (asset == "media_probe"), key
    assert store.exists("masters/expired-title/master.mp4")
    assert not store.list_keys("episodes/expired-title/keyframes")
    assert index.count("expired-title") == 0
    assert index.count("nd-title") == 3 and index.count("cli-title") == 3
    row = catalogue.get("expired-title")
    assert row.metadata["removed_assets"] == sorted(forbidden)
    assert row.metadata["licence_status"] == "expired"
    assert row.metadata["retention_checked"] == TODAY.isoformat()

    # idempotent: nothing left to remove, the catalogue row is not rewritten
    again = remove_forbidden_outputs(
        store, index, "expired-title", licence, TODAY, catalogue=catalogue
    )
    assert not again.changed and again.removed_assets == []
    assert catalogue.get("expired-title").updated_at == row.updated_at


def test_no_derivatives_loses_preview_keeps_analysis(world) -> None:
    store, catalogue, index, files = world
    licence = licence_of(catalogue.get("nd-title"))
    result = remove_forbidden_outputs(
        store, index, "nd-title", licence, TODAY, catalogue=catalogue
    )
    assert result.removed_assets == ["preview"] and result.index_points_removed == 0
    for asset, keys in files["nd-title"].items():
        for key in keys:
            assert store.exists(key) == (asset != "preview"), key
    assert index.count("nd-title") == 3
    assert catalogue.get("nd-title").metadata["removed_assets"] == ["preview"]
    assert catalogue.get("nd-title").metadata["licence_status"] == "active"


def test_compliance_clean_after_removal(world) -> None:
    store, catalogue, index, _ = world
    for episode in catalogue.episodes():
        remove_forbidden_outputs(
            store, index, episode.partition_key, licence_of(episode), TODAY,
            catalogue=catalogue,
        )
    assert compliance_violations(store, index, catalogue.episodes(), TODAY) == []
    # the hand-ingested title ({} = no restrictions) kept everything
    assert store.exists("episodes/cli-title/shots.parquet") and index.count("cli-title") == 3


def test_unreadable_licence_is_a_violation_and_nothing_is_removed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    catalogue = Catalogue(store)
    catalogue.upsert(_episode("odd", {"analysis": "yes"}))
    _populate(store, "odd")
    problems = compliance_violations(store, None, catalogue.episodes(), TODAY)
    assert len(problems) == 1 and "odd: unreadable licence" in problems[0]


def test_licence_expiry_sensor(world, tmp_path: Path) -> None:
    from sensors.licence_expiry import build_licence_expiry_sensor

    store, catalogue, index, files = world
    index.close()
    sensor = build_licence_expiry_sensor(today=lambda: TODAY)
    resources = _sensor_resources(store, tmp_path)
    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(first, dg.RunRequest)  # something was removed: rebuild the metadata database
        for asset in ("shots", "keyframes", "shot_embeddings"):
            for key in files["expired-title"][asset]:
                assert not store.exists(key)
        assert store.exists("episodes/expired-title/probe.json")
        assert store.exists("episodes/nd-title/shots.parquet")
        assert catalogue.get("expired-title").metadata["licence_status"] == "expired"
        second = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(second, dg.SkipReason)
    with EmbeddedQdrantIndex(tmp_path / "index") as reopened:
        assert reopened.count("expired-title") == 0 and reopened.count("nd-title") == 3


def test_licence_expiry_sensor_applies_a_withdrawal_in_the_operator_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator withdraws derivatives in licences.yaml for a title ingested with a full
    licence: one tick writes the file's licence into the row and removes the preview files but
    keeps the analysis outputs and index points; the next tick has nothing to do."""
    import yaml

    from media_platform.licences import licence_from_dict
    from sensors.licence_expiry import build_licence_expiry_sensor

    store = LocalStore(tmp_path / "root")
    catalogue = Catalogue(store)
    catalogue.upsert(Episode(
        partition_key="some-show-e01", title="Some Show", episode_id="1", kind="video",
        master_uri="file:///m", master_key="masters/some-show-e01/master.mp4",
        content_hash="cd" * 32, source="upload", licence=licence_record(PRESETS["full"]),
        metadata={"licence_source": "sidecar"},
    ))
    catalogue.upsert(_episode("other-title", licence_record(PRESETS["full"])))
    files = {k: _populate(store, k) for k in ("some-show-e01", "other-title")}
    _index(tmp_path, ["some-show-e01", "other-title"]).close()
    withdrawn = {"uses": ["analysis", "search_indexing"]}
    licences = tmp_path / "licences.yaml"
    licences.write_text(yaml.safe_dump({"licences": {"Some Show": withdrawn}}))  # by title
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))

    sensor = build_licence_expiry_sensor(today=lambda: TODAY)
    resources = _sensor_resources(store, tmp_path)
    with dg.instance_for_test() as instance:
        assert isinstance(sensor(dg.build_sensor_context(instance=instance, resources=resources)), dg.RunRequest)
        row = catalogue.get("some-show-e01")
        expected = licence_record(licence_from_dict(withdrawn, source="catalogue", where="test"))
        assert row.licence == expected and row.licence["derivatives"] is False
        assert row.metadata["licence_source"] == "catalogue"
        assert row.metadata["removed_assets"] == ["preview"]
        for asset, keys in files["some-show-e01"].items():
            for key in keys:
                assert store.exists(key) == (asset != "preview"), key
        assert store.exists("episodes/some-show-e01/shots.parquet")
        # the episode without an entry keeps its licence and everything
        assert catalogue.get("other-title").licence == licence_record(PRESETS["full"])
        assert all(store.exists(k) for keys in files["other-title"].values() for k in keys)

        before = catalogue.get("some-show-e01").updated_at
        second = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(second, dg.SkipReason)
        assert catalogue.get("some-show-e01").updated_at == before

    with EmbeddedQdrantIndex(tmp_path / "index") as reopened:
        assert reopened.count("some-show-e01") == 3  # search indexing still allowed


def test_licence_expiry_sensor_with_a_broken_operator_catalogue(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreadable licences.yaml changes no row; expired licences are still enforced."""
    from sensors.licence_expiry import build_licence_expiry_sensor

    store, catalogue, index, files = world
    index.close()
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences: {nd-title: [oops\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    before = {e.partition_key: e.licence for e in catalogue.episodes()}
    sensor = build_licence_expiry_sensor(today=lambda: TODAY)
    resources = _sensor_resources(store, tmp_path)
    with dg.instance_for_test() as instance:
        assert isinstance(sensor(dg.build_sensor_context(instance=instance, resources=resources)), dg.RunRequest)
    assert {e.partition_key: e.licence for e in catalogue.episodes()} == before
    assert not store.exists(files["expired-title"]["shots"][0])


def test_licence_expiry_sensor_rewrites_rows_with_claims_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row that recorded its claims follows the operator's file both ways: narrowed by an
    entry, widened again when the entry is widened, but never past its claims."""
    import yaml

    from sensors.licence_expiry import build_licence_expiry_sensor

    store = LocalStore(tmp_path / "root")
    catalogue = Catalogue(store)
    nd = recognise_licence_string("cc-by-nd-4.0", source="feed")
    ingest = resolve(operator=None, default=PRESETS["full"], claims=[nd])
    catalogue.upsert(_episode("claimed", licence_record(ingest.licence), **ingest.metadata()))
    licences = tmp_path / "licences.yaml"
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    sensor = build_licence_expiry_sensor(today=lambda: TODAY)
    resources = _sensor_resources(store, tmp_path)
    with dg.instance_for_test() as instance:
        licences.write_text(yaml.safe_dump({"licences": {"claimed": {"uses": ["analysis"]}}}))
        sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert licence_of(catalogue.get("claimed")).uses == {"analysis"}
        licences.write_text(yaml.safe_dump({"licences": {"claimed": {"identifier": "full"}}}))
        sensor(dg.build_sensor_context(instance=instance, resources=resources))
        row = catalogue.get("claimed")
        assert licence_of(row).uses == {"analysis", "search_indexing"}
        assert row.licence["identifier"] == "cc-by-nd-4.0"
        assert row.metadata["licence_claims"] == [licence_record(nd)]


def test_compliance_check_follows_the_operator_file(world, tmp_path: Path, monkeypatch) -> None:
    """A withdrawal in licences.yaml fails the check while the forbidden outputs remain; an
    unreadable file fails it too."""
    from assets.catalogue import licence_compliance

    store, catalogue, index, _ = world
    for episode in catalogue.episodes():
        remove_forbidden_outputs(store, index, episode.partition_key, licence_of(episode), TODAY,
                                 catalogue=catalogue)
    index.close()
    resources = _sensor_resources(store, tmp_path)
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences: {}\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    assert licence_compliance(**resources).passed
    licences.write_text("licences:\n  cli-title: {uses: []}\n")  # withdrawn
    result = licence_compliance(**resources)
    assert not result.passed and "cli-title: " in result.metadata["violations"].value
    licences.write_text("licences:\n  x: {uses: [analysis]\n")  # unreadable
    result = licence_compliance(**resources)
    assert not result.passed and "licence catalogue unreadable" in result.metadata["violations"].value


def test_licence_expiry_sensor_never_widens_an_unreadable_licence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row from before the operator keys were recorded, with an unreadable stored licence and
    no claims, is left alone and reported, even under a permissive title-key entry; a row with
    recorded keys is resolved from them (its default, never the title's entry)."""
    from sensors.licence_expiry import build_licence_expiry_sensor

    store = LocalStore(tmp_path / "root")
    catalogue = Catalogue(store)
    catalogue.upsert(_episode("odd-title", {"analysis": "yes"}))
    recorded = resolve_entries({}, operator_keys=[], title_keys=["new-title"],
                               default=PRESETS["analysis-only"])
    catalogue.upsert(_episode("new-title", {"analysis": "yes"}, **recorded.metadata()))
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences:\n  odd-title: {identifier: full}\n  new-title: {identifier: full}\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    sensor = build_licence_expiry_sensor(today=lambda: TODAY)
    with dg.instance_for_test() as instance:
        sensor(dg.build_sensor_context(instance=instance, resources=_sensor_resources(store, tmp_path)))
    assert catalogue.get("odd-title").licence == {"analysis": "yes"}
    assert licence_of(catalogue.get("new-title")).uses == {"analysis"}
