"""Use a pretrained encoder: load it from a checkpoint and encode clips or images into features."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from omegaconf import OmegaConf
from torch import Tensor
from torch.utils.data import Dataset

from configs.schema import merged
from configs.schema.pretrain import Pretrain
from vjepa.data.video_dataset import SkippedFiles
from vjepa.models import MaskPredictor, VisionTransformer, vit_size
from vjepa.models.factory import build_encoder, build_predictor
from vjepa.models.official import (
    is_hugging_face,
    is_official_checkpoint,
    load_official_encoder,
    load_official_predictor,
    official_encoder,
    official_predictor,
    strip_prefixes,
)
from vjepa.runtime.checkpoint import load_checkpoint
from vjepa.runtime.device import autocast_context

WhichEncoder = Literal["target_encoder", "encoder"]


def load_encoder(
    checkpoint: str | Path, which: WhichEncoder = "target_encoder", device: str | torch.device = "cpu",
    contents: Mapping[str, Any] | None = None,
) -> tuple[VisionTransformer, dict[str, Any]]:
    """Encoder (eval mode, frozen) and the run's config from a pretraining checkpoint — or from V-JEPA 2's or
    2.1's released weights (an official ``.pt``, a Hugging Face folder or ``.safetensors`` file; see
    `vjepa.models.official`), with a config in the same shape.

    ``which="target_encoder"`` (the EMA teacher, V-JEPA's choice for downstream use) falls back to the
    online encoder for runs trained without a teacher (SIGReg). A `vjepa-train-ac` ``recipe=end_to_end``
    checkpoint gives the encoder it trained. ``contents``: the ``.pt`` file already loaded,
    by a caller that reads other parts of it too (read once)."""
    path = Path(checkpoint)
    if contents is None and is_hugging_face(path):
        encoder, config = load_official_encoder(path)
        return encoder.to(device), config
    state = load_checkpoint(checkpoint, map_location="cpu") if contents is None else contents
    if is_official_checkpoint(state):
        encoder, config = official_encoder(state, which=which if which in state else None,  # 2-AC: only "encoder"
                                           source=str(path.resolve()))
        return encoder.to(device), config
    for key in ("config", "encoder"):
        if key not in state:
            raise KeyError(f"checkpoint {checkpoint} has no '{key}' entry; is it a vjepa-pretrain checkpoint?")
    weights = state.get(which) or state["encoder"]
    # a vjepa-train-ac recipe=end_to_end checkpoint describes its encoder in encoder_config; an older run's config:
    # the keys it lacks added
    config = OmegaConf.to_container(merged(Pretrain, state.get("encoder_config") or state["config"]))
    encoder = build_encoder(config["model"])
    encoder.load_state_dict(strip_prefixes(weights))
    return encoder.to(device).eval().requires_grad_(False), config


def clip_batches(dataset: Dataset, batch_size: int, seed: int | None = None) -> Iterator[tuple[list[int], Tensor]]:
    """(indices, clips (B, C, T, H, W)) over a folder dataset, in order; a video the dataset could not read (it
    substituted another, ``skipped`` > 0) is left out, so every clip is the video its index names, and is named
    once in the terminal. With ``seed``, sample i's random choices (crop, flip: a training transform's) come from
    seed and i, else from i alone."""
    skipped = SkippedFiles()
    for start in range(0, len(dataset), batch_size):
        keys = range(start, min(start + batch_size, len(dataset)))
        samples = [dataset[i] if seed is None else dataset[(i, seed * 1_000_003 + i)] for i in keys]
        for sample in samples:
            skipped.add(sample)
        samples = [s for s in samples if s["skipped"] == 0]
        if samples:
            yield [s["index"] for s in samples], torch.stack([s["clip"] for s in samples])


def load_predictor(
    checkpoint: str | Path, num_heads: int | None = None, contents: Mapping[str, Any] | None = None
) -> MaskPredictor:
    """The mask predictor of a pretraining checkpoint, or of V-JEPA 2's / 2.1's released weights (an official
    ``.pt``'s ``predictor``, a Hugging Face folder or ``.safetensors`` file). ``num_heads``: the head count of
    released weights, which the weights do not show (default: Hugging Face's config, else 12, V-JEPA 2's).
    ``contents``: the ``.pt`` file already loaded (as `load_encoder` takes it)."""
    path = Path(checkpoint)
    if contents is None and is_hugging_face(path):
        return load_official_predictor(path, num_heads)[0]
    state = load_checkpoint(path, map_location="cpu") if contents is None else contents
    if "config" not in state:  # an official .pt, read once
        return official_predictor(state, num_heads=num_heads)[0]
    if "predictor" not in state:
        raise KeyError(f"checkpoint {checkpoint} has no 'predictor' entry")
    config = state["config"]["model"]
    predictor = build_predictor(config, vit_size(config["size"]).embed_dim)  # the encoder's width, not the encoder
    predictor.load_state_dict(strip_prefixes(state["predictor"]))
    return predictor


@torch.inference_mode()
def encode(encoder: VisionTransformer, clips: Tensor, pooled: bool = False, precision: str = "fp32") -> Tensor:
    """clips (B, C, T, H, W), normalised -> fp32 patch features (B, N, D), or mean-pooled (B, D); computed in
    ``precision`` (auto, bf16 or fp32, as in training: `vjepa.runtime.device`)."""
    with autocast_context(precision, clips.device):
        features = encoder(clips)
    return (features.mean(1) if pooled else features).float()
