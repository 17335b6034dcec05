"""The encoder that ``vjepa-train-ac recipe=end_to_end`` trains with the predictor (LeWM / PLDM style): where it
starts — a resumed run's weights, a `vjepa-pretrain` checkpoint's encoder (``encoder``), or a fresh ``model``
preset (``encoder=null``) — and how the checkpoint describes it, as a pretraining run's config
(`vjepa.inference.load_encoder` reads it back); with ``end_to_end.embedding=pooled``, the frame projector on its
tokens (`projector_config_from`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from vjepa.inference import load_encoder
from vjepa.models.factory import build_encoder
from vjepa.runtime.errors import ConfigError
from vjepa.train.ac_checkpoint import ACCheckpoint


@dataclass
class TrainedEncoder:
    """The encoder to train, trainable, with ``config`` (``{"model": ..., "data": {"crop_size": image_size}}``:
    what `vjepa.inference.load_encoder` builds it from), the frames' ``image_size`` and ``start`` (the checkpoint
    it started from, absolute; empty from scratch)."""

    encoder: nn.Module
    config: dict[str, Any]
    image_size: int
    start: str

    @property
    def patch_size(self) -> int:
        return int(self.encoder.patch_size)


def trained_encoder(cfg: DictConfig, state: ACCheckpoint | None) -> TrainedEncoder:
    """The encoder of a run: a resumed checkpoint's; else ``cfg.encoder``'s (``encoder_which``) at ``image_size``
    (null: its pretraining crop size); else a fresh ``cfg.model`` at ``image_size``, seeded by ``cfg.seed``."""
    if state is not None:
        config = dict(state.encoder_config)
        encoder = build_encoder(config["model"])
        encoder.load_state_dict(state.encoder)
        start = state.encoder_checkpoint
    elif cfg.encoder is not None:
        encoder, pretrained = load_encoder(cfg.encoder, which=cfg.encoder_which)
        size = cfg.image_size or pretrained["data"]["crop_size"]
        config = {"model": pretrained["model"], "data": {"crop_size": size}}
        start = str(Path(cfg.encoder).resolve())
    else:
        torch.manual_seed(cfg.seed)
        model = OmegaConf.to_container(cfg.model, resolve=True)
        encoder, config, start = build_encoder(model), {"model": model, "data": {"crop_size": cfg.image_size}}, ""
    size = int(config["data"]["crop_size"])
    if size % encoder.patch_size:
        raise ConfigError(f"{size} is not a multiple of the encoder's patch size {encoder.patch_size}", "image_size",
                          f"set image_size to a multiple of {encoder.patch_size}")
    return TrainedEncoder(encoder.train().requires_grad_(True), config, size, start)


def projector_config_from(cfg: DictConfig, embed_dim: int, num_tokens: int) -> dict[str, Any] | None:
    """`vjepa.models.frame_embedding.PooledProjector` kwargs for the encoder's ``num_tokens`` tokens of ``embed_dim``
    channels a frame (``end_to_end.embedding=pooled``); None for ``tokens``, which the predictor reads as they are."""
    e2e = cfg.end_to_end
    if e2e.embedding == "tokens":
        return None
    return {"embed_dim": int(embed_dim), "hidden_dim": int(e2e.projector_hidden),
            "dim": int(e2e.projector_dim or embed_dim), "pool": str(e2e.projector_pool),
            "num_tokens": int(num_tokens) if e2e.projector_pool == "flatten" else None}


__all__ = ["TrainedEncoder", "projector_config_from", "trained_encoder"]
