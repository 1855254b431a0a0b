"""Whisper through the reference ``openai-whisper`` package (PyTorch); torch and whisper are
imported when a backend is built."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from media_platform.audio.transcriber import BackendResult, RawSegment, Transcriber, positive_int
from media_platform.audio.types import Word
from media_platform.errors import MediaError


class OpenAIWhisperTranscriber(Transcriber):
    """Whisper through the reference ``openai-whisper`` package (PyTorch).

    ``model`` is an openai-whisper model name (``"tiny"``, ``"base.en"``, ..., downloaded into
    ``download_root`` when there is network) or a path to a checkpoint file
    (``{"dims": ..., "model_state_dict": ...}`` as written by ``torch.save``). ``device="auto"``
    picks CUDA when torch sees a GPU, else CPU; ``compute_type`` ``"auto"``/``"float16"`` means
    fp16 on CUDA, anything else (or CPU) fp32 (accepted so both backends take the same
    arguments). ``max_new_tokens`` caps the
    tokens decoded per 30 s window (Whisper's ``sample_len``; default 224).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "tiny",
        *,
        device: str = "auto",
        compute_type: str = "auto",
        language: str | None = None,
        beam_size: int = 5,
        temperature: float | tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        no_speech_threshold: float = 0.6,
        logprob_threshold: float = -1.0,
        compression_ratio_threshold: float = 2.4,
        hallucination_silence_threshold: float | None = None,
        max_new_tokens: int | None = None,
        download_root: str | None = None,
    ) -> None:
        import torch
        import whisper

        model_str = os.fspath(model)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        # fp16 only on CUDA; "auto" means fp16 there. Other compute types run in fp32.
        self.fp16 = device != "cpu" and compute_type in ("auto", "float16")
        self.compute_type = "float16" if self.fp16 else "float32"
        try:
            self._model = whisper.load_model(model_str, device=device, download_root=download_root)
        except Exception as exc:  # RuntimeError (unknown/failed download), OSError, pickling errors
            raise MediaError(model_str, f"cannot load openai-whisper model: {exc}") from exc
        label = Path(model_str).stem if Path(model_str).is_file() else model_str
        self.source = f"openai-whisper:{label}"
        self.multilingual = bool(self._model.is_multilingual)
        self.language = language
        self.default_language = language or (None if self.multilingual else "en")
        self.beam_size = positive_int(beam_size, "beam_size")
        self.temperature = temperature
        self.no_speech_threshold = no_speech_threshold
        self.logprob_threshold = logprob_threshold
        self.compression_ratio_threshold = compression_ratio_threshold
        self.hallucination_silence_threshold = hallucination_silence_threshold
        self.max_new_tokens = (
            None if max_new_tokens is None else positive_int(max_new_tokens, "max_new_tokens")
        )

    def transcribe_array(self, audio: np.ndarray) -> BackendResult:
        """Transcribe 16 kHz mono float32 audio; times relative to its start."""
        result = self._model.transcribe(
            np.array(audio, dtype=np.float32),  # a writable copy: torch.from_numpy needs one
            verbose=None,
            language=self.language or self.default_language,
            task="transcribe",
            temperature=self.temperature,
            beam_size=self.beam_size,
            best_of=5,
            fp16=self.fp16,
            word_timestamps=True,
            condition_on_previous_text=False,
            no_speech_threshold=self.no_speech_threshold,
            logprob_threshold=self.logprob_threshold,
            compression_ratio_threshold=self.compression_ratio_threshold,
            hallucination_silence_threshold=self.hallucination_silence_threshold,
            **({"sample_len": self.max_new_tokens} if self.max_new_tokens else {}),
        )
        raw = tuple(
            RawSegment(
                start=float(s["start"]),
                end=float(s["end"]),
                text=str(s.get("text", "")),
                words=tuple(
                    Word(
                        str(w["word"]), float(w["start"]), float(w["end"]), float(w["probability"])
                    )
                    for w in s.get("words", ()) or ()
                ),
                no_speech_prob=float(s.get("no_speech_prob", 0.0)),
                avg_logprob=float(s.get("avg_logprob", 0.0)),
                compression_ratio=float(s.get("compression_ratio", 1.0)),
            )
            for s in result.get("segments", ())
        )
        language = str(result.get("language") or self.default_language or "und")
        return BackendResult(language=language, segments=raw)
