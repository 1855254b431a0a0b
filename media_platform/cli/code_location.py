"""The Dagster side of the command-line tool: the instance in ``$DAGSTER_HOME``, prepared once
under a lock, and the code location ``definitions.py``, loaded with Dagster's own loader for a
python file and its working directory (what ``workspace.yaml`` and ``dagster dev -f`` use).

Several commands started together on a fresh ``DAGSTER_HOME`` must not race to create Dagster's
SQLite storage (that leaves two migration heads and breaks the instance for good), so every
command calls :func:`prepare_instance` before anything touches the instance.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from filelock import FileLock

from media_platform.cli.inputs import CliError
from media_platform.layout import EPISODES_PARTITIONS_NAME
from media_platform.settings import get_settings
from media_platform.storage import Store, store_from_uri

if TYPE_CHECKING:
    import dagster as dg

PREPARED_MARKER = ".media-platform-instance-prepared"
DEFAULT_INSTANCE_CONFIG = "# Dagster instance of the media platform (SQLite storage in this folder)\n"
LOCK_TIMEOUT_S = 300.0


def project_root() -> Path:
    """The folder holding ``definitions.py``: ``$MEDIA_PLATFORM_PROJECT``, else the checkout
    this package lies in."""
    configured = get_settings().project
    root = Path(configured).expanduser().resolve() if configured else Path(__file__).resolve().parents[2]
    if not (root / "definitions.py").is_file():
        raise CliError(
            f"{root}: no code location (definitions.py) here; set MEDIA_PLATFORM_PROJECT to the "
            "repository folder"
        )
    return root


def prepare_instance(home: Path | None = None) -> Path:
    """Create the Dagster instance in ``home`` (default ``$DAGSTER_HOME``) once: its
    ``dagster.yaml`` (SQLite defaults) when missing, and every storage, under a file lock, so
    that concurrent first commands never race to create the schema. Returns the folder."""
    home = (home or get_settings().dagster_home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    marker = home / PREPARED_MARKER
    if marker.exists():
        return home
    with FileLock(str(home / ".media-platform-instance.lock"), timeout=LOCK_TIMEOUT_S):
        if marker.exists():
            return home
        config = home / "dagster.yaml"
        if not config.exists():
            tmp = home / f".dagster.yaml.{os.getpid()}.tmp"
            tmp.write_text(DEFAULT_INSTANCE_CONFIG)
            os.replace(tmp, config)
        import dagster as dg

        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.get_runs(limit=1)  # run storage
            instance.get_dynamic_partitions(EPISODES_PARTITIONS_NAME)  # event log storage
            instance.all_instigator_state()  # schedule storage
        marker.write_text(f"dagster {dg.__version__}\n")
    return home


def open_instance() -> dg.DagsterInstance:
    """The instance of ``$DAGSTER_HOME`` (the one ``dagster dev`` serves), prepared first."""
    import dagster as dg

    return dg.DagsterInstance.from_config(str(prepare_instance()))


@lru_cache(maxsize=1)
def load_code_location() -> ModuleType:
    """``definitions.py`` of the project, imported by Dagster's loader with the project as its
    working directory (the tool never edits ``sys.path`` itself)."""
    from dagster._core.code_pointer import load_python_file

    root = project_root()
    return load_python_file(root / "definitions.py", working_directory=str(root))


def open_store() -> Store:
    """The storage root of the settings: a local folder directly; ``s3://`` through the code
    location's ``storage`` resource (endpoint, region and ``dg.EnvVar`` credentials resolved)."""
    settings = get_settings()
    if settings.home_is_s3:
        return load_code_location().resource("storage").get_store()
    return store_from_uri(settings.media_home)
