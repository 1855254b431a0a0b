"""Building the metadata database: the dbt project ``dbt_metadata/`` run into a copy of the
DuckDB file, which then replaces the file atomically.

Readers never see a half-built database: dbt writes ``<db>.build-<pid>.duckdb`` (a copy of the
current file, so the incremental models only add what changed), and only a successful build
(every model built, no test failing at severity ``error``) is moved onto the database with
``os.replace``. A reader holding the old file open keeps reading it; the next connection opens
the new one. Builders serialize on ``<db>.lock`` (``fcntl.flock``).

Only a local home is supported in this slice: DuckDB reads the Parquet outputs under
``<home>/episodes/<partition>/`` and the catalogue export ``<home>/exports/episodes.parquet``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from media_platform.errors import InvalidInputError, MediaPlatformError

PROJECT_NAME = "dbt_metadata"
#: Columns the models read from the catalogue export beyond the catalogue's own.
EXPORT_DECISIONS = ("allows_analysis", "allows_search_indexing", "licence_status")


class MetadataBuildError(MediaPlatformError):
    """dbt failed: a model did not build or a test failed at severity ``error``."""


@dataclass(frozen=True)
class NodeResult:
    """One dbt node of a build: ``name`` (model or test), ``kind`` (``model``, ``test``, ...),
    ``status`` (``success``, ``pass``, ``warn``, ``fail``, ``error``, ``skipped``), rows affected
    when dbt reports them (else None), seconds and dbt's message."""

    unique_id: str
    name: str
    kind: str
    status: str
    rows_affected: int | None
    seconds: float
    message: str


@dataclass
class BuildReport:
    """What a build did: the DuckDB file built (``db_path``; None on PostgreSQL, where
    ``where`` names the server, database and schema), seconds, and every node's result."""

    db_path: Path | None
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)
    where: str = ""

    @property
    def models(self) -> dict[str, str]:
        return {n.name: n.status for n in self.nodes if n.kind == "model"}

    @property
    def tests(self) -> dict[str, str]:
        return {n.name: n.status for n in self.nodes if n.kind == "test"}

    @property
    def warnings(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status == "warn"]


def project_dir() -> Path:
    """The dbt project folder: ``dbt_metadata/`` in the source checkout (beside the package)."""
    root = Path(__file__).resolve().parents[2] / PROJECT_NAME
    if not (root / "dbt_project.yml").is_file():
        raise InvalidInputError(f"{root}: no dbt project (dbt_project.yml) here")
    return root


def local_home(home: Path | str) -> Path:
    """The media home as a local folder the models can read (an S3 home is refused)."""
    text = str(home)
    if text.startswith("s3://"):
        raise InvalidInputError(
            f"{text}: the metadata database reads a local home only (an S3 home is not supported yet)"
        )
    path = Path(text).expanduser().resolve()
    if "'" in str(path):
        raise InvalidInputError(f"{path}: a home path with a quote (') cannot be read by the models")
    if not path.is_dir():
        raise InvalidInputError(f"{path}: the media home is not a folder")
    return path


def _check_export(home: Path) -> None:
    """An export written before the licence decisions were added is refused clearly."""
    export = home / "exports" / "episodes.parquet"
    if not export.is_file():
        return
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(export).names)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is named with its problem
        raise InvalidInputError(f"{export}: unreadable catalogue export: {exc}") from exc
    missing = [c for c in EXPORT_DECISIONS if c not in names]
    if missing:
        raise InvalidInputError(
            f"{export}: the catalogue export lacks {', '.join(missing)}; "
            "materialize episode_catalogue again"
        )


@contextmanager
def _build_lock(db_path: Path) -> Iterator[None]:
    lock_path = db_path.with_name(db_path.name + ".lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def node_results(result: object) -> list[NodeResult]:
    nodes = []
    for r in getattr(result, "results", None) or []:
        node = r.node
        response = getattr(r, "adapter_response", None) or {}
        rows = response.get("rows_affected") if isinstance(response, dict) else None
        nodes.append(NodeResult(
            unique_id=node.unique_id,
            name=node.name,
            kind=str(node.resource_type),
            status=str(r.status),
            rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
            seconds=float(r.execution_time or 0.0),
            message=str(r.message or ""),
        ))
    return nodes


def run_dbt(args: list[str]) -> object:
    """``dbt <args>`` of :func:`project_dir` in this process, its artefacts and logs in a
    scratch folder (the project's own ``target/`` manifest is Dagster's)."""
    from dbt.cli.main import dbtRunner

    project = project_dir()
    with tempfile.TemporaryDirectory(prefix="dbt-metadata-") as scratch:
        outcome = dbtRunner().invoke([
            *args, "--project-dir", str(project), "--profiles-dir", str(project),
            "--target-path", str(Path(scratch) / "target"), "--log-path", str(Path(scratch) / "logs"), "--quiet"])
    _close_duckdb_connections()
    if outcome.exception is not None:
        raise MetadataBuildError(f"{project_dir()}: dbt failed: {outcome.exception}")
    return outcome


def _close_duckdb_connections() -> None:
    """dbt-duckdb keeps its DuckDB connection for the process; close it so that the built file
    is complete on disk before it is moved into place."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    DuckDBConnectionManager.close_all_connections()


def dbt_build_args(home: Path, build_path: Path, *, select: str | None = None, full_refresh: bool = False) -> list[str]:
    """The ``dbt build`` arguments for building ``home``'s outputs into ``build_path`` (the
    builder's and the Dagster dbt assets' one recipe)."""
    return dbt_args({"home": str(home), "db_path": str(build_path)}, select=select, full_refresh=full_refresh)


def dbt_args(variables: dict, *, target: str = "duckdb", select: str | None = None, full_refresh: bool = False) -> list[str]:
    """``dbt build`` of ``target`` with ``variables`` (see profiles.yml and dbt_project.yml)."""
    args = ["build", "--target", target, "--vars", json.dumps(variables)]
    if select:
        args += ["--select", select]
    if full_refresh:
        args.append("--full-refresh")
    return args


@contextmanager
def building(db_path: Path, *, full_refresh: bool = False) -> Iterator[Path]:
    """Under the builders' lock, a copy of ``db_path`` to build into (empty for a full
    refresh), moved onto ``db_path`` when the block completes without an exception; removed
    otherwise, so the database is left as it was."""
    db_path = Path(db_path).expanduser().resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(db_path):
        build_path = db_path.with_name(f"{db_path.name}.build-{os.getpid()}.duckdb")
        build_path.unlink(missing_ok=True)
        if db_path.exists() and not full_refresh:
            shutil.copy2(db_path, build_path)
        try:
            yield build_path
            _close_duckdb_connections()
            os.replace(build_path, db_path)
        finally:
            build_path.unlink(missing_ok=True)
            build_path.with_name(build_path.name + ".wal").unlink(missing_ok=True)


def build_metadata_db(
    *, home: Path, db_path: Path, select: str | None = None, full_refresh: bool = False
) -> BuildReport:
    """Run ``dbt build`` of :func:`project_dir` over the outputs in ``home`` into a copy of
    ``db_path``, then move the copy onto ``db_path`` (see the module docstring).

    Args:
        home: the local media home (holding ``episodes/`` and ``exports/``).
        db_path: the metadata DuckDB file (created with its folder when missing).
        select: a dbt selection (``--select``), e.g. ``"fct_shots+"``; None builds everything.
        full_refresh: rebuild the incremental models from scratch.

    Raises:
        InvalidInputError: an S3 or missing home, an out-of-date catalogue export.
        MetadataBuildError: a model failed or a test failed at severity ``error`` (the database
            is left as it was).
    """
    start = time.perf_counter()
    home = local_home(home)
    _check_export(home)
    db_path = Path(db_path).expanduser().resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with building(db_path, full_refresh=full_refresh) as build_path:
        outcome = run_dbt(dbt_build_args(home, build_path, select=select, full_refresh=full_refresh))
        nodes = node_results(outcome.result)
        failed = [n for n in nodes if n.status in ("error", "fail")]
        if failed or not outcome.success:
            detail = "; ".join(f"{n.name}: {n.status}: {n.message}" for n in failed) or "dbt build failed"
            raise MetadataBuildError(f"{db_path}: metadata build failed, database unchanged: {detail}")
    return BuildReport(db_path=db_path, seconds=time.perf_counter() - start, nodes=nodes)
