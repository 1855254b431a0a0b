"""Running the ``media-platform`` command as a real subprocess against a temporary storage
root and Dagster instance (tiny CLIP from a checkpoint written here)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint


def make_cli_env(root: Path) -> dict[str, str]:
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


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["media-platform", "--no-progress", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
