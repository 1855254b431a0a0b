"""An incremental metadata build reads only the changed partitions' files.

The home is the benchmark's synthetic one (``benchmarks/metadata_build.py``: the real layout and
schemas, written with the platform's writers). After a first build, an unchanged episode's
Parquet files get their data pages overwritten while their size and modification time stay the
same (so its fingerprint is unchanged and the footers still read): a build that scans every
partition's files fails on them, as the full refresh below shows, while the incremental build
after one new episode succeeds and loads only that episode.
"""

from __future__ import annotations

import os
from pathlib import Path

import benchmark_modules
import duckdb
import pytest

from media_platform.metadata import build_metadata_db
from media_platform.metadata.build import MetadataBuildError

bench = benchmark_modules.load("metadata_build")

FACTS = ("fct_shots", "fct_shot_tags", "fct_transcript_segments", "fct_audio_events", "fct_previews")


def _query(db: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _spoil_data_pages(path: Path) -> None:
    """Overwrite the bytes after the leading magic (the first data page) with zeros, keeping the
    footer, the size and the modification time."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[4:68] = bytes(64)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _spoil_json(path: Path) -> None:
    """Make a JSON file unparsable, keeping its size and modification time."""
    stat = path.stat()
    path.write_bytes(b"{" + b" " * (stat.st_size - 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_one_new_episode_reads_only_its_own_files(tmp_path) -> None:
    home = tmp_path / "home"
    bench.add_episodes(home, 0, 3)
    db = tmp_path / "metadata.duckdb"
    build_metadata_db(home=home, db_path=db)
    before = {m: _query(db, f"select count(*), max(loaded_at) from {m}")[0] for m in FACTS}
    kept = _query(db, "select shot_id, tag_names, words, loaded_at from fct_shots where partition_key = 'ep-000000' order by 1")
    for name in ("shots", "keyframes", "shot_tags", "transcript", "audio_events", "chapters"):
        _spoil_data_pages(home / "episodes" / "ep-000000" / f"{name}.parquet")
    _spoil_json(home / "episodes" / "ep-000000" / "preview.json")

    bench.add_episodes(home, 3, 4)
    report = build_metadata_db(home=home, db_path=db)

    assert set(report.tests.values()) == {"pass"}
    for model in FACTS:
        rows, loaded = before[model]
        new = _query(db, f"select count(*) from {model} where partition_key = 'ep-000003'")[0][0]
        assert new > 0, model
        assert _query(db, f"select count(*) from {model} where loaded_at > ?", loaded)[0][0] == new, model
        assert _query(db, f"select count(*) from {model}")[0][0] == rows + new, model
    assert _query(db, "select shot_id, tag_names, words, loaded_at from fct_shots "
                      "where partition_key = 'ep-000000' order by 1") == kept
    # the spoiled files are really unreadable: a build that reads every file fails on them
    with pytest.raises(MetadataBuildError):
        build_metadata_db(home=home, db_path=db, full_refresh=True)
