"""Use a pretrained encoder: load it from a checkpoint and encode clips or images into features."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from vjepa.models import VisionTransformer
from vjepa.models.factory import build_encoder
from vjepa.train.checkpoint import load_checkpoint

WhichEncoder = Literal["target_encoder", "encoder"]


def strip_prefixes(state_dict: Mapping[str, Tensor], prefixes: tuple[str, ...] = ("module.", "backbone.")) -> dict:
    """Drop wrapper prefixes (DDP's ``module.``, official checkpoints' ``backbone.``) from parameter names."""
    out = {}
    for key, value in state_dict.items():
        for prefix in prefixes:
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def load_encoder(
    checkpoint: str | Path, which: WhichEncoder = "target_encoder", device: str | torch.device = "cpu"
) -> tuple[VisionTransformer, dict[str, Any]]:
    """Encoder (eval mode, frozen) and the run's config from a pretraining checkpoint.

    ``which="target_encoder"`` (the EMA teacher, V-JEPA's choice for downstream use) falls back to the
    online encoder for runs trained without a teacher (SIGReg)."""
    state = load_checkpoint(checkpoint, map_location="cpu")
    for key in ("config", "encoder"):
        if key not in state:
            raise KeyError(f"checkpoint {checkpoint} has no '{key}' entry; is it a vjepa-pretrain checkpoint?")
    weights = state.get(which) or state["encoder"]
    encoder = build_encoder(state["config"]["model"])
    encoder.load_state_dict(strip_prefixes(weights))
    return encoder.to(device).eval().requires_grad_(False), state["config"]


@torch.inference_mode()
def encode(encoder: VisionTransformer, clips: Tensor, pooled: bool = False) -> Tensor:
    """clips (B, C, T, H, W), normalised -> patch features (B, N, D), or mean-pooled (B, D)."""
    features = encoder(clips)
    return features.mean(1) if pooled else features
