"""YAMNet's 1024-d embedding layer, exposed from the ONNX graph as a second output
(media_platform.audio.yamnet), its stored table and its per-span means
(media_platform.audio.embedding_store).

Ground truth (see ../shared/media/README.md): ina_musanmix is music 0-22.43 s and male speech
62.74-74.52 s (measured); podcast_assembled is intro music 0-12 s, a host read 12.5-39.23 s,
an archival speech clip 67.422-78.422 s and outro music 79.122-89.122 s (by construction).
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import polars as pl
import pytest
from onnx import TensorProto, helper, numpy_helper

from media_platform.audio import yamnet
from media_platform.audio.decode import load_audio
from media_platform.audio.embedding_store import (
    EMBEDDING_TABLE_SCHEMA,
    embedding_codes_from_table,
    embeddings_from_table,
    embeddings_to_table,
    events_embeddings_table,
    mean_embedding_per_span,
)
from media_platform.audio.events import (
    detect_events,
    mean_class_scores_per_span,
    peak_class_scores_per_span,
    span_frame_ranges,
)
from media_platform.errors import InvalidInputError

HOP = yamnet.FRAME_HOP_S
POOLED = "/model/GlobalAveragePool_output_0"  # the float average, before the graph quantises it


def _session_on(path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def _run_each(sess: ort.InferenceSession, patches: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
    got = [sess.run(outputs, {"audio": p[None, None]}) for p in patches]
    return [np.stack([g[j][0] for g in got]) for j in range(len(outputs))]


def _frames(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """Frames whose whole tile lies inside [start, end]."""
    return np.where((times >= start) & (times + HOP <= end))[0]


@pytest.fixture(scope="module")
def podcast(shared_media):
    return load_audio(shared_media / "podcast/podcast_assembled.flac")


@pytest.fixture(scope="module")
def musanmix_events(shared_media):
    return detect_events(load_audio(shared_media / "audio/ina_musanmix/musanmix.wav"))


@pytest.fixture(scope="module")
def podcast_events(podcast):
    return detect_events(podcast)


def test_embedding_layer_is_found_in_the_graph() -> None:
    q = yamnet.embedding_quantisation()
    # the uint8 codes that feed the classifier Gemm through a DequantizeLinear
    assert q.tensor == "/model/Reshape_output_0_q"
    assert q.zero_point == 0 and q.scale == pytest.approx(0.028057486, rel=1e-6)
    model = onnx.load(str(yamnet.embedding_model_path()), load_external_data=False)
    outputs = {o.name: o.type.tensor_type for o in model.graph.output}
    assert set(outputs) == {"class_scores", q.tensor}
    assert outputs[q.tensor].elem_type == TensorProto.UINT8
    assert [d.dim_value for d in outputs[q.tensor].shape.dim] == [1, 1024]
    # saved beside the extracted model, so its external weights resolve; the original is untouched
    assert yamnet.embedding_model_path().parent == yamnet.model_path().parent
    original = onnx.load(str(yamnet.model_path()), load_external_data=False)
    assert [o.name for o in original.graph.output] == ["class_scores"]


def test_one_pass_gives_bit_identical_class_scores_and_the_embedding(podcast, monkeypatch) -> None:
    patches = yamnet.input_patches(podcast)
    (before,) = _run_each(_session_on(yamnet.model_path()), patches, ["class_scores"])  # unmodified graph

    calls = []

    class Counting:
        def __init__(self, sess):
            self.sess = sess

        def run(self, names, feed):
            calls.append((tuple(names), feed["audio"].shape[0]))
            return self.sess.run(names, feed)

    real = yamnet._session
    monkeypatch.setattr(yamnet, "_session", lambda n, batched=True: Counting(real(n, batched)))
    out = yamnet.run_yamnet(podcast)
    # one call per batch of patches returns both outputs
    assert [b for _, b in calls] == [
        min(yamnet.DEFAULT_BATCH, patches.shape[0] - i) for i in range(0, patches.shape[0], yamnet.DEFAULT_BATCH)
    ]
    assert {names for names, _ in calls} == {("class_scores", "/model/Reshape_output_0_q")}

    expected = (np.float32(0.7565417) * (before.astype(np.float32) - np.float32(190))).astype(np.float32)
    assert np.array_equal(out.logits, expected)  # bit-identical to the single-output graph
    assert out.embedding_codes.shape == (patches.shape[0], 1024) and out.embedding_codes.dtype == np.uint8
    emb = out.embeddings
    assert emb.dtype == np.float32 and emb.shape == (patches.shape[0], 1024)
    assert (emb >= 0).all()  # the average of a ReLU
    assert (emb.max(axis=1) > 0).all() and 0.02 < (emb > 0).mean() < 0.9


def test_the_embedding_is_what_the_classifier_reads(podcast) -> None:
    """Recompute the graph's classifier (int8 weight, Gemm, output quantisation) from the
    exposed embedding: it must give YAMNet's own logits, so the tensor is the embedding layer."""
    out = yamnet.run_yamnet(podcast)
    model = onnx.load(str(yamnet.model_path()))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    w, ws = init["model.classifier.weight"], init["model.classifier.weight_scale"]
    w_qdq = np.clip(np.rint(w / ws), -128, 127) * ws
    logits = out.embeddings.astype(np.float64) @ w_qdq.T.astype(np.float64) + init["model.classifier.bias"]
    step, zero = float(init["class_scores_scale"]), float(init["class_scores_zero_point"])
    recomputed = (np.clip(np.rint(logits / step) + zero, 0, 255) - zero) * step
    diff = np.abs(recomputed - out.logits)
    assert diff.max() <= step * 1.001  # at most one output code apart (summation order)
    assert (diff < 1e-3).mean() > 0.99
    # and a random 1024-vector would not do: the check can fail
    rng = np.random.default_rng(0)
    shuffled = out.embeddings[rng.permutation(len(out.embeddings))]
    wrong = (np.clip(np.rint((shuffled @ w_qdq.T + init["model.classifier.bias"]) / step) + zero, 0, 255) - zero) * step
    assert np.abs(wrong - out.logits).max() > 5 * step


def test_stored_codes_are_within_one_step_of_the_float_layer(podcast, podcast_events, tmp_path) -> None:
    """The table's uint8 codes, dequantised, lie within one quantisation step of the float
    average the graph quantises (``/model/GlobalAveragePool_output_0``, before its Q/DQ; the
    later Reshape and second Q/DQ use the same scale, so they change nothing)."""
    original = yamnet.model_path()
    model = onnx.load(str(original), load_external_data=False)
    model.graph.output.append(helper.make_tensor_value_info(POOLED, TensorProto.FLOAT, [1, 1024, 1, 1]))
    for name in os.listdir(original.parent):  # the external weights beside the test's graph
        if not name.endswith(".onnx"):  # (copied: onnxruntime refuses links out of the folder)
            shutil.copyfile(original.parent / name, tmp_path / name)
    onnx.save(model, str(tmp_path / "float_layer.onnx"))
    (floats,) = _run_each(_session_on(tmp_path / "float_layer.onnx"), yamnet.input_patches(podcast), [POOLED])
    floats = floats.reshape(len(floats), 1024)

    table = events_embeddings_table(podcast_events)
    assert dict(table.schema) == EMBEDDING_TABLE_SCHEMA
    assert table["frame"].to_list() == list(range(len(podcast_events.frame_times)))
    times, codes, scale, zero, hop = embedding_codes_from_table(table)
    assert np.array_equal(codes, podcast_events.embedding_codes) and hop == HOP
    assert np.allclose(times, podcast_events.frame_times)
    times, emb = embeddings_from_table(table)
    assert scale == yamnet.embedding_quantisation().scale and zero == 0
    assert np.abs(emb - floats).max() <= scale * 0.5 + 1e-6  # rounding: half a step
    assert np.abs(emb - floats).max() > 0  # it really is quantised


def _nearest_centroid_accuracy(train: dict, test: dict) -> float:
    centroids = {k: v.mean(axis=0) for k, v in train.items()}
    right = total = 0
    for label, rows in test.items():
        d = {k: np.linalg.norm(rows - c, axis=1) for k, c in centroids.items()}
        pred = np.where(d["speech"] < d["music"], "speech", "music")
        right += int((pred == label).sum())
        total += len(rows)
    return right / total


def test_speech_and_music_embeddings_are_separable(musanmix_events, podcast_events) -> None:
    t, e = musanmix_events.frame_times, musanmix_events.embeddings
    music, speech = _frames(t, 0.0, 22.43), _frames(t, 62.74, 74.52)
    assert len(music) >= 40 and len(speech) >= 20
    # held-out frames of the same recording: centroids from the first halves, tested on the second
    hm, hs = len(music) // 2, len(speech) // 2
    within = _nearest_centroid_accuracy({"music": e[music[:hm]], "speech": e[speech[:hs]]},
                                        {"music": e[music[hm:]], "speech": e[speech[hs:]]})
    assert within >= 0.9  # measured 1.0 (23 + 12 held-out frames)
    # other recordings: musanmix's centroids on the podcast's intro / outro music and its
    # host read / archival speech (the outro's first 1.1 s is digital silence)
    pt, pe = podcast_events.frame_times, podcast_events.embeddings
    test = {"music": pe[np.r_[_frames(pt, 0.0, 12.0), _frames(pt, 80.23, 89.122)]],
            "speech": pe[np.r_[_frames(pt, 12.5, 39.23), _frames(pt, 67.422, 78.422)]]}
    across = _nearest_centroid_accuracy({"music": e[music], "speech": e[speech]}, test)
    assert across >= 0.9  # measured 0.97 (121 frames)


def test_span_means_and_peaks(podcast_events) -> None:
    ev = podcast_events
    times, emb = embeddings_from_table(events_embeddings_table(ev))
    spans = [(0.0, 12.0), (12.5, 39.23), (5.0, 5.1), (200.0, 210.0)]
    ranges = span_frame_ranges(times, HOP, spans)
    n = len(times)
    assert ranges[0] == (0, 24) and ranges[1] == (26, 81)  # tiles overlapping each span
    assert ranges[2] == (10, 10)  # a short span takes the frame holding its midpoint
    assert ranges[3] == (n - 1, n - 1)  # past the end: the last frame
    means = mean_embedding_per_span(times, HOP, emb, spans)
    assert means.shape == (4, 1024) and means.dtype == np.float32
    for k, (a, b) in enumerate(ranges):
        assert np.allclose(means[k], emb[a : b + 1].mean(axis=0), atol=1e-6)
    scores = mean_class_scores_per_span(ev, spans)
    peaks = peak_class_scores_per_span(ev, spans)
    assert peaks.shape == scores.shape == (4, 521)
    assert (peaks >= scores - 1e-6).all()
    assert np.allclose(peaks[1], ev.class_scores[26:82].astype(np.float32).max(axis=0))
    assert np.allclose(peaks[2], scores[2])  # one frame: peak == mean
    # intro music vs host read: the music class (AudioSet "Music", index 132) tells them apart
    assert yamnet.class_names()[132] == "Music" and scores[0, 132] > 0.5 > scores[1, 132]
    assert not mean_embedding_per_span(np.zeros(0), HOP, np.zeros((0, 1024), np.float32), spans).any()


def test_bad_embedding_input_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="uint8 codes of shape"):
        embeddings_to_table(np.zeros(2), np.zeros((2, 1024), np.float32), scale=0.1, zero_point=0)
    with pytest.raises(InvalidInputError, match="quantisation"):
        embeddings_to_table(np.zeros(1), np.zeros((1, 1024), np.uint8), scale=0.0, zero_point=0)
    good = embeddings_to_table(np.zeros(1), np.zeros((1, 1024), np.uint8), scale=0.1, zero_point=3)
    with pytest.raises(InvalidInputError, match="missing columns scale"):
        embeddings_from_table(good.drop("scale"))
    with pytest.raises(InvalidInputError, match="Array"):
        embeddings_from_table(good.with_columns(pl.col("embedding").cast(pl.Array(pl.Int32, 1024))))
    assert np.allclose(embeddings_from_table(good)[1], -0.3)  # 0.1 * (0 - 3)
    empty = embeddings_from_table(good.head(0))
    assert empty[0].shape == (0,) and empty[1].shape == (0, 1024)
