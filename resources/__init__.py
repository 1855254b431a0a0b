"""Dagster resources: storage, the CLIP encoder and the vector index.

Each resource has a local default (a folder under ``$MEDIA_PLATFORM_HOME``, open_clip weights
by name, an embedded Qdrant engine) and a production setting (S3 through dagster-aws, a Qdrant
server, CUDA), chosen by configuration or environment variables; secrets come through
``dg.EnvVar``.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import dagster as dg
import numpy as np
from dagster_dbt import DbtCliResource
from pydantic import Field

from media_platform.audio.transcribe import transcribe
from media_platform.audio.transcriber import Transcriber
from media_platform.audio.types import Transcript
from media_platform.audio.whisper_backends import load_transcriber
from media_platform.catalogue import Catalogue
from media_platform.metadata.build import project_dir as metadata_project_dir
from media_platform.search.edge import EmbeddedQdrantIndex
from media_platform.search.index import VectorIndex
from media_platform.search.qdrant_server import QdrantServerIndex
from media_platform.settings import get_settings
from media_platform.storage import LocalStore, S3Store, Store
from media_platform.video.clip import ClipEncoder, ClipModelSpec


class MediaStorage(dg.ConfigurableResource):
    """Where every output lives: a local folder, or ``s3://bucket/prefix`` through dagster-aws.

    The layout is the same on both: ``masters/<partition>/``, ``episodes/<partition>/`` and the
    catalogue's Parquet export for analytics, ``exports/episodes.parquet``. The
    catalogue itself is a database (:func:`get_catalogue`): SQLite ``catalogue/episodes.db``
    under a local root, beside the Dagster instance with an S3 root, or the PostgreSQL server
    of ``MEDIA_PLATFORM_CATALOGUE_URL``.
    """

    root: str = Field(default_factory=lambda: get_settings().media_home, description="Local folder or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO...)")
    s3_region: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    def get_store(self) -> Store:
        if self.root.startswith("s3://"):
            from dagster_aws.s3 import S3Resource

            client = S3Resource(
                endpoint_url=self.s3_endpoint_url,
                region_name=self.s3_region,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
            ).get_client()
            bucket, _, prefix = self.root[len("s3://") :].partition("/")
            return S3Store(client, bucket, prefix)
        return LocalStore(self.root)

    def get_catalogue(self) -> Catalogue:
        return Catalogue(self.get_store())


@lru_cache(maxsize=4)
def _cached_encoder(spec: ClipModelSpec, device: str, batch_size: int, image_precision: str = "float32") -> ClipEncoder:
    encoder = ClipEncoder(spec, device=device, batch_size=batch_size)
    encoder.set_image_precision(image_precision)
    return encoder


class ClipEncoderResource(dg.ConfigurableResource):
    """The CLIP model that embeds keyframes and search queries (open_clip).

    ``pretrained`` is an open_clip pretrained tag (downloaded on first use), or ``none`` for
    untrained weights; ``checkpoint_path`` loads a local checkpoint file instead. ``device``
    ``auto`` uses CUDA when present.
    """

    model_name: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    checkpoint_path: str | None = None
    model_config_path: str | None = Field(
        default=None, description="JSON config of a custom open_clip architecture"
    )
    device: str = "auto"
    batch_size: int = Field(default=0, description="keyframes per forward pass; 0: by device (CUDA 128, CPU 32)")
    image_precision: str = Field(
        default="float32", description="image tower on the CPU: float32, bfloat16, or auto (bfloat16 where native)"
    )

    def spec(self) -> ClipModelSpec:
        return ClipModelSpec(
            self.model_name, self.pretrained, self.checkpoint_path or None, self.model_config_path or None
        )

    def get_encoder(self) -> ClipEncoder:
        return _cached_encoder(self.spec(), self.device, self.batch_size, self.image_precision)


_EMBEDDED: dict[tuple[str, str, str | None], EmbeddedQdrantIndex] = {}
_EMBEDDED_LOCK = threading.Lock()


def _cached_embedded_index(path: str, collection: str, lease_root: str | None = None) -> EmbeddedQdrantIndex:
    """One index object (one reader replica, one writer lease) per process, folder and lease root."""
    key = (path, collection, lease_root)
    with _EMBEDDED_LOCK:
        if key not in _EMBEDDED:
            lease_store = None
            if lease_root:  # credentials: boto3's own chain (the environment, an instance role)
                settings = get_settings()
                lease_store = MediaStorage(root=lease_root, s3_endpoint_url=settings.s3_endpoint_url or None,
                                           s3_region=settings.aws_region or None).get_store()
            _EMBEDDED[key] = EmbeddedQdrantIndex(
                Path(path), collection=collection, lease_store=lease_store,
                lease_key=f"vector_index/{collection}.writer.json" if lease_root else None,
            )
        return _EMBEDDED[key]


class VectorIndexResource(dg.ConfigurableResource):
    """The shot vector index: a Qdrant server when ``url`` is set, else Qdrant's engine embedded
    in-process (qdrant-edge) in a local folder."""

    url: str | None = Field(default=None, description="Qdrant server URL, e.g. http://qdrant:6333")
    api_key: str | None = None
    collection: str = "shots"
    embedded_path: str | None = Field(
        default=None, description="Folder of the embedded index (default: <home>/vector_index)"
    )
    lease_root: str | None = Field(
        default=None,
        description="Where embedded writers hold their writer lease: an S3 home (s3://bucket/prefix; each "
        "host keeps its own index folder, so the lease must sit in the shared bucket); default: the folder",
    )

    def get_index(self) -> VectorIndex:
        if self.url:
            return QdrantServerIndex(self.url, api_key=self.api_key, collection=self.collection)
        return _cached_embedded_index(self.resolved_embedded_path(), self.collection, self.lease_root or None)

    def resolved_embedded_path(self) -> str:
        if self.embedded_path:
            return self.embedded_path
        return str(get_settings().local_home / "vector_index")


@lru_cache(maxsize=2)
def _cached_transcriber(spec: str, device: str, compute_type: str, workers: int | None = None) -> Transcriber:
    extra = {"workers": workers} if workers is not None else {}
    return load_transcriber(spec, device=device, compute_type=compute_type, **extra)


class TranscriberResource(dg.ConfigurableResource):
    """Whisper for transcripts: ``backend`` faster-whisper (default) or openai-whisper; ``model``
    a model name or local path (default: the bundled tiny.en CTranslate2 model). Device and
    compute type ``auto``: CUDA float16 when present, int8 on CPU. Only speech regions (plus
    ``margin_s``) are transcribed; ``middle_fraction`` restricts long episodes to their middle
    (``MEDIA_PLATFORM_TRANSCRIBE_MIDDLE_FRACTION``, e.g. 0.8 for previews); ``workers``:
    faster-whisper decoders working at once (``MEDIA_PLATFORM_WHISPER_WORKERS``; unset: one
    per core on the CPU, at most 4)."""

    backend: str = "faster-whisper"
    model: str = "tiny.en"
    device: str = "auto"
    compute_type: str = "auto"
    margin_s: float = 0.5
    middle_fraction: float | None = Field(
        default=None, gt=0, le=1,
        description="Transcribe only the centred fraction of each episode (0.8: Spotify's middle 80%)",
    )
    workers: int | None = Field(default=None, ge=1, le=16, description="faster-whisper decoders at once")
    pack_regions: bool = Field(
        default=True,
        description="Lay the speech regions end to end, in one call per worker group (times mapped back): faster and more "
        "accurate than one call per region (benchmarks/transcription.py)",
    )

    def get_transcriber(self) -> Transcriber:
        workers = self.workers if self.backend == "faster-whisper" else None
        return _cached_transcriber(f"{self.backend}:{self.model}", self.device, self.compute_type, workers)

    def transcribe(
        self, samples: np.ndarray, speech_regions: list[tuple[float, float]]
    ) -> tuple[Transcript, dict]:
        """Transcribe 16 kHz mono ``samples`` inside ``speech_regions``; (transcript, report)."""
        return transcribe(
            samples, self.get_transcriber(), speech_regions=speech_regions,
            margin_s=self.margin_s, middle_fraction=self.middle_fraction, pack_regions=self.pack_regions,
        )


def _secret(name: str) -> dg.EnvVar | None:
    """``dg.EnvVar(name)`` when the variable is set: Dagster resolves it when it initializes the
    resource (in a run, a sensor, or :func:`initialized`), so the secret never enters run config."""
    return dg.EnvVar(name) if dg.EnvVar(name).get_value() else None


def resources_from_env() -> dict[str, dg.ConfigurableResource]:
    """The resources, configured from the platform's settings (``get_settings()``: every
    variable is optional):

    - ``MEDIA_PLATFORM_HOME``: local folder or ``s3://bucket/prefix``; with S3 also
      ``MEDIA_PLATFORM_S3_ENDPOINT_URL`` and ``AWS_REGION``; the credentials
      ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` are secrets, read through ``dg.EnvVar``.
    - ``MEDIA_PLATFORM_CLIP_MODEL``, ``MEDIA_PLATFORM_CLIP_PRETRAINED``,
      ``MEDIA_PLATFORM_CLIP_CHECKPOINT``, ``MEDIA_PLATFORM_CLIP_MODEL_CONFIG``,
      ``MEDIA_PLATFORM_DEVICE`` (auto, cpu, cuda).
    - ``MEDIA_PLATFORM_QDRANT_URL``; its secret ``MEDIA_PLATFORM_QDRANT_API_KEY`` (``dg.EnvVar``).
    - ``MEDIA_PLATFORM_WHISPER_BACKEND`` (faster-whisper, openai-whisper),
      ``MEDIA_PLATFORM_WHISPER_MODEL`` (name or local path), ``MEDIA_PLATFORM_WHISPER_WORKERS``,
      ``MEDIA_PLATFORM_TRANSCRIBE_MIDDLE_FRACTION``.
    - ``dbt``: the dbt CLI on the metadata project ``dbt_metadata/`` (its database:
      ``MEDIA_PLATFORM_METADATA_DB``, default ``<local home>/metadata/metadata.duckdb``).
    """
    settings = get_settings()
    if settings.home_is_s3:
        storage = MediaStorage(
            root=settings.media_home,
            s3_endpoint_url=settings.s3_endpoint_url or None,
            s3_region=settings.aws_region or None,
            aws_access_key_id=_secret("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=_secret("AWS_SECRET_ACCESS_KEY"),
        )
    else:
        storage = MediaStorage(root=settings.media_home)
    clip = ClipEncoderResource(
        model_name=settings.clip_model,
        pretrained=settings.clip_pretrained,
        checkpoint_path=settings.clip_checkpoint or None,
        model_config_path=settings.clip_model_config or None,
        device=settings.device,
        batch_size=settings.clip_batch_size,
        image_precision=settings.clip_image_precision,
    )
    index = VectorIndexResource(
        url=settings.qdrant_url or None, api_key=_secret("MEDIA_PLATFORM_QDRANT_API_KEY"),
        lease_root=settings.media_home if settings.home_is_s3 else None,
    )
    transcriber = TranscriberResource(
        backend=settings.whisper_backend, model=settings.whisper_model, device=settings.device,
        middle_fraction=settings.transcribe_middle_fraction, workers=settings.whisper_workers,
    )
    dbt = DbtCliResource(project_dir=str(metadata_project_dir()))
    return {"storage": storage, "clip": clip, "vector_index": index, "transcriber": transcriber, "dbt": dbt}


def initialized(resource: dg.ConfigurableResource) -> dg.ConfigurableResource:
    """``resource`` with its configuration resolved as Dagster does in a run (``dg.EnvVar``
    secrets read from the environment): for callers outside a run, such as the CLI."""
    return resource.process_config_and_initialize()
