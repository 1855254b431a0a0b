"""What the asset modules share: the episode partitions, GPU execution tags, small helpers."""


import base64
import json
import warnings
from datetime import date
from typing import Any

import dagster as dg

from media_platform.catalogue import Catalogue, Episode
from media_platform.errors import InvalidInputError
from media_platform.layout import PROBE as PROBE_NAME
from media_platform.layout import episode_key
from media_platform.licences import load_operator_licences, refusal_reason
from media_platform.licences.episodes import licence_in_force
from media_platform.probe import MediaProbe
from media_platform.storage import Store
from resources.executors import GPU_POOL as GPU_POOL  # re-exported for the asset modules
from resources.executors import gpu_op_tags
from resources.partitions import episodes_partitions

# Partitioned asset checks are a preview feature of Dagster 1.13; we rely on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")

OWNERS = ["team:media-platform"]

# GPU steps (CLIP image embeddings, Whisper): the `gpu` pool, the Celery `gpu` queue and the
# Kubernetes GPU request, toleration and node selector (resources/executors.py, from the settings).
GPU_OP_TAGS: dict[str, Any] = gpu_op_tags()


FOLLOW_UPSTREAM = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.missing()
    & ~dg.AutomationCondition.any_deps_missing().ignore(dg.AssetSelection.assets("tag_classifier"))
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("follow upstream changes of already materialized partitions")
"""Re-materialize a partition that exists when something it reads changes (a classifier, its
features). New episodes are the episode job's (sensors launch it), so missing partitions are
left alone, and a label that was never trained blocks nothing."""


def episode_for(context: dg.AssetExecutionContext, store: Store) -> Episode:
    """The catalogue row of the run's partition; fails clearly when it is missing."""
    episode = Catalogue(store).get(context.partition_key)
    if episode is None:
        raise dg.Failure(
            description=f"partition {context.partition_key!r} is not in the catalogue; "
            "ingest it first (media-platform ingest PATH --title T)"
        )
    return episode


def load_probe(store: Store, partition_key: str) -> MediaProbe:
    return MediaProbe.from_dict(json.loads(store.read_bytes(episode_key(partition_key, PROBE_NAME))))


def image_markdown(data: bytes, mime: str, alt: str) -> dg.MetadataValue:
    """Markdown embedding an image (shown inline in the Dagster UI)."""
    b64 = base64.b64encode(data).decode()
    return dg.MetadataValue.md(f"![{alt}](data:{mime};base64,{b64})")


def licence_allows(context: dg.AssetExecutionContext, episode: Episode, asset: str) -> bool:
    """Whether the licence in force allows ``asset`` today; logs the refusal when it doesn't.

    Restricted assets call this first and produce no output when it returns False, so that a
    run launched by hand (the UI, the CLI, ``dg.materialize``) cannot bypass the licence either.
    The licence in force is resolved now: the operator's current ``licences.yaml`` entry for the
    episode, restricted by the claims recorded at ingest
    (:func:`media_platform.licences.episodes.licence_in_force`), so an edit of the file applies
    at once. An unreadable licence file or row fails the asset (it never silently allows).
    """
    try:
        licence = licence_in_force(episode, load_operator_licences())
    except InvalidInputError as exc:
        raise dg.Failure(
            description=f"{episode.partition_key}: {asset} not materialized: the licence in "
            f"force cannot be determined: {exc}"
        ) from None
    reason = refusal_reason(licence, asset, date.today())
    if reason is None:
        return True
    context.log.warning(f"{episode.partition_key}: {asset} not materialized: {reason}")
    return False


def episode_asset(**kwargs: Any) -> Any:
    """``dg.asset`` for the per-episode assets: partitioned by episode, owned by the team, and
    allowed to produce nothing (audio-only episodes skip video, a licence may forbid it), in
    which case Dagster skips everything downstream."""
    return dg.asset(partitions_def=episodes_partitions, owners=OWNERS, output_required=False, **kwargs)


def episode_check(**kwargs: Any) -> Any:
    """``dg.asset_check`` evaluated per episode partition."""
    return dg.asset_check(partitions_def=episodes_partitions, **kwargs)
