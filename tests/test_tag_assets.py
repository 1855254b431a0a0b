"""The tag assets end to end with ``dg.materialize`` on a temporary instance: shot features from
stored outputs, zero-shot and audio tags with their fusion, a classifier trained by
materializing its label partition, declarative automation re-tagging the episodes and
refreshing the index, and search filtering on the new tag.

Real media (Big Buck Bunny, the GoldenEye excerpt, its audio-less VFR copy), real YAMNet,
MiniLM and Whisper; CLIP is a tiny random-weight architecture from a checkpoint the test writes.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from platform_harness import check_results, materialized, platform_for_test

from assets import audio, ingest, previews, tags, video
from media_platform.catalogue import Catalogue
from media_platform.layout import SHOT_TAGS, SHOTS, episode_key
from media_platform.storage import read_table
from media_platform.tags.classifier import ClassifierStore
from media_platform.tags.labels import LabelStore, ShotRef
from media_platform.tags.pool import episode_features
from media_platform.tags.suggestions import suggest_for_label
from media_platform.tags.tagging import FUSION, searchable_tags, tags_licence_problem
from resources.partitions import labels_partitions

SHOT_TAGS_KEY = dg.AssetKey("shot_tags")
SHOT_INDEX_KEY = dg.AssetKey("shot_index")
EPISODE_RUN = dg.AssetSelection.all() - dg.AssetSelection.groups("models")
TAG_CHECKS = ("features_match_layout", "tag_scores_in_range", "classifiers_in_use_are_evaluated",
              "tags_only_where_analysis_allowed", "index_holds_exactly_episode_shots")


@pytest.fixture(scope="module")
def platform(tmp_path_factory, shared_media: Path):
    modules = [ingest, video, audio, previews, tags]
    with platform_for_test(tmp_path_factory.mktemp("tags"), shared_media, modules) as p:
        p.episodes = {
            "bunny": p.ingest(shared_media / "video/blender_bbb/big_buck_bunny_0_30.webm", "Big Buck Bunny"),
            "goldeneye": p.ingest(shared_media / "video/pyscenedetect/issue-134-rotate.mp4", "GoldenEye"),
        }
        for key in p.episodes.values():
            result = p.run(key, selection=EPISODE_RUN)
            assert result.success, key
            assert {"shot_features", "shot_tags", "shot_index"} <= materialized(result)
            checks = check_results(result)
            assert all(checks[name] for name in TAG_CHECKS), checks
        yield p


def _shots(platform, name: str) -> list[int]:
    return read_table(platform.store, episode_key(platform.episodes[name], SHOTS))["shot"].to_list()


def test_shot_features_hold_every_modality_with_its_layout(platform) -> None:
    key = platform.episodes["bunny"]
    features = episode_features(platform.store, key)
    assert features is not None
    assert [int(s) for s in features.shots] == _shots(platform, "bunny")
    dims = {b.name: b.dim for b in features.layout.blocks}
    assert dims["clip"] == 64 and dims["audio"] == 1024 and dims["text"] == 384
    assert "context" in dims
    assert features.present["clip"].all() and features.present["audio"].all()
    for block in features.layout.blocks:
        assert features.blocks[block.name].shape == (len(features.shots), block.dim)
        assert np.isfinite(features.blocks[block.name]).all()


def test_shot_tags_rows_and_fusion(platform) -> None:
    table = read_table(platform.store, episode_key(platform.episodes["bunny"], SHOT_TAGS))
    assert set(table.columns) >= {"shot", "tag", "score", "source", "above_threshold", "weight"}
    assert {"zero-shot", "audio", FUSION} <= set(table["source"].unique().to_list())
    assert table["score"].is_between(0.0, 1.0).all()
    assert set(table["shot"].unique().to_list()) == set(_shots(platform, "bunny"))
    # every fusion row's contributions are the zero-shot / audio rows of the same shot and tag
    fusion = table.filter(table["source"] == FUSION)
    parts = table.filter(table["source"].is_in(["zero-shot", "audio"]))
    pairs = {(r["shot"], r["tag"]) for r in parts.iter_rows(named=True)}
    assert {(r["shot"], r["tag"]) for r in fusion.iter_rows(named=True)} == pairs


def test_video_without_audio_track_gets_features_and_tags(platform) -> None:
    key = platform.ingest(platform.media / "video/pyscenedetect/goldeneye-vfr-drop3.mp4", "GoldenEye VFR")
    result = platform.run(key, selection=EPISODE_RUN)
    assert result.success
    assert {"audio", "shot_features", "shot_tags", "shot_index"} <= materialized(result)
    features = episode_features(platform.store, key)
    assert not features.present["audio"].any() and features.present["clip"].all()
    table = read_table(platform.store, episode_key(key, SHOT_TAGS))
    assert table.filter(table["source"] == "audio").height == 0  # no track: no audio evidence
    # fusion is the picture alone, never pulled down by an absent soundtrack
    visual = table.filter(table["source"] == "zero-shot").sort("shot", "tag")["score"].to_list()
    fused = table.filter(table["source"] == FUSION).sort("shot", "tag")["score"].to_list()
    assert visual and fused == pytest.approx(visual)


def test_train_a_label_retag_by_automation_and_search_by_tag(platform) -> None:
    store, instance = platform.store, platform.instance
    bunny, golden = platform.episodes["bunny"], platform.episodes["goldeneye"]
    labels = LabelStore(Catalogue(store))
    labels.add("cartoon", [ShotRef(bunny, s) for s in _shots(platform, "bunny")],
               [ShotRef(golden, s) for s in _shots(platform, "goldeneye")], editor="test")
    instance.add_dynamic_partitions(labels_partitions.name, ["cartoon"])
    defs = dg.Definitions(assets=[d for d in platform.definitions if isinstance(d, dg.AssetsDefinition)],
                          resources=platform.resources)

    # the first evaluation starts the automation's cursor: nothing changed yet
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.get_requested_partitions(SHOT_TAGS_KEY) == set()

    trained = platform.run("cartoon", selection=[dg.AssetKey("tag_classifier")])
    assert trained.success and all(check_results(trained).values())
    clf = ClassifierStore(store).current("cartoon")
    assert clf is not None and clf.version == 1
    assert clf.evaluation.positives == len(_shots(platform, "bunny"))
    assert clf.evaluation.negatives == len(_shots(platform, "goldeneye"))
    again = platform.run("cartoon", selection=[dg.AssetKey("tag_classifier")])
    assert again.success and ClassifierStore(store).current("cartoon").version == 1  # same examples: same version
    assert not materialized(again)  # and nothing materialized, so nothing downstream re-runs

    # a new classifier version re-tags every tagged episode, and the index payload follows in
    # the same automation run, through declarative automation
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    requested = second.get_requested_partitions(SHOT_TAGS_KEY)
    assert {bunny, golden} <= requested
    assert second.get_requested_partitions(SHOT_INDEX_KEY) == requested
    for key in sorted(requested):  # what the sensor's run does
        assert platform.run(key, selection=[SHOT_TAGS_KEY, SHOT_INDEX_KEY]).success
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert settled.total_requested == 0  # nothing loops
    unchanged = platform.run("cartoon", selection=[dg.AssetKey("tag_classifier")])
    assert unchanged.success and not materialized(unchanged)
    quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert quiet.total_requested == 0  # re-training on the same examples re-tags nothing

    table = read_table(store, episode_key(bunny, SHOT_TAGS))
    rows = table.filter(table["source"] == "classifier:cartoon@v1")
    assert rows.height == len(_shots(platform, "bunny"))
    tagged = searchable_tags(table)
    assert all("cartoon" in tagged.get(s, {}) for s in _shots(platform, "bunny"))

    index = platform.resources["vector_index"].get_index()
    probe = np.ones(64, dtype=np.float32)
    hits = index.search(probe, limit=50, tags=["cartoon"])
    assert hits and {h.payload["partition"] for h in hits} == {bunny}
    assert all("cartoon" in h.payload["tags"] and h.payload["tag_scores"]["cartoon"] >= clf.evaluation.threshold for h in hits)

    # suggestions come from the classifier and never propose a labelled shot
    result = suggest_for_label(store, "cartoon", 10)
    assert result.scorer == "classifier cartoon@v1"
    assert not {(s.partition, s.shot) for s in result.suggestions} & {(e.partition, e.shot) for e in labels.examples("cartoon")}


def test_too_few_examples_fail_the_training_run_clearly(platform) -> None:
    bunny = platform.episodes["bunny"]
    LabelStore(Catalogue(platform.store)).add("sparse", [ShotRef(bunny, 0)], [ShotRef(bunny, 1)])
    platform.instance.add_dynamic_partitions(labels_partitions.name, ["sparse"])
    result = platform.run("sparse", selection=[dg.AssetKey("tag_classifier")])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert "at least 3" in description and "sparse" in description


def test_examples_without_features_are_left_out_and_said(platform) -> None:
    """A shot that no longer exists (shot detection re-run) or an episode whose features are gone
    (licence withdrawn) does not block training on the rest; the run says what it left out."""
    bunny, golden = platform.episodes["bunny"], platform.episodes["goldeneye"]
    LabelStore(Catalogue(platform.store)).add(
        "stale", [ShotRef(bunny, s) for s in _shots(platform, "bunny")] + [ShotRef(bunny, 999)],
        [ShotRef(golden, s) for s in _shots(platform, "goldeneye")] + [ShotRef("gone-episode", 0)])
    platform.instance.add_dynamic_partitions(labels_partitions.name, ["stale"])
    result = platform.run("stale", selection=[dg.AssetKey("tag_classifier")])
    assert result.success
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    left_out = " ".join(metadata["examples_left_out"].value)
    assert f"{bunny}:999: the episode has no such shot now" in left_out
    assert "gone-episode:0: not in the catalogue" in left_out
    clf = ClassifierStore(platform.store).current("stale")
    assert (clf.evaluation.positives, clf.evaluation.negatives) == (len(_shots(platform, "bunny")), len(_shots(platform, "goldeneye")))


def test_a_withdrawn_licence_keeps_the_episode_out_of_suggestions_and_training(platform, tmp_path, monkeypatch) -> None:
    """Features stored before the operator withdrew analysis are never read again, even before
    the licence-expiry sensor removes them."""
    bunny, golden = platform.episodes["bunny"], platform.episodes["goldeneye"]
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences:\n  GoldenEye:\n    uses: []\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    labels = LabelStore(Catalogue(platform.store))
    labels.add("withdrawn", [ShotRef(bunny, s) for s in _shots(platform, "bunny")],
               [ShotRef(golden, s) for s in _shots(platform, "goldeneye")])
    result = suggest_for_label(platform.store, "withdrawn", 50)
    assert golden in result.skipped and result.skipped[golden].startswith("licence:")
    assert all(s.partition != golden for s in result.suggestions)
    platform.instance.add_dynamic_partitions(labels_partitions.name, ["withdrawn"])
    trained = platform.run("withdrawn", selection=[dg.AssetKey("tag_classifier")])
    assert not trained.success  # its only negatives came from the withdrawn episode
    failure = next(e for e in trained.all_events if e.event_type_value == "STEP_FAILURE")
    assert "licence" in failure.step_failure_data.user_failure_data.description


def test_the_licence_check_fails_when_tags_outlive_the_licence(platform, tmp_path, monkeypatch) -> None:
    """Tags written while analysis was allowed, then the operator withdraws it: the check's
    decision reports them until retention removes them (the pipeline runs showed it passing)."""
    golden = platform.episodes["goldeneye"]
    assert tags_licence_problem(platform.store, golden) is None
    licences = tmp_path / "licences.yaml"
    licences.write_text("licences:\n  GoldenEye:\n    uses: []\n")
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(licences))
    problem = tags_licence_problem(platform.store, golden)
    assert problem is not None and "tag rows stored" in problem and "licence" in problem
