"""CLIP image and text embeddings with open_clip.

Weights come from open_clip by name and pretrained tag (downloaded into the open_clip/HF cache
on first use), or from a local checkpoint file. ``pretrained="none"`` builds the architecture
with random weights: the embeddings are then not semantic, which the encoder reports in
``weights`` so that it is visible wherever the embeddings are shown. Device ``auto`` picks CUDA
when present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

RANDOM_WEIGHTS = "none"

IMAGE_BATCH = {"cuda": 128, "cpu": 96}
"""Images per forward pass by device when no batch size is set: CUDA wants large batches to fill
the device (ViT-B-32 in float16 takes ~1 GB of activations at 128); on CPU each batch costs a
round of thread synchronisation per layer: batches of 64-190 took 20-35% less CPU than 32 for the
190 keyframes of ``benchmarks/video_pipeline.py`` (ViT-B-32, bfloat16, 2 cores), for ~50 MB of
activations."""


def default_batch_size(device: str) -> int:
    """The image batch for ``device`` (``cuda:1`` counts as ``cuda``; other devices: the CPU's)."""
    return IMAGE_BATCH.get(device.split(":")[0], IMAGE_BATCH["cpu"])


def resolve_device(device: str = "auto") -> str:
    """``auto`` becomes ``cuda`` when a CUDA device is visible, else ``cpu``."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass(frozen=True)
class ClipModelSpec:
    """Which CLIP to load: an open_clip model name plus a pretrained tag, or a checkpoint path."""

    model_name: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    checkpoint_path: str | None = None
    model_config_path: str | None = None  # JSON config of a custom architecture (name = file stem)

    @property
    def weights(self) -> str:
        if self.checkpoint_path:
            return f"checkpoint:{Path(self.checkpoint_path).name}"
        if self.pretrained.lower() == RANDOM_WEIGHTS:
            return "random (untrained: embeddings are not semantic)"
        return self.pretrained

    @property
    def label(self) -> str:
        return f"{self.model_name}/{self.weights}"


class ClipEncoder:
    """Batched, L2-normalized CLIP embeddings for images and text."""

    def __init__(self, spec: ClipModelSpec, device: str = "auto", batch_size: int = 0) -> None:
        """``batch_size`` 0 picks it by device (:func:`default_batch_size`)."""
        import open_clip
        import torch

        self.spec = spec
        self.device = resolve_device(device)
        self.batch_size = batch_size if batch_size > 0 else default_batch_size(self.device)
        if spec.model_config_path:
            config = Path(spec.model_config_path).expanduser()
            if not config.is_file():
                raise FileNotFoundError(f"{config}: CLIP model config not found")
            open_clip.add_model_config(config)
        if spec.checkpoint_path:
            path = Path(spec.checkpoint_path).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"{path}: CLIP checkpoint not found")
            pretrained: str | None = str(path)
        elif spec.pretrained.lower() == RANDOM_WEIGHTS:
            pretrained = None
        else:
            pretrained = spec.pretrained
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.model_name, pretrained=pretrained, device=self.device
            )
        except Exception as exc:  # network errors, unknown tags, bad checkpoints
            raise RuntimeError(
                f"could not load CLIP {spec.model_name!r} with weights {spec.weights!r}: {exc}. "
                "Offline? Point MEDIA_PLATFORM_CLIP_CHECKPOINT at a local checkpoint file, or set "
                "MEDIA_PLATFORM_CLIP_PRETRAINED=none for untrained weights."
            ) from exc
        model.eval()
        self._torch = torch
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(spec.model_name)
        self.half = self.device.startswith("cuda")
        if self.half:
            self.model = self.model.half()
        self._image_dtype = torch.float16 if self.half else torch.float32

    @property
    def dim(self) -> int:
        """Embedding dimension of the loaded model."""
        proj = getattr(self.model, "text_projection", None)
        if proj is not None and hasattr(proj, "shape"):
            return int(proj.shape[-1])
        return int(self.encode_text(["a"]).shape[1])

    @property
    def logit_scale(self) -> float:
        """The temperature the model was trained with: ``exp`` of its learned ``logit_scale``
        (CLIP: 100, the clamp its training hit), multiplying cosine similarities into logits.
        100 when the model has none."""
        scale = getattr(self.model, "logit_scale", None)
        if scale is None:
            return 100.0
        return float(self._torch.as_tensor(scale).detach().float().exp().cpu())

    def _normalize(self, feats: np.ndarray) -> np.ndarray:
        feats = feats.astype(np.float32)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        return feats / np.maximum(norms, 1e-12)

    def encode_images(self, images: Sequence[Image.Image | np.ndarray]) -> np.ndarray:
        """(n, dim) float32 unit vectors for RGB images (PIL or HxWx3 uint8 arrays)."""
        torch = self._torch
        out: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            batch = [
                img if isinstance(img, Image.Image) else Image.fromarray(img)
                for img in images[start : start + self.batch_size]
            ]
            tensor = self._image_batch(batch).to(self.device, dtype=self._image_dtype)
            with torch.inference_mode():
                feats = self.model.encode_image(tensor)
            out.append(feats.float().cpu().numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._normalize(np.concatenate(out))

    def _image_batch(self, images: Sequence[Image.Image]):
        """The preprocessed (n, 3, h, w) float32 batch: ``self.preprocess`` of each image.

        open_clip's usual pipeline (resize, crop, RGB, to tensor, normalize) runs its PIL steps
        per image and the last two on the whole batch at once: the same arithmetic (``/ 255``,
        ``- mean``, ``/ std`` in float32), without a dozen small tensor operations per image.
        Another pipeline runs image by image as it is."""
        torch = self._torch
        split = self._pil_steps()
        if split is None:
            return torch.stack([self.preprocess(img.convert("RGB")) for img in images])
        steps, mean, std = split
        arrays = []
        for img in images:
            img = img.convert("RGB")
            for step in steps:
                img = step(img)
            arrays.append(np.asarray(img, dtype=np.uint8))
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
        return batch.to(dtype=torch.float32).div(255).sub_(mean).div_(std)

    def _pil_steps(self):
        """(PIL steps, mean, std) when the preprocessing ends with to-tensor and normalize after
        steps that keep a PIL RGB image, else None."""
        if hasattr(self, "_split"):
            return self._split
        from torchvision import transforms as tv

        self._split = None
        def keeps_rgb_pil(step) -> bool:
            if type(step).__name__ == "MaybeConvertMode":  # open_clip's convert("RGB") of a PIL image
                return getattr(step, "mode", None) == "RGB"
            return type(step) in (tv.Resize, tv.CenterCrop)

        steps = list(getattr(self.preprocess, "transforms", []))
        if len(steps) >= 2 and type(steps[-1]) is tv.Normalize and isinstance(steps[-2], tv.ToTensor):
            head = steps[:-2]
            if all(keeps_rgb_pil(step) for step in head):
                norm = steps[-1]
                mean = self._torch.as_tensor(norm.mean, dtype=self._torch.float32).view(1, -1, 1, 1)
                std = self._torch.as_tensor(norm.std, dtype=self._torch.float32).view(1, -1, 1, 1)
                self._split = (head, mean, std)
        return self._split

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors for text queries."""
        torch = self._torch
        out: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[start : start + self.batch_size])).to(self.device)
            with torch.inference_mode():
                feats = self._encode_tokens(tokens)
            out.append(feats.float().cpu().numpy())
        return self._normalize(np.concatenate(out))

    def set_image_precision(self, precision: str = "float32") -> str:
        """Run the image tower in ``float32`` or ``bfloat16`` (``auto``: bfloat16 on a CPU that
        computes it natively, else float32); returns the precision now used.

        On a CPU with native bfloat16 (AVX512-BF16, AMX) ViT-B-32 encodes 2.3-3.8x more keyframes a
        second, with embeddings at cosine > 0.9999 to float32's (``benchmarks/video_pipeline.py``).
        Only the image tower changes. CUDA runs the whole model in float16 already.
        """
        torch = self._torch
        if precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"precision: {precision!r} is not auto, float32 or bfloat16")
        if self.half:
            return "float16"
        if precision == "auto":
            native = self.device == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
            precision = "bfloat16" if native else "float32"
        self._image_dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
        self.model.visual.to(self._image_dtype)
        return precision

    def set_text_precision(self, precision: str = "auto") -> str:
        """Run the text tower in ``float32`` or ``bfloat16`` (``auto``: bfloat16 on a CPU that
        computes it natively, else unchanged); returns the precision now used.

        A text query is bound by reading the tower's weights (~150 MB in float32 for ViT-B-32):
        bfloat16 halves that, for embeddings within 1e-3 of float32 in cosine. Only the text
        tower changes; image embeddings keep their precision. Set it once, after loading:
        float32 after bfloat16 keeps the rounded weights.
        """
        torch = self._torch
        if precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"precision: {precision!r} is not auto, float32 or bfloat16")
        if self.half:  # CUDA runs the whole model in float16 already
            return "float16"
        if not self._causal_text():  # a text tower of another shape keeps its own precision
            return "float32"
        if precision == "auto":
            native = self.device == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
            precision = "bfloat16" if native else "float32"
        dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
        model = self.model
        for part in ("transformer", "token_embedding", "ln_final"):
            module = getattr(model, part, None)
            if module is not None:
                module.to(dtype)
        for name in ("positional_embedding", "text_projection"):
            param = getattr(model, name, None)
            if isinstance(param, torch.nn.Parameter):
                param.data = param.data.to(dtype)
            elif isinstance(param, torch.nn.Module):
                param.to(dtype)
        return precision

    def _causal_text(self) -> bool:
        """Is the text tower open_clip's standard one: causal, pooled at the end-of-text token?"""
        import open_clip

        model = self.model
        return (
            type(model) is open_clip.model.CLIP
            and getattr(model, "attn_mask", None) is not None
            and getattr(model, "text_pool_type", "argmax") == "argmax"
        )

    def _encode_tokens(self, tokens):
        """``model.encode_text``, computed only over the tokens up to the longest end-of-text.

        CLIP's text tower is causal and pools at the end-of-text token, so the padding after it
        cannot change the result: cutting the sequence there gives the same embedding with a
        fraction of the work (a short query uses ~10 of the 77 positions). Models of another
        shape (custom text towers, non-causal, other pooling) take the ordinary path.
        """
        from open_clip.transformer import text_global_pool

        model = self.model
        if not self._causal_text():
            return model.encode_text(tokens)
        length = int(tokens.argmax(dim=-1).max()) + 1  # the end-of-text token has the highest id
        tokens = tokens[:, :length]
        cast_dtype = model.transformer.get_cast_dtype()
        x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length].to(cast_dtype))
        x = text_global_pool(model.ln_final(x), tokens, "argmax")
        if model.text_projection is None:
            return x
        if isinstance(model.text_projection, self._torch.nn.Linear):
            return model.text_projection(x)
        return x @ model.text_projection
