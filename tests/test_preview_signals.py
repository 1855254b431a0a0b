"""The preview's energy track: frame RMS levels in dBFS, in bounded memory for long episodes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from media_platform.previews.signals import EnergyTrack


def _reference(x: np.ndarray, sample_rate: int, hop_s: float) -> np.ndarray:
    """The definition: per hop, 20 log10 of the RMS (floored at 1e-6) over float64 samples."""
    hop = max(1, round(hop_s * sample_rate))
    n = len(x) // hop
    frames = x[: n * hop].reshape(n, hop).astype(np.float64)
    return (20 * np.log10(np.maximum(np.sqrt((frames**2).mean(axis=1)), 1e-6))).astype(np.float32)


@pytest.mark.parametrize(("seconds", "sample_rate", "hop_s"), [(0.005, 16000, 0.01), (3.3, 16000, 0.01), (200.0, 16000, 0.01),
                                                              (12.0, 44100, 0.02)])
def test_levels_equal_the_definition(seconds: float, sample_rate: int, hop_s: float) -> None:
    rng = np.random.default_rng(int(seconds * 10))
    x = (rng.standard_normal(int(seconds * sample_rate)) * np.linspace(0, 0.5, int(seconds * sample_rate))).astype(np.float32)
    track = EnergyTrack.from_samples(x, sample_rate, hop_s)
    assert track.db.dtype == np.float32 and np.array_equal(track.db, _reference(x, sample_rate, hop_s))
    if len(track.db) > 10:
        assert track.db[-1] > track.db[0] + 10  # the ramp gets louder


def test_stereo_levels_are_those_of_the_mono_mix() -> None:
    x = np.random.default_rng(1).standard_normal((48000, 2)).astype(np.float32)
    assert np.array_equal(EnergyTrack.from_samples(x, 16000).db, _reference(x.mean(axis=1), 16000, 0.01))


def test_an_hour_needs_no_whole_file_temporaries() -> None:
    """Ten minutes at 16 kHz (38 MB of float32): the levels are computed in chunks, not as one
    float64 copy and its square (154 MB)."""
    x = np.random.default_rng(2).standard_normal(600 * 16000).astype(np.float32)
    tracemalloc.start()
    try:
        EnergyTrack.from_samples(x, 16000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB"
