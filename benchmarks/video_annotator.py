"""Video Annotator's experiment (arXiv 2402.06560) on our shot features.

Shots whose truth is known are drawn from real material with real models (tests/tag_dataset.py:
frames of the fixture clips through a tiny random-weight CLIP, YAMNet embeddings of real
recordings, MiniLM on real transcripts). Prints:

1. the head's regularisation C against mean AP (why ``DEFAULT_C``);
2. AP against the number of examples (n positives + n negatives, n = 5, 10, 25, 50), per label;
3. few-shot against zero-shot: the vocabulary's audio scores (YAMNet classes, a real zero-shot
   baseline) for the audio labels; visual zero-shot needs real CLIP weights (see README);
4. each modality's block alone against the fusion (25 + 25 examples);
5. active learning (Video Annotator's four feeds, media_platform.tags.active_learning.suggest)
   against random selection, AP after 10, 25, 50 labels from the same 3 + 3 start;
6. the time to train one label (50 + 50 examples, with its cross-validation) and to re-score
   100,000 shots read back from Parquet, at the ViT-B-32 layout (3,840-d fused).

    python benchmarks/video_annotator.py [--episodes 16] [--seeds 4] [--shots-timing 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import tag_dataset as td  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from media_platform.storage import LocalStore, read_table, write_table  # noqa: E402
from media_platform.tags.classifier import score_features, train_classifier  # noqa: E402
from media_platform.tags.features import (  # noqa: E402
    BLOCKS,
    ShotFeatures,
    features_from_table,
    features_to_table,
    fused_matrix,
    make_layout,
)

SHARED = Path(os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO.parent / "shared" / "media"))
SIZES = (5, 10, 25, 50)
ZERO_SHOT = {"music": "music", "speech": "speech"}  # dataset label -> vocabulary tag


def few_shot(ds, X, name, n, seeds, *, c=None):
    y, aps = ds.label(name), []
    for seed in range(seeds):
        pool, test = td.split_episodes(ds, seed)
        n_pos = min(n, int(y[pool].sum()) - 1)
        n_neg = min(n, int((~y[pool]).sum()) - 1)
        train = td.sample_examples(y, pool, n_pos, n_neg, seed)
        aps.append(td.head_ap(X, y, train, test, layout=ds.layout, seed=seed, c=c))
    return float(np.mean(aps))


def zero_shot(ds, name, seeds):
    from media_platform.tags.audio_scores import audio_scores
    from media_platform.tags.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    j = vocab.names().index(ZERO_SHOT[name])
    scores = audio_scores(ds.class_scores, ds.class_peaks, vocab, ds.class_names)[:, j]
    scores = np.nan_to_num(scores, nan=0.0)  # no audio: no evidence
    y, aps = ds.label(name), []
    for seed in range(seeds):
        _, test = td.split_episodes(ds, seed)
        aps.append(average_precision_score(y[test], scores[test]))
    return float(np.mean(aps))


def section(title):
    print(f"\n### {title}")


def timing(n_shots: int, per_file: int = 1000):
    """Train one label, then re-score ``n_shots`` shots stored as Parquet episodes."""
    rng = np.random.default_rng(0)
    layout = make_layout(clip_dim=512, clip_source="open_clip ViT-B-32 (timing only)")
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(tmp)
        keys = []
        for e in range(0, n_shots, per_file):
            n = min(per_file, n_shots - e)
            blocks, present = {}, {}
            for spec in layout.blocks:
                x = rng.standard_normal((n, spec.dim), dtype=np.float32)
                blocks[spec.name] = x / np.linalg.norm(x, axis=1, keepdims=True)
                present[spec.name] = np.ones(n, bool)
            f = ShotFeatures(np.arange(n, dtype=np.int64), blocks, present, layout)
            key = f"episodes/e{e // per_file:04d}/shot_features.parquet"
            write_table(store, key, features_to_table(f))
            keys.append(key)
        X0 = fused_matrix(features_from_table(read_table(store, keys[0]), layout))
        t0 = time.perf_counter()
        clf = train_classifier("timing", X0[:50] + 0.1, X0[50:100], layout_signature=layout.signature,
                               layout=layout, examples_digest="-", version=1)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        total, read_s = 0, 0.0
        for key in keys:
            t1 = time.perf_counter()
            f = features_from_table(read_table(store, key), layout)
            read_s += time.perf_counter() - t1
            total += score_features(clf, f).shape[0]
        score_s = time.perf_counter() - t0
        size = sum((Path(tmp) / k).stat().st_size for k in keys)
    return train_s, score_s, read_s, total, size, layout.dim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=16, help="episodes of 50 shots (half pool, half held apart)")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--shots-timing", type=int, default=100_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    ds = td.make_dataset(SHARED, episodes=args.episodes, shots=50, seed=0)
    print(f"dataset: {len(ds)} shots, {args.episodes} episodes, features {ds.layout.dim}-d "
          f"(pools built in {time.perf_counter() - t0:.1f} s); AP on held-apart episodes, "
          f"mean over {args.seeds} splits")
    X = ds.fused()
    labels = list(td.LABELS)
    prevalence = {name: float(ds.label(name).mean()) for name in labels}

    section("Regularisation C: mean AP over all labels")
    print("| C | 5+5 | 25+25 |\n|---|---|---|")
    for c in (0.1, 1.0, 10.0, 100.0):
        a5 = np.mean([few_shot(ds, X, n, 5, args.seeds, c=c) for n in labels])
        a25 = np.mean([few_shot(ds, X, n, 25, args.seeds, c=c) for n in labels])
        print(f"| {c:g} | {a5:.3f} | {a25:.3f} |")

    section("AP vs examples (n positives + n negatives), fused features")
    print("| label | modalities | prevalence | " + " | ".join(f"n={n}" for n in SIZES) + " |")
    print("|---|---|---|" + "---|" * len(SIZES))
    curve = {}
    for name in labels:
        curve[name] = [few_shot(ds, X, name, n, args.seeds) for n in SIZES]
        mods = "+".join(td.LABELS[name][0])
        print(f"| {name} | {mods} | {prevalence[name]:.2f} | " + " | ".join(f"{v:.3f}" for v in curve[name]) + " |")
    print("| **mean** | | | " + " | ".join(f"**{np.mean([curve[k][i] for k in labels]):.3f}**"
                                          for i in range(len(SIZES))) + " |")

    section("Few-shot vs zero-shot (audio labels; zero-shot = vocabulary audio score from YAMNet classes)")
    print("| label | zero-shot | " + " | ".join(f"n={n}" for n in SIZES) + " |\n|---|---|" + "---|" * len(SIZES))
    for name in ZERO_SHOT:
        print(f"| {name} | {zero_shot(ds, name, args.seeds):.3f} | " + " | ".join(f"{v:.3f}" for v in curve[name]) + " |")

    section("Each modality vs fusion (25+25 examples)")
    views = {"clip": ("clip",), "audio": ("audio",), "text": ("text",), "context": ("context",),
             "no context": ("clip", "audio", "text"), "fusion": BLOCKS}
    mats = {k: ds.fused(v) for k, v in views.items()}
    print("| label | modalities | " + " | ".join(views) + " |\n|---|---|" + "---|" * len(views))
    for name in labels:
        row = [few_shot(ds, mats[k], name, 25, args.seeds) for k in views]
        print(f"| {name} | {'+'.join(td.LABELS[name][0])} | " + " | ".join(f"{v:.3f}" for v in row) + " |")

    section("Active learning vs random selection (start 3+3 at random, +5 per round)")
    budgets = (10, 25, 50)
    print("| label | prevalence | " + " | ".join(f"{b} labels: active / random" for b in budgets)
          + " |\n|---|---|" + "---|" * len(budgets))
    for name in [k for k in labels if prevalence[k] < td.RARE_BELOW]:
        y = ds.label(name)
        act, rnd = [], []
        for seed in range(args.seeds):
            pool, test = td.split_episodes(ds, seed)
            act.append(td.labelling_curve(X, y, pool, test, budgets, layout=ds.layout, active=True, seed=seed))
            rnd.append(td.labelling_curve(X, y, pool, test, budgets, layout=ds.layout, active=False, seed=seed))
        print(f"| {name} | {prevalence[name]:.2f} | " + " | ".join(
            f"{np.mean([a[b] for a in act]):.3f} / {np.mean([r[b] for r in rnd]):.3f}" for b in budgets) + " |")

    section(f"Time: train one label, re-score {args.shots_timing:,} shots from Parquet")
    train_s, score_s, read_s, total, size, dim = timing(args.shots_timing)
    print(f"- train (50+50 examples, {dim}-d, 5-fold CV + final fit): {train_s:.2f} s")
    print(f"- re-score {total:,} shots in {args.shots_timing // 1000} Parquet files ({size / 1e9:.2f} GB): "
          f"{score_s:.2f} s (of which reading {read_s:.2f} s)")
    print(f"- total {train_s + score_s:.2f} s (target < 10 s on 2 cores; this machine: {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
