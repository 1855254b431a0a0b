"""The upload sensor against what an uploader controls: file names that are not valid text,
sidecar fields holding lone surrogates, sidecar titles and licences that try to widen what the
operator allowed, and a tick that must stop registering when its time budget is spent.

Regression tests for issue 9, defects 4 and 5 (uploads)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from media_platform.ingest.upload_cursor import UploadCursor
from media_platform.licences import load_catalogue
from media_platform.licences.episodes import licence_in_force
from tests.test_sensor_uploads import COUNTER, JFK, _names, local  # noqa: F401 - fixture

BAD_NAME = b"bad\xff-talk.mp4"  # not UTF-8: os.fsdecode gives a lone surrogate


def _stored_masters(home: Path) -> list[str]:
    folder = home / "masters"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _drop_non_utf8_master(landing: Path, source: Path) -> None:
    """A real file whose name is not valid UTF-8 (created through the bytes API)."""
    target = os.path.join(os.fsencode(landing), BAD_NAME)
    shutil.copyfile(os.fsencode(source), target)
    shutil.copyfile(os.devnull, target + b".done")


def test_invalid_text_rejected_once_never_retried_no_orphans(local, shared_media: Path, monkeypatch) -> None:  # noqa: F811
    import sensors.uploads as uploads

    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "analysis-only")
    registered: list[str] = []
    real = uploads.register_master

    def counting(*args, **kwargs):
        registered.append(kwargs.get("title", "?"))
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "register_master", counting)

    _drop_non_utf8_master(landing, shared_media / COUNTER)
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    # JSON escapes decode to lone surrogates: valid JSON, invalid text
    (landing / "jfk.flac.json").write_text('{"title": "JFK \\udc80 speech", "complete": true}')
    shutil.copyfile(shared_media / JFK, landing / "episode.flac")
    (landing / "episode.flac.json").write_text('{"episode": "\\ud800", "complete": true}')
    shutil.copyfile(shared_media / JFK, landing / "subbed.flac")
    (landing / "subbed.flac.json").write_text('{"subtitle": "s\\udcff.srt", "complete": true}')
    shutil.copyfile(shared_media / COUNTER, landing / "good.mp4")
    (landing / "good.mp4.done").touch()

    first = h.tick()
    (request,) = first.run_requests  # the valid upload of the same tick goes through
    assert request.partition_key == "good"
    warnings = h.warnings()
    assert len(warnings) == 4, warnings
    text = "\n".join(warnings)
    assert "bad\\xff-talk.mp4: not registered:" in text and "not valid UTF-8" in text
    assert "jfk.flac.json.title: not valid UTF-8 text" in text
    assert "episode.flac.json.episode: not valid UTF-8 text" in text
    assert "subbed.flac.json.subtitle: not valid UTF-8 text" in text
    assert all(c.isprintable() or c == "\n" for c in text)
    bad = UploadCursor.decode(first.cursor).bad
    assert len(bad) == 4 and os.fsdecode(BAD_NAME) in bad
    assert registered == ["good"]  # nothing probed, hashed or stored for the bad ones

    for _ in range(3):
        again = h.tick()
        assert again.run_requests == []
    assert len(h.warnings()) == 4  # reported once, not every tick
    assert registered == ["good"]  # and never retried
    assert _stored_masters(h.home) == ["good"]  # no orphan master
    assert [e.partition_key for e in h.catalogue().episodes()] == ["good"]

    # fixing the sidecar retries that upload only
    (landing / "jfk.flac.json").write_text(json.dumps({"title": "JFK speech", "complete": True}))
    (request,) = h.tick().run_requests
    assert request.partition_key == "jfk-speech" and len(h.warnings()) == 4
    assert registered == ["good", "JFK speech"]


def test_transient_errors_are_retried(local, shared_media: Path, monkeypatch) -> None:  # noqa: F811
    import sensors.uploads as uploads

    h, landing = local
    shutil.copyfile(shared_media / COUNTER, landing / "counter.mp4")
    (landing / "counter.mp4.done").touch()
    real = uploads.register_master
    calls: list[int] = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("storage hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "register_master", flaky)
    assert h.tick().run_requests == [] and h.tick().run_requests == []
    assert sum("will retry" in m for m in h.warnings()) == 2
    (request,) = h.tick().run_requests
    assert request.partition_key == "counter" and len(calls) == 3


# --------------------------------------------------------------------------------------------
# Licences: the uploader can only restrict


def _licences(tmp_path: Path, monkeypatch, text: str) -> None:
    path = tmp_path / "licences.yaml"
    path.write_text(text)
    monkeypatch.setenv("MEDIA_PLATFORM_LICENCES", str(path))


def test_sidecar_title_naming_a_permissive_entry_does_not_widen(local, shared_media, tmp_path, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "analysis-only")
    _licences(tmp_path, monkeypatch, "open-title:\n  identifier: full\n")
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.flac.json").write_text(json.dumps({"title": "Open Title", "complete": True}))
    (request,) = h.tick().run_requests
    row = h.catalogue().get(request.partition_key)
    assert row.licence["analysis"] and not row.licence["derivatives"]
    assert not row.licence["search_indexing"]
    assert "preview" not in _names(request) and "shot_index" not in _names(request)
    # the run-time gate, which re-reads the operator's file, keeps the zone's restriction
    entries = load_catalogue(tmp_path / "licences.yaml")
    assert licence_in_force(row, entries).uses == {"analysis"}


def test_no_zone_licence_a_title_entry_grants_nothing(local, shared_media, tmp_path, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    _licences(tmp_path, monkeypatch, "open-title:\n  identifier: full\n")
    shutil.copyfile(shared_media / JFK, landing / "open_title.flac")
    (landing / "open_title.flac.done").touch()
    (request,) = h.tick().run_requests
    assert _names(request) == {"master", "media_probe"}


def test_operator_entry_restricts_an_upload(local, shared_media, tmp_path, monkeypatch) -> None:  # noqa: F811
    """An entry for the upload's title (sidecar or file name) is a further restriction."""
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "full")
    _licences(tmp_path, monkeypatch, "jfk:\n  identifier: analysis-only\n")
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.flac.done").touch()
    # the sidecar title cannot escape the entry of the file's own name
    shutil.copyfile(shared_media / COUNTER, landing / "jfk.mp4")
    (landing / "jfk.mp4.json").write_text(json.dumps({"title": "Something else", "complete": True}))
    requests = {r.partition_key: r for r in h.tick().run_requests}
    assert set(requests) == {"jfk", "something-else"}
    for key, request in requests.items():
        row = h.catalogue().get(key)
        assert row.licence["analysis"] and not row.licence["derivatives"], key
        assert row.metadata["licence_source"] == "catalogue"
        assert "preview" not in _names(request)


def test_sidecar_full_under_zone_analysis_only_stays_analysis_only(local, shared_media, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "analysis-only")
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.flac.json").write_text(json.dumps({"licence": "full", "complete": True}))
    (request,) = h.tick().run_requests
    row = h.catalogue().get("jfk")
    assert row.licence["analysis"] and not row.licence["search_indexing"]
    assert not row.licence["derivatives"]
    assert "preview" not in _names(request) and "shot_index" not in _names(request)
    # the zone's licence (the default) and the uploader's claim are kept apart, for the gate
    assert [c.get("identifier") for c in row.metadata["licence_claims"]] == ["full"]
    assert row.metadata["licence_default"]["identifier"] == "analysis-only"
    assert row.metadata["licence_source"] == "default" and "jfk" in row.metadata["licence_title_keys"]


def test_sidecar_licence_restricts_the_zone(local, shared_media, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "full")
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    (landing / "jfk.flac.json").write_text(json.dumps(
        {"licence": {"uses": ["analysis"], "territories": ["DE"]}, "complete": True}))
    (request,) = h.tick().run_requests
    row = h.catalogue().get("jfk")
    assert row.licence["analysis"] and not row.licence["search_indexing"]
    assert row.licence["territories"] == ["DE"]
    assert "shots" in _names(request) and "shot_index" not in _names(request)


# --------------------------------------------------------------------------------------------
# Time budget


def test_tick_stops_registering_when_its_budget_is_spent(local, shared_media: Path, monkeypatch) -> None:  # noqa: F811
    import sensors.uploads as uploads

    h, landing = local
    clock = [1000.0]

    def slow_register(*args, real=uploads.register_master, **kwargs):
        clock[0] += 25.0  # each registration "takes" 25 s
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "register_master", slow_register)
    monkeypatch.setattr(uploads, "_clock", lambda: clock[0])
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        shutil.copyfile(shared_media / COUNTER if name != "b.mp4" else shared_media / JFK, landing / name)
        (landing / f"{name}.done").touch()
    # same content twice is fine: registration of c finds a's hash
    first = h.tick()
    assert [r.partition_key for r in first.run_requests] == ["a", "b"]  # 50 s > 40 s budget
    second = h.tick()
    assert second.run_requests == [] and "c.mp4: same content already ingested" in "\n".join(h.infos())
    assert UploadCursor.decode(second.cursor).done_partitions == {"a.mp4": "a", "b.mp4": "b", "c.mp4": "a"}
    assert uploads.TICK_BUDGET_S == 40.0


HOSTILE_SIDECARS = {
    # json.loads raises a plain ValueError (int digit limit), not a JSONDecodeError
    "huge.flac": '{"episode": ' + "9" * 5000 + ', "complete": true}',
    # json.loads raises RecursionError
    "deep.flac": '{"title": ' + "[" * 30_000 + "]" * 30_000 + ', "complete": true}',
}


def test_hostile_sidecar_is_marked_bad_once_and_the_good_upload_is_ingested(local, shared_media: Path) -> None:  # noqa: F811
    h, landing = local
    for name, text in HOSTILE_SIDECARS.items():
        shutil.copyfile(shared_media / JFK, landing / name)
        (landing / f"{name}.json").write_text(text)
    shutil.copyfile(shared_media / COUNTER, landing / "good.mp4")
    (landing / "good.mp4.done").touch()

    first = h.tick()
    assert [r.partition_key for r in first.run_requests] == ["good"]
    bad = UploadCursor.decode(first.cursor).bad
    assert set(bad) == set(HOSTILE_SIDECARS)
    text = "\n".join(h.warnings())
    assert "huge.flac.json" in text and "deep.flac.json" in text
    assert h.tick().run_requests == []
    assert len(h.warnings()) == 2  # reported once


def test_hostile_licence_sidecar_for_the_cli_is_an_input_error(tmp_path: Path) -> None:
    import pytest

    from media_platform.errors import InvalidInputError
    from media_platform.licences import load_sidecar

    for name, text in HOSTILE_SIDECARS.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text.replace('"complete": true', '"identifier": "cc-by"'))
        with pytest.raises(InvalidInputError, match=name):
            load_sidecar(path)


# --------------------------------------------------------------------------------------------
# The run-time gate re-resolves uploads against the operator's current file (review finding 3)


def _upload_row(h, landing: Path, shared_media: Path, sidecar: dict | None = None):
    shutil.copyfile(shared_media / JFK, landing / "jfk.flac")
    if sidecar is None:
        (landing / "jfk.flac.done").touch()
    else:
        (landing / "jfk.flac.json").write_text(json.dumps({**sidecar, "complete": True}))
    (request,) = h.tick().run_requests
    return h.catalogue().get(request.partition_key)


def test_upload_entry_widened_after_ingest_applies_up_to_the_zone(local, shared_media, tmp_path, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "full")
    _licences(tmp_path, monkeypatch, "jfk:\n  identifier: analysis-only\n")
    row = _upload_row(h, landing, shared_media)
    assert licence_in_force(row, load_catalogue(tmp_path / "licences.yaml")).uses == {"analysis"}
    (tmp_path / "licences.yaml").write_text("jfk:\n  identifier: analysis-and-search\n")
    assert licence_in_force(row, load_catalogue(tmp_path / "licences.yaml")).uses == {"analysis", "search_indexing"}


def test_upload_entry_deleted_falls_back_to_the_zone(local, shared_media, tmp_path, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "analysis-and-search")
    _licences(tmp_path, monkeypatch, "jfk:\n  identifier: none\n")
    row = _upload_row(h, landing, shared_media)
    assert not row.licence["analysis"]
    assert licence_in_force(row, {}).uses == {"analysis", "search_indexing"}


def test_upload_without_zone_entry_deleted_is_conservative(local, shared_media, tmp_path, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    _licences(tmp_path, monkeypatch, "jfk:\n  identifier: full\n")
    row = _upload_row(h, landing, shared_media)
    assert licence_in_force(row, load_catalogue(tmp_path / "licences.yaml")).uses == frozenset()
    assert licence_in_force(row, {}).uses == frozenset()


def test_upload_title_entry_full_under_zone_analysis_only(local, shared_media, tmp_path, monkeypatch) -> None:  # noqa: F811
    h, landing = local
    monkeypatch.setenv("MEDIA_PLATFORM_UPLOAD_LICENCE", "analysis-only")
    _licences(tmp_path, monkeypatch, "open-title:\n  identifier: full\n")
    row = _upload_row(h, landing, shared_media, {"title": "Open Title"})
    assert row.licence["analysis"] and not row.licence["search_indexing"]
    assert licence_in_force(row, load_catalogue(tmp_path / "licences.yaml")).uses == {"analysis"}
    assert licence_in_force(row, {}).uses == {"analysis"}
