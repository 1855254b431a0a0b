"""Ingestion assets: the stored master of each episode and its probe."""


import json

import dagster as dg

from assets.common import OWNERS, PROBE_NAME, episode_for, episodes_partitions
from media_platform.errors import MediaError
from media_platform.ingest.enclosures import fetch_enclosure
from media_platform.ingest.http import redact_url
from media_platform.ingest.register import sha256_file
from media_platform.layout import episode_key
from media_platform.probe import probe_media
from resources import MediaStorage


@dg.asset(
    partitions_def=episodes_partitions,
    group_name="ingest",
    kinds={"file"},
    owners=OWNERS,
    check_specs=[dg.AssetCheckSpec("content_hash_matches_catalogue", asset="master", blocking=True)],
)
def master(context: dg.AssetExecutionContext, storage: MediaStorage) -> dg.MaterializeResult:
    """The episode's master file in storage, as recorded in the catalogue (title, kind, source,
    content hash). For an RSS item it first downloads the enclosure (streamed, size-limited,
    http(s) only, content type and decode probe checked). Checks that the stored bytes still
    hash to the catalogued value."""
    store = storage.get_store()
    episode = episode_for(context, store)
    if not episode.master_key:  # an RSS item: fetch its enclosure now
        context.log.info(f"downloading enclosure {redact_url(episode.master_uri)}")
        try:
            episode = fetch_enclosure(store, storage.get_catalogue(), episode)
        except MediaError as exc:
            raise dg.Failure(description=f"{exc.path}: {exc.problem}") from exc
    if not store.exists(episode.master_key):
        raise dg.Failure(description=f"{episode.master_uri}: master file missing from storage")
    with store.local_copy(episode.master_key) as path:
        digest = sha256_file(path)
        size = path.stat().st_size
    return dg.MaterializeResult(
        metadata={
            "title": episode.title,
            "episode_id": episode.episode_id or "",
            "kind": episode.kind,
            "source": episode.source,
            "uri": dg.MetadataValue.url(episode.master_uri) if episode.master_uri.startswith("s3") else dg.MetadataValue.path(episode.master_uri.removeprefix("file://")),
            "size_bytes": size,
            "content_hash": episode.content_hash,
        },
        data_version=dg.DataVersion(digest[:16]),
        check_results=[
            dg.AssetCheckResult(
                check_name="content_hash_matches_catalogue",
                passed=digest == episode.content_hash,
                metadata={"stored": digest, "catalogue": episode.content_hash},
            )
        ],
    )


@dg.asset(
    partitions_def=episodes_partitions,
    group_name="ingest",
    kinds={"ffmpeg"},
    owners=OWNERS,
    deps=[master],
)
def media_probe(context: dg.AssetExecutionContext, storage: MediaStorage) -> dg.MaterializeResult:
    """What the master contains (ffprobe): kind (video or audio), duration, frame rate and
    whether it is variable, resolution, rotation, and the audio streams."""
    store = storage.get_store()
    episode = episode_for(context, store)
    try:
        with store.local_copy(episode.master_key) as path:
            probe = probe_media(path)
    except MediaError as exc:
        raise dg.Failure(description=f"{episode.master_uri}: {exc.problem}") from exc
    data = probe.to_dict()
    data["path"] = episode.master_uri
    uri = store.write_bytes(episode_key(context.partition_key, PROBE_NAME), json.dumps(data, indent=2).encode())
    streams = [
        dg.TableRecord({"index": s.index, "codec": s.codec, "channels": s.channels,
                        "sample_rate": s.sample_rate, "language": s.language or "", "default": s.default})
        for s in probe.audio_streams
    ]
    metadata: dict = {
        "kind": probe.kind,
        "duration_s": round(probe.duration_s, 3),
        "container": probe.container,
        "audio_streams": dg.MetadataValue.table(
            streams,
            schema=dg.TableSchema(columns=[
                dg.TableColumn("index", "int"), dg.TableColumn("codec", "string"),
                dg.TableColumn("channels", "int"), dg.TableColumn("sample_rate", "int"),
                dg.TableColumn("language", "string"), dg.TableColumn("default", "bool"),
            ]),
        ),
        "probe_uri": uri,
    }
    if probe.kind == "video":
        metadata.update({
            "resolution": f"{probe.width}x{probe.height}",
            "rotation": probe.rotation,
            "avg_fps": round(probe.avg_fps or 0.0, 3),
            "variable_frame_rate": probe.variable_frame_rate,
            "video_codec": probe.video_codec or "",
        })
    return dg.MaterializeResult(metadata=metadata)
