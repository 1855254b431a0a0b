"""The CLIP encoder: checkpoint loading, unit-norm embeddings, and the truncated text path
giving exactly what open_clip's own ``encode_text`` gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from clip_fixtures import TINY_CLIP_DIM, TINY_CLIP_NAME, write_tiny_clip_checkpoint

from media_platform.video.clip import ClipEncoder, ClipModelSpec


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> ClipEncoder:
    checkpoint, config = write_tiny_clip_checkpoint(tmp_path_factory.mktemp("clip"))
    return ClipEncoder(ClipModelSpec(TINY_CLIP_NAME, checkpoint_path=str(checkpoint), model_config_path=str(config)), device="cpu")


@pytest.mark.parametrize("texts", [["a car chasing a boat"], ["x", "an explosion over a city at night, people running"], [""]])
def test_truncated_text_path_matches_open_clip(encoder: ClipEncoder, texts: list[str]) -> None:
    tokens = encoder.tokenizer(texts)
    with torch.inference_mode():
        reference = encoder.model.encode_text(tokens).numpy()
        fast = encoder._encode_tokens(tokens).numpy()
    np.testing.assert_allclose(fast, reference, rtol=1e-4, atol=1e-5)


def test_embeddings_are_unit_norm_with_the_model_dimension(encoder: ClipEncoder) -> None:
    rng = np.random.default_rng(0)
    images = [(rng.random((90, 160, 3)) * 255).astype(np.uint8) for _ in range(3)]
    vectors = encoder.encode_images(images)
    assert vectors.shape == (3, TINY_CLIP_DIM) == (3, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    text = encoder.encode_text(["a", "b c"])
    assert text.shape == (2, TINY_CLIP_DIM)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, atol=1e-5)
    assert encoder.spec.weights.startswith("checkpoint:")


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        ClipEncoder(ClipModelSpec("ViT-B-32", checkpoint_path=str(tmp_path / "nope.pt")))


def test_untrained_weights_are_labelled() -> None:
    assert "untrained" in ClipModelSpec("ViT-B-32", "none").weights


def test_image_batch_is_chosen_by_device_unless_set(encoder: ClipEncoder) -> None:
    from media_platform.settings import Settings
    from media_platform.video.clip import IMAGE_BATCH, default_batch_size

    assert default_batch_size("cuda") == default_batch_size("cuda:1") == IMAGE_BATCH["cuda"] > IMAGE_BATCH["cpu"]
    assert default_batch_size("cpu") == default_batch_size("mps") == IMAGE_BATCH["cpu"]
    assert encoder.batch_size == IMAGE_BATCH["cpu"]  # built without a batch size, on the CPU
    # the batch does not change the embeddings (5 images: batches of 2, 2, 1 against one batch)
    rng = np.random.default_rng(1)
    images = [(rng.random((72, 128, 3)) * 255).astype(np.uint8) for _ in range(5)]
    whole = encoder.encode_images(images)
    try:
        encoder.batch_size = 2
        np.testing.assert_allclose(encoder.encode_images(images), whole, atol=1e-5)
    finally:
        encoder.batch_size = IMAGE_BATCH["cpu"]
    assert Settings(clip_batch_size=0).clip_batch_size == 0
    with pytest.raises(ValueError):
        Settings(clip_batch_size=-1)


def test_image_tower_in_bfloat16_stays_close_to_float32(tmp_path: Path) -> None:
    checkpoint, config = write_tiny_clip_checkpoint(tmp_path)
    spec = ClipModelSpec(TINY_CLIP_NAME, checkpoint_path=str(checkpoint), model_config_path=str(config))
    encoder = ClipEncoder(spec, device="cpu")
    rng = np.random.default_rng(2)
    images = [(rng.random((90, 160, 3)) * 255).astype(np.uint8) for _ in range(4)]
    reference = encoder.encode_images(images)
    text = encoder.encode_text(["a red car"])
    with pytest.raises(ValueError, match="precision"):
        encoder.set_image_precision("int8")
    assert encoder.set_image_precision("bfloat16") == "bfloat16"
    assert next(encoder.model.visual.parameters()).dtype == torch.bfloat16
    fast = encoder.encode_images(images)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(fast * reference, axis=1))) > 0.99
    np.testing.assert_array_equal(encoder.encode_text(["a red car"]), text)  # the text tower is untouched
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert encoder.set_image_precision("auto") == ("bfloat16" if native else "float32")
