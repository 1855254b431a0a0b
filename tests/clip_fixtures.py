"""A tiny open_clip architecture and a checkpoint file written by the tests.

No CLIP weights can be downloaded here, so tests register a small CLIP config with open_clip,
initialise it randomly, save the state dict as a checkpoint file, and load it back through the
same code path users take for a local checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_CLIP_NAME = "mp-tiny-clip"
TINY_CLIP_DIM = 64
TINY_CLIP_CONFIG = {
    "embed_dim": TINY_CLIP_DIM,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def write_tiny_clip_checkpoint(folder: Path) -> tuple[Path, Path]:
    """Write the tiny config and a random-init checkpoint; return (checkpoint, config path)."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / f"{TINY_CLIP_NAME}.json"
    config_path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config_path)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP_NAME, pretrained=None)
    checkpoint = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return checkpoint, config_path
