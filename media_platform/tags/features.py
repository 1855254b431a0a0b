"""Per-shot multimodal features: the frozen inputs of the few-shot tag classifiers.

Every shot gets four blocks, each kept apart and described by the episode's
:class:`FeatureLayout` (name, dimension, source):

- ``clip``: the shot's CLIP image embedding (from ``shot_embeddings``);
- ``audio``: YAMNet over the shot (from ``shot_audio_features``): the 1024-d embedding layer
  averaged over the shot's frames, or the 521 class scores where only those are stored; the
  layout's source says which;
- ``text``: all-MiniLM-L6-v2 of the words spoken during the shot: the mean of the stored
  sentence embeddings weighted by how long each sentence overlaps the shot;
- ``context``: temporal context: for each of ``clip``, ``audio``, ``text`` in turn, the mean
  of that block over the neighbouring shots ``i-r .. i+r`` (``i`` excluded, absent blocks
  skipped), each part L2-normalised, the whole row L2-normalised again.

No model is run here: the caller passes stored outputs. Every row of every block is
L2-normalised; a modality that is absent for a shot (no audio track, no speech, no keyframe
embedding) is a zero row with ``present = False``, and the layout still lists the block, so
every episode built with the same CLIP model (and audio source) has the same layout and the
same :attr:`FeatureLayout.signature`.

:func:`fused_matrix` is what the classifiers see: the blocks concatenated, each multiplied by
its weight (1 by default). Because every present block is a unit vector, each present block
contributes the same norm to a shot's fused vector whatever its dimension (1024 audio
dimensions count no more than 384 text ones); absent blocks contribute nothing. Equal norms are
not equal spreads (CLIP rows sit in a narrow cone), so the few-shot head also rescales each
block by its spread over the training examples
(:func:`media_platform.tags.classifier.block_standardiser`, folded into its coefficients).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from media_platform.audio.embedding_store import AUDIO_EMBEDDING_SOURCE
from media_platform.audio.types import Transcript
from media_platform.errors import InvalidInputError
from media_platform.tags.vectors import unit_rows

BLOCKS = ("clip", "audio", "text", "context")
BASE_BLOCKS = ("clip", "audio", "text")
LAYOUT_VERSION = 1

AUDIO_EMBEDDING_DIM = 1024
AUDIO_CLASS_SCORES_DIM = 521
AUDIO_CLASS_SCORES_SOURCE = "yamnet-521 (class scores, mean over shot)"
TEXT_DIM = 384
TEXT_SOURCE = "all-MiniLM-L6-v2 (stored sentence embeddings, overlap-weighted)"


@dataclass(frozen=True)
class BlockSpec:
    """One block of the layout: its name, dimension and where its numbers come from."""

    name: str
    dim: int
    source: str


@dataclass(frozen=True)
class FeatureLayout:
    """The blocks of a feature table, in order. Two tables can feed the same classifier only
    when their :attr:`signature` is equal."""

    blocks: tuple[BlockSpec, ...]

    def __post_init__(self) -> None:
        names = tuple(b.name for b in self.blocks)
        if names != BLOCKS:
            raise InvalidInputError(f"feature layout: blocks must be {BLOCKS}, got {names}")
        for b in self.blocks:
            if not isinstance(b.dim, int) or b.dim <= 0:
                raise InvalidInputError(f"feature layout: block {b.name} has dimension {b.dim!r}")

    @property
    def signature(self) -> str:
        """A stable hash of the blocks' names, dimensions and sources (16 hex digits)."""
        canon = json.dumps([[b.name, b.dim, b.source] for b in self.blocks], separators=(",", ":"))
        return hashlib.sha256(f"v{LAYOUT_VERSION}:{canon}".encode()).hexdigest()[:16]

    @property
    def dim(self) -> int:
        """The fused dimension (sum of the blocks')."""
        return sum(b.dim for b in self.blocks)

    def block(self, name: str) -> BlockSpec:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    def slices(self) -> dict[str, slice]:
        """Where each block lies in the fused vector."""
        out, at = {}, 0
        for b in self.blocks:
            out[b.name] = slice(at, at + b.dim)
            at += b.dim
        return out

    def to_json(self) -> dict:
        return {
            "version": LAYOUT_VERSION,
            "blocks": [{"name": b.name, "dim": b.dim, "source": b.source} for b in self.blocks],
            "dim": self.dim,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, d: Mapping) -> FeatureLayout:
        """The layout a :meth:`to_json` dict describes; a dict whose recorded signature does not
        match its blocks (edited by hand, or another layout version) is refused."""
        try:
            blocks = tuple(
                BlockSpec(name=str(b["name"]), dim=int(b["dim"]), source=str(b["source"]))
                for b in d["blocks"]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"feature layout: malformed ({exc!r})") from exc
        layout = cls(blocks)
        recorded = d.get("signature")
        if recorded is not None and recorded != layout.signature:
            raise InvalidInputError(
                f"feature layout: recorded signature {recorded!r} does not match its blocks "
                f"({layout.signature}); layout version {d.get('version')!r}"
            )
        return layout


def make_layout(
    *,
    clip_dim: int,
    clip_source: str,
    audio_dim: int = AUDIO_EMBEDDING_DIM,
    audio_source: str = AUDIO_EMBEDDING_SOURCE,
    text_dim: int = TEXT_DIM,
    text_source: str = TEXT_SOURCE,
    context_radius: int = 1,
) -> FeatureLayout:
    """The layout of features built with these sources (the context block concatenates the
    three others)."""
    base = (
        BlockSpec("clip", clip_dim, clip_source),
        BlockSpec("audio", audio_dim, audio_source),
        BlockSpec("text", text_dim, text_source),
    )
    context = BlockSpec(
        "context",
        clip_dim + audio_dim + text_dim,
        f"mean of shots i-{context_radius}..i+{context_radius}, i excluded (clip|audio|text)",
    )
    return FeatureLayout(base + (context,))


@dataclass
class ShotFeatures:
    """Features of one episode's shots: ``blocks[name]`` is float32 ``(n, dim)`` with unit rows
    (zero rows where ``present[name]`` is False)."""

    shots: np.ndarray
    blocks: dict[str, np.ndarray]
    present: dict[str, np.ndarray]
    layout: FeatureLayout

    def __len__(self) -> int:
        return int(self.shots.shape[0])


def _modality(
    values: np.ndarray | None, n: int, dim: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    if values is None:
        return np.zeros((n, dim), np.float32), np.zeros(n, bool)
    values = np.asarray(values)
    if values.ndim != 2 or values.shape != (n, dim):
        raise InvalidInputError(f"shot features: {name} is {values.shape}, expected ({n}, {dim})")
    unit, present = unit_rows(values)  # rows that are zero or not finite: zero and absent
    return unit.astype(np.float32), present


def text_per_shot(
    spans: Sequence[tuple[float, float]],
    sentences: Sequence[tuple[float, float, np.ndarray]],
    dim: int = TEXT_DIM,
) -> np.ndarray:
    """For each shot span, the mean of the sentence vectors weighted by the seconds each
    sentence overlaps the span (unnormalised; a zero row where nothing is said). A sentence of
    zero duration counts with a tiny weight where it lies inside the span."""
    out = np.zeros((len(spans), dim), np.float64)
    if not sentences:
        return out
    starts = np.array([float(s[0]) for s in sentences])
    ends = np.maximum(np.array([float(s[1]) for s in sentences]), starts)
    vecs = np.asarray([np.asarray(s[2], dtype=np.float64).reshape(-1) for s in sentences])
    if vecs.shape[1] != dim:
        raise InvalidInputError(f"shot features: sentence vectors are {vecs.shape[1]}-d, expected {dim}")
    for k, (a, b) in enumerate(spans):
        a, b = float(a), float(b)
        w = np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0.0, None)
        point = (ends == starts) & (starts >= a) & (starts < b)
        w = np.where(point, 1e-3, w)
        if w.sum() > 0:
            out[k] = w @ vecs / w.sum()
    return out


def context_block(
    blocks: Mapping[str, np.ndarray], present: Mapping[str, np.ndarray], radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """The context block (see module docstring) and its presence."""
    parts, any_present = [], None
    for name in BASE_BLOCKS:
        x, p = blocks[name].astype(np.float64), present[name]
        n = x.shape[0]
        # prefix sums over the present rows give each window's sum and count in O(n)
        cx = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x * p[:, None], axis=0)])
        cp = np.concatenate([[0], np.cumsum(p.astype(np.int64))])
        idx = np.arange(n)
        lo, hi = np.clip(idx - radius, 0, n), np.clip(idx + radius + 1, 0, n)
        s = cx[hi] - cx[lo] - x * p[:, None]
        c = cp[hi] - cp[lo] - p.astype(np.int64)
        mean = np.where(c[:, None] > 0, s / np.maximum(c, 1)[:, None], 0.0)
        unit, has = unit_rows(mean)
        parts.append(unit)
        any_present = has if any_present is None else (any_present | has)
    return unit_rows(np.hstack(parts))[0].astype(np.float32), any_present


def build_shot_features(
    spans: Sequence[tuple[float, float]],
    shot_ids: Sequence[int],
    *,
    clip: np.ndarray | None,
    clip_source: str,
    audio: np.ndarray | None,
    sentences: Sequence[tuple[float, float, np.ndarray]] | None,
    context_radius: int = 1,
    clip_dim: int | None = None,
    audio_dim: int | None = None,
    audio_source: str | None = None,
    text_dim: int = TEXT_DIM,
) -> ShotFeatures:
    """Features of an episode's shots from its stored outputs.

    ``clip``: ``(n, d)`` shot CLIP embeddings or None (then ``clip_dim`` is required, so that
    the layout stays that of the CLIP model); ``audio``: ``(n, 1024)`` mean YAMNet embeddings
    or None (``audio_dim``/``audio_source`` name another audio representation, e.g. the 521
    class scores); ``sentences``: ``(start, end, MiniLM vector)`` triples or None (no
    transcript). Rows that are zero or not finite count as absent.
    """
    n = len(spans)
    if len(shot_ids) != n:
        raise InvalidInputError(f"shot features: {len(shot_ids)} shot ids for {n} spans")
    if context_radius < 1:
        raise InvalidInputError(f"shot features: context radius must be >= 1, got {context_radius}")
    if clip is not None:
        clip_dim = int(np.asarray(clip).shape[-1])
    if clip_dim is None:
        raise InvalidInputError("shot features: no CLIP embeddings and no clip_dim for the layout")
    if audio_dim is None:
        audio_dim = int(np.asarray(audio).shape[-1]) if audio is not None else AUDIO_EMBEDDING_DIM
    if audio_source is None:
        audio_source = (
            AUDIO_CLASS_SCORES_SOURCE if audio_dim == AUDIO_CLASS_SCORES_DIM else AUDIO_EMBEDDING_SOURCE
        )
    layout = make_layout(
        clip_dim=clip_dim, clip_source=clip_source, audio_dim=audio_dim,
        audio_source=audio_source, text_dim=text_dim, context_radius=context_radius,
    )
    blocks: dict[str, np.ndarray] = {}
    present: dict[str, np.ndarray] = {}
    blocks["clip"], present["clip"] = _modality(clip, n, clip_dim, "clip")
    blocks["audio"], present["audio"] = _modality(audio, n, audio_dim, "audio")
    text = text_per_shot(spans, sentences, text_dim) if sentences is not None else None
    blocks["text"], present["text"] = _modality(text, n, text_dim, "text")
    blocks["context"], present["context"] = context_block(blocks, present, context_radius)
    return ShotFeatures(
        shots=np.asarray(shot_ids, dtype=np.int64), blocks=blocks, present=present, layout=layout
    )


def fused_matrix(f: ShotFeatures, weights: Mapping[str, float] | None = None) -> np.ndarray:
    """``(n, layout.dim)`` float32: the blocks side by side in layout order, each multiplied by
    ``weights[name]`` (default 1: every present block then has unit norm and counts equally)."""
    out = np.empty((len(f), f.layout.dim), np.float32)
    for name, sl in f.layout.slices().items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        np.multiply(f.blocks[name], w, out=out[:, sl])
    return out


def present_column(name: str) -> str:
    return f"{name}_present"


def features_to_table(f: ShotFeatures) -> pl.DataFrame:
    """One row per shot: ``shot``, one Float32 Array column per block, ``<block>_present``."""
    cols: dict[str, pl.Series] = {"shot": pl.Series("shot", f.shots, dtype=pl.Int64)}
    for spec in f.layout.blocks:
        cols[spec.name] = pl.Series(spec.name, f.blocks[spec.name], dtype=pl.Array(pl.Float32, spec.dim))
        cols[present_column(spec.name)] = pl.Series(
            present_column(spec.name), f.present[spec.name], dtype=pl.Boolean
        )
    return pl.DataFrame(list(cols.values()))


def features_from_table(df: pl.DataFrame, layout: FeatureLayout) -> ShotFeatures:
    """The features a :func:`features_to_table` table holds, checked against ``layout``."""
    missing = [
        c for c in ["shot", *(b.name for b in layout.blocks), *(present_column(b.name) for b in layout.blocks)]
        if c not in df.columns
    ]
    if missing:
        raise InvalidInputError(f"shot features table: missing columns {missing}")
    blocks, present = {}, {}
    n = df.height
    for spec in layout.blocks:
        dtype = df.schema[spec.name]
        if not isinstance(dtype, pl.Array) or dtype.size != spec.dim:
            raise InvalidInputError(
                f"shot features table: column {spec.name} is {dtype}, layout says {spec.dim}-d"
            )
        x = df[spec.name].to_numpy() if n else np.zeros((0, spec.dim))
        blocks[spec.name] = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(n, spec.dim))
        present[spec.name] = df[present_column(spec.name)].to_numpy().astype(bool)
    return ShotFeatures(
        shots=df["shot"].to_numpy().astype(np.int64), blocks=blocks, present=present, layout=layout
    )


def sentence_spans(
    transcript: Transcript, stored_texts: Sequence[str], stored_vectors: np.ndarray
) -> list[tuple[float, float, np.ndarray]] | None:
    """``(start, end, vector)`` per sentence of ``transcript``, pairing its sentences (split as
    ``chapters`` split them) with the stored sentence embeddings; None when they do not line up
    (another split, another transcript), so the caller knows the text block cannot be built
    from stored vectors."""
    from media_platform.text.sentences import split_sentences

    sentences = split_sentences(transcript)
    vectors = np.asarray(stored_vectors, dtype=np.float32)
    if len(sentences) != len(stored_texts) or [s.text for s in sentences] != list(stored_texts):
        return None
    if vectors.ndim != 2 or vectors.shape[0] != len(sentences):
        return None
    return [(s.start, s.end, vectors[i]) for i, s in enumerate(sentences)]
