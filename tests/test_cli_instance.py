"""Several ``media-platform`` commands started together on a fresh ``DAGSTER_HOME``: the
instance is prepared once, under a lock, so none of them races to create Dagster's SQLite
storage (which used to fail some ingests after their row was written and leave the storage with
two migration heads, breaking every later command). Real subprocesses on a temporary home."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest

INGESTS = 4


def _tone(path: Path, frequency: int) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration=1",
                    "-ar", "16000", str(path)], check=True)
    return path


@pytest.fixture()
def fresh_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MEDIA_PLATFORM_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster")})
    for name in ("MEDIA_PLATFORM_CATALOGUE_URL", "MEDIA_PLATFORM_QDRANT_URL"):
        env.pop(name, None)
    return env


def test_concurrent_ingests_on_a_fresh_instance(fresh_env: dict[str, str], tmp_path: Path) -> None:
    files = [_tone(tmp_path / f"tone{i}.wav", 300 + 110 * i) for i in range(INGESTS + 1)]
    procs = [
        subprocess.Popen(["media-platform", "--no-progress", "ingest", str(f), "--title", f"Tone {i}", "--json"],
                         env=fresh_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, f in enumerate(files[:INGESTS])
    ]
    outcomes = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    failures = [(code, err) for code, _, err in outcomes if code != 0]
    assert not failures, failures
    reported = [json.loads(out.strip().splitlines()[-1])["partition_key"] for _, out, _ in outcomes]
    assert len(set(reported)) == INGESTS

    listing = subprocess.run(["media-platform", "--no-progress", "list", "--json"], env=fresh_env,
                             capture_output=True, text=True, timeout=300, check=False)
    assert listing.returncode == 0, listing.stderr
    assert sorted(r["partition_key"] for r in json.loads(listing.stdout)) == sorted(reported)

    fifth = subprocess.run(["media-platform", "--no-progress", "ingest", str(files[-1]), "--title", "Tone 4", "--json"],
                           env=fresh_env, capture_output=True, text=True, timeout=300, check=False)
    assert fifth.returncode == 0, fifth.stderr
    reported.append(json.loads(fifth.stdout.strip().splitlines()[-1])["partition_key"])

    with dg.DagsterInstance.from_config(fresh_env["DAGSTER_HOME"]) as instance:  # still opens
        assert sorted(instance.get_dynamic_partitions("episodes")) == sorted(reported)
        assert instance.get_runs(limit=1) == []


def test_a_failed_partition_leaves_no_row_and_no_master(monkeypatch, capsys, tmp_path: Path) -> None:
    """Every step of ingest that can fail comes before the row is visible, or is undone: when
    adding the Dagster partition fails, the new row and its stored master are removed again."""
    from media_platform.catalogue import Catalogue
    from media_platform.cli import main
    from media_platform.cli.code_location import load_code_location
    from media_platform.storage import LocalStore

    monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.delenv("MEDIA_PLATFORM_CATALOGUE_URL", raising=False)
    code = load_code_location()

    def broken(instance, partition_key: str) -> bool:
        raise RuntimeError("the instance refused the partition")

    monkeypatch.setattr(code, "add_episode_partition", broken)
    tone = _tone(tmp_path / "tone.wav", 440)
    assert main(["--no-progress", "ingest", str(tone), "--title", "Lost Partition"]) == 1
    assert "error: ingest: RuntimeError: the instance refused the partition" in capsys.readouterr().err
    store = LocalStore(tmp_path / "home")
    assert list(Catalogue(store).episodes()) == []
    assert store.list_keys("masters") == []

    monkeypatch.undo()
    monkeypatch.setenv("MEDIA_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    assert main(["--no-progress", "ingest", str(tone), "--title", "Lost Partition"]) == 0  # the retry works
    assert [e.partition_key for e in Catalogue(store).episodes()] == ["lost-partition"]
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_dynamic_partitions("episodes") == ["lost-partition"]
