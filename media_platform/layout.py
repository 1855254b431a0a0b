"""Names of the stored outputs of each episode (under ``episodes/<partition>/``)."""

from __future__ import annotations

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


def keyframe_name(shot: int) -> str:
    """File name of a shot's keyframe inside the keyframe folder."""
    return f"shot_{shot:05d}.jpg"


# What each asset stores for an episode, relative to ``episodes/<partition>/`` (folders end
# with ``/``). Used to remove the outputs a licence no longer allows. ``shot_index`` also owns
# the episode's points in the vector index.
ASSET_OUTPUTS: dict[str, tuple[str, ...]] = {
    "media_probe": (PROBE,),
    "shots": (SHOTS, FRAME_TIMES, VIDEO_TIMING),
    "keyframes": (KEYFRAMES, f"{KEYFRAME_DIR}/"),
    "shot_embeddings": (SHOT_EMBEDDINGS,),
    "shot_index": (),
    "audio": (AUDIO_16K, AUDIO_NORMALIZED_FLAC, AUDIO_NORMALIZED_MP3, LOUDNESS_REPORT),
    "audio_events": (AUDIO_EVENT_FRAMES, AUDIO_EVENTS),
    "transcript": (TRANSCRIPT, TRANSCRIPT_REPORT),
    "shot_audio_features": (SHOT_AUDIO_FEATURES,),
    "chapters": (CHAPTERS, EPISODE_KEYWORDS, SENTENCE_EMBEDDINGS),
    "preview_candidates": (PREVIEW_CANDIDATES, PREVIEW_CANDIDATES_SUMMARY),
    "preview_selection": (PREVIEW_SELECTION,),
    "preview": (PREVIEW_MP3, PREVIEW_MP4, PREVIEW_RECORD),
}

