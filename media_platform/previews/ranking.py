"""Choosing the preview among the candidates: a transparent default score and a learned ranker.

Pure, typed domain code (no Dagster).

Default scoring
    ``score = Σ_f weight_f · feature_f`` over the candidate features of
    :mod:`media_platform.previews.candidates` with the weights of :class:`RankingWeights`. Only
    *clean* candidates are eligible (no ad, intro/outro, music or spoiler tail), so the weights
    order acceptable windows; the per-feature contributions ``weight · value`` are stored with
    the choice, together with human-readable reasons.

Learning to rank
    :func:`train_ranker` fits a pairwise logistic ranker (RankNet-style, linear, numpy) from a
    golden set (JSON list of ``{"episode", "start", "end"}``): for every episode, candidate pairs
    whose IoU with the golden clip differs by more than ``margin`` become training pairs
    ``(x_better − x_worse) → 1`` over standardised features. The weights are L2-regularised
    towards the default weights, so a small golden set nudges rather than replaces the prior.
    A trained ranker is saved as JSON and, when present, replaces the default
    (:func:`resolve_ranker`). :func:`evaluate` reports mean IoU of chosen vs golden clips and the
    top-1 hit rate (IoU ≥ 0.5).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from media_platform.previews.candidates import (
    Candidate,
    CandidateSet,
)
from media_platform.previews.features import FEATURE_NAMES

# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewChoice:
    """The chosen preview span with its score, per-feature contributions and reasons."""

    start: float
    end: float
    text: str
    score: float
    contributions: dict[str, float]
    reasons: list[str]
    features: dict[str, float] = field(default_factory=dict)
    ranker: str = "default"

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_row(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "start": self.start,
            "end": self.end,
            "duration": round(self.duration, 3),
            "text": self.text,
            "score": round(self.score, 4),
            "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
            "reasons": list(self.reasons),
            "ranker": self.ranker,
        }


@dataclass(frozen=True)
class PreviewOutcome:
    """``choice`` is ``None`` when there is no preview; ``reason`` always says why/what."""

    choice: PreviewChoice | None
    reason: str
    n_candidates: int = 0
    n_clean: int = 0
    candidate_set: CandidateSet | None = None


# --------------------------------------------------------------------------------------------
# Rankers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingWeights:
    """Weights of the default transparent score (one per candidate feature).

    Rationale: length close to the target and a complete sentence span matter most; topic
    coverage and lively delivery (energy, its variation, natural rate) break ties; anything
    ad-, intro- or spoiler-like is penalised even among clean windows (belt and braces)."""

    length_fit: float = 2.0
    speech_ratio: float = 1.0
    music_ratio: float = -2.0
    music_under_speech: float = -1.0
    energy: float = 0.5
    energy_variation: float = 0.5
    rate_fit: float = 0.5
    completeness: float = 2.0
    boundary_pause: float = 0.5
    intro_outro: float = -2.0
    ad_prob: float = -3.0
    ad_overlap: float = -3.0
    spoiler_cues: float = -1.5
    position: float = -0.3
    in_tail: float = -3.0
    topic_similarity: float = 1.5
    keyword_coverage: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


class Ranker(Protocol):
    name: str

    def score(self, features: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """Score of a candidate and the per-feature contributions that sum to it."""
        ...


@dataclass
class LinearRanker:
    """``score = Σ w_f · (x_f − mean_f) / scale_f``; the default has mean 0, scale 1."""

    weights: dict[str, float]
    mean: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    name: str = "default"
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def default(cls, weights: RankingWeights = RankingWeights()) -> LinearRanker:
        return cls(weights.as_dict(), name="default")

    def score(self, features: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        contrib = {
            f: w * (float(features.get(f, 0.0)) - self.mean.get(f, 0.0)) / self.scale.get(f, 1.0)
            for f, w in self.weights.items()
        }
        return float(sum(contrib.values())), contrib

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ranker as JSON, atomically."""
        data = {
            "name": self.name,
            "weights": self.weights,
            "mean": self.mean,
            "scale": self.scale,
            "meta": self.meta,
        }
        return _atomic_write_text(Path(path), json.dumps(data, indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LinearRanker:
        data = json.loads(Path(path).read_text())
        return cls(
            weights={k: float(v) for k, v in data["weights"].items()},
            mean={k: float(v) for k, v in data.get("mean", {}).items()},
            scale={k: float(v) for k, v in data.get("scale", {}).items()},
            name=str(data.get("name", "learned")),
            meta=dict(data.get("meta", {})),
        )


def resolve_ranker(
    learned_path: str | os.PathLike[str] | None, weights: RankingWeights = RankingWeights()
) -> LinearRanker:
    """The learned ranker at ``learned_path`` when that file exists, else the default."""
    if learned_path is not None and Path(learned_path).is_file():
        return LinearRanker.load(learned_path)
    return LinearRanker.default(weights)


def _atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------
# Choosing
# --------------------------------------------------------------------------------------------

_FEATURE_PHRASES = {
    "length_fit": "close to the target length",
    "completeness": "whole sentences",
    "topic_similarity": "on the episode's main topic",
    "keyword_coverage": "covers the episode's keywords",
    "energy": "lively level",
    "energy_variation": "expressive delivery",
    "rate_fit": "natural speaking rate",
    "speech_ratio": "all speech",
    "boundary_pause": "cut at pauses",
}

_FLAG_TEXT = {
    "ad": "an ad",
    "music": "music",
    "intro_outro": "an intro/outro",
    "tail": "the spoiler-protected ending",
    "low_speech": "too little speech",
}


def _reasons(cand: Candidate, contrib: Mapping[str, float], cset: CandidateSet) -> list[str]:
    pos = sorted(((v, k) for k, v in contrib.items() if v > 0), reverse=True)[:3]
    out = [f"{_FEATURE_PHRASES.get(k, k)} ({k} +{v:.2f})" for v, k in pos]
    neg = sorted((v, k) for k, v in contrib.items() if v < -0.05)[:2]
    out += [f"penalised: {k} {v:.2f}" for v, k in neg]
    if not cand.full_length:
        out.append(f"shorter than the target ({cand.duration:.1f} s): no clean full-length window")
    n_dirty = len(cset.candidates) - len(cset.clean)
    if n_dirty:
        counts: dict[str, int] = {}
        for c in cset.candidates:
            for f in c.flags:
                counts[f] = counts.get(f, 0) + 1
        parts = ", ".join(f"{_FLAG_TEXT.get(k, k)} {v}" for k, v in sorted(counts.items()))
        out.append(f"{n_dirty} of {len(cset.candidates)} windows excluded ({parts})")
    return out


def choose_preview(
    cset: CandidateSet,
    ranker: Ranker | None = None,
    *,
    min_speech_s: float = 1.0,
    avoid: Sequence[tuple[float, float]] = (),
) -> PreviewOutcome:
    """Best clean candidate under ``ranker`` (default: :meth:`LinearRanker.default`), or no
    preview with the reason (no speech; no clean candidate and what excluded them).

    ``avoid``: spans no preview may overlap (the episode's intro, recap and credits markers)."""
    rk: Ranker = ranker if ranker is not None else LinearRanker.default()
    n = len(cset.candidates)
    if cset.speech_s < min_speech_s:
        return PreviewOutcome(
            None,
            f"no speech: the event timeline has {cset.speech_s:.1f} s of speech "
            f"in {cset.duration_s:.1f} s",
            n,
            0,
            cset,
        )
    if n == 0:
        why = (
            "no sentences in the transcript"
            if "no sentences" in cset.notes
            else ("no sentence-aligned window of the allowed length")
        )
        return PreviewOutcome(None, f"no preview: {why}", 0, 0, cset)
    clean = [c for c in cset.clean if not any(min(c.end, b) > max(c.start, a) for a, b in avoid)]
    if cset.clean and not clean:
        return PreviewOutcome(
            None,
            f"no clean candidate: all {len(cset.clean)} clean windows overlap an intro, recap or credits marker",
            n,
            0,
            cset,
        )
    if not clean:
        counts: dict[str, int] = {}
        for c in cset.candidates:
            for f in c.flags:
                counts[f] = counts.get(f, 0) + 1
        parts = ", ".join(f"{_FLAG_TEXT.get(k, k)}: {v}" for k, v in sorted(counts.items()))
        return PreviewOutcome(
            None,
            f"no clean candidate: all {n} windows reach into something excluded ({parts})",
            n,
            0,
            cset,
        )
    scored = []
    for c in clean:
        s, contrib = rk.score(c.features)
        scored.append((s, -c.start, c, contrib))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    s, _, best, contrib = scored[0]
    choice = PreviewChoice(
        start=best.start,
        end=best.end,
        text=best.text,
        score=s,
        contributions=contrib,
        reasons=_reasons(best, contrib, cset),
        features=dict(best.features),
        ranker=getattr(rk, "name", "custom"),
    )
    summary = f"chose {best.start:.2f}-{best.end:.2f} s ({best.duration:.1f} s) of {len(clean)} clean / {n} windows"
    return PreviewOutcome(choice, summary, n, len(clean), cset)


# --------------------------------------------------------------------------------------------
# Golden set, training, evaluation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldenClip:
    episode: str
    start: float
    end: float


def load_golden(path: str | os.PathLike[str]) -> list[GoldenClip]:
    """Read a golden set: a JSON list of ``{"episode": str, "start": s, "end": s}``."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise TypeError(f"{path}: golden set must be a JSON list")
    out = []
    for k, row in enumerate(data):
        try:
            g = GoldenClip(str(row["episode"]), float(row["start"]), float(row["end"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: row {k} is not {{episode, start, end}}: {e}") from e
        if g.end <= g.start:
            raise ValueError(f"{path}: row {k} has end <= start")
        out.append(g)
    return out


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time spans."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Evaluation:
    mean_iou: float
    top1_hit_rate: float
    n: int
    per_episode: dict[str, float]


def evaluate(
    choices: Mapping[str, PreviewChoice | None],
    golden: Sequence[GoldenClip],
    *,
    hit_iou: float = 0.5,
) -> Evaluation:
    """Mean IoU of chosen vs golden clips and top-1 hit rate (IoU ≥ ``hit_iou``); a missing
    choice counts as IoU 0."""
    per: dict[str, float] = {}
    for g in golden:
        c = choices.get(g.episode)
        per[g.episode] = iou((c.start, c.end), (g.start, g.end)) if c is not None else 0.0
    vals = list(per.values())
    if not vals:
        return Evaluation(0.0, 0.0, 0, {})
    return Evaluation(
        float(np.mean(vals)), float(np.mean([v >= hit_iou for v in vals])), len(vals), per
    )


def _matrix(cands: Sequence[Candidate], names: Sequence[str]) -> np.ndarray:
    return np.array([[c.features.get(f, 0.0) for f in names] for c in cands], dtype=np.float64)


def train_ranker(
    episodes: Mapping[str, CandidateSet],
    golden: Sequence[GoldenClip],
    *,
    prior: RankingWeights = RankingWeights(),
    margin: float = 0.1,
    l2: float = 0.05,
    epochs: int = 300,
    lr: float = 0.5,
    max_pairs_per_episode: int = 4000,
    clean_only: bool = True,
    seed: int = 0,
) -> LinearRanker:
    """Fit a pairwise logistic (RankNet-style) linear ranker from a golden set.

    ``episodes`` maps episode id → its :class:`CandidateSet`. Candidates are compared by IoU
    with the episode's golden clip; pairs differing by more than ``margin`` are used. Features
    are standardised over all candidates; the loss is the mean pairwise log-loss plus
    ``l2 · ||w − w_prior||²`` with ``w_prior`` the default weights in standardised units.
    Trained by full-batch gradient descent (deterministic)."""
    names = list(FEATURE_NAMES)
    gold = {g.episode: g for g in golden}
    rng = np.random.default_rng(seed)
    all_x, diffs = [], []
    for ep, cset in episodes.items():
        if ep not in gold:
            continue
        cands = [c for c in cset.candidates if c.clean or not clean_only]
        if len(cands) < 2:
            continue
        x = _matrix(cands, names)
        all_x.append(x)
        rel = np.array([iou((c.start, c.end), (gold[ep].start, gold[ep].end)) for c in cands])
        ii, jj = np.nonzero(rel[:, None] - rel[None, :] > margin)
        if len(ii) > max_pairs_per_episode:
            pick = rng.choice(len(ii), max_pairs_per_episode, replace=False)
            ii, jj = ii[pick], jj[pick]
        diffs.append((ii, jj, x))
    if not all_x:
        raise ValueError("no episode of the golden set has two or more candidates to compare")
    stacked = np.vstack(all_x)
    mean = stacked.mean(0)
    scale = stacked.std(0)
    scale[scale < 1e-6] = 1.0
    d_list = [((x[ii] - x[jj]) / scale) for ii, jj, x in diffs if len(ii)]
    pw = np.array([getattr(prior, f) for f in names], dtype=np.float64) * scale
    w = pw.copy()
    if d_list:
        d = np.vstack(d_list)
        for _ in range(epochs):
            z = d @ w
            p = 1.0 / (1.0 + np.exp(np.clip(z, -50, 50)))  # = 1 - sigmoid(z)
            grad = -(d * p[:, None]).mean(0) + 2 * l2 * (w - pw)
            w -= lr * grad
        loss = float(np.mean(np.log1p(np.exp(-np.clip(d @ w, -50, 50)))))
        n_pairs = len(d)
    else:
        loss, n_pairs = float("nan"), 0
    return LinearRanker(
        weights={f: float(v) for f, v in zip(names, w)},
        mean={f: float(v) for f, v in zip(names, mean)},
        scale={f: float(v) for f, v in zip(names, scale)},
        name="learned-pairwise",
        meta={
            "pairs": n_pairs,
            "episodes": len(all_x),
            "final_pair_loss": loss,
            "l2": l2,
            "margin": margin,
            "prior": asdict(prior),
        },
    )
