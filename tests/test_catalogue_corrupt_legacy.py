"""Defect 6 on the old layout: a truncated ``catalogue/episodes.parquet`` used to give a raw
traceback from every command. Now every command says ``error: <file>: <problem>``, and the file
is left byte-identical (it is imported only once it reads)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import polars as pl

COLUMNS = ("partition_key", "title", "episode_id", "kind", "master_uri", "master_key", "content_hash",
           "source", "licence_json", "metadata_json", "ingested_at", "updated_at")


def test_a_truncated_legacy_catalogue_is_named_by_every_command_and_kept(tmp_path: Path) -> None:
    rows = [{c: f"{c}-{i}" for c in COLUMNS} | {"partition_key": f"ep-{i}", "licence_json": "{}", "metadata_json": "{}",
                                                "kind": "audio", "source": "cli", "episode_id": None}
            for i in range(50)]
    buf = io.BytesIO()
    pl.DataFrame(rows, schema={c: pl.Utf8 for c in COLUMNS}).write_parquet(buf)
    home = tmp_path / "home"
    legacy = home / "catalogue" / "episodes.parquet"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(buf.getvalue()[:-200])
    before = legacy.read_bytes()
    env = {**os.environ, "MEDIA_PLATFORM_HOME": str(home), "DAGSTER_HOME": str(tmp_path / "dagster")}
    env.pop("MEDIA_PLATFORM_CATALOGUE_URL", None)
    for _ in range(2):
        result = subprocess.run(["media-platform", "list"], capture_output=True,
                                text=True, env=env, timeout=120)
        assert result.returncode != 0
        assert result.stderr.startswith(f"error: {legacy}: not a readable Parquet catalogue"), result.stderr
        assert "Traceback" not in result.stderr
        assert legacy.read_bytes() == before
