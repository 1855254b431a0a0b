"""The operator's licence file is the one authority (issue 9, defect 4): what a publisher or
uploader writes can only restrict, the operator's file is read at ingest and at run time, and
the file itself is read strictly. Each test here failed before the fix."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import yaml

from media_platform.errors import InvalidInputError
from media_platform.ingest.feeds import FeedConfig, FeedItem
from media_platform.ingest.rss_episodes import rss_licence, rss_partition_key
from media_platform.licences import (
    PRESETS,
    load_catalogue,
    recognise_licence_string,
    resolve_licence,
)

FEED = FeedConfig(url="https://feeds.example.org/show.xml", title="Restricted Show")


def _item(title: str, licence: str | None = None) -> FeedItem:
    return FeedItem(guid=f"guid-{title}", title=title, enclosure_url="https://cdn.example.org/a.mp3",
                    licence=licence)


# --------------------------------------------------------------------------------------------
# Publisher- and uploader-written text only restricts


def test_item_title_cannot_select_a_more_permissive_entry() -> None:
    """The feed's entry allows analysis only; an item titled like an 'everything allowed' entry
    must not get more."""
    entries = {"restricted-show": PRESETS["analysis-only"], "open-title": PRESETS["full"]}
    item = _item("Open Title")
    licence = rss_licence(item, FEED, rss_partition_key(item, FEED), entries)
    assert licence.uses == {"analysis"}
    # a title naming a stricter entry does restrict
    entries["open-title"] = PRESETS["none"]
    assert rss_licence(item, FEED, rss_partition_key(item, FEED), entries).uses == frozenset()


def test_item_title_entry_cannot_lift_an_item_above_its_feed_default() -> None:
    """The feed has no entry of its own, only a configured default: an entry found under a title
    the publisher wrote still cannot lift the item above that default, at ingest or at run time
    (the item title's key is recorded apart from the operator's keys, and only restricts)."""
    from media_platform.catalogue import Episode
    from media_platform.ingest.rss_episodes import rss_episode
    from media_platform.licences.episodes import licence_in_force

    feed = FeedConfig(url=FEED.url, title=FEED.title, default_licence="analysis-only")
    entries = {"open-title": PRESETS["full"]}
    item = _item("Open Title")
    assert rss_licence(item, feed, rss_partition_key(item, feed), entries).uses == {"analysis"}
    no_default = FeedConfig(url=FEED.url, title=FEED.title)
    assert rss_licence(item, no_default, rss_partition_key(item, no_default), entries).uses == frozenset()
    row = rss_episode(item, feed, catalogue_licences=entries)
    stored = Episode(**{**row.__dict__, "content_hash": "ab" * 32})
    assert licence_in_force(stored, entries).uses == {"analysis"}
    # the partition key is the operator's own: an entry under it is the item's ceiling
    entries[row.partition_key] = PRESETS["analysis-and-search"]
    assert rss_licence(item, feed, row.partition_key, entries).uses == {"analysis", "search_indexing"}
    assert licence_in_force(stored, entries).uses == {"analysis", "search_indexing"}


def test_podcast_license_cannot_widen_the_feed_default() -> None:
    feed = FeedConfig(url=FEED.url, title=FEED.title, default_licence="analysis-only")
    item = _item("Episode 1", licence="cc-by-4.0")
    licence = rss_licence(item, feed, rss_partition_key(item, feed), {})
    assert licence.uses == {"analysis"}
    assert resolve_licence(feed_string="cc-by-4.0", feed_default=PRESETS["analysis-only"]).uses == {"analysis"}
    # without any default the ceiling is the conservative licence: a CC claim grants nothing
    assert resolve_licence(feed_string="cc-by-4.0").uses == frozenset()
    # and it does restrict: ND removes derivatives from a full default
    nd = resolve_licence(feed_string="cc-by-nd-4.0", feed_default=PRESETS["full"])
    assert nd.uses == {"analysis", "search_indexing"} and nd.identifier == "cc-by-nd-4.0"


def test_sidecar_cannot_widen_the_zone_default_or_the_operator_entry() -> None:
    full_claim = recognise_licence_string("full", source="sidecar")
    assert resolve_licence(sidecar=full_claim, feed_default=PRESETS["analysis-only"]).uses == {"analysis"}
    assert resolve_licence(sidecar=full_claim).uses == frozenset()
    entry = PRESETS["analysis-and-search"]
    assert resolve_licence(catalogue=entry, sidecar=full_claim).uses == {"analysis", "search_indexing"}
    narrower = recognise_licence_string("analysis-only", source="sidecar")
    assert resolve_licence(catalogue=entry, sidecar=narrower).uses == {"analysis"}
    # "all rights reserved" says nothing beyond the operator's default
    arr = recognise_licence_string("All rights reserved", source="sidecar")
    assert resolve_licence(sidecar=arr, feed_default=PRESETS["full"]).uses == PRESETS["full"].uses


def test_all_rights_reserved_text_mentioning_a_cc_url_is_not_cc() -> None:
    for text in (
        "© 2025 ACME Media. All rights reserved. Our other shows: https://creativecommons.org/licenses/by/4.0/",
        "https://creativecommons.org/licenses/by-sa/4.0/ does not apply: all rights reserved",
    ):
        licence = recognise_licence_string(text)
        assert licence is not None and licence.identifier == "all-rights-reserved", text
        assert not licence.uses


# --------------------------------------------------------------------------------------------
# licences.yaml is read strictly


def test_duplicate_keys_in_the_licence_file_are_rejected(tmp_path: Path) -> None:
    p = tmp_path / "licences.yaml"
    p.write_text("licences:\n  Some Show:\n    uses: []\n  Other:\n    uses: [analysis]\n"
                 "  Some Show:\n    identifier: full\n")
    with pytest.raises(InvalidInputError) as err:
        load_catalogue(p)
    message = str(err.value)
    assert str(p) in message and "duplicate key 'Some Show'" in message and "line 6" in message
    # inside an entry too
    p.write_text("licences:\n  Some Show:\n    uses: []\n    uses: [analysis, derivatives]\n")
    with pytest.raises(InvalidInputError, match="duplicate key 'uses'"):
        load_catalogue(p)


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "31/12/2026", "soon"])
def test_bad_date_in_the_licence_file_is_a_clear_error(tmp_path: Path, value: str) -> None:
    p = tmp_path / "licences.yaml"
    p.write_text(f"licences:\n  Some Show:\n    uses: [analysis]\n    expires: {value}\n")
    with pytest.raises(InvalidInputError) as err:
        load_catalogue(p)
    message = str(err.value)
    assert str(p) in message and "Some Show" in message and value in message and "expires" in message


# --------------------------------------------------------------------------------------------
# The CLI consults the file at ingest; the assets' gate consults it at run time


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = dict(os.environ)
    values = {
        "MEDIA_PLATFORM_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "MEDIA_PLATFORM_LICENCES": str(tmp_path / "licences.yaml"),
    }
    env.update(values)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "licences.yaml").write_text("licences: {}\n")
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["media-platform", "--no-progress", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _write_licences(env: dict[str, str], entries: dict) -> None:
    Path(env["MEDIA_PLATFORM_LICENCES"]).write_text(yaml.safe_dump({"licences": entries}))


def _ingest(env: dict[str, str], path: Path, title: str, *extra: str) -> str:
    done = _cli(env, "ingest", str(path), "--title", title, "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])["partition_key"]


def _materialize_audio_and_transcript(env: dict[str, str], key: str) -> dg.ExecuteInProcessResult:
    from assets import audio, ingest
    from resources import MediaStorage, TranscriberResource

    with dg.DagsterInstance.get() as instance:
        return dg.materialize(
            [*dg.load_assets_from_modules([ingest, audio])],
            instance=instance,
            resources={"storage": MediaStorage(root=env["MEDIA_PLATFORM_HOME"]),
                       "transcriber": TranscriberResource()},
            partition_key=key,
            selection=["master", "media_probe", "audio", "transcript"],
            raise_on_error=False,
        )


def _row_licence(env: dict[str, str], key: str) -> dict:
    from media_platform.catalogue import Catalogue
    from media_platform.storage import store_from_uri

    row = Catalogue(store_from_uri(env["MEDIA_PLATFORM_HOME"])).get(key)
    assert row is not None
    return row.licence


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def test_cli_ingest_is_capped_by_the_operator_entry(cli_home, shared_media: Path, tmp_path: Path) -> None:
    jfk = tmp_path / "jfk.flac"
    jfk.write_bytes((shared_media / "audio/whisper_jfk/jfk.flac").read_bytes())
    _write_licences(cli_home, {"JFK Capped": {"uses": ["analysis"]}})
    key = _ingest(cli_home, jfk, "JFK Capped", "--licence", "full")
    record = _row_licence(cli_home, key)
    assert (record["analysis"], record["search_indexing"], record["derivatives"]) == (True, False, False)


def test_restricted_title_gets_no_audio_or_transcript_from_cli_ingest_and_manual_run(
    cli_home, shared_media: Path, tmp_path: Path
) -> None:
    jfk = tmp_path / "jfk.flac"
    jfk.write_bytes((shared_media / "audio/whisper_jfk/jfk.flac").read_bytes())
    _write_licences(cli_home, {"JFK Restricted": {"uses": []}})
    key = _ingest(cli_home, jfk, "JFK Restricted")
    result = _materialize_audio_and_transcript(cli_home, key)
    assert _materialized(result) == {"master", "media_probe"}
    assert result.success
    home = Path(cli_home["MEDIA_PLATFORM_HOME"])
    assert not list((home / "episodes" / key).glob("audio*")) and not list((home / "episodes" / key).glob("transcript*"))


def test_an_entry_added_after_ingest_applies_at_run_time(cli_home, shared_media: Path, tmp_path: Path) -> None:
    """No waiting for the hourly expiry sensor: the gate reads the operator's file when it runs."""
    wav = tmp_path / "test.wav"
    wav.write_bytes((shared_media / "audio/picovoice/test.wav").read_bytes())
    key = _ingest(cli_home, wav, "Later Withdrawn")
    assert _row_licence(cli_home, key) == {}  # the CLI's default: every use
    _write_licences(cli_home, {key: {"uses": []}})
    result = _materialize_audio_and_transcript(cli_home, key)
    assert _materialized(result) == {"master", "media_probe"} and result.success
    # an unreadable file never silently allows: the gated asset fails and says why
    Path(cli_home["MEDIA_PLATFORM_LICENCES"]).write_text("licences:\n  x: {uses: [analysis]\n")
    broken = _materialize_audio_and_transcript(cli_home, key)
    assert not broken.success
    failures = {e.step_key: str(e.event_specific_data.error) for e in broken.all_events
                if e.event_type_value == "STEP_FAILURE"}
    assert "audio" in failures and "cannot read licence catalogue" in failures["audio"]
    assert cli_home["MEDIA_PLATFORM_LICENCES"] in failures["audio"]
    assert not list((Path(cli_home["MEDIA_PLATFORM_HOME"]) / "episodes" / key).glob("audio*"))


# --------------------------------------------------------------------------------------------
# The operator's file is re-read at run time, never frozen into the row (review findings 2, 3)


def _stored(row):
    from media_platform.catalogue import Episode

    return Episode(**{**row.__dict__, "content_hash": "ab" * 32})


def _cli_row(record: dict | None, metadata: dict, title: str):
    from media_platform.catalogue import Episode
    from media_platform.keys import partition_key_for

    return Episode(partition_key=partition_key_for(title), title=title, kind="audio",
                   master_uri="file:///m", master_key="masters/m/master.flac",
                   content_hash="cd" * 32, source="cli", licence=record or {}, metadata=metadata)


def test_cli_all_rights_reserved_is_never_widened_by_the_gate() -> None:
    from media_platform.licences.episodes import cli_licence, licence_in_force

    arr = recognise_licence_string("all-rights-reserved", source="cli")
    full = {"jfk-arr": PRESETS["full"]}
    record, meta = cli_licence(arr, "JFK ARR", None, full)
    row = _cli_row(record, meta, "JFK ARR")
    assert licence_in_force(row, full).uses == frozenset()
    # the entry is added after ingest
    record, meta = cli_licence(arr, "JFK ARR", None, {})
    row = _cli_row(record, meta, "JFK ARR")
    assert licence_in_force(row, {}).uses == frozenset()
    assert licence_in_force(row, full).uses == frozenset()


def test_feed_entry_granted_after_ingest_applies() -> None:
    from media_platform.ingest.rss_episodes import rss_episode
    from media_platform.licences.episodes import licence_in_force

    feed = FeedConfig(url=FEED.url, title=FEED.title, default_licence="analysis-only")
    row = _stored(rss_episode(_item("Episode 1"), feed, catalogue_licences={}))
    assert licence_in_force(row, {}).uses == {"analysis"}
    assert licence_in_force(row, {"restricted-show": PRESETS["full"]}).uses == PRESETS["full"].uses


def test_deleting_the_feed_entry_falls_back_to_the_feed_default() -> None:
    from media_platform.ingest.rss_episodes import rss_episode
    from media_platform.licences.episodes import licence_in_force

    entries = {"restricted-show": PRESETS["full"]}
    feed = FeedConfig(url=FEED.url, title=FEED.title, default_licence="analysis-only")
    row = _stored(rss_episode(_item("Episode 1"), feed, catalogue_licences=entries))
    assert licence_in_force(row, entries).uses == PRESETS["full"].uses
    assert licence_in_force(row, {}).uses == {"analysis"}
    no_default = FeedConfig(url=FEED.url, title=FEED.title)
    row = _stored(rss_episode(_item("Episode 1"), no_default, catalogue_licences=entries))
    assert licence_in_force(row, entries).uses == PRESETS["full"].uses
    assert licence_in_force(row, {}).uses == frozenset()  # conservative


def test_item_title_entry_full_under_feed_default_analysis_only() -> None:
    from media_platform.ingest.rss_episodes import rss_episode
    from media_platform.licences.episodes import licence_in_force

    feed = FeedConfig(url=FEED.url, title=FEED.title, default_licence="analysis-only")
    entries = {"open-title": PRESETS["full"]}
    row = _stored(rss_episode(_item("Open Title"), feed, catalogue_licences=entries))
    assert row.licence["analysis"] and not row.licence["search_indexing"]
    assert licence_in_force(row, entries).uses == {"analysis"}
    assert licence_in_force(row, {}).uses == {"analysis"}
