"""The registry of per-episode outputs: what each asset stores, where, and which licence uses
it needs.

Every per-episode asset has one :class:`EpisodeAsset` entry in :data:`EPISODE_ASSETS`: its
stored files (relative to ``episodes/<partition>/``, each with its :class:`OutputKind`), whether
it owns the episode's points in the vector index, and the licence uses (``analysis``,
``search_indexing``, ``derivatives``; see :mod:`media_platform.licences`) it needs. Everything
else derives from it: :data:`ASSET_OUTPUTS` (what licence retention removes),
:data:`ASSET_REQUIREMENTS` (what the licence policy checks), and the storage keys
(:func:`episode_key`, :func:`master_key`). A new per-episode asset is added here once.

The master itself lives under ``masters/<partition>/`` and needs no licence (it is needed to hold
and identify the file); ``media_probe`` needs none either.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PROBE = "probe.json"
SHOTS = "shots.parquet"
FRAME_TIMES = "frame_times.parquet"
VIDEO_TIMING = "video_timing.json"
KEYFRAMES = "keyframes.parquet"
KEYFRAME_DIR = "keyframes"
SHOT_EMBEDDINGS = "shot_embeddings.parquet"
AUDIO_16K = "audio_16k.wav"
AUDIO_NORMALIZED_FLAC = "audio_normalized.flac"
AUDIO_NORMALIZED_MP3 = "audio_normalized.mp3"
LOUDNESS_REPORT = "loudness.json"
AUDIO_EVENT_FRAMES = "audio_event_frames.parquet"
AUDIO_EVENTS = "audio_events.parquet"
AUDIO_EMBEDDING_FRAMES = "audio_embedding_frames.parquet"
TRANSCRIPT = "transcript.parquet"
TRANSCRIPT_REPORT = "transcript_run.json"
SHOT_AUDIO_FEATURES = "shot_audio_features.parquet"
CHAPTERS = "chapters.parquet"
SENTENCE_EMBEDDINGS = "sentence_embeddings.parquet"
EPISODE_KEYWORDS = "keywords.json"
PREVIEW_CANDIDATES = "preview_candidates.parquet"
PREVIEW_CANDIDATES_SUMMARY = "preview_candidates.json"
PREVIEW_SELECTION = "preview_selection.json"
PREVIEW_MP3 = "preview.mp3"
PREVIEW_MP4 = "preview.mp4"
PREVIEW_RECORD = "preview.json"
SHOT_FEATURES = "shot_features.parquet"
SHOT_FEATURES_LAYOUT = "shot_features.json"
SHOT_TAGS = "shot_tags.parquet"
FRAME_HASHES = "frame_hashes.parquet"
KEYFRAME_CANDIDATES = "keyframe_candidates.parquet"  # from the shots pass, read by keyframes
AUDIO_FINGERPRINT = "audio_fingerprint.parquet"
VISUAL_FINGERPRINT = "visual_fingerprint.parquet"
EPISODE_MARKERS = "episode_markers.parquet"
EPISODE_MARKERS_REPORT = "episode_markers.json"
EPISODE_MARKER_PAIRS = "episode_markers_pairs.json"


class OutputKind(StrEnum):
    """What a stored output is."""

    TABLE = "table"  # Parquet
    JSON = "json"
    AUDIO = "audio"
    VIDEO = "video"
    IMAGE_FOLDER = "image folder"  # a folder of images (stored as ``name/``)


@dataclass(frozen=True)
class StoredOutput:
    """One stored output of an episode: its name under ``episodes/<partition>/`` and its kind."""

    name: str
    kind: OutputKind

    @property
    def is_folder(self) -> bool:
        return self.kind is OutputKind.IMAGE_FOLDER

    @property
    def relative_path(self) -> str:
        """The name, with a trailing ``/`` for a folder."""
        return f"{self.name}/" if self.is_folder else self.name


@dataclass(frozen=True)
class EpisodeAsset:
    """A per-episode asset: its stored outputs, whether it owns index points, the licence uses
    it needs."""

    name: str
    outputs: tuple[StoredOutput, ...]
    uses: frozenset[str]
    index_points: bool = False


_ANALYSIS = frozenset({"analysis"})
_T, _J, _A, _V, _I = (
    OutputKind.TABLE,
    OutputKind.JSON,
    OutputKind.AUDIO,
    OutputKind.VIDEO,
    OutputKind.IMAGE_FOLDER,
)


def _asset(
    name: str, outputs: tuple[tuple[str, OutputKind], ...], uses: frozenset[str], **kw: bool
) -> EpisodeAsset:
    return EpisodeAsset(name, tuple(StoredOutput(n, k) for n, k in outputs), uses, **kw)


EPISODE_ASSETS: dict[str, EpisodeAsset] = {
    a.name: a
    for a in (
        _asset("master", (), frozenset()),
        _asset("media_probe", ((PROBE, _J),), frozenset()),
        _asset(
            "shots",
            ((SHOTS, _T), (FRAME_TIMES, _T), (VIDEO_TIMING, _J), (FRAME_HASHES, _T), (KEYFRAME_CANDIDATES, _T)),
            _ANALYSIS,
        ),
        _asset("keyframes", ((KEYFRAMES, _T), (KEYFRAME_DIR, _I)), _ANALYSIS),
        _asset("shot_embeddings", ((SHOT_EMBEDDINGS, _T),), _ANALYSIS),
        _asset(
            "shot_index", (), frozenset({"analysis", "search_indexing"}), index_points=True
        ),
        _asset(
            "audio",
            (
                (AUDIO_16K, _A),
                (AUDIO_NORMALIZED_FLAC, _A),
                (AUDIO_NORMALIZED_MP3, _A),
                (LOUDNESS_REPORT, _J),
            ),
            _ANALYSIS,
        ),
        _asset("audio_events", ((AUDIO_EVENT_FRAMES, _T), (AUDIO_EVENTS, _T), (AUDIO_EMBEDDING_FRAMES, _T)), _ANALYSIS),
        _asset("transcript", ((TRANSCRIPT, _T), (TRANSCRIPT_REPORT, _J)), _ANALYSIS),
        _asset("shot_audio_features", ((SHOT_AUDIO_FEATURES, _T),), _ANALYSIS),
        _asset(
            "chapters",
            ((CHAPTERS, _T), (EPISODE_KEYWORDS, _J), (SENTENCE_EMBEDDINGS, _T)),
            _ANALYSIS,
        ),
        _asset(
            "preview_candidates",
            ((PREVIEW_CANDIDATES, _T), (PREVIEW_CANDIDATES_SUMMARY, _J)),
            _ANALYSIS,
        ),
        _asset("shot_features", ((SHOT_FEATURES, _T), (SHOT_FEATURES_LAYOUT, _J)), _ANALYSIS),
        _asset("shot_tags", ((SHOT_TAGS, _T),), _ANALYSIS),
        _asset("audio_fingerprint", ((AUDIO_FINGERPRINT, _T),), _ANALYSIS),
        _asset("visual_fingerprint", ((VISUAL_FINGERPRINT, _T),), _ANALYSIS),
        _asset("episode_markers", ((EPISODE_MARKERS, _T), (EPISODE_MARKERS_REPORT, _J), (EPISODE_MARKER_PAIRS, _J)), _ANALYSIS),
        _asset("preview_selection", ((PREVIEW_SELECTION, _J),), _ANALYSIS),
        _asset(
            "preview",
            ((PREVIEW_MP3, _A), (PREVIEW_MP4, _V), (PREVIEW_RECORD, _J)),
            frozenset({"analysis", "derivatives"}),
        ),
    )
}
"""Asset name -> its registry entry (the one list of per-episode assets)."""

ASSET_OUTPUTS: dict[str, tuple[str, ...]] = {
    name: tuple(o.relative_path for o in a.outputs) for name, a in EPISODE_ASSETS.items()
}
"""Asset name -> its stored outputs under ``episodes/<partition>/`` (folders end with ``/``)."""

ASSET_REQUIREMENTS: dict[str, frozenset[str]] = {
    name: a.uses for name, a in EPISODE_ASSETS.items()
}
"""Asset name -> the licence uses it needs."""


EPISODES_PARTITIONS_NAME = "episodes"
"""Name of the dynamic partitions definition: one partition per episode."""


def episode_key(partition_key: str, name: str) -> str:
    """Storage key of a per-episode output, e.g. ``episodes/<partition>/shots.parquet``."""
    return f"episodes/{partition_key}/{name}"


def master_key(partition_key: str, suffix: str) -> str:
    """Storage key of an episode's master file."""
    return f"masters/{partition_key}/master{suffix.lower()}"


def keyframe_name(shot: int) -> str:
    """File name of a shot's keyframe inside the keyframe folder."""
    return f"shot_{shot:05d}.jpg"
