"""Build models from (hydra) config mappings, with errors that name the missing or bad key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vjepa.models.predictor import MaskPredictor
from vjepa.models.vit import VisionTransformer, deep_levels, vit_size


def require(cfg: Mapping[str, Any], key: str, section: str) -> Any:
    """cfg[key], or a KeyError that says which config section lacks it."""
    if key not in cfg or cfg[key] is None:
        raise KeyError(f"config key '{section}.{key}' is missing")
    return cfg[key]


def level_blocks(model_cfg: Mapping[str, Any], depth: int) -> tuple[int, ...]:
    """The block counts after which deep self-supervision reads the encoder, from ``model.levels``: a number of
    levels, evenly spaced (`deep_levels`), or the block counts themselves (V-JEPA 2.1's ViT-G: [12, 24, 38, 48]);
    () for one level, the output."""
    levels = model_cfg.get("levels") or 1
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


def build_encoder(model_cfg: Mapping[str, Any]) -> VisionTransformer:
    """Encoder from a model config: ``size`` preset (vit_micro … vit_gigantic), patch/tubelet sizes, ``pos_embed``
    and, under RoPE, ``rope_style`` (``pairs``; ``vjepa2`` for V-JEPA 2's released weights); V-JEPA 2.1's
    ``rope_grid``, ``image_patch_embed``, ``modality_embed`` and ``level_norms`` (learned norms on the earlier of
    ``levels``) where set."""
    size = vit_size(require(model_cfg, "size", "model"))
    levels = level_blocks(model_cfg, size.depth)
    if model_cfg.get("level_norms") and not levels:
        raise ValueError("model.level_norms=true normalises the earlier levels of deep self-supervision: set "
                         "model.levels to 2 or more (V-JEPA 2.1: 4)")
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
        level_norms=len(levels) - 1 if model_cfg.get("level_norms") else 0,
        grad_checkpointing=model_cfg.get("grad_checkpointing", False),
    )


def build_predictor(model_cfg: Mapping[str, Any], embed_dim: int) -> MaskPredictor:
    """Mask predictor from ``model.predictor`` (dim, depth, num_heads; optional num_mask_tokens, embed_hidden,
    context_proj) and ``model.levels`` (the encoder levels it reads and predicts); positions and modality vectors
    as the encoder's."""
    pred_cfg = require(model_cfg, "predictor", "model")
    levels = model_cfg.get("levels") or 1
    return MaskPredictor(
        embed_dim=embed_dim,
        predictor_dim=require(pred_cfg, "dim", "model.predictor"),
        depth=require(pred_cfg, "depth", "model.predictor"),
        num_heads=require(pred_cfg, "num_heads", "model.predictor"),
        pos_embed=model_cfg.get("pos_embed", "sincos"),
        rope_style=model_cfg.get("rope_style", "pairs"),
        rope_grid=model_cfg.get("rope_grid"),
        grad_checkpointing=model_cfg.get("grad_checkpointing", False),
        levels=levels if isinstance(levels, int) else len(levels),
        embed_hidden=pred_cfg.get("embed_hidden"),
        num_mask_tokens=int(pred_cfg.get("num_mask_tokens", 1)),
        context_proj=bool(pred_cfg.get("context_proj", False)),
        modality_embed=bool(model_cfg.get("modality_embed", False)),
    )
