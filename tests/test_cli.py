"""The ``media-platform`` command-line tool, run as a real subprocess against a temporary
storage root and Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_harness import cli, make_cli_env


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    return make_cli_env(tmp_path_factory.mktemp("cli"))


def _no_metadata_build(env: dict[str, str]) -> dict[str, str]:
    """The environment of a `run` whose test reads no metadata: it skips the dbt build (the
    default, a build after every run, is checked by test_ingest_run_show_search)."""
    return dict(env, MEDIA_PLATFORM_RUN_BUILDS_METADATA="0")


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

    # the run brought the metadata database up to date: the episode's shot is queryable at once
    assert "metadata database updated" in run.stdout
    counted = cli(cli_env, "sql", "SELECT count(*) AS n, min(duration_s) AS d FROM fct_shots", "--json")
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout) == [{"n": 1, "d": 3.0}]
    listing = cli(cli_env, "list", "--json")
    assert [r["partition_key"] for r in json.loads(listing.stdout)] == [key]


def test_one_run_of_several_episodes_survives_a_bad_one_and_builds_the_database_once(tmp_path: Path) -> None:
    """``run A B``: B's master is gone, so B fails; A still runs, the metadata database is built
    (once, after both) with A in it, and the exit status and stderr say B failed."""
    env = make_cli_env(tmp_path / "cli")
    keys = []
    for name, colour in (("Good Clip", "red"), ("Broken Clip", "blue")):
        clip = tmp_path / f"{colour}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c={colour}:s=160x90:d=2:r=25",
                        "-pix_fmt", "yuv420p", str(clip)], check=True)
        ingest = cli(env, "ingest", str(clip), "--title", name, "--json")
        assert ingest.returncode == 0, ingest.stderr
        keys.append(json.loads(ingest.stdout.strip().splitlines()[-1])["partition_key"])
    good, broken = keys
    for master in (Path(env["MEDIA_PLATFORM_HOME"]) / "masters" / broken).iterdir():
        master.unlink()
    run = cli(env, "run", broken, good, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"succeeded for partition {good!r}" in run.stdout
    assert f"failed for {broken}" in run.stderr and f"1 of 2 runs failed: {broken}" in run.stderr
    assert run.stdout.count("metadata database updated") == 1
    shots = cli(env, "sql", "SELECT partition_key, count(*) AS n FROM fct_shots GROUP BY 1", "--json")
    assert json.loads(shots.stdout) == [{"partition_key": good, "n": 1}]
    # every partition is checked before any runs
    refused = cli(env, "run", good, "no-such-episode")
    assert refused.returncode == 2 and "unknown partition 'no-such-episode'" in refused.stderr
    assert "succeeded" not in refused.stdout


def test_licence_and_subtitles_at_ingest(cli_env, shared_media: Path) -> None:
    jfk = shared_media / "audio/whisper_jfk"
    ingest = cli(cli_env, "ingest", str(jfk / "jfk.flac"), "--title", "JFK", "--licence", "cc-by-nd-4.0",
                 "--subtitles", str(jfk / "jfk.srt"), "--json")
    assert ingest.returncode == 0, ingest.stderr
    key = json.loads(ingest.stdout.strip().splitlines()[-1])["partition_key"]
    run = cli(_no_metadata_build(cli_env), "run", key)  # this test reads no metadata
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


def _cli_bytes(env: dict[str, str], *args: str | bytes) -> subprocess.CompletedProcess[str]:
    """Run the tool with raw byte arguments (what a shell passes for a non-UTF-8 file name)."""
    argv = [b"media-platform", b"--no-progress", *(a if isinstance(a, bytes) else a.encode() for a in args)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, errors="replace", timeout=300, check=False)


def test_text_that_is_not_unicode_is_refused_at_the_door(cli_env, shared_media: Path, tmp_path: Path) -> None:
    """A file name whose bytes are not UTF-8 (a real file on disk), and such bytes in a title, an
    episode id or a partition argument: ``error: <input>: <problem>``, exit 2, no traceback,
    nothing stored."""
    folder = os.fsencode(tmp_path)
    bad_name = folder + b"/clip-\xff\xfe.wav"
    with open(bad_name, "wb") as fh:
        fh.write((shared_media / "audio/picovoice/test.wav").read_bytes())
    good = tmp_path / "good.wav"
    good.write_bytes((shared_media / "audio/picovoice/test.wav").read_bytes())
    before = cli(cli_env, "list", "--json")
    cases = [
        ((bad_name, b"--title", b"Fine"), "clip-\\xff\\xfe.wav: not valid UTF-8 text"),
        ((os.fsencode(good), b"--title", b"Bad \xff title"), "--title: not valid UTF-8 text"),
        ((os.fsencode(good), b"--title", b"Fine", b"--episode", b"e\xed\xa0\x80"), "--episode: not valid UTF-8 text"),
    ]
    for args, message in cases:
        result = _cli_bytes(cli_env, b"ingest", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.strip() == f"error: {message}" or result.stderr.strip().endswith(message), result.stderr
        assert "Traceback" not in result.stderr
    for args, message in [((b"run", b"ep-\xff"), "partition: not valid UTF-8 text"),
                          ((b"search", b"a \xff car"), "the search text: not valid UTF-8 text")]:
        result = _cli_bytes(cli_env, *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert cli(cli_env, "list", "--json").stdout == before.stdout  # nothing was registered


def test_retried_subtitles_after_a_bad_sidecar_are_attached(cli_env, shared_media: Path, tmp_path: Path) -> None:
    """A bad subtitle is refused before anything is registered; the retry with a good one
    ingests the episode with it. An episode ingested without subtitles gets them from a later
    ingest of the same content (it used to say "nothing to do")."""
    jfk = shared_media / "audio/whisper_jfk"
    wav = tmp_path / "jfk.wav"  # content of its own (the FLAC is ingested by another test)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(jfk / "jfk.flac"), str(wav)], check=True)
    bad = tmp_path / "bad.srt"
    bad.write_bytes(b"\x00\x01 not subtitles \xff" * 20)
    first = cli(cli_env, "ingest", str(wav), "--title", "JFK Retry", "--subtitles", str(bad))
    assert first.returncode == 2 and "bad.srt" in first.stderr, first.stderr
    assert "JFK Retry" not in cli(cli_env, "list", "--json").stdout
    retry = cli(cli_env, "ingest", str(wav), "--title", "JFK Retry", "--subtitles", str(jfk / "jfk.srt"), "--json")
    assert retry.returncode == 0, retry.stderr
    result = json.loads(retry.stdout.strip().splitlines()[-1])
    assert result["created"] and result["subtitles_attached"]
    [master] = json.loads(cli(cli_env, "show", result["partition_key"], "master", "--json").stdout)
    assert master["metadata"]["subtitle_key"].endswith("subtitle.srt")

    wav = tmp_path / "later.wav"
    wav.write_bytes((shared_media / "audio/picovoice/test.wav").read_bytes())
    plain = json.loads(cli(cli_env, "ingest", str(wav), "--title", "Later Subs", "--json").stdout.strip().splitlines()[-1])
    assert plain["created"] and not plain["subtitles_attached"]
    later = cli(cli_env, "ingest", str(wav), "--title", "Later Subs", "--subtitles", str(jfk / "jfk.srt"), "--json")
    assert later.returncode == 0, later.stderr
    assert "attached the subtitles" in later.stdout
    [master] = json.loads(cli(cli_env, "show", plain["partition_key"], "master", "--json").stdout)
    assert master["metadata"]["subtitle_key"].endswith("subtitle.srt")


def test_select_uses_dagsters_selection_syntax(cli_env, shared_media: Path, tmp_path: Path) -> None:
    """``--select`` means what it means in the UI and in ``dagster asset materialize``."""
    clip = tmp_path / "counter.mp4"
    clip.write_bytes((shared_media / "video/pyscenedetect/counter.mp4").read_bytes())
    ingest = cli(cli_env, "ingest", str(clip), "--title", "Select Syntax", "--json")
    key = json.loads(ingest.stdout.strip().splitlines()[-1])["partition_key"]

    def steps(*select: str) -> list[str]:
        result = cli(_no_metadata_build(cli_env), "run", key, *(a for s in select for a in ("--select", s)))
        assert result.returncode == 0, result.stderr
        assert "metadata database updated" not in result.stdout and "not rebuilt by runs here" in result.stderr
        return [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]

    assert steps("*shots") == ["master", "media_probe", "shots", "shots_shots_tile_duration"]
    mixed = steps("shots,key:keyframes", "master")
    assert {"master", "shots", "keyframes"} <= set(mixed) and "media_probe" not in mixed, mixed
    for bad, message in [("nosuch", "--select: unknown asset nosuch"), ("(((", "--select: Invalid selection"),
                         ("group:models", "--select: 'group:models' selects no episode asset")]:
        result = cli(cli_env, "run", key, "--select", bad)
        assert result.returncode == 2 and f"error: {message}" in result.stderr, result.stderr
