"""Zero-shot visual tag scores (media_platform.tags.zero_shot).

No CLIP weights can be downloaded here, so the end-to-end test trains a tiny CLIP itself: a few
dozen contrastive steps on real frames of the fixture clips, each shot paired with a caption,
saves the checkpoint, loads it through :class:`~media_platform.video.clip.ClipEncoder` as users
load theirs, and checks that frames of the same shots that training never saw score their own
caption's tag highest. The pure helpers are checked against closed forms.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint

from media_platform.tags.vocabulary import TagSpec, Vocabulary
from media_platform.tags.zero_shot import ensemble, prompt_bank, visual_scores

# (clip, training frames, held-apart frame, tag, caption): each a single shot of the clip
# (cuts: Big Buck Bunny 283, 376, 551; goldeneye 90, 210; counter none).
SHOTS = [
    ("video/blender_bbb/big_buck_bunny_0_30.webm", [120, 200, 260], 160, "meadow",
     "a cartoon landscape of green hills and trees under a pink sky"),
    ("video/blender_bbb/big_buck_bunny_0_30.webm", [400, 480, 530], 450, "bird",
     "a cartoon bird sitting on a branch"),
    ("video/pyscenedetect/issue-134-rotate.mp4", [10, 50, 80], 30, "screen",
     "a computer monitor in a dark control room"),
    ("video/pyscenedetect/counter.mp4", [2, 12, 25], 18, "counter",
     "white numbers on a plain brown background"),
]
BACKGROUND = "a photo of something."


def _vocab(tags: list[TagSpec], background: tuple[str, ...] = (BACKGROUND,)) -> Vocabulary:
    return Vocabulary(tuple(tags), background, "test", "")


def _tag(name: str, prompts: tuple[str, ...] = (), classes: tuple[str, ...] = ()) -> TagSpec:
    return TagSpec(name, prompts, classes, 0.5, {"visual": 1.0, "audio": 1.0})


def _train_tiny_clip(folder: Path, shared_media: Path) -> tuple[Path, Path, list[np.ndarray]]:
    """Train the tiny CLIP on the SHOTS' training frames; return (checkpoint, config, held-apart frames)."""
    import open_clip
    import torch
    from PIL import Image

    from media_platform.video.frames import read_frames

    torch.manual_seed(0)
    _, config = write_tiny_clip_checkpoint(folder)  # registers the architecture with open_clip
    model, _, preprocess = open_clip.create_model_and_transforms(TINY_CLIP_NAME, pretrained=None)
    tokenizer = open_clip.get_tokenizer(TINY_CLIP_NAME)
    images, labels, held = [], [], []
    for k, (clip, train, test, _, _) in enumerate(SHOTS):
        frames = read_frames(shared_media / clip, [*train, test], max_side=160)
        for i in train:
            images.append(preprocess(Image.fromarray(frames[i])))
            labels.append(k)
        held.append(frames[test])
    x = torch.stack(images)
    y = torch.tensor(labels)
    # the background caption is a negative for every image: "none of these" in the scores
    tokens = tokenizer([caption for *_, caption in SHOTS] + [BACKGROUND])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(40):
        img = model.encode_image(x, normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        logits = model.logit_scale.exp() * img @ txt.T  # (images, captions + background)
        loss = torch.nn.functional.cross_entropy(logits, y)  # each image: its caption among all
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    checkpoint = folder / "trained_tiny_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return checkpoint, config, held


def test_zero_shot_with_a_checkpoint_the_test_trains_ranks_the_matching_prompt_first(
    tmp_path: Path, shared_media: Path
) -> None:
    from media_platform.video.clip import ClipEncoder, ClipModelSpec

    checkpoint, config, held = _train_tiny_clip(tmp_path, shared_media)
    encoder = ClipEncoder(
        ClipModelSpec(TINY_CLIP_NAME, checkpoint_path=str(checkpoint), model_config_path=str(config)),
        device="cpu",
    )
    assert 1.0 < encoder.logit_scale <= 100.0
    vocab = _vocab(
        [_tag(name, (caption,)) for *_, name, caption in SHOTS] + [_tag("gunshot", classes=("Gunshot, gunfire",))]
    )
    bank = prompt_bank(vocab, encoder.encode_text)
    scores = visual_scores(encoder.encode_images(held), bank, logit_scale=encoder.logit_scale)
    assert scores.shape == (len(SHOTS), len(SHOTS) + 1)
    assert np.isnan(scores[:, -1]).all()  # no prompts, no visual score
    visual = scores[:, :-1]
    assert ((visual >= 0) & (visual <= 1)).all()
    assert list(visual.argmax(axis=1)) == list(range(len(SHOTS)))
    # training put every frame's own caption above the background caption: above one half
    assert np.diag(visual).min() > 0.5, visual


def _random_units(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_prompt_bank_ensembles_unit_prompt_embeddings_per_tag() -> None:
    rng = np.random.default_rng(1)
    vocab = _vocab([_tag("a", ("p1", "p2")), _tag("b", classes=("Bark",)), _tag("c", ("p3",))], ("bg1", "bg2"))
    table = {t: rng.normal(size=8) * s for t, s in zip(["p1", "p2", "p3", "bg1", "bg2"], [1, 5, 2, 3, 0.5])}
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.stack([table[t] for t in texts])

    bank = prompt_bank(vocab, encode)
    assert calls == [["p1", "p2", "p3", "bg1", "bg2"]]  # one batch
    unit = {k: v / np.linalg.norm(v) for k, v in table.items()}
    expected_a = (unit["p1"] + unit["p2"]) / np.linalg.norm(unit["p1"] + unit["p2"])
    np.testing.assert_allclose(bank.tag_embeddings[0], expected_a, atol=1e-6)  # norms do not weigh
    np.testing.assert_allclose(bank.tag_embeddings[2], unit["p3"], atol=1e-6)
    assert list(bank.has_prompts) == [True, False, True] and not bank.tag_embeddings[1].any()
    bg = (unit["bg1"] + unit["bg2"]) / np.linalg.norm(unit["bg1"] + unit["bg2"])
    np.testing.assert_allclose(bank.background, bg, atol=1e-6)
    np.testing.assert_allclose(ensemble(np.stack([table["p1"]] * 3)), unit["p1"], atol=1e-6)


@pytest.mark.parametrize("logit_scale", [100.0, 14.3, 1.0])
def test_visual_scores_are_the_two_way_softmax_against_the_background(logit_scale: float) -> None:
    rng = np.random.default_rng(2)
    vocab = _vocab([_tag("a", ("p1",)), _tag("b", ("p2",)), _tag("n", classes=("Bark",))])
    emb = {t: v for t, v in zip(["p1", "p2", BACKGROUND], _random_units(rng, 3, 16))}
    bank = prompt_bank(vocab, lambda texts: np.stack([emb[t] for t in texts]))
    images = rng.normal(size=(5, 16)) * 3  # not unit: visual_scores normalises
    scores = visual_scores(images, bank, logit_scale=logit_scale)
    units = images / np.linalg.norm(images, axis=1, keepdims=True)
    for i in range(5):
        for j, p in enumerate(["p1", "p2"]):
            t, b = units[i] @ emb[p], units[i] @ emb[BACKGROUND]
            softmax = math.exp(logit_scale * t) / (math.exp(logit_scale * t) + math.exp(logit_scale * b))
            assert scores[i, j] == pytest.approx(softmax, abs=1e-5)
    assert np.isnan(scores[:, 2]).all()


@pytest.mark.parametrize(
    "image, expected",
    [
        ("tag", 1.0),  # the image is the tag's embedding: far better than the background
        ("background", 0.0),  # the image is the background: far from the tag
        ("between", 0.5),  # equally close to both
    ],
)
def test_visual_score_extremes(image: str, expected: float) -> None:
    tag = np.array([1.0, 0.0, 0.0])
    background = np.array([0.0, 1.0, 0.0])
    bank = prompt_bank(_vocab([_tag("a", ("p",))]), lambda texts: np.stack([tag if t == "p" else background for t in texts]))
    x = {"tag": tag, "background": background, "between": tag + background}[image]
    assert visual_scores(x[None, :], bank)[0, 0] == pytest.approx(expected, abs=1e-6)


def test_visual_scores_reject_bad_input() -> None:
    bank = prompt_bank(_vocab([_tag("a", ("p",))]), lambda texts: np.eye(2)[: len(texts)])
    with pytest.raises(ValueError, match="expected"):
        visual_scores(np.ones((2, 3)), bank)
    with pytest.raises(ValueError, match="logit_scale"):
        visual_scores(np.ones((2, 2)), bank, logit_scale=0.0)
    assert visual_scores(np.zeros((0, 2)), bank).shape == (0, 1)
    # a shot without an embedding (zeros in shot_features, or NaN) has no visual score
    scores = visual_scores(np.array([[0.0, 0.0], [1.0, 0.0], [np.nan, 1.0]]), bank)
    assert np.isnan(scores[[0, 2], 0]).all() and scores[1, 0] > 0.99
