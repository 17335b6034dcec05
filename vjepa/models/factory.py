"""Build models from (hydra) config mappings, merged onto the model schema (configs/schema/model.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from configs.schema.model import model_config
from vjepa.models.predictor import MaskPredictor
from vjepa.models.vit import VisionTransformer, deep_levels, vit_size


def level_blocks(model_cfg: Mapping[str, Any], depth: int) -> tuple[int, ...]:
    """The block counts after which deep self-supervision reads the encoder, from ``model.levels``: a number of
    levels, evenly spaced (`deep_levels`), or the block counts themselves (V-JEPA 2.1's ViT-G: [12, 24, 38, 48]);
    () for one level, the output."""
    levels = model_cfg["levels"]
    if isinstance(levels, int) and not isinstance(levels, bool):
        return deep_levels(depth, levels) if levels > 1 else ()
    try:
        blocks = tuple(int(b) for b in levels)
    except (TypeError, ValueError):
        raise ValueError(f"model.levels={levels!r}: need a number of levels or a list of block counts") from None
    if list(blocks) != sorted(set(blocks)) or blocks[0] < 1 or blocks[-1] != depth:
        raise ValueError(f"model.levels={list(blocks)}: block counts must increase from >= 1 to the encoder depth "
                         f"{depth}")
    return blocks if len(blocks) > 1 else ()


def shared_settings(cfg: DictConfig) -> dict[str, Any]:
    """The settings the encoder and its predictor share: positions (RoPE style, grid), modality vectors and
    activation checkpointing."""
    return {"pos_embed": cfg.pos_embed, "rope_style": cfg.rope_style, "rope_grid": cfg.rope_grid,
            "modality_embed": cfg.modality_embed, "grad_checkpointing": cfg.grad_checkpointing}


def build_encoder(model_cfg: Mapping[str, Any]) -> VisionTransformer:
    """Encoder from a model config (``model``, merged onto its schema: keys it lacks take their defaults): ``size``
    preset (vit_micro … vit_gigantic), patch/tubelet sizes, ``pos_embed`` and, under RoPE, ``rope_style``
    (``pairs``; ``vjepa2`` for V-JEPA 2's released weights); V-JEPA 2.1's ``rope_grid``, ``image_patch_embed``,
    ``modality_embed`` and ``level_norms`` (learned norms on the earlier of ``levels``) where set."""
    cfg = model_config(model_cfg)
    size = vit_size(cfg.size)
    levels = level_blocks(cfg, size.depth)
    if cfg.level_norms and not levels:
        raise ValueError("model.level_norms=true normalises the earlier levels of deep self-supervision: set "
                         "model.levels to 2 or more (V-JEPA 2.1: 4)")
    return VisionTransformer(
        patch_size=cfg.patch_size, tubelet_size=cfg.tubelet_size, embed_dim=size.embed_dim, depth=size.depth,
        num_heads=size.num_heads, mlp_ratio=size.mlp_ratio, image_patch_embed=cfg.image_patch_embed,
        level_norms=len(levels) - 1 if cfg.level_norms else 0, **shared_settings(cfg),
    )


def build_predictor(model_cfg: Mapping[str, Any], embed_dim: int) -> MaskPredictor:
    """Mask predictor from ``model.predictor`` and ``model.levels`` (the encoder levels it reads and predicts), the
    model config merged onto its schema; positions and modality vectors as the encoder's."""
    cfg = model_config(model_cfg)
    pred = cfg.predictor
    return MaskPredictor(
        embed_dim=embed_dim, predictor_dim=pred.dim, depth=pred.depth, num_heads=pred.num_heads,
        levels=cfg.levels if isinstance(cfg.levels, int) else len(cfg.levels), embed_hidden=pred.embed_hidden,
        num_mask_tokens=pred.num_mask_tokens, context_proj=pred.context_proj, **shared_settings(cfg),
    )
