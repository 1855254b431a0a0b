"""Landing-zone rules (pure): grouping masters with sidecars and markers, sidecar validation,
the size-stability cursor."""

from __future__ import annotations

import json

import pytest

from media_platform.errors import InvalidInputError
from media_platform.ingest.upload_cursor import UploadCursor
from media_platform.ingest.uploads import (
    LandingFile,
    group_landing_files,
    parse_licence_value,
    parse_sidecar,
    title_from_name,
    upload_keys,
    upload_licence,
    validate_subtitle_name,
)
from media_platform.licences import PRESETS, Licence


def _f(name: str, size: int = 10, version: str = "1") -> LandingFile:
    return LandingFile(name, size, version)


def test_grouping() -> None:
    files = [
        _f("talk.mp4"), _f("talk.mp4.json"), _f("talk.srt"),
        _f("song.flac"), _f("song.done"),
        _f("a.wav"), _f("a.mp3"), _f("a.json"),  # stem sidecar is ambiguous: not used
        _f(".hidden.mp4"), _f("upload.mp4.part"), _f("x.mov.crdownload"), _f("notes.vtt"),
    ]
    got = {c.master.name: c for c in group_landing_files(files)}
    assert sorted(got) == ["a.mp3", "a.wav", "song.flac", "talk.mp4"]
    assert got["talk.mp4"].sidecar.name == "talk.mp4.json" and got["talk.mp4"].done_marker is None
    assert got["song.flac"].done_marker.name == "song.done" and got["song.flac"].sidecar is None
    assert got["a.wav"].sidecar is None and got["a.mp3"].sidecar is None


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "sub/x.srt", "..\\x.srt", ".hidden.srt", "x..srt",
             "x.srt\x00", "C:x.srt", "subs.txt", "", 3]
)
def test_subtitle_names_rejected(name) -> None:
    with pytest.raises(InvalidInputError):
        validate_subtitle_name(name)


def test_sidecar_parsing() -> None:
    sc = parse_sidecar(json.dumps({
        "title": " JFK ", "episode": 1, "licence": "cc-by-nd-4.0", "subtitle": "jfk.srt", "complete": True,
    }).encode())
    assert sc.title == "JFK" and sc.episode == "1" and sc.subtitle == "jfk.srt" and sc.complete
    assert sc.licence.identifier == "cc-by-nd-4.0" and not sc.licence.derivatives
    assert sc.licence.source == "sidecar"
    sc = parse_sidecar(b'{"license": {"uses": ["analysis"], "expires": "2030-01-01"}}')
    assert sc.licence.uses == {"analysis"} and str(sc.licence.expires) == "2030-01-01"
    assert parse_sidecar(b"{}").licence is None and not parse_sidecar(b"{}").complete


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "not UTF-8 JSON"),
        (b"[1]", "expected a JSON object"),
        (b'{"titel": "x"}', "unknown keys"),
        (b'{"title": ""}', "title"),
        (b'{"episode": true}', "episode"),
        (b'{"licence": "whatever-licence"}', "unknown licence"),
        (b'{"licence": {"analyse": true}}', "unknown keys"),
        (b'{"licence": "full", "license": "full"}', "either"),
        (b'{"subtitle": "../../etc/passwd"}', "not a plain sibling file name"),
        (b'{"complete": "yes"}', "complete"),
        (b'{"title": "' + b"x" * 70_000 + b'"}', "larger than"),
        # JSON escapes that decode to lone surrogates: valid JSON, not valid text
        (b'{"title": "a\\udc80b"}', r"x\.mp4\.json\.title: not valid UTF-8 text"),
        (b'{"episode": "\\ud800"}', r"\.episode: not valid UTF-8 text"),
        (b'{"subtitle": "s\\udcff.srt"}', r"\.subtitle: not valid UTF-8 text"),
        (b'{"licence": "full\\udc80"}', r"\.licence: not valid UTF-8 text"),
        (b'{"licence": {"identifier": "\\udc80"}}', r"\.licence\.identifier: not valid UTF-8"),
        (b'{"\\udc80": 1}', "a key: not valid UTF-8 text"),
        (b'{"title": "tab\\u0007bell"}', "control characters"),
    ],
)
def test_sidecar_errors(data: bytes, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        parse_sidecar(data, where="landing/x.mp4.json")


def test_surrogate_subtitle_name_rejected() -> None:
    with pytest.raises(InvalidInputError, match="not valid UTF-8 text"):
        validate_subtitle_name("s\udcff.srt")


def _lic(name: str, **changes) -> Licence:
    from dataclasses import replace

    return replace(PRESETS[name], source="catalogue", **changes)


def test_upload_licence_never_wider_than_the_zone() -> None:
    zone = parse_licence_value("analysis-only", "zone", source="default")
    entries = {"open-title": _lic("full"), "secret": _lic("none")}
    # a sidecar title naming a permissive entry gains nothing
    got = upload_licence(zone=zone, entries=entries, keys=upload_keys("x.mp4", "Open Title", None),
                         claim=None)
    assert got.licence.uses == {"analysis"} and got.licence.source == "default"
    # a claim of "full" under an analysis-only zone stays analysis-only
    full = parse_licence_value("full")
    got = upload_licence(zone=zone, entries={}, keys=["x"], claim=full)
    assert got.licence.uses == {"analysis"} and got.licence.identifier == "analysis-only"
    assert [c.identifier for c in got.claims] == ["full"] and got.default.identifier == "analysis-only"
    assert got.ceiling.identifier == "analysis-only"
    # no zone licence: the conservative one, whatever the entry or the claim says
    got = upload_licence(zone=None, entries=entries, keys=["open-title"], claim=full)
    assert got.licence.uses == frozenset() and got.licence.identifier == "none"
    # entries and claims restrict a permissive zone; every matching entry applies
    zone_full = parse_licence_value("full", "zone", source="default")
    got = upload_licence(zone=zone_full, entries=entries, keys=["open-title", "secret"], claim=None)
    assert got.licence.uses == frozenset() and got.licence.source == "catalogue"
    claim = parse_licence_value({"uses": ["analysis", "search_indexing"], "territories": ["DE"]})
    got = upload_licence(zone=zone_full, entries={}, keys=[], claim=claim)
    assert got.licence.uses == {"analysis", "search_indexing"}
    assert got.licence.territories == ("DE",)
    meta = got.metadata()
    assert len(meta["licence_claims"]) == 1 and meta["licence_default"]["identifier"] == "full"
    assert meta["licence_operator_keys"] == [] and meta["licence_title_keys"] == []
    # a zone of "all rights reserved" allows no use, and restricts an entry too
    arr = parse_licence_value("all-rights-reserved", "zone", source="default")
    got = upload_licence(zone=arr, entries=entries, keys=["open-title"], claim=None)
    assert got.licence.uses == frozenset()


def test_upload_keys() -> None:
    assert upload_keys("open_title.mp4", "Talk", "3") == ["talk-e03", "talk", "open-title-e03", "open-title"]
    assert upload_keys("talk.mp4", None, None) == ["talk"]


def test_title_from_name() -> None:
    assert title_from_name("my_great-talk.2024.mp4") == "my great talk 2024"
    assert title_from_name("x.mp4") == "x"


def test_cursor_stability_done_bad_and_prune() -> None:
    cursor = UploadCursor()
    (c1,) = group_landing_files([_f("a.mp4", 10, "t1")])
    assert cursor.status(c1) == "waiting"
    cursor.wait(c1)
    (grown,) = group_landing_files([_f("a.mp4", 20, "t2")])
    assert cursor.status(grown) == "waiting"  # still growing
    cursor.wait(grown)
    assert cursor.status(grown) == "ready"  # same size twice
    cursor.mark_done(grown, "a")
    assert cursor.status(grown) == "done"
    # a sidecar appearing changes the signature: looked at again
    (with_sidecar,) = group_landing_files([_f("a.mp4", 20, "t2"), _f("a.mp4.json")])
    assert cursor.status(with_sidecar) == "waiting"
    assert cursor.status(with_sidecar, marked_complete=True) == "ready"
    cursor.mark_bad(with_sidecar, "not media")
    assert cursor.status(with_sidecar) == "bad"
    (b,) = group_landing_files([_f("b.mp4"), _f("b.mp4.done")])
    assert cursor.status(b) == "ready"  # marker: no need to wait

    again = UploadCursor.decode(cursor.encode())
    assert again == cursor
    again.prune(["zzz.mp4"])
    assert again == UploadCursor()
    assert UploadCursor.decode(None) == UploadCursor()
    for bad in ("nope", '{"v": 9}', '{"v": 1, "done": {"a": 3}}'):
        with pytest.raises(InvalidInputError):
            UploadCursor.decode(bad)
