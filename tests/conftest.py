"""Shared test fixtures.

Real media with ground truth lives in ``../shared/media`` beside the repository (see its
README). CI always has it; set ``MEDIA_PLATFORM_REQUIRE_SHARED=1`` (as ``.ci/run`` does) to turn
its absence into a failure instead of a skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from api_harness import api_home, api_server  # noqa: F401 - the search API's session fixtures

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MEDIA = Path(os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO_ROOT.parent / "shared" / "media"))


@pytest.fixture(autouse=True, scope="session")
def _local_test_servers_allowed():
    """Tests serve feeds and media from 127.0.0.1; production refuses internal addresses."""
    previous = os.environ.get("MEDIA_PLATFORM_ALLOW_PRIVATE_URLS")
    os.environ["MEDIA_PLATFORM_ALLOW_PRIVATE_URLS"] = "1"
    yield
    if previous is None:
        os.environ.pop("MEDIA_PLATFORM_ALLOW_PRIVATE_URLS", None)
    else:
        os.environ["MEDIA_PLATFORM_ALLOW_PRIVATE_URLS"] = previous


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """Path to ``../shared/media``; skips (or fails under CI) when it is absent."""
    if not SHARED_MEDIA.is_dir():
        message = f"shared test media not found at {SHARED_MEDIA}"
        if os.environ.get("MEDIA_PLATFORM_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        # A fresh clone on a laptop has no ../shared: skip there, but CI (which sets
        # MEDIA_PLATFORM_REQUIRE_SHARED=1 and always has it) fails instead of skipping.
        pytest.skip(message)
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 in a temporary folder, for the whole session (each
    test makes its own database with ``create_database()``); stopped by PID at the end."""
    from _postgres import postgres_server, require_postgres

    require_postgres()
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch):
    """Runs a test on the catalogue's embedded default (SQLite) and on PostgreSQL (a fresh
    database each time)."""
    if request.param == "postgresql":
        monkeypatch.setenv("MEDIA_PLATFORM_CATALOGUE_URL", request.getfixturevalue("postgres").create_database())
    else:
        monkeypatch.delenv("MEDIA_PLATFORM_CATALOGUE_URL", raising=False)
    yield request.param


@pytest.fixture(scope="session")
def podcast_speech(shared_media: Path) -> tuple[str, list[tuple[float, float]]]:
    """The assembled podcast's ground truth: its reference text (the utterances in order) and
    the span of each utterance in seconds."""
    gt = json.loads((shared_media / "podcast/podcast_assembled.gt.json").read_text())
    texts, regions = [], []
    for seg in gt["segments"]:
        for u in seg.get("utterances") or ([seg] if seg.get("text") else []):
            texts.append(u["text"])
            regions.append((u["start"], u["end"]))
    return " ".join(texts), regions
