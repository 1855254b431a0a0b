"""Whisper's log-mel features for long audio, in chunks, bit-identical to faster-whisper's.

faster-whisper (1.2) computes the features of everything it is given at once:
:class:`faster_whisper.feature_extractor.FeatureExtractor` frames the whole signal, takes a
``complex128`` FFT of every frame, casts it to ``complex64``, squares its magnitude and applies
the mel filters. For 27 minutes of packed speech those temporaries are about 1.5 GB, and most
of the time goes to allocating them (3.6 CPU s for 10 minutes, against 0.2 s in chunks).

:class:`ChunkedFeatureExtractor` computes the power spectrum in chunks of frames into one
``float32`` array laid out as faster-whisper's (Fortran order, ``(201, frames)``), then applies
the mel filters in one matrix product of the same shape and layout (BLAS's result for a
column depends on the product's width, so the product is not chunked), then the same log,
clamp to 8 below the maximum and scaling. The output equals faster-whisper's bit for bit
(tested on real audio); the peak memory is the power array (80 kB per second of audio).
"""

from __future__ import annotations

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

FRAMES_PER_CHUNK = 2048
"""STFT frames transformed together (20 s of audio; ~7 MB of complex128 temporaries)."""


class ChunkedFeatureExtractor(FeatureExtractor):
    """faster-whisper's feature extractor with the STFT done in chunks (same output)."""

    @classmethod
    def like(cls, other: FeatureExtractor) -> ChunkedFeatureExtractor:
        """One with ``other``'s parameters (sample rate, hop, FFT size, mel bands, chunk length),
        e.g. those a model's preprocessor configuration gave it."""
        new = cls(
            feature_size=other.mel_filters.shape[0],
            sampling_rate=other.sampling_rate,
            hop_length=other.hop_length,
            chunk_length=other.chunk_length,
            n_fft=other.n_fft,
        )
        if not np.array_equal(new.mel_filters, other.mel_filters):  # pragma: no cover
            raise ValueError("the chunked feature extractor would not reproduce the model's mel filters")
        return new

    def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length: int | None = None) -> np.ndarray:
        if chunk_length is not None:  # as faster-whisper's: the window size follows the call
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        waveform = np.asarray(waveform).astype(np.float32)
        if padding:
            waveform = np.pad(waveform, (0, padding))
        window = np.hanning(self.n_fft + 1)[:-1].astype("float32")
        half = self.n_fft // 2
        signal = np.pad(waveform, (half, half), mode="reflect")  # torch.stft(center=True)
        n_frames = (signal.size - self.n_fft) // self.hop_length  # the last frame is dropped
        frames = np.lib.stride_tricks.sliding_window_view(signal, self.n_fft)[:: self.hop_length]
        power = np.empty((self.n_fft // 2 + 1, n_frames), dtype=np.float32, order="F")
        for f0 in range(0, n_frames, FRAMES_PER_CHUNK):
            f1 = min(n_frames, f0 + FRAMES_PER_CHUNK)
            spectrum = np.fft.rfft(frames[f0:f1] * window, n=self.n_fft, axis=-1).astype(np.complex64)
            power[:, f0:f1] = (np.abs(spectrum) ** 2).T
        log_spec = np.log10(np.clip(self.mel_filters @ power, a_min=1e-10, a_max=None))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0
