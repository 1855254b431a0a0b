"""The API's text tower in bfloat16 (ClipEncoder.set_text_precision): the same embeddings as
float32 within 1e-3 in cosine, the same top matches, images untouched."""

from __future__ import annotations

import numpy as np
import pytest

from media_platform.video.clip import ClipEncoder, ClipModelSpec
from tests.clip_fixtures import TINY_CLIP_NAME, write_tiny_clip_checkpoint

QUERIES = [f"{a} {b} {c}" for a in ("a red", "the old", "one small", "a distant") for b in ("car", "boat", "dog")
           for c in ("chasing a boat", "under the rain", "near the bridge at night")]


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> ClipModelSpec:
    checkpoint, config = write_tiny_clip_checkpoint(tmp_path_factory.mktemp("clip"))
    return ClipModelSpec(TINY_CLIP_NAME, "none", str(checkpoint), str(config))


def test_bfloat16_text_matches_float32_and_leaves_images_alone(spec: ClipModelSpec) -> None:
    full = ClipEncoder(spec, device="cpu")
    half = ClipEncoder(spec, device="cpu")
    assert half.set_text_precision("bfloat16") == "bfloat16"
    a, b = full.encode_text(QUERIES), half.encode_text(QUERIES)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert float((a * b).sum(axis=1).min()) > 0.999
    # the same best match for each query among many candidates
    rng = np.random.default_rng(0)
    items = rng.standard_normal((2000, a.shape[1])).astype(np.float32)
    assert ((a @ items.T).argmax(axis=1) == (b @ items.T).argmax(axis=1)).mean() >= 0.95
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(full.encode_images([image]), half.encode_images([image]))


def test_auto_precision_follows_the_cpu_and_bad_values_are_refused(spec: ClipModelSpec) -> None:
    import torch

    enc = ClipEncoder(spec, device="cpu")
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert enc.set_text_precision("auto") == ("bfloat16" if native else "float32")
    with pytest.raises(ValueError, match="precision"):
        enc.set_text_precision("int4")
