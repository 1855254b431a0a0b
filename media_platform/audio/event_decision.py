"""The decision layer: YAMNet logits to a speech / music / noise / silence timeline.

The decision (:func:`decide`) is made on the 521 logits rather than the sigmoid scores, because
the 8-bit model's weak evidence (a music bed 16 dB under a voice) lives far below p = 0.01:

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

import functools
from dataclasses import dataclass

import numpy as np

from media_platform.audio.types import EventSegment
from media_platform.audio.yamnet import FRAME_HOP_S, class_names

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


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


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


DEFAULT_DECISION_PARAMS = DecisionParams()


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
    params: DecisionParams = DEFAULT_DECISION_PARAMS,
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

    p_speech = sigmoid(sm["speech"] - speech_thr)
    p_music = sigmoid(sm["music"] - music_thr)
    p_silence = np.maximum(
        sigmoid(sm["silence"] - params.silence_class_on), sigmoid(params.silence_dbfs - rms_dbfs)
    ).astype(np.float32)
    p_noise = sigmoid(sm["noise"] - params.noise_on)
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
