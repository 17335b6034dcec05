"""Build models from (hydra) config mappings, with errors that name the missing or bad key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vjepa.models.predictor import MaskPredictor
from vjepa.models.vit import VisionTransformer, vit_size


def require(cfg: Mapping[str, Any], key: str, section: str) -> Any:
    """cfg[key], or a KeyError that says which config section lacks it."""
    if key not in cfg or cfg[key] is None:
        raise KeyError(f"config key '{section}.{key}' is missing")
    return cfg[key]


def build_encoder(model_cfg: Mapping[str, Any]) -> VisionTransformer:
    """Encoder from a model config: ``size`` preset (vit_micro … vit_gigantic), patch/tubelet sizes, ``pos_embed``
    and, under RoPE, ``rope_style`` (``pairs``; ``vjepa2`` for V-JEPA 2's released weights); V-JEPA 2.1's
    ``rope_grid``, ``image_patch_embed`` and ``modality_embed`` where set."""
    size = vit_size(require(model_cfg, "size", "model"))
    return VisionTransformer(
        patch_size=require(model_cfg, "patch_size", "model"),
        tubelet_size=require(model_cfg, "tubelet_size", "model"),
        embed_dim=size.embed_dim,
        depth=size.depth,
        num_heads=size.num_heads,
        mlp_ratio=size.mlp_ratio,
        pos_embed=model_cfg.get("pos_embed", "sincos"),
        rope_style=model_cfg.get("rope_style", "pairs"),
        rope_grid=model_cfg.get("rope_grid"),
        image_patch_embed=model_cfg.get("image_patch_embed", False),
        modality_embed=model_cfg.get("modality_embed", False),
        grad_checkpointing=model_cfg.get("grad_checkpointing", False),
    )


def build_predictor(model_cfg: Mapping[str, Any], embed_dim: int) -> MaskPredictor:
    """Mask predictor from ``model.predictor`` (dim, depth, num_heads, optional num_mask_tokens) and
    ``model.levels`` (the encoder levels it reads and predicts); positions as the encoder's."""
    pred_cfg = require(model_cfg, "predictor", "model")
    return MaskPredictor(
        embed_dim=embed_dim,
        predictor_dim=require(pred_cfg, "dim", "model.predictor"),
        depth=require(pred_cfg, "depth", "model.predictor"),
        num_heads=require(pred_cfg, "num_heads", "model.predictor"),
        pos_embed=model_cfg.get("pos_embed", "sincos"),
        rope_style=model_cfg.get("rope_style", "pairs"),
        grad_checkpointing=model_cfg.get("grad_checkpointing", False),
        levels=int(model_cfg.get("levels") or 1),
        num_mask_tokens=int(pred_cfg.get("num_mask_tokens", 1)),
    )
