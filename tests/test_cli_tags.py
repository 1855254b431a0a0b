"""An editor's loop through the command-line tool, as real subprocesses against a temporary
storage root and Dagster instance: label shots, train the label through Dagster, see what to
label next, read the tags back and search by tag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import cli, make_cli_env


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    return make_cli_env(tmp_path_factory.mktemp("cli-tags"))


@pytest.fixture(scope="module")
def episodes(cli_env, shared_media: Path) -> dict[str, str]:
    media = {
        "bunny": shared_media / "video/blender_bbb/big_buck_bunny_0_30.webm",
        "goldeneye": shared_media / "video/pyscenedetect/issue-134-rotate.mp4",
        "counter": shared_media / "video/pyscenedetect/counter.mp4",
    }
    keys = {}
    for name, path in media.items():
        ingest = cli(cli_env, "ingest", str(path), "--title", f"Tags {name}", "--json")
        assert ingest.returncode == 0, ingest.stderr
        keys[name] = json.loads(ingest.stdout.strip().splitlines()[-1])["partition_key"]
    # one `run` of the three (one start of the command, one metadata build at the end)
    run = cli(cli_env, "run", *keys.values(), timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(f"succeeded for partition {key!r}" in run.stdout for key in keys.values()), run.stdout
    return keys


def _shots(cli_env, key: str) -> list[int]:
    return [r["shot"] for r in json.loads(cli(cli_env, "show", key, "shots", "--json").stdout)]


def test_label_train_suggest_show_search(cli_env, episodes) -> None:
    bunny, golden, counter = episodes["bunny"], episodes["goldeneye"], episodes["counter"]
    positives = [f"{bunny}:{s}" for s in _shots(cli_env, bunny)]
    negatives = [f"{golden}:{s}" for s in _shots(cli_env, golden)]
    args = [a for p in positives for a in ("--positive", p)] + [a for n in negatives for a in ("--negative", n)]
    labelled = cli(cli_env, "label", "cartoon", *args, "--editor", "ann", "--json")
    assert labelled.returncode == 0, labelled.stderr
    row = json.loads(labelled.stdout)[0]
    assert (row["added"], row["positives"], row["negatives"]) == (len(args) // 2, len(positives), len(negatives))
    again = cli(cli_env, "label", "cartoon", *args, "--json")  # idempotent
    assert json.loads(again.stdout)[0]["unchanged"] == len(args) // 2

    trained = cli(cli_env, "train", "cartoon", "--json")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    evaluation = json.loads(trained.stdout)[0]
    assert evaluation["version"] == 1 and evaluation["positives"] == len(positives)
    assert 0.0 <= evaluation["cv_average_precision"] <= 1.0

    suggested = cli(cli_env, "suggest", "cartoon", "--limit", "5", "--json")
    assert suggested.returncode == 0, suggested.stderr
    rows = json.loads(suggested.stdout)
    assert rows and {r["partition"] for r in rows} == {counter}  # every other shot is labelled
    assert {r["feed"] for r in rows} <= {"top_positive", "top_negative", "borderline", "random"}

    # without a daemon, the tags follow when the user re-runs them (with one, automation does)
    rerun = cli(dict(cli_env, MEDIA_PLATFORM_RUN_BUILDS_METADATA="0"), "run", bunny, "--select", "shot_tags+")
    assert rerun.returncode == 0, rerun.stderr
    tags = json.loads(cli(cli_env, "show", bunny, "shot_tags", "--json").stdout)
    assert tags and set(tags[0]) == {"shot", "tag", "score", "source", "above_threshold"}
    assert {r["source"] for r in tags} >= {"zero-shot", "audio", "fusion", "classifier:cartoon@v1"}

    found = cli(cli_env, "search", "a cartoon rabbit", "--tag", "cartoon", "--limit", "50", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits and {h["partition"] for h in hits} == {bunny}
    assert all("cartoon" in h["tags"] for h in hits)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["label", "cartoon"], "at least one --positive"),
        (["label", "Bad Label!", "--positive", "x:1"], "label"),
        (["label", "cartoon", "--positive", "no-colon"], "no-colon"),
        (["label", "cartoon", "--positive", "unknown-episode:0"], "unknown partition"),
        (["train", "never-labelled"], "at least 3"),
        (["suggest", "never-labelled"], "no examples"),
        (["search", "x", "--tag", "../etc"], "label"),
    ],
)
def test_bad_input_is_refused(cli_env, episodes, args: list[str], problem: str) -> None:
    result = cli(cli_env, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and problem in result.stderr


def test_unknown_and_contradictory_shots(cli_env, episodes) -> None:
    bunny = episodes["bunny"]
    unknown = cli(cli_env, "label", "dusk", "--positive", f"{bunny}:999")
    assert unknown.returncode == 2 and "unknown shot" in unknown.stderr
    both = cli(cli_env, "label", "dusk", "--positive", f"{bunny}:0", "--negative", f"{bunny}:0")
    assert both.returncode == 2 and f"{bunny}:0" in both.stderr
    assert cli(cli_env, "label", "dusk", "--positive", f"{bunny}:1").returncode == 0
    flipped = cli(cli_env, "label", "dusk", "--negative", f"{bunny}:1")
    assert flipped.returncode == 2 and "--remove" in flipped.stderr
    fixed = cli(cli_env, "label", "dusk", "--remove", f"{bunny}:1", "--negative", f"{bunny}:1", "--json")
    assert fixed.returncode == 0 and json.loads(fixed.stdout)[0]["negatives"] == 1
    few = cli(cli_env, "train", "dusk")
    assert few.returncode == 2 and "at least 3" in few.stderr
