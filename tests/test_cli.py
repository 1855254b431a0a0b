"""The ``media-platform`` command-line tool, run as a real subprocess against a temporary
storage root and Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli")
    checkpoint, config = write_tiny_clip_checkpoint(root / "clip")
    env = dict(os.environ)
    env.update({
        "MEDIA_PLATFORM_HOME": str(root / "home"),
        "DAGSTER_HOME": str(root / "dagster"),
        "MEDIA_PLATFORM_CLIP_MODEL": TINY_CLIP_NAME,
        "MEDIA_PLATFORM_CLIP_CHECKPOINT": str(checkpoint),
        "MEDIA_PLATFORM_CLIP_MODEL_CONFIG": str(config),
    })
    env.pop("MEDIA_PLATFORM_QDRANT_URL", None)
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["media-platform", "--no-progress", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_ingest_run_show_search(cli_env, shared_media: Path) -> None:
    counter = shared_media / "video/pyscenedetect/counter.mp4"
    first = cli(cli_env, "ingest", str(counter), "--title", "Counter Test", "--episode", "1", "--json")
    assert first.returncode == 0, first.stderr
    key = json.loads(first.stdout.strip().splitlines()[-1])["partition_key"]
    assert key == "counter-test-e01"
    again = cli(cli_env, "ingest", str(counter), "--title", "Other Title")
    assert again.returncode == 0 and "already ingested" in again.stdout and key in again.stdout

    run = cli(cli_env, "run", key)
    assert run.returncode == 0, run.stderr
    assert "succeeded" in run.stdout

    shots = cli(cli_env, "show", key, "shots", "--json")
    assert shots.returncode == 0, shots.stderr
    assert json.loads(shots.stdout) == [
        {"shot": 0, "start_frame": 0, "end_frame": 29, "start_s": 0.0, "end_s": 3.0, "confidence": 1.0}
    ]

    found = cli(cli_env, "search", "a counter on a screen", "--limit", "5", "--json")
    assert found.returncode == 0, found.stderr
    rows = json.loads(found.stdout)
    assert len(rows) == 1 and rows[0]["partition"] == key and rows[0]["start"] == 0.0 and rows[0]["end"] == 3.0
    assert set(rows[0]) >= {"partition", "start", "end", "score"}

    listing = cli(cli_env, "list", "--json")
    assert [r["partition_key"] for r in json.loads(listing.stdout)] == [key]


def test_licence_and_subtitles_at_ingest(cli_env, shared_media: Path) -> None:
    jfk = shared_media / "audio/whisper_jfk"
    ingest = cli(cli_env, "ingest", str(jfk / "jfk.flac"), "--title", "JFK", "--licence", "cc-by-nd-4.0",
                 "--subtitles", str(jfk / "jfk.srt"), "--json")
    assert ingest.returncode == 0, ingest.stderr
    key = json.loads(ingest.stdout.strip().splitlines()[-1])["partition_key"]
    run = cli(cli_env, "run", key)
    assert run.returncode == 0, run.stderr
    rows = json.loads(cli(cli_env, "show", key, "transcript", "--json").stdout)
    assert "ask not what your country can do for you" in " ".join(r["text"] for r in rows).lower()
    assert set(rows[0]["words"][0]) == {"word", "start", "end", "probability"}
    events = json.loads(cli(cli_env, "show", key, "audio_events", "--json").stdout)
    assert events and set(events[0]) == {"label", "start", "end", "confidence"}
    no_preview = cli(cli_env, "show", key, "preview")  # no derivatives under CC BY-ND
    assert no_preview.returncode == 2 and "not materialized" in no_preview.stderr
    chapters = json.loads(cli(cli_env, "show", key, "chapters", "--json").stdout)
    assert chapters and set(chapters[0]) == {"start", "end", "title", "keywords"}


def test_bad_input_exits_with_clear_errors(cli_env, tmp_path: Path) -> None:
    text = tmp_path / "movie.mp4"
    text.write_text("not a movie\n" * 10)
    cases = [
        (("ingest", str(tmp_path / "missing.mp4"), "--title", "x"), "missing.mp4: file not found"),
        (("ingest", str(text), "--title", "x"), "movie.mp4: not a readable media file"),
        (("run", "no-such-episode"), "unknown partition 'no-such-episode'"),
        (("show", "../../etc", "shots"), "partition key '../../etc'"),
        (("search", "  "), "search text is empty"),
        (("ingest", str(text), "--title", "x", "--licence", "whatever-licence"), "unknown licence"),
    ]
    for args, message in cases:
        result = cli(cli_env, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
