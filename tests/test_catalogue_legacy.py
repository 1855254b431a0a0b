"""The one-time import of the old Parquet catalogue: rows the previous release wrote on purpose
(a second RSS row with the same content, marked ``same_content_as``) are imported, and the
import is keyed on the file's content, so moving the home folder does not run it again."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from media_platform.catalogue import Catalogue, CatalogueError
from media_platform.catalogue import legacy as legacy_module
from media_platform.catalogue.database import SQLITE_KEY
from media_platform.catalogue.episode import COLUMNS
from media_platform.catalogue.legacy import LEGACY_KEY
from media_platform.storage import LocalStore

H = "f" * 64


def _row(key: str, digest: str, source: str, at: str, **metadata: object) -> dict[str, str]:
    """A row as the Parquet catalogue of release 19bde17 wrote it (all text, "" for no hash)."""
    return {"partition_key": key, "title": key.title(), "episode_id": None, "kind": "audio",
            "master_uri": f"file:///home/masters/{key}/master.mp3", "master_key": f"masters/{key}/master.mp3",
            "content_hash": digest, "source": source, "licence_json": "{}",
            "metadata_json": json.dumps(metadata, sort_keys=True), "ingested_at": at, "updated_at": at}


def _write_legacy(root: Path, rows: list[dict[str, str]]) -> bytes:
    buf = io.BytesIO()
    pl.DataFrame(rows, schema={c: pl.Utf8 for c in COLUMNS}).write_parquet(buf, compression="zstd")
    LocalStore(root).write_bytes(LEGACY_KEY, buf.getvalue())
    return buf.getvalue()


def _old_release_rows() -> list[dict[str, str]]:
    # file order differs from time order: the earliest row keeps the hash, wherever it is
    return [
        _row("feed-ep-2", H, "rss", "2026-03-02T00:00:00+00:00", same_content_as="feed-ep-1", enclosure_length=9),
        _row("feed-ep-1", H, "rss", "2026-03-01T00:00:00+00:00"),
        _row("feed-ep-3", H, "rss", "2026-03-03T00:00:00+00:00"),
        _row("pending", "", "rss", "2026-03-04T00:00:00+00:00"),
        _row("upload", "1" * 64, "upload", "2026-02-01T00:00:00+00:00"),
    ]


def _keys_and_hashes(root: Path) -> dict[str, str]:
    return {e.partition_key: e.content_hash for e in Catalogue(LocalStore(root)).episodes()}


def test_rows_the_previous_release_wrote_with_the_same_content_are_imported(tmp_path: Path) -> None:
    data = _write_legacy(tmp_path, _old_release_rows())
    cat = Catalogue(LocalStore(tmp_path))
    rows = {e.partition_key: e for e in cat.episodes()}
    assert sorted(rows) == ["feed-ep-1", "feed-ep-2", "feed-ep-3", "pending", "upload"]
    assert rows["feed-ep-1"].content_hash == H and cat.find_by_hash(H).partition_key == "feed-ep-1"
    assert rows["feed-ep-2"].content_hash == "" and rows["feed-ep-3"].content_hash == ""
    assert rows["feed-ep-2"].metadata == {"same_content_as": "feed-ep-1", "enclosure_length": 9, "legacy_content_hash": H}
    assert rows["feed-ep-3"].metadata == {"same_content_as": "feed-ep-1", "legacy_content_hash": H}
    assert rows["feed-ep-1"].metadata == {} and rows["upload"].content_hash == "1" * 64
    assert LocalStore(tmp_path).read_bytes(LEGACY_KEY) == data  # the file is kept as it was


def test_moving_the_home_folder_does_not_import_again(tmp_path: Path) -> None:
    before, after = tmp_path / "home", tmp_path / "moved" / "home"
    _write_legacy(before, [r for r in _old_release_rows() if r["partition_key"] not in ("feed-ep-2", "feed-ep-3")])
    Catalogue(LocalStore(before)).remove("upload")  # a change after the import must stand
    after.parent.mkdir()
    shutil.move(before, after)
    code = ("from media_platform.catalogue import Catalogue; from media_platform.storage import LocalStore;"
            f"print(sorted(e.partition_key for e in Catalogue(LocalStore({str(after)!r})).episodes()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['feed-ep-1', 'pending']"
    engine = sa.create_engine(f"sqlite:///{after / SQLITE_KEY}")
    with engine.connect() as conn:
        markers = conn.exec_driver_sql("SELECT name FROM catalogue_meta").scalars().all()
    engine.dispose()
    digest = hashlib.sha256(LocalStore(after).read_bytes(LEGACY_KEY)).hexdigest()
    assert markers == [f"legacy_import:sha256:{digest}"]


def _forget_markers(root: Path, replacement: tuple[str, str] | None = None) -> None:
    engine = sa.create_engine(f"sqlite:///{root / SQLITE_KEY}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM catalogue_meta")
        if replacement:
            conn.exec_driver_sql("INSERT INTO catalogue_meta VALUES (?, ?)", replacement)
    engine.dispose()
    legacy_module._CHECKED.clear()


def test_the_import_is_idempotent_and_honours_markers_keyed_by_uri(tmp_path: Path) -> None:
    data = _write_legacy(tmp_path, _old_release_rows())
    Catalogue(LocalStore(tmp_path)).update_metadata("pending", enclosure_length=5)
    # the marker lost: rows identical to the database's count as imported, nothing fails or doubles
    _forget_markers(tmp_path)
    assert len(_keys_and_hashes(tmp_path)) == 5
    # a database an earlier version marked under the file's old URI: not imported again
    Catalogue(LocalStore(tmp_path)).remove("upload")
    old_marker = ("legacy_import:file:///elsewhere/catalogue/episodes.parquet",
                  json.dumps({"rows": 5, "sha256": hashlib.sha256(data).hexdigest()}))
    _forget_markers(tmp_path, old_marker)
    assert "upload" not in _keys_and_hashes(tmp_path)
    # a key the database holds with other content is still a conflict, named, nothing imported
    rows = _old_release_rows()
    rows[3]["content_hash"] = "2" * 64
    rows.append(_row("new", "3" * 64, "cli", "2026-04-01T00:00:00+00:00"))
    _write_legacy(tmp_path, rows)
    legacy_module._CHECKED.clear()
    with pytest.raises(CatalogueError, match=r"episodes\.parquet: its rows conflict"):
        Catalogue(LocalStore(tmp_path))
    engine = sa.create_engine(f"sqlite:///{tmp_path / SQLITE_KEY}")
    with engine.connect() as conn:
        keys = conn.exec_driver_sql("SELECT partition_key FROM catalogue_episodes").scalars().all()
    engine.dispose()
    assert "new" not in keys and "upload" not in keys
