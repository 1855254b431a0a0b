"""The platform's settings: one typed object read from the environment (pydantic-settings).

Every ``MEDIA_PLATFORM_*`` variable (plus ``DAGSTER_HOME`` and ``AWS_REGION``) is declared here
and nowhere else: domain code calls :func:`get_settings` and reads fields; it never reads
``os.environ`` itself and never writes to it. Secrets (AWS keys, the Qdrant API key) are not
settings: the Dagster layer reads them with ``dg.EnvVar`` so they never appear in run config.

The object is built once per distinct environment: :func:`get_settings` caches it keyed on the
values of the variables it reads, so a changed variable (a test's ``monkeypatch.setenv``, a
re-configured process) is seen on the next call without re-parsing on every call.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from media_platform.errors import InvalidInputError

DEFAULT_HOME = Path("~/.media-platform")
ENV_PREFIX = "MEDIA_PLATFORM_"
_OTHER_VARIABLES = ("DAGSTER_HOME", "AWS_REGION", "XDG_CACHE_HOME")


class Settings(BaseSettings):
    """What an operator configures, with the defaults of a laptop install."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    # Where things live
    home: str = Field("", description="storage root: a folder or s3://bucket/prefix")
    dagster_home_dir: str = Field(
        "", validation_alias=AliasChoices("DAGSTER_HOME"), description="Dagster instance folder"
    )
    project: str = Field("", description="repository folder holding definitions.py")
    catalogue_url: str = Field(
        "",
        description="SQLAlchemy URL of the episode catalogue (default: SQLite in the home; "
        "postgresql+psycopg://... for production)",
    )
    cache: str = Field("", description="cache folder for converted models")
    xdg_cache_home: str = Field("", validation_alias=AliasChoices("XDG_CACHE_HOME"))

    # Ingestion
    feeds: str = Field("", description="feeds YAML file")
    licences: str = Field("", description="the operator's licence catalogue (YAML)")
    landing: str = Field("", description="upload landing folder or s3://bucket/prefix")
    upload_licence: str = Field("", description="licence of uploads without licence information")
    upload_max_per_tick: int = Field(5, ge=1, le=1000)
    allow_private_urls: bool = Field(
        False, description="allow outbound requests to loopback/private/link-local addresses"
    )
    feed_max_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest feed body")
    feed_deadline_s: float = Field(
        15.0, gt=0, le=120, description="time one feed may take, fetch and parse together"
    )
    rss_tick_budget_s: float = Field(
        40.0, gt=0, le=55, description="time one RSS sensor tick may spend on feeds (Dagster: 60 s)"
    )

    # Storage on S3 (credentials are read by the Dagster layer with dg.EnvVar)
    s3_endpoint_url: str = ""
    aws_region: str = Field("", validation_alias=AliasChoices("AWS_REGION"))

    # Models
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "laion2b_s34b_b79k"
    clip_checkpoint: str = ""
    clip_model_config: str = ""
    clip_batch_size: int = Field(
        0, ge=0, le=4096, description="keyframes per CLIP forward pass; 0: by device (CUDA 128, CPU 32)"
    )
    clip_image_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="CLIP image tower on the CPU: bfloat16 encodes 2.3-3.8x more keyframes a second "
        "(cosine > 0.9999 to float32); auto: bfloat16 on a CPU with native bfloat16",
    )
    qdrant_url: str = ""
    whisper_backend: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    whisper_model: str = "tiny.en"
    whisper_beam_size: int = Field(
        1, ge=1, le=16, description="Whisper beam size (1: greedy; benchmarks/transcription.py)"
    )
    whisper_batch_size: int | None = Field(
        None, ge=0, le=256,
        description="speech windows faster-whisper decodes at once (BatchedInferencePipeline); "
        "0: sequential decoding; unset: 8 on CUDA, 0 on CPU, where batching tiny.en cost more "
        "CPU than sequential decoding (benchmarks/transcription.py)",
    )
    whisper_workers: int | None = Field(
        None, ge=1, le=16,
        description="faster-whisper decoders that transcribe different groups of speech regions "
        "at once (CTranslate2 num_workers, the cores split between them); unset: one per core on "
        "the CPU, at most 4 (benchmarks/preview.py)",
    )
    transcribe_middle_fraction: float | None = Field(
        None, gt=0, le=1,
        description="transcribe only the centred fraction of each episode (Spotify's 'middle "
        "80%' for previews: 0.8); unset: the whole episode",
    )
    tag_vocabulary: Path | None = Field(
        None, description="shot-tag vocabulary YAML (default: the packaged default_vocabulary.yaml)"
    )

    # The metadata database (dbt on DuckDB)
    metadata_db: Path | None = Field(
        None, description="the metadata DuckDB file (default: metadata/metadata.duckdb in the local home)"
    )
    metadata_target: Literal["duckdb", "postgres"] = Field(
        "duckdb", description="where the metadata models are built: the DuckDB file, or PostgreSQL"
    )
    metadata_postgres_url: str = Field(
        "", description="PostgreSQL URL of the metadata database (default: the catalogue's, when PostgreSQL)"
    )
    metadata_postgres_schema: str = Field(
        "media_metadata", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="schema the metadata models are built in"
    )
    run_builds_metadata: bool = Field(
        True, description="`media-platform run` rebuilds the metadata database after its runs (off where a "
        "daemon's automation builds it, or for tests that read no metadata)"
    )

    # Scale-out: how steps execute (resources/executors.py; deploy/README.md)
    executor: Literal["default", "in_process", "celery", "k8s"] = Field(
        "default", description="default: in this process (CLI) or Dagster's multiprocess executor; "
        "in_process: every step in the run's own process (one code-location import per run); "
        "celery: every step a Celery task (GPU steps on the gpu queue); k8s: every step a Kubernetes Job",
    )
    celery_broker: str = Field("redis://127.0.0.1:6379/0", description="Celery broker URL (Redis)")
    celery_backend: str = Field("", description="Celery result backend URL (default: the broker)")
    celery_visibility_timeout_s: int = Field(
        3600, ge=10, description="an unacknowledged step of a vanished worker is redelivered after this; "
        "longer than the longest step",
    )
    celery_step_retries: int = Field(2, ge=0, le=20, description="re-deliveries of a step whose worker died")
    celery_retry_delay_s: float = Field(1.0, ge=0, le=600, description="wait before a lost step is re-sent")
    gpu_resource: str = Field("nvidia.com/gpu", description="Kubernetes extended resource of a GPU step")
    gpu_count: int = Field(1, ge=1, le=16, description="GPUs a Kubernetes GPU step requests")
    gpu_toleration_key: str = Field("nvidia.com/gpu", description="taint key of the GPU nodes (tolerated)")
    gpu_node_selector: str = Field(
        "", description="node selector of GPU steps: key=value[,key=value] (e.g. nvidia.com/gpu.present=true)"
    )

    # The command-line tool
    progress: bool = False

    # The search API (media-platform serve)
    api_token: SecretStr | None = Field(
        None, description="token every API request must carry (required to bind beyond loopback)"
    )
    dagster_ui_url: str = Field(
        "http://127.0.0.1:3000", description="base URL of the Dagster UI that episode pages link to"
    )
    api_encoder_threads: int = Field(
        1, ge=1, le=256,
        description="torch threads of the API's text encoder (one query is faster on one thread "
        "when the cores are shared with other requests)",
    )
    api_encoder_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="weights of the API's text tower: bfloat16 halves the memory each query reads "
        "(cosine with float32 > 0.999); auto: bfloat16 on a CPU with native bfloat16, else float32",
    )
    api_exact_search_max_shots: int = Field(
        250_000, ge=0,
        description="the API keeps the index's vectors in memory (4 bytes x dim per shot) up to this "
        "many shots, and scores selective filtered searches exactly over them; 0: always the index",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "tag_vocabulary", "metadata_db", "api_token", "whisper_batch_size", "whisper_workers",
        "transcribe_middle_fraction", mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("catalogue_url")
    @classmethod
    def _catalogue_url(cls, value: str) -> str:
        """A URL SQLAlchemy can parse; the message never echoes it (it may hold a password)."""
        if value:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(value)
            except (ArgumentError, ValueError):
                raise ValueError(
                    "not an SQLAlchemy database URL; expected e.g. "
                    "postgresql+psycopg://user:password@host:5432/database or sqlite:////path/to/episodes.db"
                ) from None
        return value

    # ---- derived values -------------------------------------------------------------------

    @property
    def media_home(self) -> str:
        """The storage root: ``s3://...`` as given, or an absolute local folder."""
        if self.home.startswith("s3://"):
            return self.home
        return str(Path(self.home or DEFAULT_HOME).expanduser().resolve())

    @property
    def home_is_s3(self) -> bool:
        return self.home.startswith("s3://")

    @property
    def local_home(self) -> Path:
        """A local folder for what cannot live on S3 (the Dagster instance, feeds.yaml...):
        the home itself, or ``~/.media-platform`` with an S3 home."""
        return DEFAULT_HOME.expanduser() if self.home_is_s3 else Path(self.media_home)

    @property
    def dagster_home(self) -> Path:
        """``$DAGSTER_HOME``, else ``dagster/`` under the local home."""
        if self.dagster_home_dir:
            return Path(self.dagster_home_dir).expanduser().resolve()
        return self.local_home / "dagster"

    @property
    def metadata_db_path(self) -> Path:
        """``$MEDIA_PLATFORM_METADATA_DB``, else ``metadata/metadata.duckdb`` in the local home."""
        if self.metadata_db is not None:
            return self.metadata_db.expanduser().resolve()
        return self.local_home / "metadata" / "metadata.duckdb"

    @property
    def metadata_postgres(self) -> str:
        """The metadata database's PostgreSQL URL: ``$MEDIA_PLATFORM_METADATA_POSTGRES_URL``, else
        the catalogue's URL when it is PostgreSQL (the same server), else ""."""
        if self.metadata_postgres_url:
            return self.metadata_postgres_url
        return self.catalogue_url if self.catalogue_url.startswith("postgresql") else ""

    @property
    def feeds_path(self) -> Path:
        return Path(self.feeds).expanduser() if self.feeds else self.local_home / "feeds.yaml"

    @property
    def landing_location(self) -> str:
        """The upload landing zone: ``$MEDIA_PLATFORM_LANDING`` (a folder, or ``s3://...`` as
        given), else ``landing/`` in the local home."""
        if self.landing.startswith("s3://"):
            return self.landing
        if self.landing:
            return str(Path(self.landing).expanduser().resolve())
        return str(self.local_home / "landing")

    @property
    def licences_path(self) -> Path | None:
        """The operator's licence catalogue: ``$MEDIA_PLATFORM_LICENCES`` (must exist when set),
        else ``licences.yaml`` in a local home when that file exists."""
        if self.licences:
            return Path(self.licences).expanduser()
        if self.home_is_s3:
            return None
        path = Path(self.media_home) / "licences.yaml"
        return path if path.is_file() else None

    @property
    def cache_dir(self) -> Path:
        if self.cache:
            return Path(self.cache).expanduser()
        base = Path(self.xdg_cache_home).expanduser() if self.xdg_cache_home else Path("~/.cache").expanduser()
        return base / "media_platform"


def _relevant_environment() -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith(ENV_PREFIX) or k in _OTHER_VARIABLES
        )
    )


@lru_cache(maxsize=8)
def _settings_for(environment: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise InvalidInputError(f"environment: {problems}") from None


def get_settings() -> Settings:
    """The settings of the current environment (cached per distinct environment).

    Raises:
        InvalidInputError: a variable has an invalid value (named in the message).
    """
    return _settings_for(_relevant_environment())
