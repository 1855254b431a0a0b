"""Shots whose truth is known, with features from real models on real recordings.

Used by the tag tests and by ``benchmarks/video_annotator.py``. Each synthetic shot draws three
independent factors, each from a pool of real material with ground truth (shared/media):

- **visual**: a frame of one scene of a real clip (Big Buck Bunny shots 1-4, GoldenEye shots
  0-2, cut frames from their ``.gt.json``), embedded by a tiny open_clip whose weights are
  random (no CLIP weights exist here; random conv features still group frames of a scene);
- **audio**: a run of 2-8 YAMNet frames (0.96 s patches every 0.48 s) from a region of a real
  recording whose class is known: ``music`` (podcast intro and outro, MUSAN music), ``speech``
  (host read, JFK, MUSAN speech), ``speech_over_music`` (the ad read over its bed), ``noise``
  (MUSAN noise); the shot's audio feature is the mean of YAMNet's 1024-d embedding over the
  run (class-score mean and peak are kept for the zero-shot audio baseline);
- **text**: an 8-word window of a real transcript, embedded with all-MiniLM-L6-v2: ``host``
  (the Austen host read), ``ad`` (the IVR ad read), ``archival`` (JFK).

Episodes are sequences of shots in which each factor persists from one shot to the next with
some probability (scenes and sounds last several shots), so the context block carries signal.
Some shots have no speech (text absent) or no audio. Labels are functions of the factors
(:data:`LABELS`), some of one modality, some across modalities.

The expensive part (decoding, three models) is :func:`pools`, cached per process; sampling a
dataset from the pools takes milliseconds.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from media_platform.tags.features import ShotFeatures, build_shot_features, fused_matrix

WINDOW_WORDS = 8
WINDOW_STRIDE = 2
FRAME_STEP = 2  # every 2nd decoded frame of a scene
EDGE_S = 0.5  # margin kept from every audio region's ends
CLIP_SOURCE = "open_clip mp-tiny-clip/random (untrained: not semantic)"

AUDIO_CLASSES = ("music", "speech", "speech_over_music", "noise")
TEXT_CLASSES = ("host", "ad", "archival")


@dataclass
class Pools:
    clip: dict[str, np.ndarray]  # scene -> (frames, d) unit embeddings
    audio: dict[str, list[dict[str, np.ndarray]]]  # class -> regions {embedding, scores}
    text: dict[str, np.ndarray]  # class -> (windows, 384)
    text_windows: dict[str, list[str]]
    class_names: tuple[str, ...]

    @property
    def scenes(self) -> tuple[str, ...]:
        return tuple(self.clip)


def _scenes(media: Path) -> dict[str, tuple[Path, int, int]]:
    out = {}
    bbb = media / "video/blender_bbb/big_buck_bunny_0_30.webm"
    gt = json.loads(bbb.with_name("big_buck_bunny_0_30.gt.json").read_text())
    cuts = [gt["fade_in_from_black"][1], *gt["hard_cuts"], 720]  # after the fade from black
    for k in range(len(cuts) - 1):
        out[f"bbb{k + 1}"] = (bbb, cuts[k], cuts[k + 1])
    ge = media / "video/pyscenedetect/issue-134-rotate.mp4"
    cuts = [0, *json.loads(ge.with_name("issue-134-rotate.gt.json").read_text())["hard_cuts"], 240]
    for k in range(len(cuts) - 1):
        out[f"ge{k}"] = (ge, cuts[k], cuts[k + 1])
    return out


def _clip_pool(media: Path) -> dict[str, np.ndarray]:
    from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint

    from media_platform.video.clip import ClipEncoder, ClipModelSpec
    from media_platform.video.frames import probe_frame_index, read_frames

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, config = write_tiny_clip_checkpoint(Path(tmp))
        encoder = ClipEncoder(
            ClipModelSpec(TINY_CLIP_NAME, "none", str(checkpoint), str(config)), device="cpu"
        )
        out = {}
        indexes: dict[Path, object] = {}
        for scene, (path, first, end) in _scenes(media).items():
            index = indexes.setdefault(path, probe_frame_index(path))
            wanted = list(range(first + 2, end - 2, FRAME_STEP))  # 2 frames off each cut
            frames = read_frames(path, wanted, max_side=96, index=index)
            out[scene] = encoder.encode_images([frames[i] for i in wanted]).astype(np.float32)
    return out


def _audio_pool(media: Path) -> tuple[dict[str, list[dict[str, np.ndarray]]], tuple[str, ...]]:
    from media_platform.audio.decode import load_audio
    from media_platform.audio.events import detect_events

    podcast = media / "podcast/podcast_assembled.flac"
    musan = media / "audio/ina_musanmix/musanmix.wav"
    seg = {s["role"]: (s["start"], s["end"]) for s in json.loads(
        podcast.with_name("podcast_assembled.gt.json").read_text())["segments"]}
    musan_gt = {s["label"]: (s["start"], s["end"]) for s in _musan_segments(musan)}
    regions = {
        "music": [(podcast, *seg["intro_music"]), (podcast, *seg["outro_music"]), (musan, *musan_gt["music"])],
        "speech": [(podcast, *seg["host_read"]), (podcast, *seg["archival_clip"]), (musan, *musan_gt["speech"])],
        "speech_over_music": [(podcast, *seg["ad_read"])],
        "noise": [(musan, *musan_gt["noise"])],
    }
    events = {}
    for path in (podcast, musan):
        events[path] = detect_events(load_audio(path))
        if events[path].embeddings is None:
            raise RuntimeError("detect_events gave no YAMNet embeddings")
    out: dict[str, list[dict[str, np.ndarray]]] = {}
    for cls, spans in regions.items():
        out[cls] = []
        for path, start, end in spans:
            ev = events[path]
            t = ev.frame_times
            keep = (t >= start + EDGE_S) & (t + 2 * ev.frame_hop_s <= end - EDGE_S)  # 0.96 s patch inside
            out[cls].append({
                "embedding": ev.embeddings[keep].astype(np.float32),
                "scores": np.asarray(ev.class_scores[keep], dtype=np.float32),
            })
    return out, tuple(events[podcast].class_names)


def _musan_segments(path: Path) -> list[dict]:
    gt = json.loads(path.with_name("musanmix.gt.json").read_text())
    return [{"label": s["label"], "start": float(s["start"]), "end": float(s["end"])}
            for s in gt["segments_by_composition"]]


def _text_pool(media: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    from media_platform.text.embedders import MiniLMEmbedder

    segments = {s["role"]: s for s in json.loads(
        (media / "podcast/podcast_assembled.gt.json").read_text())["segments"]}
    texts = {
        "host": " ".join(u["text"] for u in segments["host_read"]["utterances"]),
        "ad": segments["ad_read"]["text"],
        "archival": segments["archival_clip"]["text"],
    }
    embed = MiniLMEmbedder.shared()
    windows, vectors = {}, {}
    for cls, text in texts.items():
        words = text.split()
        windows[cls] = [
            " ".join(words[i : i + WINDOW_WORDS])
            for i in range(0, max(1, len(words) - WINDOW_WORDS + 1), WINDOW_STRIDE)
        ]
        vectors[cls] = embed(windows[cls])
    return vectors, windows


@functools.lru_cache(maxsize=2)
def pools(media: Path) -> Pools:
    """Every real embedding the datasets draw from (decoded and embedded once per process)."""
    media = Path(media)
    audio, names = _audio_pool(media)
    text, windows = _text_pool(media)
    return Pools(clip=_clip_pool(media), audio=audio, text=text, text_windows=windows, class_names=names)


@dataclass
class TagDataset:
    episodes: list[ShotFeatures]
    visual: np.ndarray  # scene per shot
    audio: np.ndarray  # audio class per shot ("" = no audio)
    text: np.ndarray  # text class per shot ("" = nothing said)
    episode: np.ndarray  # episode index per shot
    class_scores: np.ndarray  # (n, 521) mean YAMNet class scores (NaN rows without audio)
    class_peaks: np.ndarray  # (n, 521) max YAMNet class scores
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.visual)

    def fused(self, blocks: tuple[str, ...] | None = None) -> np.ndarray:
        """The fused features of every shot; ``blocks`` keeps only those blocks (the others
        weighted 0), for single-modality comparisons."""
        weights = None if blocks is None else {
            b.name: (1.0 if b.name in blocks else 0.0) for b in self.episodes[0].layout.blocks}
        return np.vstack([fused_matrix(f, weights) for f in self.episodes])

    @property
    def layout(self):
        return self.episodes[0].layout

    def label(self, name: str) -> np.ndarray:
        return LABELS[name][1](self)


def _walk(rng: np.random.Generator, n: int, choices: tuple[str, ...], stay: float) -> list[str]:
    out = [str(rng.choice(choices))]
    for _ in range(n - 1):
        out.append(out[-1] if rng.random() < stay else str(rng.choice(choices)))
    return out


def make_dataset(
    media: Path, *, episodes: int = 8, shots: int = 50, seed: int = 0,
    no_text: float = 0.2, no_audio: float = 0.05, stay: float = 0.6,
) -> TagDataset:
    """``episodes`` x ``shots`` shots drawn from :func:`pools` (see module docstring)."""
    p = pools(Path(media))
    rng = np.random.default_rng(seed)
    feats, vis, aud, txt, epi, scores, peaks = [], [], [], [], [], [], []
    for e in range(episodes):
        scenes = _walk(rng, shots, p.scenes, stay)
        sounds = _walk(rng, shots, AUDIO_CLASSES, stay)
        words = _walk(rng, shots, TEXT_CLASSES, stay)
        clip = np.zeros((shots, next(iter(p.clip.values())).shape[1]), np.float32)
        audio = np.zeros((shots, 1024), np.float32)
        sentences, spans = [], []
        for k in range(shots):
            start, length = 4.0 * k, 4.0
            spans.append((start, start + length))
            frames = p.clip[scenes[k]]
            clip[k] = frames[rng.integers(len(frames))]
            mean = peak = np.full(len(p.class_names), np.nan, np.float32)
            if rng.random() < no_audio:
                sounds[k] = ""
            else:
                region = p.audio[sounds[k]][rng.integers(len(p.audio[sounds[k]]))]
                run = int(rng.integers(2, 9))
                at = int(rng.integers(0, len(region["embedding"]) - run + 1))
                audio[k] = region["embedding"][at : at + run].mean(axis=0)
                mean = region["scores"][at : at + run].mean(axis=0)
                peak = region["scores"][at : at + run].max(axis=0)
            scores.append(mean)
            peaks.append(peak)
            if rng.random() < no_text:
                words[k] = ""
            else:
                vectors = p.text[words[k]]
                sentences.append((start + 0.3, start + length - 0.3, vectors[rng.integers(len(vectors))]))
        feats.append(build_shot_features(
            spans, list(range(shots)), clip=clip, clip_source=CLIP_SOURCE,
            audio=audio, sentences=sentences))
        vis += scenes
        aud += sounds
        txt += words
        epi += [e] * shots
    return TagDataset(
        episodes=feats, visual=np.array(vis), audio=np.array(aud), text=np.array(txt),
        episode=np.array(epi), class_scores=np.vstack(scores), class_peaks=np.vstack(peaks),
        class_names=p.class_names,
    )


def _isin(values: np.ndarray, wanted: tuple[str, ...]) -> np.ndarray:
    return np.isin(values, list(wanted))


# name -> (modalities the truth depends on, truth function)
LABELS: dict[str, tuple[tuple[str, ...], Callable[[TagDataset], np.ndarray]]] = {
    "scene-bbb3": (("visual",), lambda d: d.visual == "bbb3"),
    "scene-ge1": (("visual",), lambda d: d.visual == "ge1"),
    "goldeneye": (("visual",), lambda d: _isin(d.visual, ("ge0", "ge1", "ge2"))),
    "music": (("audio",), lambda d: _isin(d.audio, ("music", "speech_over_music"))),
    "speech": (("audio",), lambda d: _isin(d.audio, ("speech", "speech_over_music"))),
    "noise": (("audio",), lambda d: d.audio == "noise"),
    "ad-read": (("text",), lambda d: d.text == "ad"),
    "archival": (("text",), lambda d: d.text == "archival"),
    # across modalities
    "ad-or-goldeneye": (("text", "visual"), lambda d: (d.text == "ad") | _isin(d.visual, ("ge0", "ge1", "ge2"))),
    "noise-or-archival": (("audio", "text"), lambda d: (d.audio == "noise") | (d.text == "archival")),
    "bunny-with-music": (("visual", "audio"), lambda d: np.char.startswith(d.visual.astype(str), "bbb")
                         & _isin(d.audio, ("music", "speech_over_music"))),
    "bbb2-or-speech-or-host": (("visual", "audio", "text"), lambda d: (d.visual == "bbb2")
                               | (d.audio == "speech") | (d.text == "host")),
    "archival-with-music": (("text", "audio"), lambda d: (d.text == "archival")
                            & _isin(d.audio, ("music", "speech_over_music"))),
    "ad-over-goldeneye": (("text", "visual"), lambda d: (d.text == "ad")
                          & _isin(d.visual, ("ge0", "ge1", "ge2"))),
}
CROSS_MODAL = tuple(k for k, (mods, _) in LABELS.items() if len(mods) > 1)
RARE_BELOW = 0.2  # prevalence under which a label counts as rare (active-learning comparisons)
MODALITY_BLOCKS = {"visual": ("clip",), "audio": ("audio",), "text": ("text",)}


# ----------------------------------------------------------------------------- experiments


def split_episodes(ds: TagDataset, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Shot indices of half the episodes (the pool editors label from) and of the other half
    (held apart for measuring AP)."""
    order = np.random.default_rng(seed).permutation(int(ds.episode.max()) + 1)
    pool_eps = order[: len(order) // 2]
    in_pool = np.isin(ds.episode, pool_eps)
    return np.flatnonzero(in_pool), np.flatnonzero(~in_pool)


def sample_examples(y: np.ndarray, pool: np.ndarray, n_pos: int, n_neg: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pos, neg = pool[y[pool]], pool[~y[pool]]
    return np.concatenate([rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False)])


def head_ap(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, *, layout, seed: int = 0,
            c: float | None = None) -> float:
    """AP on ``test`` of a head trained (train_classifier) on the shots ``train``."""
    from sklearn.metrics import average_precision_score

    from media_platform.tags.classifier import DEFAULT_C, train_classifier

    clf = train_classifier("experiment", X[train][y[train]], X[train][~y[train]],
                           layout_signature=layout.signature, layout=layout, examples_digest="-",
                           version=1, seed=seed, c=DEFAULT_C if c is None else c)
    return float(average_precision_score(y[test], clf.score(X[test])))


def labelling_curve(
    X: np.ndarray, y: np.ndarray, pool: np.ndarray, test: np.ndarray, budgets: tuple[int, ...], *,
    layout, active: bool, seed: int = 0, start: int = 3, batch: int = 5,
    feeds: tuple[str, ...] | None = None,
) -> dict[int, float]:
    """AP on ``test`` after each budget of labels, measured with exactly that many labels.
    Both strategies start from ``start`` positives and ``start`` negatives drawn at random (what
    an editor brings); then ``active`` asks :func:`media_platform.tags.active_learning.suggest`
    for ``batch`` shots at a time (Video Annotator's four feeds over the current head's scores,
    threshold = its max-F1 threshold), and the random strategy takes ``batch`` unlabelled shots
    at random. The last batch before each budget is shortened so that it lands on the budget
    (start 3 + 3, batches of 5, budgets 10, 25: 6, 10, 15, 20, 25 labels)."""
    from media_platform.tags.active_learning import suggest
    from media_platform.tags.classifier import train_classifier

    if not budgets or min(budgets) < 2 * start or batch < 1:
        raise ValueError(f"labelling_curve: budgets {budgets} must be at least the {2 * start} "
                         f"starting labels, batch {batch} at least 1")
    rng = np.random.default_rng(seed)
    labelled = list(sample_examples(y, pool, start, start, seed))
    candidates = [("pool", int(i)) for i in pool]
    out: dict[int, float] = {}
    round_ = 0
    while True:
        lab = np.array(labelled)
        clf = train_classifier("experiment", X[lab][y[lab]], X[lab][~y[lab]],
                               layout_signature=layout.signature, layout=layout,
                               examples_digest="-", version=1, seed=seed)
        if len(labelled) in budgets:
            from sklearn.metrics import average_precision_score

            out[len(labelled)] = float(average_precision_score(y[test], clf.score(X[test])))
        if len(labelled) >= max(budgets):
            return out
        want = min(batch, min(b for b in budgets if b > len(labelled)) - len(labelled))
        if active:
            picks = suggest(candidates, clf.score(X[pool]), {("pool", int(i)) for i in labelled},
                            want, threshold=clf.evaluation.threshold, seed=seed * 1000 + round_,
                            **({"feeds": feeds} if feeds else {}))
            if not picks:
                raise ValueError(f"labelling_curve: the pool has no unlabelled shot left at {len(labelled)} labels")
            labelled += [s.shot for s in picks]
        else:
            rest = np.setdiff1d(pool, labelled)
            labelled += list(rng.choice(rest, want, replace=False))
        round_ += 1
