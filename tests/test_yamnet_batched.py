"""YAMNet in batches (media_platform.audio.yamnet, media_platform.audio.yamnet_graph): the
dynamic-batch graph, the streamed front end, and their equality with the batch-1 graph called
once per patch over the whole file's features, on real recordings."""

from __future__ import annotations

import tracemalloc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from media_platform.audio import yamnet
from media_platform.audio.decode import load_audio
from media_platform.audio.events import _tile_rms_dbfs, detect_events
from media_platform.audio.yamnet_graph import make_batch_dynamic

RECORDINGS = ["podcast/podcast_assembled.flac", "audio/ina_musanmix/musanmix.wav", "audio/whisper_jfk/jfk.flac"]


@pytest.fixture(scope="module")
def recordings(shared_media):
    return {name: load_audio(shared_media / name) for name in RECORDINGS}


@pytest.fixture(scope="module")
def reference(recordings):
    """The batch-1 path: whole-file features, one session call per patch."""
    return {name: yamnet.run_yamnet(x, batch_size=1) for name, x in recordings.items()}


def test_the_batched_graph_takes_any_batch() -> None:
    model = onnx.load(str(yamnet.batched_model_path()), load_external_data=False)
    dims = {vi.name: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in [*model.graph.input, *model.graph.output]}  # fmt: skip
    q = yamnet.embedding_quantisation()
    assert dims == {"audio": ["batch", 1, 96, 64], "class_scores": ["batch", 521], q.tensor: ["batch", 1024]}
    inits = {i.name: i for i in model.graph.initializer}
    (reshape,) = [n for n in model.graph.node if n.op_type == "Reshape"]
    assert numpy_helper.to_array(inits[reshape.input[1]]).tolist() == [-1, 1024]  # was [1, -1]
    assert yamnet.batched_model_path().parent == yamnet.model_path().parent
    original = onnx.load(str(yamnet.model_path()), load_external_data=False)
    assert [d.dim_value for d in original.graph.input[0].type.tensor_type.shape.dim] == [1, 1, 96, 64]
    # and the original is still the one found in the cache folder
    assert yamnet.model_path().name == "model.onnx"


@pytest.mark.parametrize("batch", [7, 128, 1000])
def test_batches_are_bit_identical_to_one_call_per_patch(recordings, reference, batch) -> None:
    for name, x in recordings.items():
        out = yamnet.run_yamnet(x, batch_size=batch)
        ref = reference[name]
        assert np.array_equal(out.logits, ref.logits), name
        assert np.array_equal(out.embedding_codes, ref.embedding_codes), name


def test_the_reference_is_the_unmodified_graph(recordings, reference) -> None:
    """The batch-1 path's class scores are those of the export as shipped."""
    import onnxruntime as ort

    x = recordings["audio/whisper_jfk/jfk.flac"]
    sess = ort.InferenceSession(str(yamnet.model_path()), providers=["CPUExecutionProvider"])
    codes = np.concatenate([sess.run(["class_scores"], {"audio": p[None, None]})[0]
                            for p in yamnet.input_patches(x)])  # fmt: skip
    expected = (np.float32(0.7565417) * (codes.astype(np.float32) - np.float32(190))).astype(np.float32)
    assert np.array_equal(reference["audio/whisper_jfk/jfk.flac"].logits, expected)


@pytest.mark.parametrize("chunk", [2, 5, 64, 10_000])
def test_streamed_features_equal_the_whole_file(recordings, chunk) -> None:
    x = recordings["audio/ina_musanmix/musanmix.wav"]
    whole = yamnet.input_patches(x)
    parts = list(yamnet.iter_input_patches(x, chunk))
    assert [p0 for p0, _ in parts] == list(range(0, whole.shape[0], chunk))
    assert all(q.dtype == np.uint8 and q.flags["C_CONTIGUOUS"] for _, q in parts)
    assert np.array_equal(np.concatenate([q for _, q in parts]), whole)


def test_events_are_the_same_in_batches(recordings) -> None:
    x = recordings["podcast/podcast_assembled.flac"]
    one, batched = detect_events(x, batch_size=1), detect_events(x)
    assert one.segments == batched.segments
    assert np.array_equal(one.class_scores, batched.class_scores)
    for group in one.group_probs:
        assert np.array_equal(one.group_probs[group], batched.group_probs[group])


def test_memory_stays_bounded_for_long_audio() -> None:
    """Five minutes: the whole-file front end allocated ~200 MB of STFT temporaries (and the
    tile levels a float64 copy of the file); streamed, the peak is a few MB a chunk."""
    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal(300 * 16000)).astype(np.float32)
    yamnet.run_yamnet(x[:16000])  # session built outside the measurement
    tracemalloc.start()
    try:
        out = yamnet.run_yamnet(x)
        levels = _tile_rms_dbfs(x, out.logits.shape[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.logits.shape == (625, 521) and levels.shape == (625,)
    assert peak < 40 * 2**20, peak / 2**20


def test_tile_levels_in_chunks_equal_the_whole_file() -> None:
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(10 * 7680 + 1234)).astype(np.float32)
    n = yamnet.n_frames_for(x.size)
    padded = np.zeros(n * 7680)
    padded[: x.size] = x
    ms = np.mean(padded.reshape(n, 7680) ** 2, axis=1)
    ms[-1] *= 7680 / 1234
    expected = (10 * np.log10(ms + 1e-12)).astype(np.float32)
    for chunk in (1, 3, 128):
        assert np.array_equal(_tile_rms_dbfs(x, n, chunk=chunk), expected)


def test_a_reshape_that_does_not_lead_with_the_batch_is_refused() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 2])
    shape = numpy_helper.from_array(np.array([4, 2], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g", [x], [y], [shape])
    with pytest.raises(RuntimeError, match="not batch-led"):
        make_batch_dynamic(helper.make_model(graph))
    # a batch-led one is rewritten, the other dimensions from the batch-1 shapes
    y2 = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    shape2 = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    graph2 = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g", [x], [y2], [shape2])
    model = make_batch_dynamic(helper.make_model(graph2))
    assert numpy_helper.to_array(model.graph.initializer[0]).tolist() == [-1, 8]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_bad_batch_size_is_refused(recordings) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        yamnet.run_yamnet(recordings["audio/whisper_jfk/jfk.flac"], batch_size=0)
